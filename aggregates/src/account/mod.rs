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

use uuid::Uuid;

use crate::values::{Email, Phone, Role};
use crate::Sealed;

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
    /// A borrower. Contacts are sealed with the customer's own key (the account id).
    Customer {
        phone: Sealed<Phone>,
        email: Option<Sealed<Email>>,
        /// The approved application that opened the cabinet; `None` until then, and no
        /// credential works meanwhile.
        opened_by: Option<Uuid>,
        password_hash: Option<String>,
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
            AccountCommand::RegisterCustomer {
                application_id,
                phone,
                email,
                at,
            } => {
                if self.kind != AccountKind::None {
                    return Err(AccountError::AlreadyExists);
                }
                let event = AccountEvent::CustomerRegistered {
                    application_id,
                    phone,
                    email,
                    registered_at: at,
                };
                sink.write(event, self).await;
            }
            AccountCommand::OpenCustomer {
                application_id,
                password_hash,
                at,
            } => {
                let AccountKind::Customer { opened_by, .. } = &self.kind else {
                    return Err(AccountError::NotACustomer);
                };
                let event = match (opened_by, password_hash) {
                    (None, password_hash) => AccountEvent::CustomerAccountOpened {
                        application_id,
                        password_hash,
                        opened_at: at,
                    },
                    (Some(by), Some(password_hash)) if *by == application_id => {
                        AccountEvent::PasswordIssued {
                            password_hash,
                            issued_at: at,
                        }
                    }
                    // Phone-only: nothing was lost, there is nothing to reissue.
                    (Some(by), None) if *by == application_id => return Ok(()),
                    (Some(_), _) => return Err(AccountError::AlreadyOpen),
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
            AccountEvent::CustomerRegistered { phone, email, .. } => {
                self.kind = AccountKind::Customer {
                    phone,
                    email,
                    opened_by: None,
                    password_hash: None,
                }
            }
            AccountEvent::CustomerAccountOpened {
                application_id,
                password_hash: hash,
                ..
            } => {
                if let AccountKind::Customer {
                    opened_by,
                    password_hash,
                    ..
                } = &mut self.kind
                {
                    *opened_by = Some(application_id);
                    *password_hash = hash;
                }
            }
            AccountEvent::PasswordIssued {
                password_hash: hash,
                ..
            } => {
                if let AccountKind::Customer { password_hash, .. } = &mut self.kind {
                    *password_hash = Some(hash);
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

    const APPLICATION: Uuid = Uuid::from_u128(7);

    fn at() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()
    }

    fn phone() -> Sealed<Phone> {
        Sealed::new(Uuid::from_u128(9), "n".into(), "c".into())
    }

    fn registered() -> AccountEvent {
        AccountEvent::CustomerRegistered {
            application_id: APPLICATION,
            phone: phone(),
            email: None,
            registered_at: at(),
        }
    }

    fn open(application_id: Uuid, hash: Option<&str>) -> AccountCommand {
        AccountCommand::OpenCustomer {
            application_id,
            password_hash: hash.map(str::to_string),
            at: at(),
        }
    }

    fn opened(hash: Option<&str>) -> AccountEvent {
        AccountEvent::CustomerAccountOpened {
            application_id: APPLICATION,
            password_hash: hash.map(str::to_string),
            opened_at: at(),
        }
    }

    #[test]
    fn a_first_application_registers_a_customer_once() {
        let register = AccountCommand::RegisterCustomer {
            application_id: APPLICATION,
            phone: phone(),
            email: None,
            at: at(),
        };
        TestFramework::<Account>::with(())
            .given_no_previous_events()
            .when(register.clone())
            .then_expect_events(vec![registered()]);
        TestFramework::<Account>::with(())
            .given(vec![registered()])
            .when(register)
            .then_expect_error(AccountError::AlreadyExists);
    }

    #[test]
    fn approval_opens_the_cabinet_with_or_without_a_password() {
        for hash in [Some("$argon2id$h"), None] {
            TestFramework::<Account>::with(())
                .given(vec![registered()])
                .when(open(APPLICATION, hash))
                .then_expect_events(vec![opened(hash)]);
        }
    }

    #[test]
    fn opening_again_for_the_same_application_replaces_a_lost_password() {
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(Some("$argon2id$h1"))])
            .when(open(APPLICATION, Some("$argon2id$h2")))
            .then_expect_events(vec![AccountEvent::PasswordIssued {
                password_hash: "$argon2id$h2".into(),
                issued_at: at(),
            }]);
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(None)])
            .when(open(APPLICATION, None))
            .then_expect_events(vec![]);
    }

    #[test]
    fn another_application_cannot_open_an_open_cabinet_and_staff_are_not_customers() {
        TestFramework::<Account>::with(())
            .given(vec![registered(), opened(None)])
            .when(open(Uuid::from_u128(8), Some("$argon2id$h")))
            .then_expect_error(AccountError::AlreadyOpen);
        TestFramework::<Account>::with(())
            .given(vec![created()])
            .when(open(APPLICATION, None))
            .then_expect_error(AccountError::NotACustomer);
    }

    #[test]
    fn a_borrower_is_not_created_as_staff() {
        TestFramework::<Account>::with(())
            .given_no_previous_events()
            .when(create(Role::Borrower))
            .then_expect_error(AccountError::NotAStaffRole(Role::Borrower));
    }
}
