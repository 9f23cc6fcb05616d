use axum::http::{Method, StatusCode};
use k911_tests::TestApp;
use serde_json::json;

const TICKETS: &str = "/api/v1/support/tickets";

#[tokio::test]
async fn a_repeated_request_with_the_same_key_gets_the_first_answer_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let form = json!({"name": "Иван", "phone": "+79161234567", "question": "Вопрос"});
    let key = [("idempotency-key", "8d3f0c55-2b1f-4a47-9d6e-0b7c1c3b9a10")];
    let first = app.request(Method::POST, TICKETS, Some(&form), &key).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let events = app.event_count().await;
    let again = app.request(Method::POST, TICKETS, Some(&form), &key).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn the_same_key_with_a_different_body_is_refused() {
    let app = TestApp::spawn().await;
    let key = [("idempotency-key", "8d3f0c55-2b1f-4a47-9d6e-0b7c1c3b9a10")];
    let form = json!({"name": "Иван", "phone": "+79161234567", "question": "Вопрос"});
    app.request(Method::POST, TICKETS, Some(&form), &key).await;
    let other = json!({"name": "Иван", "phone": "+79161234567", "question": "Другой вопрос"});
    app.request(Method::POST, TICKETS, Some(&other), &key)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.event_count().await, 1);
}

#[tokio::test]
async fn a_malformed_key_is_refused() {
    let app = TestApp::spawn().await;
    let form = json!({"name": "Иван", "phone": "+79161234567", "question": "Вопрос"});
    app.request(
        Method::POST,
        TICKETS,
        Some(&form),
        &[("idempotency-key", "abc")],
    )
    .await
    .problem(StatusCode::BAD_REQUEST);
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_write_once() {
    let app = TestApp::spawn().await;
    let form = json!({"name": "Иван", "phone": "+79161234567", "question": "Вопрос"});
    let key = [("idempotency-key", "5a0f7c2e-2c6b-4f7e-8f1a-3b9d2e4c6a01")];
    let attempts = (0..8).map(|_| app.request(Method::POST, TICKETS, Some(&form), &key));
    let answers = futures::future::join_all(attempts).await;
    let created: Vec<_> = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .collect();
    assert!(!created.is_empty());
    for answer in &answers {
        // Either the first answer (replayed), or "still running" while the first is in flight.
        assert!(
            answer.status == StatusCode::CREATED || answer.status == StatusCode::CONFLICT,
            "{:#}",
            answer.body
        );
    }
    assert!(created.iter().all(|a| a.body == created[0].body));
    assert_eq!(app.event_count().await, 1);
}
