//! An account: who may log in, with which role and credentials. Staff accounts are created by an
//! administrator; customer accounts (created by a first loan application and opened on its
//! approval) join this aggregate as further variants of [`AccountKind`].

mod commands;
mod error;
mod events;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

pub use commands::AccountCommand;
pub use error::AccountError;
pub use events::AccountEvent;

use crate::values::{Email, Role};

/// Which kind of account this is, with what it needs for logging in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountKind {
    #[default]
    None,
    Staff {
        login: Email,
        role: Role,
        password_hash: String,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Account {
    kind: AccountKind,
}

impl Account {
    pub fn kind(&self) -> &AccountKind {
        &self.kind
    }
}

impl Aggregate for Account {
    const TYPE: &'static str = "Account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            AccountCommand::CreateStaff {
                login,
                role,
                password_hash,
                at,
            } => {
                if self.kind != AccountKind::None {
                    return Err(AccountError::AlreadyExists);
                }
                if !role.is_staff() {
                    return Err(AccountError::NotAStaffRole(role));
                }
                let event = AccountEvent::StaffAccountCreated {
                    login,
                    role,
                    password_hash,
                    created_at: at,
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            AccountEvent::StaffAccountCreated {
                login,
                role,
                password_hash,
                ..
            } => {
                self.kind = AccountKind::Staff {
                    login,
                    role,
                    password_hash,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use cqrs_es::test::TestFramework;

    use super::*;

    fn create(role: Role) -> AccountCommand {
        AccountCommand::CreateStaff {
            login: Email::parse("anna@k911.ru").unwrap(),
            role,
            password_hash: "$argon2id$stub".into(),
            at: Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap(),
        }
    }

    fn created() -> AccountEvent {
        AccountEvent::StaffAccountCreated {
            login: Email::parse("anna@k911.ru").unwrap(),
            role: Role::Support,
            password_hash: "$argon2id$stub".into(),
            created_at: Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap(),
        }
    }

    #[test]
    fn an_administrator_creates_a_staff_account() {
        TestFramework::<Account>::with(())
            .given_no_previous_events()
            .when(create(Role::Support))
            .then_expect_events(vec![created()]);
    }

    #[test]
    fn a_staff_account_cannot_be_created_twice() {
        TestFramework::<Account>::with(())
            .given(vec![created()])
            .when(create(Role::Support))
            .then_expect_error(AccountError::AlreadyExists);
    }

    #[test]
    fn a_borrower_is_not_created_as_staff() {
        TestFramework::<Account>::with(())
            .given_no_previous_events()
            .when(create(Role::Borrower))
            .then_expect_error(AccountError::NotAStaffRole(Role::Borrower));
    }
}
