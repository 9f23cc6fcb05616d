use axum::http::StatusCode;
use k911_aggregates::values::Role;
use k911_tests::TestApp;
use serde_json::json;

use crate::journey::{apply_through_the_pages, Payout};

/// An agent's link `/?ref=CODE` carries the code through the calculator into the application,
/// and the new customer becomes the agent's client.
#[tokio::test]
async fn the_agents_link_brings_the_applicant_to_the_agent() {
    let app = TestApp::spawn().await;
    let admin = app.staff("root@k911.ru", Role::Admin).await;
    let body = json!({
        "kind": "individual", "name": "Петров Пётр Петрович", "inn": "500100732259",
        "payout": {"method": "ewallet", "provider": "yoomoney", "wallet_id": "410011223399"},
        "login": "agent@k911.ru", "password": "agent password 1",
        "plan": {"percent_of_principal": "5"}
    });
    let created = app
        .post_as(&admin, "/api/v1/staff/agents", Some(&body))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let link = created.body["link"].as_str().unwrap();

    let browser = app.browser(360).await;
    apply_through_the_pages(&browser, link, "+79160000081", "000081", Payout::Wallet).await;
    assert_eq!(
        browser.text("#referred").await,
        "Вы пришли по приглашению нашего агента."
    );
    app.settle().await;
    let agent: Option<String> =
        sqlx::query_scalar("SELECT aggregate_id FROM events WHERE event_type = 'ClientAttributed'")
            .fetch_optional(&app.db.sqlx)
            .await
            .unwrap();
    assert_eq!(agent.as_deref(), created.body["agent_id"].as_str());
    browser.close().await;
}
