use k911_tests::TestApp;

use crate::borrowers::approved_borrower;
use crate::staff::log_in;

/// The cabinet's own sections: a repeat application prefilled from the profile, a question to
/// support and the deletion request (through support), a new password.
#[tokio::test]
async fn a_borrower_applies_again_asks_support_and_changes_the_password() {
    let app = TestApp::spawn().await;
    let (password, _) =
        approved_borrower(&app, "+79160000031", "ilya@example.ru", "000031", None).await;
    let browser = app.browser(360).await;
    log_in(&browser, "ilya@example.ru", &password).await;

    browser.open("/cabinet/applications").await;
    assert_eq!(browser.text(".application-status").await, "одобрена");
    let prefilled = browser
        .client
        .find(fantoccini::Locator::Id("last_name"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(prefilled.as_deref(), Some("Петров"));
    browser.fill("amount", "100").await;
    browser.fill("term", "10").await;
    browser.submit("#apply-again").await;
    assert!(browser
        .text("#error-summary")
        .await
        .contains("Сумма вне пределов продукта"));
    browser.fill("amount", "5000").await;
    browser.submit("#apply-again").await;
    assert_eq!(
        browser.text("#notice").await,
        "Заявка подана: решение придёт по SMS."
    );

    browser.open("/cabinet/support").await;
    browser.fill("question", "Как продлить заём?").await;
    browser.submit("#ask").await;
    assert!(browser
        .text("#notice")
        .await
        .starts_with("Обращение принято"));
    browser.submit("#request-deletion").await;
    assert!(browser
        .text("#notice")
        .await
        .starts_with("Запрос на удаление"));
    app.settle().await;
    browser.open("/cabinet/support").await;
    let tickets = browser.text("#tickets").await;
    assert!(tickets.contains("Как продлить заём?"), "{tickets}");
    assert!(tickets.contains("удаление профиля"), "{tickets}");

    // The consents given with the application, each with its text; the credit history's is
    // withdrawn here.
    browser.open("/cabinet/settings").await;
    let consents = browser.text("#consents").await;
    assert!(consents.contains("Запрос кредитной истории"), "{consents}");
    assert!(consents.contains("редакция"), "{consents}");
    assert!(browser
        .text("#credit-history-consent")
        .await
        .starts_with("действует по"));
    browser.submit("#withdraw-credit-history").await;
    assert!(browser
        .text("#notice")
        .await
        .starts_with("Согласие на запрос кредитной истории отозвано"));
    app.settle().await;
    browser.open("/cabinet/settings").await;
    assert!(browser
        .text("#credit-history-consent")
        .await
        .starts_with("отозвано"));

    browser.open("/cabinet/settings").await;
    browser.fill("current_password", &password).await;
    browser.fill("new_password", "новый-пароль-2026").await;
    browser.submit("#change-password").await;
    assert!(browser.text("#notice").await.starts_with("Пароль изменён"));
    browser.submit("#logout").await;
    log_in(&browser, "ilya@example.ru", "новый-пароль-2026").await;
    assert_eq!(browser.text("h1").await, "Мои займы");
    browser.close().await;
}
