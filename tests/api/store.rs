use chrono::Utc;
use cqrs_es::AggregateError;
use k911_aggregates::account::{Account, AccountCommand, AccountError};
use k911_aggregates::values::{Email, Role};
use k911_tests::TestApp;

fn create() -> AccountCommand {
    AccountCommand::CreateStaff {
        login: Email::parse("anna@k911.ru").unwrap(),
        role: Role::Support,
        password_hash: "$argon2id$stub".into(),
        at: Utc::now(),
    }
}

#[tokio::test]
async fn an_aggregate_wrongly_expected_new_conflicts_and_the_retry_reads_its_events() {
    let app = TestApp::spawn().await;
    let cqrs = k911_event_store::store::cqrs::<Account>(&app.db, (), std::sync::Arc::new(|_| {}));
    let id = uuid::Uuid::now_v7().to_string();
    cqrs.expect_new(&id);
    cqrs.framework.execute(&id, create()).await.unwrap();
    // Expected new again, but it exists: the skipped read cannot write over it.
    cqrs.expect_new(&id);
    let stale = cqrs.framework.execute(&id, create()).await;
    assert!(matches!(stale, Err(AggregateError::AggregateConflict)));
    let retried = cqrs.framework.execute(&id, create()).await;
    assert!(matches!(
        retried,
        Err(AggregateError::UserError(AccountError::AlreadyExists))
    ));
    assert_eq!(app.event_count().await, 1);
}
