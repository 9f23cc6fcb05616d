//! Phone-only customers log in with one-time SMS codes: expiry, single use, tries and rate limits
//! all follow the injected clock.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use k911_aggregates::values::Role;
use k911_commands::clock::Clock;
use k911_tests::{TestApp, TestResponse};
use serde_json::json;

use crate::notifications::{sms_with, sms_with_n};
use crate::onboarding::{application, apply};

const PHONE: &str = "+79160000001";

/// An approved phone-only customer, with the decision and the loan offer's code sent.
async fn phone_only_customer(app: &TestApp) {
    let id = apply(app, &application(PHONE, None, "000001")).await;
    let underwriter = app.staff("olga@k911.ru", Role::Underwriter).await;
    let path = format!("/api/v1/staff/applications/{id}/approve");
    assert_eq!(
        app.post_as(&underwriter, &path, None).await.status,
        StatusCode::OK
    );
    app.settle().await;
    sms_with(app, PHONE, "заявка одобрена").await;
}

async fn ask_code(app: &TestApp, phone: &str) -> DateTime<Utc> {
    let response = app
        .post("/api/v1/auth/otp", &json!({ "phone": phone }))
        .await;
    assert_eq!(response.status, StatusCode::ACCEPTED, "{:#}", response.body);
    response.body["resend_after"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The code in the `n`-th login code (1-based) sent to the customer's phone.
async fn login_code(app: &TestApp, n: usize) -> String {
    let texts = sms_with_n(app, PHONE, "код для входа", n).await;
    let code = texts[n - 1].split("кабинет: ").nth(1).unwrap();
    code.chars().take_while(char::is_ascii_digit).collect()
}

async fn log_in(app: &TestApp, code: &str) -> TestResponse {
    app.post(
        "/api/v1/auth/login",
        &json!({"login": "8 (916) 000-00-01", "code": code}),
    )
    .await
}

/// How many SMS the service has queued in all.
async fn sms_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM effects WHERE kind = 'sms'")
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap()
}

fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

#[tokio::test]
async fn a_phone_only_customer_logs_in_with_a_code_that_works_once() {
    let app = TestApp::spawn().await;
    phone_only_customer(&app).await;
    let now = app.clock.now();
    assert_eq!(ask_code(&app, PHONE).await, now + Duration::seconds(60));
    let code = login_code(&app, 1).await;
    assert_eq!(code.len(), 6);

    let response = log_in(&app, &code).await;
    assert_eq!(response.status, StatusCode::OK, "{:#}", response.body);
    assert_eq!(response.body["role"], "borrower");
    // A borrower's session is short.
    let expires: DateTime<Utc> = response.body["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expires, now + Duration::minutes(30));

    // Used once, never again.
    log_in(&app, &code).await.problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_answer_is_the_same_for_strangers_and_nothing_is_sent_to_them() {
    let app = TestApp::spawn().await;
    phone_only_customer(&app).await;
    // An applicant who gave an e-mail logs in with the password instead.
    let id = apply(
        &app,
        &application("+79160000002", Some("ivan@example.ru"), "000002"),
    )
    .await;
    let underwriter = app.staff("petr@k911.ru", Role::Underwriter).await;
    app.post_as(
        &underwriter,
        &format!("/api/v1/staff/applications/{id}/approve"),
        None,
    )
    .await;
    // And an applicant still waiting for the decision has no cabinet yet.
    apply(&app, &application("+79160000003", None, "000003")).await;
    app.settle().await;
    sms_with(&app, "+79160000002", "заявка одобрена").await;
    let before = sms_count(&app).await;

    let now = app.clock.now();
    for stranger in ["+79169999999", "+79160000002", "+79160000003"] {
        assert_eq!(ask_code(&app, stranger).await, now + Duration::seconds(60));
    }
    assert_eq!(sms_count(&app).await, before, "no code for any of them");
    let response = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "+79169999999", "code": "123456"}),
        )
        .await;
    response.problem(StatusCode::UNAUTHORIZED);

    let fields = app
        .post("/api/v1/auth/otp", &json!({"phone": "12345"}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["phone"]);
}

#[tokio::test]
async fn a_code_expires_after_five_minutes() {
    let app = TestApp::spawn().await;
    phone_only_customer(&app).await;
    ask_code(&app, PHONE).await;
    let code = login_code(&app, 1).await;
    app.clock
        .set(app.clock.now() + Duration::minutes(5))
        .unwrap();
    log_in(&app, &code).await.problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn five_wrong_tries_burn_the_code_and_lock_the_login() {
    let app = TestApp::spawn().await;
    phone_only_customer(&app).await;
    ask_code(&app, PHONE).await;
    let code = login_code(&app, 1).await;
    for _ in 0..5 {
        log_in(&app, &wrong(&code))
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
    // Locked with back-off: even the right code is not looked at now...
    log_in(&app, &code)
        .await
        .problem(StatusCode::TOO_MANY_REQUESTS);
    // ...and once the lock is over, the code itself is dead.
    app.clock
        .set(app.clock.now() + Duration::seconds(31))
        .unwrap();
    log_in(&app, &code).await.problem(StatusCode::UNAUTHORIZED);

    // A new code works (after the lock that the last failure extended).
    app.clock
        .set(app.clock.now() + Duration::seconds(61))
        .unwrap();
    ask_code(&app, PHONE).await;
    let fresh = login_code(&app, 2).await;
    let response = log_in(&app, &fresh).await;
    assert_eq!(response.status, StatusCode::OK, "{:#}", response.body);
}

#[tokio::test]
async fn a_newer_code_retires_the_older_one() {
    let app = TestApp::spawn().await;
    phone_only_customer(&app).await;
    ask_code(&app, PHONE).await;
    let first = login_code(&app, 1).await;
    app.clock
        .set(app.clock.now() + Duration::seconds(60))
        .unwrap();
    ask_code(&app, PHONE).await;
    let second = login_code(&app, 2).await;
    if first != second {
        log_in(&app, &first).await.problem(StatusCode::UNAUTHORIZED);
    }
    assert_eq!(log_in(&app, &second).await.status, StatusCode::OK);
}

#[tokio::test]
async fn one_code_a_minute_and_five_an_hour_per_phone_known_or_not() {
    let app = TestApp::spawn().await;
    phone_only_customer(&app).await;
    // The decision and the loan offer's signing code went out already.
    let base = sms_count(&app).await;
    let start = app.clock.now();
    let stranger = "+79169999999";
    for phone in [PHONE, stranger] {
        assert_eq!(ask_code(&app, phone).await, start + Duration::seconds(60));
        // Too soon: nothing sent, and the same answer.
        assert_eq!(ask_code(&app, phone).await, start + Duration::seconds(60));
    }
    login_code(&app, 1).await;
    assert_eq!(sms_count(&app).await, base + 1);

    for minute in 1..=4 {
        app.clock.set(start + Duration::minutes(minute)).unwrap();
        for phone in [PHONE, stranger] {
            ask_code(&app, phone).await;
        }
    }
    login_code(&app, 5).await;
    assert_eq!(sms_count(&app).await, base + 5, "five codes in the hour");
    // The sixth within the hour waits until the first is an hour old.
    app.clock.set(start + Duration::minutes(10)).unwrap();
    for phone in [PHONE, stranger] {
        assert_eq!(ask_code(&app, phone).await, start + Duration::hours(1));
    }
    assert_eq!(sms_count(&app).await, base + 5);
    app.clock.set(start + Duration::hours(1)).unwrap();
    ask_code(&app, PHONE).await;
    login_code(&app, 6).await;
}

#[tokio::test]
async fn a_login_names_exactly_one_credential() {
    let app = TestApp::spawn().await;
    let both = json!({"login": PHONE, "password": "x", "code": "123456"});
    let fields = app
        .post("/api/v1/auth/login", &both)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["code"]);
    let fields = app
        .post("/api/v1/auth/login", &json!({"login": PHONE}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["password"]);
}
