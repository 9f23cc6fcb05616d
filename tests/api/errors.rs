//! Bad input on every route: a 4xx problem document naming the field, and nothing written.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use k911_aggregates::values::Role;
use k911_tests::TestApp;
use serde_json::json;

const TICKETS: &str = "/api/v1/support/tickets";

fn valid_form() -> serde_json::Value {
    json!({"name": "Иван", "phone": "+79161234567", "question": "Вопрос"})
}

async fn raw_post(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: impl Into<Body>,
) -> k911_tests::TestResponse {
    app.send(
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", content_type)
            .body(body.into())
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn every_invalid_field_of_the_feedback_form_is_named_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"name": "", "phone": "+79161234567", "question": "В"}),
            "name",
        ),
        (
            json!({"name": "R2D2", "phone": "+79161234567", "question": "В"}),
            "name",
        ),
        (
            json!({"name": "Иван", "phone": "+7495123", "question": "В"}),
            "phone",
        ),
        (
            json!({"name": "Иван", "email": "ivan@", "question": "В"}),
            "email",
        ),
        (json!({"name": "Иван", "question": "В"}), "phone"),
        (
            json!({"name": "Иван", "phone": "+79161234567", "question": "  "}),
            "question",
        ),
        (
            json!({"name": "Иван", "phone": "+79161234567", "question": "ы".repeat(4001)}),
            "question",
        ),
        (json!({"name": "Иван", "phone": "+79161234567"}), "question"),
        (
            json!({"name": "Иван", "phone": "+79161234567", "question": "В", "admin": true}),
            "admin",
        ),
        (
            json!({"name": 42, "phone": "+79161234567", "question": "В"}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let response = app.post(TICKETS, &body).await;
        let fields = response.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            fields.contains(&field.to_string()),
            "{body} should name {field}, named {fields:?}"
        );
    }
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn malformed_json_wrong_content_type_and_oversized_bodies_are_refused() {
    let app = TestApp::spawn().await;
    raw_post(&app, TICKETS, "application/json", "{\"name\": ")
        .await
        .problem(StatusCode::BAD_REQUEST);
    raw_post(&app, TICKETS, "text/plain", valid_form().to_string())
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = json!({"name": "Иван", "phone": "+79161234567", "question": "ы".repeat(70_000)});
    raw_post(&app, TICKETS, "application/json", huge.to_string())
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn staff_routes_name_their_bad_fields_and_write_nothing() {
    let app = TestApp::spawn().await;
    app.post(TICKETS, &valid_form()).await;
    let support = app.staff("anna@k911.ru", Role::Support).await;
    let taken = app
        .post_as(&support, "/api/v1/staff/support/queue/next", None)
        .await;
    let id = taken.body["ticket_id"].as_str().unwrap().to_string();
    let before = app.event_count().await;

    let reply = format!("/api/v1/staff/support/tickets/{id}/reply");
    let fields = app
        .post_as(&support, &reply, Some(&json!({"text": " "})))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["text"]);
    let fields = app
        .post_as(&support, &reply, Some(&json!({})))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["text"]);
    let fields = app
        .post_as(
            &support,
            &format!("/api/v1/staff/support/tickets/{id}/close"),
            Some(&json!({"reason": "x"})),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["reason"]);
    app.post_as(
        &support,
        "/api/v1/staff/support/tickets/not-a-uuid/reply",
        Some(&json!({"text": "a"})),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    app.post_as(
        &support,
        "/api/v1/staff/support/tickets/00000000-0000-0000-0000-000000000001/reply",
        Some(&json!({"text": "a"})),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    let fields = app
        .get_as(&support, "/api/v1/staff/support/queue?limit=5000")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["limit"]);
    let fields = app
        .get_as(&support, "/api/v1/staff/support/queue?offset=-1")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["offset"]);
    app.request(
        Method::GET,
        "/api/v1/staff/support/queue",
        None,
        &[
            ("authorization", &format!("Bearer {support}")),
            ("x-min-position", "soon"),
        ],
    )
    .await
    .problem(StatusCode::BAD_REQUEST);
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn login_names_missing_fields() {
    let app = TestApp::spawn().await;
    let fields = app
        .post("/api/v1/auth/login", &json!({"login": "a@b.ru"}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["password"]);
    let fields = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": " ", "password": "x"}),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["login"]);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_with_problems() {
    let app = TestApp::spawn().await;
    app.request(Method::GET, "/api/v1/nothing-here", None, &[])
        .await
        .problem(StatusCode::NOT_FOUND);
    app.request(Method::DELETE, TICKETS, None, &[])
        .await
        .problem(StatusCode::METHOD_NOT_ALLOWED);
}

/// With every database connection taken (by waiting readers, a stuck job), a command waits for
/// the pool's timeout and is answered 503 with Retry-After, not 500; nothing is echoed of the
/// cause.
#[tokio::test]
async fn a_command_with_no_database_connection_to_be_had_is_503_with_retry_after() {
    let app = k911_tests::TestApp::spawn().await;
    let mut held = vec![];
    while let Ok(Ok(connection)) =
        tokio::time::timeout(std::time::Duration::from_millis(200), app.db.sqlx.acquire()).await
    {
        held.push(connection);
    }
    let form =
        serde_json::json!({"name": "Иван", "email": "ivan@example.ru", "question": "Когда?"});
    let answer = app.post("/api/v1/support/tickets", &form).await;
    answer.problem(axum::http::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers["retry-after"], "1");
    assert!(!answer.body["detail"].as_str().unwrap().contains("pool"));
    drop(held);
    let answer = app.post("/api/v1/support/tickets", &form).await;
    assert_eq!(
        answer.status,
        axum::http::StatusCode::CREATED,
        "{:#}",
        answer.body
    );
}

/// No text column or jsonb value can keep U+0000: such a string is refused naming its field,
/// before anything is stored (found by the API fuzzer as a 500 on login).
#[tokio::test]
async fn a_string_with_a_nul_character_is_refused_naming_its_field() {
    let app = k911_tests::TestApp::spawn().await;
    let login = serde_json::json!({"login": "anna\u{0}@k911.ru", "password": "whatever it is"});
    let fields = app
        .post("/api/v1/auth/login", &login)
        .await
        .problem(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["login"]);
    let ticket =
        serde_json::json!({"name": "Иван", "email": "ivan@example.ru", "question": "a\u{0}b"});
    let fields = app
        .post("/api/v1/support/tickets", &ticket)
        .await
        .problem(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["question"]);
    assert_eq!(app.event_count().await, 0);
}
