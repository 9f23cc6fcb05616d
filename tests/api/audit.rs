//! The log's hash chain (issue #16): every event linked once, in the followers' order, never
//! rewritten by a rebuild; `verify` recomputes the links from the events table and names where
//! an edited or a deleted event breaks them.

use axum::http::{Method, StatusCode};
use k911_aggregates::values::Role;
use k911_event_store::chain::{head, verify, Break, Verdict};
use k911_tests::TestApp;

use crate::loans::issued_loan;

/// A book with a customer, an application and a loan issued, the chain caught up.
async fn chained() -> TestApp {
    let app = TestApp::spawn().await;
    issued_loan(&app).await;
    app.settle().await;
    app
}

async fn verdict(app: &TestApp) -> Verdict {
    verify(&**app.db.pg.get().await.unwrap(), |_| {})
        .await
        .unwrap()
}

async fn sql(app: &TestApp, statement: &str) {
    sqlx::query(statement).execute(&app.db.sqlx).await.unwrap();
}

/// The position of the `n`th event in log order (1 = the first).
async fn nth_position(app: &TestApp, n: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT global_position FROM events ORDER BY transaction_id, global_position
          OFFSET $1 - 1 LIMIT 1",
    )
    .bind(n)
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_event_is_linked_once_in_log_order_and_a_rebuild_leaves_the_chain_alone() {
    let app = chained().await;
    let chain: Vec<i64> =
        sqlx::query_scalar("SELECT global_position FROM audit_chain ORDER BY link_number")
            .fetch_all(&app.db.sqlx)
            .await
            .unwrap();
    let log: Vec<i64> = sqlx::query_scalar(
        "SELECT global_position FROM events ORDER BY transaction_id, global_position",
    )
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap();
    assert!(log.len() > 12, "{log:?}");
    assert_eq!(chain, log);
    let Verdict::Intact(before) = verdict(&app).await else {
        panic!("an untouched log verifies");
    };
    assert_eq!(
        before,
        head(&**app.db.pg.get().await.unwrap()).await.unwrap()
    );
    assert_eq!(before.links, log.len() as i64);

    // Not a read model: refused by name, and left alone by a rebuild of them all.
    assert!(app
        .app
        .followers
        .rebuild(Some("audit_chain"))
        .await
        .is_err());
    app.app.followers.rebuild(None).await.unwrap();
    app.settle().await;
    assert_eq!(verdict(&app).await, Verdict::Intact(before));
}

#[tokio::test]
async fn verify_names_the_event_whose_payload_was_edited() {
    let app = chained().await;
    let edited = nth_position(&app, 12).await;
    sql(
        &app,
        &format!(
            "UPDATE events SET payload = payload || '{{\"x\": 1}}'::jsonb
              WHERE global_position = {edited}"
        ),
    )
    .await;
    assert_eq!(
        verdict(&app).await,
        Verdict::Broken {
            position: edited,
            reason: Break::Differs
        }
    );
}

#[tokio::test]
async fn verify_catches_a_deleted_event_and_one_deleted_with_its_link() {
    let app = chained().await;
    let deleted = nth_position(&app, 7).await;
    sql(
        &app,
        &format!("DELETE FROM events WHERE global_position = {deleted}"),
    )
    .await;
    assert_eq!(
        verdict(&app).await,
        Verdict::Broken {
            position: deleted,
            reason: Break::Deleted
        }
    );
    // Its link deleted as well: the links after it miss one.
    let next = nth_position(&app, 7).await;
    sql(
        &app,
        &format!("DELETE FROM audit_chain WHERE global_position = {deleted}"),
    )
    .await;
    assert_eq!(
        verdict(&app).await,
        Verdict::Broken {
            position: next,
            reason: Break::LinksMissing
        }
    );
    // And the links renumbered to hide the gap: the next event's link does not follow from the
    // one before it.
    sql(
        &app,
        "UPDATE audit_chain SET link_number = link_number - 1 WHERE link_number >= 7",
    )
    .await;
    assert_eq!(
        verdict(&app).await,
        Verdict::Broken {
            position: next,
            reason: Break::Differs
        }
    );
}

#[tokio::test]
async fn a_compliance_officer_reads_the_head_of_the_chain_and_nobody_else_does() {
    let app = chained().await;
    let officer = app.staff("irina@k911.ru", Role::Compliance).await;
    app.settle().await;
    let Verdict::Intact(verified) = verdict(&app).await else {
        panic!("an untouched log verifies");
    };
    let answer = app.get_as(&officer, "/api/v1/compliance/log/head").await;
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
    assert_eq!(answer.body["links"], verified.links);
    assert_eq!(answer.body["position"], verified.position.unwrap());
    assert_eq!(answer.body["link"], hex::encode(verified.link));

    let support = app.staff("anna@k911.ru", Role::Support).await;
    let refused = app.get_as(&support, "/api/v1/compliance/log/head").await;
    refused.problem(StatusCode::FORBIDDEN);
    let anonymous = app
        .request(Method::GET, "/api/v1/compliance/log/head", None, &[])
        .await;
    anonymous.problem(StatusCode::UNAUTHORIZED);
}
