use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use uuid::Uuid;

use crate::values::{Email, Phone, Role};
use crate::Sealed;

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
    /// A first loan application registers its applicant: the account exists from then on, but
    /// no credential works until the application is approved.
    RegisterCustomer {
        application_id: Uuid,
        phone: Sealed<Phone>,
        email: Option<Sealed<Email>>,
        at: DateTime<Utc>,
    },
    /// The first application was approved: the cabinet opens, with a generated password when
    /// the customer gave an e-mail (the login), or for SMS codes only. Asked again for the same
    /// application (its SMS was never sent), a new password replaces the lost one.
    OpenCustomer {
        application_id: Uuid,
        password_hash: Option<String>,
        at: DateTime<Utc>,
    },
}
