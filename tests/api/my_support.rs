//! Support from the cabinet: questions with the profile's contacts, own tickets, deletion.

use axum::http::StatusCode;
use k911_aggregates::values::Role;
use k911_tests::TestApp;
use serde_json::json;

use crate::cabinet::{customer, customer_with};
use crate::notifications::sms_with;

#[tokio::test]
async fn a_customer_asks_from_the_cabinet_and_is_answered_at_the_profiles_contacts() {
    let app = TestApp::spawn().await;
    let (token, _, _, _) = customer(&app).await;
    let (other, _, _, _) = customer_with(&app, "+79160000002", "petr@example.ru", "000002").await;
    let asked = app
        .post_as(
            &token,
            "/api/v1/me/support/tickets",
            Some(&json!({"question": "Как погасить заём досрочно?"})),
        )
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{:#}", asked.body);
    assert_eq!(asked.body["queue_position"], 1);
    let deletion = app
        .post_as(
            &token,
            "/api/v1/me/deletion-request",
            Some(&json!({"reason": "больше не нужен"})),
        )
        .await;
    assert_eq!(deletion.status, StatusCode::CREATED, "{:#}", deletion.body);
    assert_eq!(deletion.body["queue_position"], 2);

    app.settle().await;
    let mine = app.get_as(&token, "/api/v1/me/support/tickets").await.body;
    assert_eq!(mine.as_array().unwrap().len(), 2);
    assert_eq!(mine[0]["kind"], "question");
    assert_eq!(mine[0]["question"], "Как погасить заём досрочно?");
    assert_eq!(mine[0]["status"], "waiting");
    assert_eq!(mine[1]["kind"], "deletion");
    assert!(mine[1]["question"]
        .as_str()
        .unwrap()
        .contains("больше не нужен"));
    let theirs = app.get_as(&other, "/api/v1/me/support/tickets").await.body;
    assert_eq!(theirs, json!([]));

    // The agent sees the profile's contacts and the answer goes there.
    let support = app.staff("anna@k911.ru", Role::Support).await;
    let taken = app
        .post_as(&support, "/api/v1/staff/support/queue/next", None)
        .await;
    assert_eq!(taken.status, StatusCode::OK, "{:#}", taken.body);
    assert_eq!(taken.body["name"], "Иван Иванович");
    assert_eq!(taken.body["phone"], "+79161234567");
    assert_eq!(taken.body["email"], "ivan@example.ru");
    let id = taken.body["ticket_id"].as_str().unwrap();
    let reply = app
        .post_as(
            &support,
            &format!("/api/v1/staff/support/tickets/{id}/reply"),
            Some(&json!({"text": "В разделе «Займы» нажмите «Погасить»."})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    sms_with(&app, "+79161234567", "Погасить").await;

    let fields = app
        .post_as(
            &token,
            "/api/v1/me/support/tickets",
            Some(&json!({"question": " "})),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["question"]);
}
