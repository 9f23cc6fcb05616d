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

/// A login's answer carries a bearer token: it is kept for the replay, but sealed, so the table
/// never holds a token (nor anything else of the answer) in clear.
#[tokio::test]
async fn a_stored_answer_is_sealed_and_still_replayed() {
    let app = TestApp::spawn().await;
    app.staff("anna@k911.ru", k911_aggregates::values::Role::Support)
        .await;
    let login = json!({"login": "anna@k911.ru", "password": k911_tests::STAFF_PASSWORD});
    let key = [("idempotency-key", "1b7a9c3e-5d2f-4e81-a0b6-c4d8e2f1a3b5")];
    let first = app
        .request(Method::POST, "/api/v1/auth/login", Some(&login), &key)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:#}", first.body);
    let token = first.body["token"].as_str().unwrap().to_string();
    let stored: Vec<u8> = sqlx::query_scalar("SELECT response_body FROM idempotency_keys")
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap();
    let clear = String::from_utf8_lossy(&stored);
    assert!(
        !clear.contains(&token) && !clear.contains("token"),
        "{clear}"
    );
    let again = app
        .request(Method::POST, "/api/v1/auth/login", Some(&login), &key)
        .await;
    assert_eq!(again.body, first.body);
}

/// Keys are checked after authentication: a token that names no session reserves nothing; a key
/// is kept a day, then the same key is a new request; a body over the route's limit is refused
/// before anything is kept.
#[tokio::test]
async fn keys_are_for_known_callers_a_day_long_within_the_routes_limit() {
    let app = TestApp::spawn().await;
    let key = [
        ("idempotency-key", "2c8b0d4f-6e3a-4f92-b1c7-d5e9f3a2b4c6"),
        ("authorization", "Bearer not-a-session"),
    ];
    let form = json!({"question": "Вопрос"});
    app.request(
        Method::POST,
        "/api/v1/me/support/tickets",
        Some(&form),
        &key,
    )
    .await
    .problem(StatusCode::UNAUTHORIZED);
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap();
    assert_eq!(kept, 0);

    let big = json!({"name": "Иван", "phone": "+79161234567", "question": "x".repeat(100_000)});
    let key = [("idempotency-key", "3d9c1e5a-7f4b-4a03-82d8-e6fa04b3c5d7")];
    app.request(Method::POST, TICKETS, Some(&big), &key)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE);

    let form = json!({"name": "Иван", "phone": "+79161234567", "question": "Вопрос"});
    let first = app.request(Method::POST, TICKETS, Some(&form), &key).await;
    assert_eq!(first.status, StatusCode::CREATED);
    sqlx::query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        .execute(&app.db.sqlx)
        .await
        .unwrap();
    let other = json!({"name": "Иван", "phone": "+79161234567", "question": "Другой вопрос"});
    let later = app.request(Method::POST, TICKETS, Some(&other), &key).await;
    assert_eq!(later.status, StatusCode::CREATED, "{:#}", later.body);
    assert_eq!(app.event_count().await, 2);
}
