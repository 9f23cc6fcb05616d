//! Agents: registered by an admin, their codes on new customers' applications.

use axum::http::StatusCode;
use k911_aggregates::values::Role;
use k911_tests::TestApp;
use serde_json::{json, Value};

use crate::onboarding::{application, with_card};

/// An agent registered by an admin: their id and referral code.
pub(crate) async fn agent(app: &TestApp, admin: &str, login: &str) -> (String, String) {
    let body = json!({
        "kind": "sole_trader",
        "name": "Петров Пётр Петрович",
        "inn": "500100732259",
        "payout": {"method": "ewallet", "provider": "yoomoney", "wallet_id": "410011223399"},
        "login": login,
        "password": "agent password 1",
        "plan": {"percent_of_principal": "5", "first_loan_bonus_kopecks": 30000,
                 "cap_per_loan_kopecks": 100000}
    });
    let created = app
        .post_as(admin, "/api/v1/staff/agents", Some(&body))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let code = created.body["code"].as_str().unwrap().to_string();
    assert_eq!(created.body["link"], format!("/?ref={code}"));
    (created.body["agent_id"].as_str().unwrap().to_string(), code)
}

async fn attributions(app: &TestApp) -> Vec<Value> {
    app.settle().await;
    sqlx::query_scalar("SELECT payload FROM events WHERE event_type = 'ClientAttributed'")
        .fetch_all(&app.db.sqlx)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_customer_with_a_live_code_becomes_the_agents_client() {
    let app = TestApp::spawn().await;
    let admin = app.staff("root@k911.ru", Role::Admin).await;
    let (agent_id, code) = agent(&app, &admin, "agent@k911.ru").await;

    // The agent logs in like staff.
    let login = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "agent@k911.ru", "password": "agent password 1"}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{:#}", login.body);
    assert_eq!(login.body["role"], "agent");

    let mut body = application("+79160000071", Some("a71@example.ru"), "000071");
    body["referral_code"] = json!(code.to_lowercase());
    let body = with_card(&app, &body).await;
    let applied = app.post("/api/v1/applications", &body).await;
    assert_eq!(applied.status, StatusCode::CREATED, "{:#}", applied.body);
    assert_eq!(
        applied.body["referral"],
        json!({"code": code, "attributed": true, "reason": null})
    );
    let attributed = attributions(&app).await;
    assert_eq!(attributed.len(), 1, "{attributed:?}");
    assert_eq!(
        attributed[0]["ClientAttributed"]["application_id"],
        applied.body["application_id"]
    );
    let (stream,): (String,) =
        sqlx::query_as("SELECT aggregate_id FROM events WHERE event_type = 'ClientAttributed'")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    assert_eq!(stream, agent_id);
}

#[tokio::test]
async fn an_unknown_or_suspended_code_attributes_nobody_and_the_application_goes_on() {
    let app = TestApp::spawn().await;
    let admin = app.staff("root@k911.ru", Role::Admin).await;
    let (agent_id, code) = agent(&app, &admin, "agent@k911.ru").await;

    let mut body = application("+79160000072", Some("a72@example.ru"), "000072");
    body["referral_code"] = json!("NOSUCHCODE");
    let body = with_card(&app, &body).await;
    let applied = app.post("/api/v1/applications", &body).await;
    assert_eq!(applied.status, StatusCode::CREATED, "{:#}", applied.body);
    assert_eq!(applied.body["referral"]["attributed"], false);
    assert_eq!(applied.body["referral"]["reason"], "unknown_code");

    let suspended = app
        .post_as(
            &admin,
            &format!("/api/v1/staff/agents/{agent_id}/suspend"),
            None,
        )
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{:#}", suspended.body);
    let mut body = application("+79160000073", Some("a73@example.ru"), "000073");
    body["referral_code"] = json!(code);
    let body = with_card(&app, &body).await;
    let applied = app.post("/api/v1/applications", &body).await;
    assert_eq!(applied.status, StatusCode::CREATED, "{:#}", applied.body);
    assert_eq!(applied.body["referral"]["reason"], "agent_suspended");
    assert!(attributions(&app).await.is_empty());

    // Only admins manage agents.
    let support = app.staff("olga@k911.ru", Role::Support).await;
    app.post_as(
        &support,
        &format!("/api/v1/staff/agents/{agent_id}/resume"),
        None,
    )
    .await
    .problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_agent_is_refused_with_every_field_named() {
    let app = TestApp::spawn().await;
    let admin = app.staff("root@k911.ru", Role::Admin).await;
    let body = json!({
        "kind": "partnership", "name": "", "inn": "123", "login": "nope",
        "password": "short",
        "payout": {"method": "ewallet", "provider": "yoomoney", "wallet_id": "410011223399"},
        "plan": {"percent_of_principal": "five"}
    });
    let fields = app
        .post_as(&admin, "/api/v1/staff/agents", Some(&body))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields,
        [
            "kind",
            "name",
            "inn",
            "login",
            "password",
            "plan.percent_of_principal"
        ]
    );
}
