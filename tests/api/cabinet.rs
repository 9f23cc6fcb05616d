//! The cabinet: the customer's own profile and applications, applying again with only what
//! changed, and the password.

use axum::http::{Method, StatusCode};
use k911_aggregates::values::Role;
use k911_tests::{TestApp, TestResponse};
use serde_json::{json, Value};

use crate::notifications::sms_with;
use crate::onboarding::{application, apply, password_in};

/// An approved customer with an e-mail, logged in: (customer token, underwriter token, first
/// application id, password).
pub(crate) async fn customer(app: &TestApp) -> (String, String, String, String) {
    customer_with(app, "+79161234567", "ivan@example.ru", "123456").await
}

pub(crate) async fn customer_with(
    app: &TestApp,
    phone: &str,
    email: &str,
    passport: &str,
) -> (String, String, String, String) {
    let id = apply(app, &application(phone, Some(email), passport)).await;
    let underwriter = match app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "olga@k911.ru", "password": k911_tests::STAFF_PASSWORD}),
        )
        .await
    {
        r if r.status == StatusCode::OK => r.body["token"].as_str().unwrap().to_string(),
        _ => app.staff("olga@k911.ru", Role::Underwriter).await,
    };
    let approved = app
        .post_as(
            &underwriter,
            &format!("/api/v1/staff/applications/{id}/approve"),
            None,
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{:#}", approved.body);
    let password = password_in(&sms_with(app, phone, "пароль").await);
    let token = login(app, email, &password).await;
    (token, underwriter, id, password)
}

pub(crate) async fn login(app: &TestApp, login: &str, password: &str) -> String {
    let response = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": login, "password": password}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{:#}", response.body);
    response.body["token"].as_str().unwrap().to_string()
}

pub(crate) async fn put_as(app: &TestApp, token: &str, path: &str, body: &Value) -> TestResponse {
    let auth = format!("Bearer {token}");
    app.request(Method::PUT, path, Some(body), &[("authorization", &auth)])
        .await
}

/// GET after the read models caught up with everything written so far.
async fn get_settled(app: &TestApp, token: &str, path: &str) -> TestResponse {
    app.settle().await;
    let response = app.get_as(token, path).await;
    assert_eq!(response.status, StatusCode::OK, "{:#}", response.body);
    response
}

#[tokio::test]
async fn the_cabinet_shows_the_customers_own_profile_and_applications() {
    let app = TestApp::spawn().await;
    let (token, _, first, _) = customer(&app).await;
    let me = get_settled(&app, &token, "/api/v1/me").await.body;
    assert_eq!(me["status"], "open");
    assert_eq!(me["login"], "email");
    assert_eq!(me["contacts"]["phone"], "+79161234567");
    assert_eq!(me["contacts"]["email"], "ivan@example.ru");
    assert_eq!(me["profile"]["last_name"], "Иванов");
    assert_eq!(me["profile"]["birth_date"], "1990-05-14");
    assert_eq!(me["profile"]["passport"]["series"], "4510");
    assert_eq!(me["profile"]["passport"]["number"], "****56");
    assert_eq!(me["profile"]["employment"]["status"], "employed");
    assert_eq!(me["profile"]["monthly_income_kopecks"], 8000000);
    assert_eq!(
        me["payout_methods"],
        json!([{"method": "card", "masked": "220000******0004"}])
    );

    let list = get_settled(&app, &token, "/api/v1/me/applications")
        .await
        .body;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["application_id"], first.as_str());
    assert_eq!(list[0]["status"], "approved");
    assert_eq!(list[0]["approved_amount_kopecks"], 1500000);
    assert_eq!(list[0]["daily_rate"], "0.8");
    assert!(list[0]["decided_at"].is_string());
    assert!(list[0].get("rejection_reason").is_none());
    let one = app
        .get_as(&token, &format!("/api/v1/me/applications/{first}"))
        .await;
    assert_eq!(one.body["status"], "approved");
}

#[tokio::test]
async fn a_repeat_application_is_prefilled_and_records_only_what_changed() {
    let app = TestApp::spawn().await;
    let (token, underwriter, _, _) = customer(&app).await;
    app.settle().await;
    let body = json!({
        "loan": {"amount_kopecks": 2000000, "term_days": 14},
        "changes": {"monthly_income_kopecks": 9500000,
                    "registration_address": "г. Москва, ул. Арбат, д. 2"},
        "payout": {"method": "ewallet", "provider": "yoomoney", "wallet_id": "410011223344"}
    });
    let response = app
        .post_as(&token, "/api/v1/me/applications", Some(&body))
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{:#}", response.body);
    assert_eq!(response.body["status"], "submitted");
    let repeat = response.body["application_id"]
        .as_str()
        .unwrap()
        .to_string();

    // One application at a time.
    let before = app.event_count().await;
    app.post_as(&token, "/api/v1/me/applications", Some(&body))
        .await
        .problem(StatusCode::CONFLICT);
    assert_eq!(app.event_count().await, before);

    // The changes are events of their own, sealed; the names of the fields are in clear.
    let fields: Value = sqlx::query_scalar(
        "SELECT payload->'ProfileChanged'->'fields' FROM events WHERE event_type = 'ProfileChanged'",
    )
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(
        fields,
        json!(["registration_address", "monthly_income_kopecks", "payout"])
    );

    // The underwriter's queue has it, marked as a repeat.
    let queue = get_settled(
        &app,
        &underwriter,
        "/api/v1/staff/applications?status=submitted",
    )
    .await
    .body;
    assert_eq!(queue.as_array().unwrap().len(), 1);
    assert_eq!(queue[0]["application_id"], repeat.as_str());
    assert_eq!(queue[0]["repeat"], true);
    assert_eq!(queue[0]["requested_amount_kopecks"], 2000000);

    // The profile as the cabinet shows it: changed fields new, the rest as before.
    let me = get_settled(&app, &token, "/api/v1/me").await.body;
    assert_eq!(me["profile"]["monthly_income_kopecks"], 9500000);
    assert_eq!(
        me["profile"]["registration_address"],
        "г. Москва, ул. Арбат, д. 2"
    );
    assert_eq!(me["profile"]["first_name"], "Иван");
    assert_eq!(me["payout_methods"][0]["masked"], "yoomoney ****3344");

    // The decision comes by SMS, without a new password; then the next application may come.
    let decided = app
        .post_as(
            &underwriter,
            &format!("/api/v1/staff/applications/{repeat}/reject"),
            Some(&json!({"reason": "ПДН выше 80 %"})),
        )
        .await;
    assert_eq!(decided.status, StatusCode::OK);
    sms_with(&app, "+79161234567", "отрицательное решение").await;
    app.settle().await;
    let list = app.get_as(&token, "/api/v1/me/applications").await.body;
    assert_eq!(list[1]["status"], "rejected");
    let again = json!({"loan": {"amount_kopecks": 50000, "term_days": 10}});
    let response = app
        .post_as(&token, "/api/v1/me/applications", Some(&again))
        .await;
    // Below the product's minimum: the loan field is named.
    assert_eq!(
        response.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["loan.amount_kopecks"]
    );
    let again = json!({"loan": {"amount_kopecks": 100000, "term_days": 10}});
    let response = app
        .post_as(&token, "/api/v1/me/applications", Some(&again))
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{:#}", response.body);
    // Approved: the SMS says so and carries no password.
    let id = response.body["application_id"].as_str().unwrap();
    app.post_as(
        &underwriter,
        &format!("/api/v1/staff/applications/{id}/approve"),
        None,
    )
    .await;
    let text = sms_with(&app, "+79161234567", "1\u{a0}000,00\u{a0}₽ на 10 дн.").await;
    assert!(text.contains("заявка одобрена"), "{text}");
    assert!(!text.contains("пароль"), "{text}");
    app.assert_a_rebuild_agrees().await;
}

#[tokio::test]
async fn every_invalid_change_is_named_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let (token, _, _, _) = customer(&app).await;
    let before = app.event_count().await;
    let body = json!({
        "loan": {"amount_kopecks": -1, "term_days": 14},
        "changes": {
            "last_name": "Smith",
            "passport": {"series": "45", "number": "123456", "issued_on": "2030-01-01",
                         "issued_by": "ОВД", "division_code": "770001"},
            "employment": {"status": "employed"},
            "monthly_income_kopecks": -5
        },
        "payout": {"method": "cash"}
    });
    let fields = app
        .post_as(&token, "/api/v1/me/applications", Some(&body))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields,
        [
            "loan.amount_kopecks",
            "changes.last_name",
            "changes.passport.series",
            "changes.passport.issued_on",
            "changes.passport.division_code",
            "changes.employment.employer",
            "changes.monthly_income_kopecks",
            "payout.method",
        ]
    );
    // Contacts are not changed this way.
    let body = json!({"loan": {"amount_kopecks": 100000, "term_days": 10},
                      "changes": {"phone": "+79160000000"}});
    app.post_as(&token, "/api/v1/me/applications", Some(&body))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn a_new_passport_may_not_be_someone_elses() {
    let app = TestApp::spawn().await;
    let (token, _, _, _) = customer(&app).await;
    apply(&app, &application("+79160000002", None, "654321")).await;
    let before = app.event_count().await;
    let body = json!({
        "loan": {"amount_kopecks": 100000, "term_days": 10},
        "changes": {"passport": {"series": "4510", "number": "654321", "issued_on": "2015-06-01",
                                 "issued_by": "ОВД Арбат", "division_code": "770-002"}}
    });
    let response = app
        .post_as(&token, "/api/v1/me/applications", Some(&body))
        .await;
    response.problem(StatusCode::CONFLICT);
    assert_eq!(app.event_count().await, before);
    // The customer's own new passport is fine.
    let body = json!({
        "loan": {"amount_kopecks": 100000, "term_days": 10},
        "changes": {"passport": {"series": "4515", "number": "111111", "issued_on": "2015-06-01",
                                 "issued_by": "ОВД Арбат", "division_code": "770-002"}}
    });
    let response = app
        .post_as(&token, "/api/v1/me/applications", Some(&body))
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{:#}", response.body);
    let me = get_settled(&app, &token, "/api/v1/me").await.body;
    assert_eq!(me["profile"]["passport"]["number"], "****11");
}

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_other_sessions() {
    let app = TestApp::spawn().await;
    let (token, _, _, password) = customer(&app).await;
    let other_session = login(&app, "ivan@example.ru", &password).await;
    let path = "/api/v1/me/password";

    let wrong = json!({"current_password": "not it at all", "new_password": "a much better one"});
    let fields = put_as(&app, &token, path, &wrong)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["current_password"]);
    let short = json!({"current_password": password, "new_password": "short"});
    let fields = put_as(&app, &token, path, &short)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["new_password"]);

    let good = json!({"current_password": password, "new_password": "a much better one"});
    let response = put_as(&app, &token, path, &good).await;
    assert_eq!(response.status, StatusCode::OK, "{:#}", response.body);
    assert!(response.body["position"].as_i64().unwrap() > 0);

    // This session goes on; the other one ended; only the new password works.
    assert_eq!(
        app.get_as(&token, "/api/v1/me").await.status,
        StatusCode::OK
    );
    app.get_as(&other_session, "/api/v1/me")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    let old = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "ivan@example.ru", "password": password}),
        )
        .await;
    old.problem(StatusCode::UNAUTHORIZED);
    login(&app, "ivan@example.ru", "a much better one").await;
}

#[tokio::test]
async fn the_underwriters_queue_is_oldest_first_and_filtered_by_status() {
    let app = TestApp::spawn().await;
    let mut ids = vec![];
    for n in 1..=3 {
        let phone = format!("+7916000000{n}");
        ids.push(apply(&app, &application(&phone, None, &format!("00000{n}"))).await);
    }
    let underwriter = app.staff("olga@k911.ru", Role::Underwriter).await;
    app.post_as(
        &underwriter,
        &format!("/api/v1/staff/applications/{}/approve", ids[1]),
        None,
    )
    .await;
    let queue = get_settled(&app, &underwriter, "/api/v1/staff/applications")
        .await
        .body;
    let listed: Vec<&str> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["application_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[0].as_str(), ids[2].as_str()]);
    let approved = app
        .get_as(&underwriter, "/api/v1/staff/applications?status=approved")
        .await
        .body;
    assert_eq!(approved[0]["application_id"], ids[1].as_str());
    let page = app
        .get_as(&underwriter, "/api/v1/staff/applications?limit=1&offset=1")
        .await
        .body;
    assert_eq!(page[0]["application_id"], ids[2].as_str());
    let fields = app
        .get_as(&underwriter, "/api/v1/staff/applications?status=lost")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["status"]);
}

#[tokio::test]
async fn an_underwriter_opens_an_applicants_data_only_with_a_purpose_and_it_is_recorded() {
    let app = TestApp::spawn().await;
    let id = apply(
        &app,
        &application("+79161234567", Some("ivan@example.ru"), "123456"),
    )
    .await;
    let underwriter = app.staff("olga@k911.ru", Role::Underwriter).await;
    let support = app.staff("anna@k911.ru", Role::Support).await;
    app.settle().await;
    let reads = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM personal_data_reads")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap()
    };
    let path = format!("/api/v1/staff/applications/{id}");
    let fields = app
        .get_as(&underwriter, &path)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["purpose"]);
    let with_purpose = format!("{path}?purpose=underwriting");
    app.get_as(&support, &with_purpose)
        .await
        .problem(StatusCode::FORBIDDEN);
    assert_eq!(reads().await, 0);

    let details = app.get_as(&underwriter, &with_purpose).await;
    assert_eq!(details.status, StatusCode::OK, "{:#}", details.body);
    assert_eq!(details.body["application_id"], id.as_str());
    assert_eq!(details.body["applicant"]["passport"]["number"], "123456");
    assert_eq!(details.body["contacts"]["phone"], "+79161234567");
    assert_eq!(details.body["payout"]["masked"], "220000******0004");
    let (actor, purpose): (uuid::Uuid, String) =
        sqlx::query_as("SELECT actor_id, purpose FROM personal_data_reads")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    assert_eq!(purpose, "underwriting");
    let login = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "olga@k911.ru", "password": k911_tests::STAFF_PASSWORD}),
        )
        .await;
    assert_eq!(login.body["user_id"], actor.to_string());
    app.get_as(
        &underwriter,
        &format!(
            "/api/v1/staff/applications/{}?purpose=x",
            uuid::Uuid::now_v7()
        ),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
}
