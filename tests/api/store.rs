use std::collections::HashSet;

use chrono::Utc;
use cqrs_es::AggregateError;
use k911_aggregates::account::{Account, AccountCommand, AccountError};
use k911_aggregates::values::{CredentialId, Email, Role};
use k911_tests::TestApp;

fn create() -> AccountCommand {
    AccountCommand::CreateStaff {
        login: Email::parse("anna@k911.ru").unwrap(),
        role: Role::Support,
        password: CredentialId(uuid::Uuid::nil()),
        at: Utc::now(),
    }
}

#[tokio::test]
async fn an_aggregate_wrongly_expected_new_conflicts_and_the_retry_reads_its_events() {
    let app = TestApp::spawn().await;
    let cqrs = k911_event_store::store::cqrs::<Account>(&app.db, ());
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

type Outcome = (
    String,
    Result<(), AggregateError<AccountError>>,
    Option<k911_event_store::log::Checkpoint>,
);

/// Creates accounts `ids` while a table lock holds the event writer on one other command first,
/// so that all of `ids` queue up behind it and are written as one batch once it is released.
async fn create_queued(app: &TestApp, ids: &[String]) -> Vec<Outcome> {
    let cqrs = std::sync::Arc::new(k911_event_store::store::cqrs::<Account>(&app.db, ()));
    let run = |id: String| {
        let cqrs = cqrs.clone();
        cqrs.expect_new(&id);
        tokio::spawn(async move {
            let (result, appended) =
                k911_event_store::append::capture_position(cqrs.framework.execute(&id, create()))
                    .await;
            (id, result, appended)
        })
    };
    let mut blocker = app.db.sqlx.begin().await.unwrap();
    sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let first = run(uuid::Uuid::now_v7().to_string());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let queued: Vec<_> = ids.iter().cloned().map(run).collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    blocker.commit().await.unwrap();
    assert!(first.await.unwrap().1.is_ok());
    let mut outcomes = vec![];
    for task in queued {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

/// Where the event of aggregate `id` (it has one) stands in the log.
async fn stored_checkpoint(app: &TestApp, id: &str) -> k911_event_store::log::Checkpoint {
    let (global_position, xid): (i64, String) = sqlx::query_as(
        "SELECT global_position, transaction_id::text FROM events WHERE aggregate_id = $1",
    )
    .bind(id)
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    k911_event_store::log::Checkpoint {
        transaction_id: xid.parse().unwrap(),
        global_position,
    }
}

#[tokio::test]
async fn commands_waiting_together_are_appended_in_one_transaction_each_told_its_position() {
    let app = TestApp::spawn().await;
    let ids: Vec<String> = (0..8).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let outcomes = create_queued(&app, &ids).await;
    let mut transactions = HashSet::new();
    for (id, result, appended) in outcomes {
        assert!(result.is_ok(), "{id}: {result:?}");
        let stored = stored_checkpoint(&app, &id).await;
        assert_eq!(appended, Some(stored));
        transactions.insert(stored.transaction_id);
    }
    assert_eq!(transactions.len(), 1, "one transaction for the eight");
    assert_eq!(app.event_count().await, 9);
}

#[tokio::test]
async fn a_conflict_in_a_batch_fails_only_the_command_that_lost() {
    let app = TestApp::spawn().await;
    let twin = uuid::Uuid::now_v7().to_string();
    let mut ids: Vec<String> = (0..4).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    // Two commands that both create `twin`: only one can write its first event.
    ids.push(twin.clone());
    ids.push(twin.clone());
    let outcomes = create_queued(&app, &ids).await;
    let (twins, others): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(|(id, ..)| *id == twin);
    let mut transactions = HashSet::new();
    for (id, result, appended) in others {
        assert!(result.is_ok(), "{id}: {result:?}");
        let stored = stored_checkpoint(&app, &id).await;
        assert_eq!(appended, Some(stored));
        transactions.insert(stored.transaction_id);
    }
    // The loser was set apart before the batch was written: the batch did not fail for it.
    transactions.insert(stored_checkpoint(&app, &twin).await.transaction_id);
    assert_eq!(transactions.len(), 1, "the winners in one transaction");
    let won = twins.iter().filter(|(_, result, _)| result.is_ok()).count();
    let lost = twins
        .iter()
        .filter(|(_, result, appended)| {
            matches!(result, Err(AggregateError::AggregateConflict)) && appended.is_none()
        })
        .count();
    assert_eq!((won, lost), (1, 1));
    assert_eq!(app.event_count().await, 6);
}

#[tokio::test]
async fn a_batch_of_commands_on_several_aggregates_is_appended_all_or_none() {
    use k911_event_store::batch::{self, Batch};
    let app = TestApp::spawn().await;
    let cqrs = k911_event_store::store::cqrs::<Account>(&app.db, ());
    let (taken, fresh) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    let ids = [taken.clone(), fresh.clone()];
    let decided = || async {
        let mut contexts = batch::load_many::<Account>(&app.db, &ids).await.unwrap();
        let mut written = Batch::default();
        let mut refused = vec![];
        for id in &ids {
            let context = contexts.get_mut(id).unwrap();
            match batch::decide(&mut context.aggregate, create(), &()).await {
                Ok(events) => written
                    .record(context, events, &Default::default())
                    .unwrap(),
                Err(error) => refused.push((id.clone(), error)),
            }
        }
        (written, refused)
    };
    let (written, refused) = decided().await;
    assert!(refused.is_empty());
    // Another writer creates one of the two meanwhile: nothing of the batch is written.
    cqrs.framework.execute(&taken, create()).await.unwrap();
    let lost = written.commit(&app.db).await;
    assert!(matches!(
        lost,
        Err(cqrs_es::persist::PersistenceError::OptimisticLockError)
    ));
    assert_eq!(app.event_count().await, 1);
    // Decided again from a fresh load: the taken one refuses, the other is written.
    let (written, refused) = decided().await;
    assert!(matches!(
        refused.as_slice(),
        [(id, AccountError::AlreadyExists)] if *id == taken
    ));
    written.commit(&app.db).await.unwrap();
    assert_eq!(app.event_count().await, 2);
    let loaded = batch::load_many::<Account>(&app.db, &ids).await.unwrap();
    assert_eq!(
        (
            loaded[&taken].current_sequence,
            loaded[&fresh].current_sequence
        ),
        (1, 1)
    );
}

/// A batch reads each aggregate's events through the log's key, however stale the planner's
/// statistics: a type that was rare when the log was last analyzed was joined by hashing every
/// event of the type (the registry's payments: 110-180 ms a batch at 40 000 payments).
#[tokio::test]
async fn a_batch_reads_each_aggregate_by_key_after_its_type_grew_unseen_by_the_statistics() {
    let app = TestApp::spawn().await;
    sqlx::query("ANALYZE events")
        .execute(&app.db.sqlx)
        .await
        .unwrap();
    // 5 000 aggregates of a type the statistics never saw.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         SELECT 'Probe', 'probe-' || n, 1, 'Probed', '1.0', '{}', '{}'
           FROM generate_series(1, 5000) n",
    )
    .execute(&app.db.sqlx)
    .await
    .unwrap();
    let ids: Vec<String> = (1..=256).map(|n| format!("probe-{n}")).collect();
    let plan: serde_json::Value = sqlx::query_scalar(&format!(
        "EXPLAIN (FORMAT JSON) {}",
        k911_event_store::batch::EVENTS_AFTER
    ))
    .bind("Probe")
    .bind(&ids)
    .bind(vec![0i64; ids.len()])
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    let plan = plan.to_string();
    assert!(!plan.contains("Hash"), "{plan}");
    assert!(plan.contains("events_pkey"), "{plan}");
}
