use axum::http::StatusCode;
use k911_aggregates::values::Role;
use k911_tests::{TestApp, STAFF_PASSWORD};
use serde_json::json;

use crate::borrowers::issued_loan;
use crate::journey::{apply_through_the_pages, Payout};
use crate::staff::log_in;

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

/// An admin registers an agent in the back office (a wrong INN is named first) and gives them a
/// new plan; the agent's client takes a loan; the agent follows the client, masked, and their
/// commission and statements in their cabinet on a phone; finance approves the closed month.
#[tokio::test]
async fn an_agent_registered_in_the_back_office_follows_their_client_and_is_paid() {
    let app = TestApp::spawn().await;
    app.staff("root@k911.ru", Role::Admin).await;
    app.staff("fin@k911.ru", Role::Finance).await;
    let office = app.browser(1280).await;
    log_in(&office, "root@k911.ru", STAFF_PASSWORD).await;
    office.open("/staff/agents").await;
    assert_eq!(office.text("#no-agents").await, "Агентов пока нет.");
    office.set("kind", "sole_trader").await;
    for (field, value) in [
        ("name", "Сидоров Семён Семёнович"),
        ("inn", "500100732258"),
        ("login", "sidorov@k911.ru"),
        ("password", "agent password 1"),
        ("wallet_provider", "yoomoney"),
        ("wallet_id", "410011223399"),
        ("percent", "5"),
        ("bonus_roubles", "300"),
        ("cap_roubles", "1000"),
    ] {
        office.fill(field, value).await;
    }
    office.submit("#register-agent").await;
    assert!(office.text("#error-summary").await.contains("ИНН"));
    assert!(office.text("#inn-error").await.contains("контрольными"));
    office.fill("inn", "500100732259").await;
    office.fill("password", "agent password 1").await;
    office.submit("#register-agent").await;
    assert_eq!(
        office.text("#notice").await,
        "Агент зарегистрирован: передайте ему логин, пароль и ссылку."
    );
    let link = office.text("#agent-link").await;
    let code = link.strip_prefix("/?ref=").unwrap().to_string();
    assert_eq!(
        office.text("#agent-plan").await,
        "5 % от суммы займа, 300,00 ₽ за первый заём клиента, не более 1\u{202f}000,00 ₽ за заём, \
         с 27.11.2026"
    );
    // A plan from a day already past is refused; from a later day it is kept.
    office.fill("percent", "7").await;
    office.set("effective_from", "2026-11-01").await;
    office.submit("#change-plan").await;
    assert!(office.text("#notice").await.starts_with("План не сохранён"));
    office.fill("percent", "7").await;
    office.set("effective_from", "2027-01-01").await;
    office.submit("#change-plan").await;
    assert_eq!(office.text("#notice").await, "Новый план сохранён.");
    assert!(office.text("#agent-plan").await.starts_with("7 %"));

    // The client comes by the code and takes a loan; November closes.
    issued_loan(
        &app,
        "+79160000061",
        "gleb@example.ru",
        "000061",
        Some(&code),
    )
    .await;
    let moved = app
        .post("/dev/clock", &json!({"now": "2026-12-02T09:00:00+03:00"}))
        .await;
    assert_eq!(moved.status, StatusCode::OK);
    app.app.tidy_up().await;
    app.settle().await;

    let phone = app.browser(360).await;
    log_in(&phone, "sidorov@k911.ru", "agent password 1").await;
    assert_eq!(phone.text("h1").await, "Мои клиенты");
    assert_eq!(phone.text("#referral-code").await, code);
    let clients = phone.text("#clients").await;
    assert!(clients.contains("Пётр П."), "{clients}");
    assert!(clients.contains("+7 916 ***-**-61"), "{clients}");
    let page = phone.text("main").await;
    assert!(
        !page.contains("Петров") && !page.contains("9160000061"),
        "{page}"
    );
    phone.screenshot("agent-clients-360").await;
    phone.submit("#clients a").await;
    assert!(phone.text("#client-loans").await.contains("действует"));
    phone.open("/agent/commissions").await;
    assert!(phone.text("#commissions").await.contains("за первый заём"));
    phone.open("/agent/statements").await;
    phone.screenshot("agent-statements-360").await;
    assert!(phone
        .text("#statements")
        .await
        .contains("закрыт 02.12.2026"));
    let (status, kind, body) = phone.download("/agent/statements/2026-11/pdf").await;
    assert_eq!((status, kind.as_str()), (200, "application/pdf"));
    assert!(body.starts_with("%PDF-"));
    let (status, _, csv) = phone.download("/agent/statements.csv").await;
    assert_eq!(status, 200);
    // 5 % of the 10 000 ₽ loan and the 300 ₽ first-loan bonus: 800 ₽, under the 1 000 ₽ cap.
    assert!(
        csv.contains("2026-11,closed,80000,0,0,80000,80000,0"),
        "{csv}"
    );
    // The back office is not theirs.
    phone.open("/staff/agents").await;
    assert_eq!(phone.text("h1").await, "Нет доступа");
    phone.close().await;

    // Finance sees the month to pay and approves it once.
    // (The admin's session ended with the days that passed.)
    log_in(&office, "fin@k911.ru", STAFF_PASSWORD).await;
    office.open("/staff/agents").await;
    assert!(office.text("#to-pay").await.contains("2026-11"));
    office.submit("#to-pay a").await;
    office.screenshot("staff-agent-1280").await;
    office.submit("#pay-2026-11").await;
    assert_eq!(
        office.text("#notice").await,
        "Выплата одобрена: деньги уйдут агенту один раз."
    );
    app.settle().await;
    office.open("/staff/agents").await;
    assert!(office.text("main").await.contains("Агенты"));
    office.close().await;
}
