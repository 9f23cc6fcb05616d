use k911_aggregates::incoming_payment::PaymentChannel;
use k911_aggregates::values::Role;
use k911_tests::{Options, TestApp, STAFF_PASSWORD};

use crate::borrowers::issued_loan;
use crate::staff::log_in;

/// A payment quoting no known contract waits for staff; matched to the right contract in the
/// back office, it is applied to that loan.
#[tokio::test]
async fn support_matches_a_payment_no_loan_could_take() {
    let mut options = Options::default();
    options
        .settings
        .payment_secrets
        .insert(PaymentChannel::Terminal, "development".into());
    let app = TestApp::spawn_with(options).await;
    let contract = issued_loan(&app, "+79160000021", "semen@example.ru", "000021", None).await;
    app.staff("olga@k911.ru", Role::Support).await;
    let browser = app.browser(1280).await;
    log_in(&browser, "olga@k911.ru", STAFF_PASSWORD).await;
    browser.open("/staff/dev/payment").await;
    browser.set("channel", "terminal").await;
    browser.fill("contract_number", "911-000000-999999").await;
    browser.fill("amount", "500").await;
    browser.submit("#send-payment").await;
    assert!(browser.text("#notice").await.contains("договор не найден"));
    app.settle().await;
    browser.open("/staff/payments").await;
    assert!(browser
        .text(".unmatched")
        .await
        .contains("911-000000-999999"));
    browser
        .fill_first(".unmatched input[name=text]", &contract)
        .await;
    browser.submit(".unmatched button").await;
    assert_eq!(
        browser.text("#notice").await,
        "Платёж зачислен по договору."
    );
    app.settle().await;
    browser.open("/staff/payments").await;
    assert_eq!(browser.text("#none-unmatched").await, "Таких платежей нет.");
    browser.close().await;
}

/// Support publishes a question; it is on the public FAQ at once. An admin sees the effects
/// that need a person.
#[tokio::test]
async fn published_faq_shows_on_the_site_and_admins_see_dead_effects() {
    let app = TestApp::spawn().await;
    app.staff("olga@k911.ru", Role::Support).await;
    app.staff("root@k911.ru", Role::Admin).await;
    let browser = app.browser(1280).await;
    log_in(&browser, "olga@k911.ru", STAFF_PASSWORD).await;
    browser.open("/staff/content").await;
    browser
        .fill("faq-question", "Можно ли погасить досрочно?")
        .await;
    browser
        .fill("faq-answer", "Да, в любой день без комиссии.")
        .await;
    browser.submit("#publish-faq").await;
    assert_eq!(browser.text("#notice").await, "Сохранено.");
    app.settle().await;
    browser.open("/faq").await;
    assert!(browser
        .text("main")
        .await
        .contains("Можно ли погасить досрочно?"));
    browser.open("/staff/effects").await;
    assert_eq!(browser.text("h1").await, "Нет доступа");
    browser.open("/staff").await;
    browser.submit("#logout").await;
    log_in(&browser, "root@k911.ru", STAFF_PASSWORD).await;
    browser.open("/staff/effects").await;
    assert_eq!(browser.text("#none-dead").await, "Таких нет.");

    // An admin publishes a PDF in "Документы" from a file on their computer.
    let pdf = std::env::temp_dir().join(format!("k911-tariffs-{}.pdf", std::process::id()));
    std::fs::write(&pdf, b"%PDF-1.4\n% tariffs\n%%EOF\n").unwrap();
    browser.open("/staff/content").await;
    browser.fill("document-title", "Тарифы").await;
    browser
        .client
        .find(fantoccini::Locator::Id("document-file"))
        .await
        .unwrap()
        .send_keys(pdf.to_str().unwrap())
        .await
        .unwrap();
    browser.submit("#upload-document").await;
    assert_eq!(browser.text("#notice").await, "Сохранено.");
    app.settle().await;
    browser.open("/documents").await;
    assert!(browser.text(".documents").await.contains("Тарифы"));
    std::fs::remove_file(pdf).ok();
    browser.close().await;
}

/// A compliance officer works a deletion request from the back office (a loan offer in force:
/// refused, and said so) and finds it on the person's audit trail; the search is recorded.
#[tokio::test]
async fn an_officer_carries_out_a_deletion_request_and_searches_the_trail() {
    let app = TestApp::spawn().await;
    let (password, loan_id) = crate::borrowers::approved_borrower(
        &app,
        "+79160000031",
        "vera@example.ru",
        "000031",
        None,
    )
    .await;
    let login = app
        .post(
            "/api/v1/auth/login",
            &serde_json::json!({"login": "vera@example.ru", "password": password}),
        )
        .await;
    let token = login.body["token"].as_str().unwrap();
    let asked = app
        .post_as(token, "/api/v1/me/deletion-request", None)
        .await;
    assert!(asked.status.is_success(), "{:#}", asked.body);
    app.settle().await;
    let customer_id: uuid::Uuid =
        sqlx::query_scalar("SELECT customer_id FROM read.loans WHERE loan_id = $1::uuid")
            .bind(&loan_id)
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();

    app.staff("irina@k911.ru", Role::Compliance).await;
    let browser = app.browser(390).await;
    log_in(&browser, "irina@k911.ru", STAFF_PASSWORD).await;
    browser.open("/staff/compliance").await;
    // The approval owes the credit bureau a report, due in two working days.
    assert_eq!(browser.text("#bureau-pending").await, "1");
    assert_eq!(browser.text("#bureau-overdue").await, "0");
    let cases = browser.text("#erasures").await;
    assert!(cases.contains(&customer_id.to_string()), "{cases}");
    assert!(cases.contains("27.12.2026"), "{cases}");
    browser.submit(".erase").await;
    assert!(browser
        .text("#notice")
        .await
        .starts_with("Удалить данные пока нельзя"));
    app.settle().await;
    browser.open("/staff/compliance").await;
    assert!(browser.text("#erasures").await.contains("loan_in_force"));

    browser.open("/staff/compliance/audit").await;
    browser.fill("subject", &customer_id.to_string()).await;
    browser.submit("#search").await;
    let trail = browser.text("#entries").await;
    for event in ["CustomerRegistered", "ErasureRequested", "ErasureRefused"] {
        assert!(trail.contains(event), "{event} not in {trail}");
    }
    let reads: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'AuditTrailRead'")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    assert_eq!(reads, 1);
    browser.close().await;
}
