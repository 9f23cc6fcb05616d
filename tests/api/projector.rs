use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use k911_aggregates::support_ticket::SupportTicketEventType;
use k911_aggregates::values::Role;
use k911_event_store::follower::{BatchTx, Follower, FollowerError, Followers, Kind};
use k911_event_store::log::RecordedEvent;
use k911_tests::TestApp;
use serde_json::json;
use uuid::Uuid;

const TICKETS_BY_ID: (&str, &str) = ("read.support_tickets", "ticket_id");

async fn submit(app: &TestApp, n: usize) {
    let form =
        json!({"name": "Иван", "email": "ivan@example.ru", "question": format!("Вопрос {n}")});
    let response = app.post("/api/v1/support/tickets", &form).await;
    assert_eq!(response.status, StatusCode::CREATED, "{:#}", response.body);
}

/// Kills every projector connection, wherever it is in its batch.
async fn kill_projectors(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE application_name LIKE 'k911 projector %' AND datname = current_database()",
    )
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_projector_killed_mid_stream_resumes_and_equals_a_full_rebuild() {
    let app = TestApp::spawn().await;
    let support = app.staff("anna@k911.ru", Role::Support).await;
    let mut killed = 0;
    for n in 0..30 {
        submit(&app, n).await;
        if n % 3 == 0 {
            let taken = app
                .post_as(&support, "/api/v1/staff/support/queue/next", None)
                .await;
            assert_eq!(taken.status, StatusCode::OK, "{:#}", taken.body);
        }
        if n % 7 == 0 {
            killed += kill_projectors(&app).await;
        }
    }
    assert!(killed > 0, "the projector was killed at least once");
    app.settle().await;
    let live = app.dump(TICKETS_BY_ID.0, TICKETS_BY_ID.1).await;
    assert_eq!(live.len(), 30);
    let rebuilt = app
        .app
        .followers
        .rebuild(Some("support_tickets"))
        .await
        .unwrap();
    let ticket_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'SupportTicket'")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    let replayed: Vec<_> = rebuilt.iter().map(|(name, n, _)| (*name, *n)).collect();
    assert_eq!(replayed, vec![("support_tickets", ticket_events as u64)]);
    assert_eq!(app.dump(TICKETS_BY_ID.0, TICKETS_BY_ID.1).await, live);
}

fn raw_ticket_event() -> serde_json::Value {
    let sealed =
        json!({"subject_id": Uuid::now_v7(), "nonce": "bm9uY2U=", "ciphertext": "Y2lwaGVy"});
    json!({"TicketSubmitted": {
        "kind": "question", "requester": {"type": "anonymous"},
        "contact": sealed, "question": sealed, "submitted_at": "2026-11-27T09:00:00Z"
    }})
}

async fn insert_raw(tx: &mut sqlx::PgConnection) -> (Uuid, i64) {
    let id = Uuid::now_v7();
    let position = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('SupportTicket', $1, 1, 'TicketSubmitted', '1.0', $2, '{}') RETURNING global_position",
    )
    .bind(id.to_string())
    .bind(raw_ticket_event())
    .fetch_one(tx)
    .await
    .unwrap();
    (id, position)
}

/// An event no read model can read, as a bug or a hand edit could leave one.
async fn insert_unreadable(tx: &mut sqlx::PgConnection) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('SupportTicket', $1, 1, 'TicketSubmitted', '1.0', '{\"TicketSubmitted\": {}}', '{}')",
    )
    .bind(Uuid::now_v7().to_string())
    .execute(tx)
    .await
    .unwrap();
}

#[tokio::test]
async fn writers_committing_out_of_position_order_never_make_the_projector_skip_an_event() {
    let app = TestApp::spawn().await;
    let mut early = app.db.sqlx.begin().await.unwrap();
    let (first, first_position) = insert_raw(&mut early).await;
    let mut late = app.db.sqlx.begin().await.unwrap();
    let (second, second_position) = insert_raw(&mut late).await;
    assert!(first_position < second_position);
    // The later position commits first; the projector must hold it back, not pass the gap.
    late.commit().await.unwrap();
    app.app
        .followers
        .committed(&["TicketSubmitted".to_string()]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM read.support_tickets")
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap();
    assert_eq!(
        seen, 0,
        "nothing is applied while an earlier transaction is open"
    );
    early.commit().await.unwrap();
    app.settle().await;
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT ticket_id FROM read.support_tickets ORDER BY arrival")
            .fetch_all(&app.db.sqlx)
            .await
            .unwrap();
    assert_eq!(ids, vec![first, second]);
}

#[tokio::test]
async fn a_read_with_x_min_position_beyond_the_head_is_refused_at_once() {
    let app = TestApp::spawn().await;
    let support = app.staff("anna@k911.ru", Role::Support).await;
    submit(&app, 1).await;
    let head = head(&app).await;
    let auth = format!("Bearer {support}");
    let beyond = (head + 1000).to_string();
    let response = app
        .request(
            axum::http::Method::GET,
            "/api/v1/staff/support/queue",
            None,
            &[("authorization", &auth), ("x-min-position", &beyond)],
        )
        .await;
    assert_eq!(
        response.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["X-Min-Position"]
    );
    // Nor does the largest position wait: anonymous reads cannot hold the pool.
    let far = (i64::MAX - 1).to_string();
    let headers = [("x-min-position", far.as_str())];
    let answers = futures::future::join_all(
        (0..24).map(|_| app.request(axum::http::Method::GET, "/api/v1/faq", None, &headers)),
    )
    .await;
    for answer in answers {
        answer.problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    // A position that is there is waited for and answered.
    let present = head.to_string();
    let response = app
        .request(
            axum::http::Method::GET,
            "/api/v1/staff/support/queue",
            None,
            &[("authorization", &auth), ("x-min-position", &present)],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
}

/// A read model of positions only, to watch one projector instance.
struct Probe;

#[async_trait::async_trait]
impl k911_event_store::follower::Follower for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn event_types(&self) -> Vec<&'static str> {
        vec![SupportTicketEventType::TicketSubmitted.into()]
    }
    fn kind(&self) -> k911_event_store::follower::Kind {
        k911_event_store::follower::Kind::ReadModel {
            create_sql: "CREATE TABLE IF NOT EXISTS read.probe (position bigint PRIMARY KEY)",
            tables: &["read.probe"],
            views: &[],
        }
    }
    async fn apply(
        &self,
        tx: &k911_event_store::follower::BatchTx<'_>,
        event: &k911_event_store::log::RecordedEvent,
    ) -> Result<(), k911_event_store::follower::FollowerError> {
        tx.execute("INSERT INTO read.probe VALUES ($1)", &[&event.position()])
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn another_instance_learns_of_a_commit_by_notification_without_waiting_to_poll() {
    let app = TestApp::spawn().await;
    let other = k911_event_store::follower::Followers::new(
        app.db.clone(),
        vec![std::sync::Arc::new(Probe)],
    )
    .with_poll_interval(Duration::from_secs(60));
    let tasks = other.start();
    other.wait_started(Duration::from_secs(10)).await.unwrap();
    // Both instances' listeners are LISTENing before anything is committed.
    let mut listening = 0i64;
    for _ in 0..1000 {
        listening = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND application_name = 'k911 listener'
                AND query LIKE 'LISTEN%'",
        )
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap();
        if listening >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(listening, 2, "both listeners are up");
    submit(&app, 1).await;
    let mut seen = 0i64;
    for _ in 0..250 {
        seen = sqlx::query_scalar("SELECT count(*) FROM read.probe")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
        if seen == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        seen, 1,
        "the other instance applied the event long before its 60 s poll"
    );
    stop(&other, tasks);
}

#[tokio::test]
async fn the_log_orders_transaction_ids_as_numbers_not_as_text() {
    let app = TestApp::spawn().await;
    // Transaction ids across a digit boundary, all long committed (below any running xid).
    for (xid, position_hint) in [("99", 1), ("100", 2), ("9", 3)] {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, transaction_id)
             VALUES ('Probe', $1, 1, 'Probed', '1.0', '{}', '{}', $2::text::xid8)",
        )
        .bind(format!("probe-{position_hint}"))
        .bind(xid)
        .execute(&app.db.sqlx)
        .await
        .unwrap();
    }
    let client = app.db.pg.get().await.unwrap();
    let after_nine = k911_event_store::log::Checkpoint {
        transaction_id: 9,
        global_position: i64::MAX,
    };
    let read = k911_event_store::log::read_after(
        &**client,
        k911_event_store::log::READ_AFTER,
        after_nine,
        &["Probed"],
        10,
    )
    .await
    .unwrap();
    let xids: Vec<u64> = read
        .events
        .iter()
        .map(|e| e.checkpoint.transaction_id)
        .collect();
    assert_eq!(xids, vec![99, 100]);
}

#[tokio::test]
async fn a_read_model_sets_aside_an_event_it_cannot_apply_and_goes_on() {
    let app = TestApp::spawn().await;
    submit(&app, 1).await;
    insert_unreadable(&mut app.db.sqlx.acquire().await.unwrap()).await;
    submit(&app, 2).await;
    app.settle().await;
    let tickets = app.dump(TICKETS_BY_ID.0, TICKETS_BY_ID.1).await;
    assert_eq!(tickets.len(), 2, "{tickets:#?}");
    let set_aside: Vec<(String, String)> =
        sqlx::query_as("SELECT projection, event_type FROM projection_failures")
            .fetch_all(&app.db.sqlx)
            .await
            .unwrap();
    assert!(
        set_aside.contains(&("support_tickets".to_string(), "TicketSubmitted".to_string())),
        "{set_aside:?}"
    );
    // Counted where operators look.
    let metrics = app.request(Method::GET, "/metrics", None, &[]).await;
    let text = String::from_utf8(metrics.bytes).unwrap();
    let line = format!("k911_events_set_aside {}", set_aside.len());
    assert!(text.contains(&line), "missing {line} in\n{text}");
    // A rebuild goes past it too.
    app.app.followers.rebuild(None).await.unwrap();
    assert_eq!(app.dump(TICKETS_BY_ID.0, TICKETS_BY_ID.1).await, tickets);
}

/// A rebuild reads the log's next page while it applies the one before: over several pages, with
/// an event it cannot read among them, it replays each event once and in the log's order.
#[tokio::test]
async fn a_rebuild_reading_ahead_over_many_pages_replays_each_event_once_in_order() {
    let app = TestApp::spawn().await;
    let mut tx = app.db.sqlx.begin().await.unwrap();
    for n in 0..1_234 {
        if n == 700 {
            insert_unreadable(&mut tx).await;
        }
        insert_raw(&mut tx).await;
    }
    tx.commit().await.unwrap();
    app.settle().await;
    let live = app.dump(TICKETS_BY_ID.0, TICKETS_BY_ID.1).await;
    assert_eq!(live.len(), 1_234);
    let rebuilt = app
        .app
        .followers
        .rebuild(Some("support_tickets"))
        .await
        .unwrap();
    // The unreadable event is gone through too (and set aside again).
    assert_eq!(rebuilt[0].1, 1_235);
    assert_eq!(app.dump(TICKETS_BY_ID.0, TICKETS_BY_ID.1).await, live);
}

/// Stops followers started by a test.
fn stop(followers: &Followers, tasks: Vec<tokio::task::JoinHandle<()>>) {
    followers.shutdown();
    for task in tasks {
        task.abort();
    }
}

/// The log's last position.
async fn head(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap()
}

/// A read model with no tables of its own, for the runtime's tests.
const TABLELESS: Kind = Kind::ReadModel {
    create_sql: "SELECT 1",
    tables: &[],
    views: &[],
};

/// The log positions of the tickets submitted so far.
async fn submitted_positions(app: &TestApp) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT global_position FROM events WHERE event_type = 'TicketSubmitted'
          ORDER BY global_position",
    )
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap()
}

/// A [`Recorder`] named `name`, and what it will have been given.
fn recorder(name: &'static str, kind: Kind) -> (Arc<dyn Follower>, Arc<Mutex<Vec<i64>>>) {
    let seen = Arc::new(Mutex::new(vec![]));
    let follower = Recorder {
        name,
        kind,
        seen: seen.clone(),
    };
    (Arc::new(follower), seen)
}

/// A follower that remembers the positions it was given.
struct Recorder {
    name: &'static str,
    kind: Kind,
    seen: Arc<Mutex<Vec<i64>>>,
}

#[async_trait::async_trait]
impl Follower for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }
    fn event_types(&self) -> Vec<&'static str> {
        vec![SupportTicketEventType::TicketSubmitted.into()]
    }
    fn kind(&self) -> Kind {
        self.kind
    }
    async fn apply(&self, _: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        self.seen.lock().unwrap().push(event.position());
        Ok(())
    }
}

#[tokio::test]
async fn after_a_cut_over_process_managers_start_at_the_end_of_the_log_and_read_models_replay_it() {
    let app = TestApp::spawn().await;
    // The history of an imported book: already acted on where it came from.
    for n in 0..3 {
        submit(&app, n).await;
    }
    let (manager, acted) = recorder("cut_over_manager", Kind::ProcessManager);
    let (model, read) = recorder("cut_over_model", TABLELESS);
    let followers = Followers::new(app.db.clone(), vec![manager, model]);
    let end = followers.cut_over(None).await.unwrap();
    let tasks = followers.start();
    submit(&app, 3).await;
    let last = head(&app).await;
    followers
        .wait_for_all(last, Duration::from_secs(10))
        .await
        .unwrap();
    stop(&followers, tasks);
    let submitted = submitted_positions(&app).await;
    assert_eq!(submitted.len(), 4);
    assert!(submitted[2] <= end && end < submitted[3]);
    assert_eq!(
        *acted.lock().unwrap(),
        submitted[3..],
        "only what came after"
    );
    assert_eq!(*read.lock().unwrap(), submitted, "the whole log");
}

/// A release that adds a process manager to a running book starts that one alone at the log's
/// end: the others go on from where they were, and a read model cannot be cut over.
#[tokio::test]
async fn a_cut_over_of_one_process_manager_leaves_the_others_where_they_were() {
    let app = TestApp::spawn().await;
    for n in 0..2 {
        submit(&app, n).await;
    }
    let (new, acted_new) = recorder("new_manager", Kind::ProcessManager);
    let (old, acted_old) = recorder("old_manager", Kind::ProcessManager);
    let (model, _) = recorder("a_read_model", TABLELESS);
    let followers = Followers::new(app.db.clone(), vec![new, old, model]);
    assert!(matches!(
        followers.cut_over(Some("a_read_model")).await,
        Err(FollowerError::NotProcessManager(_))
    ));
    assert!(matches!(
        followers.cut_over(Some("no_such_manager")).await,
        Err(FollowerError::Unknown(_))
    ));
    followers.cut_over(Some("new_manager")).await.unwrap();
    let tasks = followers.start();
    submit(&app, 2).await;
    let submitted = submitted_positions(&app).await;
    followers
        .wait_for_all(submitted[2], Duration::from_secs(10))
        .await
        .unwrap();
    stop(&followers, tasks);
    assert_eq!(
        *acted_new.lock().unwrap(),
        submitted[2..],
        "only what came after"
    );
    assert_eq!(*acted_old.lock().unwrap(), submitted, "the whole log");
}

/// The log's end is the last event in transaction order, however many digits the ids have: a
/// cut-over once took the text order and started process managers 200 000 events too early.
#[tokio::test]
async fn a_cut_over_finds_the_end_of_the_log_in_transaction_order() {
    let app = TestApp::spawn().await;
    // Two events of transactions to come, one id a digit longer than the other.
    for (id, xid) in [("a", "9999999"), ("b", "10000000")] {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                 event_version, payload, metadata, transaction_id)
             VALUES ('Test', $1, 1, 'Tested', '1.0', '{}', '{}', $2::text::xid8)",
        )
        .bind(id)
        .bind(xid)
        .execute(&app.db.sqlx)
        .await
        .unwrap();
    }
    let last: i64 =
        sqlx::query_scalar("SELECT global_position FROM events WHERE aggregate_id = 'b'")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    let (manager, _) = recorder("cut_over_manager", Kind::ProcessManager);
    let followers = Followers::new(app.db.clone(), vec![manager]);
    assert_eq!(followers.cut_over(None).await.unwrap(), last);
}

/// A read model whose write fails for one event: the batch's writes are pipelined, so the
/// failure shows only at its end; the batch is then applied one event at a time, the failing
/// write named and set aside, every other event's written once.
struct FailingWrite {
    bad: i64,
}

#[async_trait::async_trait]
impl Follower for FailingWrite {
    fn name(&self) -> &'static str {
        "pipeline_probe"
    }
    fn event_types(&self) -> Vec<&'static str> {
        vec![SupportTicketEventType::TicketSubmitted.into()]
    }
    fn kind(&self) -> Kind {
        Kind::ReadModel {
            create_sql: "CREATE TABLE IF NOT EXISTS read.pipeline_probe
                             (position bigint PRIMARY KEY, ok boolean NOT NULL CHECK (ok))",
            tables: &["read.pipeline_probe"],
            views: &[],
        }
    }
    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        let position = event.position();
        tx.execute(
            "INSERT INTO read.pipeline_probe (position, ok) VALUES ($1, $2)",
            &[&position, &(position != self.bad)],
        )
        .await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_write_failing_in_a_pipelined_batch_is_set_aside_and_the_others_are_written_once() {
    let app = TestApp::spawn().await;
    for n in 0..3 {
        submit(&app, n).await;
    }
    let submitted = submitted_positions(&app).await;
    let probe = Arc::new(FailingWrite { bad: submitted[1] }) as Arc<dyn Follower>;
    let followers = Followers::new(app.db.clone(), vec![probe]);
    let tasks = followers.start();
    followers
        .wait_for_all(submitted[2], Duration::from_secs(10))
        .await
        .unwrap();
    stop(&followers, tasks);
    let outcome = || async {
        let written: Vec<i64> =
            sqlx::query_scalar("SELECT position FROM read.pipeline_probe ORDER BY position")
                .fetch_all(&app.db.sqlx)
                .await
                .unwrap();
        let failures: Vec<(i64, String)> = sqlx::query_as(
            "SELECT global_position, error FROM projection_failures
              WHERE projection = 'pipeline_probe'",
        )
        .fetch_all(&app.db.sqlx)
        .await
        .unwrap();
        (written, failures)
    };
    let (written, failures) = outcome().await;
    assert_eq!(written, [submitted[0], submitted[2]]);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].0, submitted[1]);
    assert!(failures[0].1.contains("23514"), "{failures:?}");
    // A rebuild, pipelined too, comes to the same.
    followers.rebuild(Some("pipeline_probe")).await.unwrap();
    assert_eq!(outcome().await, (written, failures));
}

#[tokio::test]
async fn a_rebuild_waits_for_events_held_back_by_a_transaction_still_running() {
    let app = TestApp::spawn().await;
    submit(&app, 1).await;
    // An earlier transaction is still open while a later one commits an event.
    let mut early = app.db.sqlx.begin().await.unwrap();
    insert_raw(&mut early).await;
    let mut late = app.db.sqlx.begin().await.unwrap();
    insert_raw(&mut late).await;
    late.commit().await.unwrap();
    let commit_soon = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        early.commit().await.unwrap();
    });
    let rebuilt = app
        .app
        .followers
        .rebuild(Some("support_tickets"))
        .await
        .unwrap();
    commit_soon.await.unwrap();
    assert_eq!(
        rebuilt[0].1, 3,
        "every event, once the earlier one committed"
    );
    assert_eq!(app.dump(TICKETS_BY_ID.0, TICKETS_BY_ID.1).await.len(), 3);
}

/// A read model that counts the events it is given: applying one twice shows.
struct Counter;

#[async_trait::async_trait]
impl Follower for Counter {
    fn name(&self) -> &'static str {
        "event_counter"
    }
    fn event_types(&self) -> Vec<&'static str> {
        vec![SupportTicketEventType::TicketSubmitted.into()]
    }
    fn kind(&self) -> Kind {
        Kind::ReadModel {
            create_sql: "CREATE TABLE IF NOT EXISTS read.event_counter
                             (id int PRIMARY KEY, n bigint NOT NULL);
                         INSERT INTO read.event_counter VALUES (1, 0) ON CONFLICT DO NOTHING",
            tables: &["read.event_counter"],
            views: &[],
        }
    }
    async fn apply(&self, tx: &BatchTx<'_>, _: &RecordedEvent) -> Result<(), FollowerError> {
        tx.execute("UPDATE read.event_counter SET n = n + 1 WHERE id = 1", &[])
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn two_instances_racing_for_every_batch_apply_each_event_once() {
    let app = TestApp::spawn().await;
    // Two instances' followers of one read model, both woken by every commit.
    let instances: Vec<Followers> = (0..2)
        .map(|_| Followers::new(app.db.clone(), vec![Arc::new(Counter) as Arc<dyn Follower>]))
        .collect();
    let tasks: Vec<_> = instances.iter().flat_map(Followers::start).collect();
    let mut last = 0;
    for _ in 0..1500 {
        let mut tx = app.db.sqlx.begin().await.unwrap();
        last = insert_raw(&mut tx).await.1;
        tx.commit().await.unwrap();
        for instance in &instances {
            instance.committed(&["TicketSubmitted".to_string()]);
        }
    }
    for instance in &instances {
        instance
            .wait_for_all(last, Duration::from_secs(30))
            .await
            .unwrap();
        instance.shutdown();
    }
    for task in tasks {
        task.abort();
    }
    let counted: i64 = sqlx::query_scalar("SELECT n FROM read.event_counter")
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap();
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'TicketSubmitted'")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    assert_eq!(counted, events, "every event counted once");
}

/// A read model that never gets past its first event, and says it trails the log.
struct StuckTrailing;

#[async_trait::async_trait]
impl Follower for StuckTrailing {
    fn name(&self) -> &'static str {
        "stuck_trailing"
    }
    fn event_types(&self) -> Vec<&'static str> {
        Vec::new()
    }
    fn kind(&self) -> Kind {
        TABLELESS
    }
    fn trails(&self) -> bool {
        true
    }
    async fn apply(&self, _: &BatchTx<'_>, _: &RecordedEvent) -> Result<(), FollowerError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn read_your_writes_does_not_wait_for_a_follower_that_trails_the_log() {
    let app = TestApp::spawn().await;
    let followers = Followers::new(
        app.db.clone(),
        vec![Arc::new(Probe), Arc::new(StuckTrailing)],
    );
    let tasks = followers.start();
    followers
        .wait_started(Duration::from_secs(10))
        .await
        .unwrap();
    submit(&app, 1).await;
    let head = head(&app).await;
    // The probe shows the ticket; the trailing read model is not waited for...
    followers
        .wait_for(head, Duration::from_secs(10))
        .await
        .expect("read-your-writes waits for the read models in step only");
    // ...though everything is, when a test or an operator waits for the system to settle.
    assert!(followers
        .wait_for_all(head, Duration::from_millis(300))
        .await
        .is_err());
    stop(&followers, tasks);
}

/// A follower's log read keeps one plan, an ordered walk of the log's index, even when it is
/// planned on an empty log (as a new service's first batch is): a plan made then and kept would
/// be a bitmap scan and a sort of everything after the checkpoint, read again for every batch as
/// the log grows. The read model's statements after it are planned with their values again.
#[tokio::test]
async fn the_log_read_is_planned_once_as_a_walk_of_the_index_even_on_an_empty_log() {
    use k911_event_store::follower::{BEGIN_WITH_THE_READS_PLAN, PLAN_EACH_RUN};
    let app = TestApp::spawn().await;
    let mut config: tokio_postgres::Config = app.db.url().parse().unwrap();
    // As a projector's connection plans (`follower::connect`).
    k911_event_store::connect::add_options(&mut config, "-c plan_cache_mode=force_custom_plan");
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "PREPARE read_after(text, bigint, bigint, text[]) AS {}",
            k911_event_store::log::READ_AFTER
        ))
        .await
        .unwrap();
    client
        .batch_execute(&BEGIN_WITH_THE_READS_PLAN)
        .await
        .unwrap();
    let plan: Vec<String> = client
        .query(
            "EXPLAIN EXECUTE read_after('0', 0, 500, '{TicketSubmitted}')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let plan = plan.join("\n");
    // The generic plan: the checkpoint is a parameter in it, where the walk of the index starts.
    assert!(
        plan.lines()
            .any(|line| line.contains("Index Cond:") && line.contains("ROW(($1)::xid8, $2)")),
        "{plan}"
    );
    assert_eq!(
        plan.matches("Index Scan using events_global_log on events")
            .count(),
        2,
        "the events and the held-back probe walk the index: {plan}"
    );
    assert!(
        !plan.contains("Bitmap") && !plan.contains("Seq Scan"),
        "{plan}"
    );
    client.batch_execute(&PLAN_EACH_RUN).await.unwrap();
    for (setting, value) in [
        ("plan_cache_mode", "force_custom_plan"),
        ("enable_seqscan", "on"),
        ("enable_bitmapscan", "on"),
    ] {
        let row = client
            .query_one(&format!("SHOW {setting}"), &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), value, "{setting} after the read");
    }
    client.batch_execute("COMMIT").await.unwrap();
}

/// A rebuild starts the next read model as soon as any one ends, not once every one before it
/// has: the first here waits, while it is rebuilt, for the fifth to be rebuilt, which four at a
/// time in order it never would be.
#[tokio::test]
async fn a_rebuild_starts_the_next_read_model_when_any_one_ends() {
    let app = TestApp::spawn().await;
    submit(&app, 1).await;
    let fifth_applied = Arc::new(tokio::sync::Notify::new());
    let waited = Arc::new(Mutex::new(None));
    let first = ActingProbe::follower(
        "waits",
        Act::WaitFor {
            other_applied: fifth_applied.clone(),
            released: waited.clone(),
        },
    );
    let quick = ["second", "third", "fourth"].map(|name| recorder(name, TABLELESS).0);
    let fifth = ActingProbe::follower(
        "announces",
        Act::Announce {
            applied: fifth_applied,
        },
    );
    let followers = Followers::new(
        app.db.clone(),
        [vec![first], quick.to_vec(), vec![fifth]].concat(),
    );
    let rebuilt = followers.rebuild(None).await.unwrap();
    let names: Vec<&str> = rebuilt.iter().map(|(name, _, _)| *name).collect();
    assert_eq!(names, ["waits", "second", "third", "fourth", "announces"]);
    assert_eq!(
        *waited.lock().unwrap(),
        Some(true),
        "the fifth was rebuilt while the first still ran"
    );
}

/// A reader waiting for an event that lies past a transaction still running, on a follower with
/// nothing of its own types beyond it, is answered once that transaction ends, not at the
/// follower's next idle look (a minute here).
#[tokio::test]
async fn a_reader_waiting_past_a_running_transaction_is_answered_when_it_ends() {
    let app = TestApp::spawn().await;
    let followers = Followers::new(app.db.clone(), vec![recorder("waited_for", TABLELESS).0])
        .with_poll_interval(Duration::from_secs(60));
    let tasks = followers.start();
    followers
        .wait_started(Duration::from_secs(10))
        .await
        .unwrap();
    // A transaction that holds the log's horizon back.
    let (holder, connection) = tokio_postgres::connect(app.db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    holder
        .batch_execute("BEGIN; SELECT pg_current_xact_id()")
        .await
        .unwrap();
    // An event of a type the follower does not read, committed after it.
    let position: i64 = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('Test', 'past-the-horizon', 1, 'Tested', '1.0', '{}', '{}')
         RETURNING global_position",
    )
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    let waiting = {
        let followers = followers.clone();
        tokio::spawn(async move { followers.wait_for(position, Duration::from_secs(30)).await })
    };
    // The follower, woken by the wait, finds the horizon short of the event.
    tokio::time::sleep(Duration::from_millis(300)).await;
    holder.batch_execute("COMMIT").await.unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(10), waiting).await;
    stop(&followers, tasks);
    assert!(
        matches!(answered, Ok(Ok(Ok(())))),
        "the wait ended with {answered:?}"
    );
}

/// A read model's statements are planned with their values, live and in a rebuild: the log
/// read's planning settings end before them.
#[tokio::test]
async fn a_read_models_statements_are_planned_with_their_values_after_the_log_read() {
    let app = TestApp::spawn().await;
    let seen = Arc::new(Mutex::new(vec![]));
    let followers = Followers::new(
        app.db.clone(),
        vec![ActingProbe::follower(
            "planning_probe",
            Act::RecordPlanning { seen: seen.clone() },
        )],
    );
    let tasks = followers.start();
    submit(&app, 1).await;
    let last = head(&app).await;
    followers
        .wait_for_all(last, Duration::from_secs(10))
        .await
        .unwrap();
    followers.rebuild(Some("planning_probe")).await.unwrap();
    stop(&followers, tasks);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "applied live and in the rebuild: {seen:?}");
    for settings in seen {
        assert_eq!(settings, ["force_custom_plan", "on", "on"]);
    }
}

/// A read model of new tickets for the runtime's tests, doing `act` for each.
struct ActingProbe {
    name: &'static str,
    act: Act,
}

enum Act {
    /// Waits (up to 10 s) for another probe's apply, and records whether it came.
    WaitFor {
        other_applied: Arc<tokio::sync::Notify>,
        released: Arc<Mutex<Option<bool>>>,
    },
    /// Tells a waiting probe (or one yet to wait: the permit is stored).
    Announce { applied: Arc<tokio::sync::Notify> },
    /// Records the planning settings its statements run under.
    RecordPlanning { seen: Arc<Mutex<Vec<Vec<String>>>> },
}

impl ActingProbe {
    fn follower(name: &'static str, act: Act) -> Arc<dyn Follower> {
        Arc::new(Self { name, act })
    }
}

#[async_trait::async_trait]
impl Follower for ActingProbe {
    fn name(&self) -> &'static str {
        self.name
    }
    fn event_types(&self) -> Vec<&'static str> {
        vec![SupportTicketEventType::TicketSubmitted.into()]
    }
    fn kind(&self) -> Kind {
        TABLELESS
    }
    async fn apply(&self, tx: &BatchTx<'_>, _: &RecordedEvent) -> Result<(), FollowerError> {
        match &self.act {
            Act::WaitFor {
                other_applied,
                released,
            } => {
                let came =
                    tokio::time::timeout(Duration::from_secs(10), other_applied.notified()).await;
                *released.lock().unwrap() = Some(came.is_ok());
            }
            Act::Announce { applied } => applied.notify_one(),
            Act::RecordPlanning { seen } => {
                let row = tx
                    .query_one(
                        "SELECT current_setting('plan_cache_mode'),
                                current_setting('enable_seqscan'),
                                current_setting('enable_bitmapscan')",
                        &[],
                    )
                    .await?;
                let settings = (0..3).map(|i| row.get::<_, String>(i)).collect();
                seen.lock().unwrap().push(settings);
            }
        }
        Ok(())
    }
}
