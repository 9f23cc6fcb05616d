use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::values::{Email, Role};

/// What can be asked of an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccountCommand {
    /// An administrator creates a staff member's account (`k911 staff add`). The password is
    /// hashed (argon2id) before it reaches the domain.
    CreateStaff {
        login: Email,
        role: Role,
        password_hash: String,
        at: DateTime<Utc>,
    },
}
