use k911_tests::TestApp;

use crate::borrowers::approved_borrower;
use crate::staff::log_in;

/// Another borrower's loan is not found, and a borrower cannot open the back office.
#[tokio::test]
async fn a_borrower_sees_only_their_own_loans_and_never_the_back_office() {
    let app = TestApp::spawn().await;
    let (_, first_loan) =
        approved_borrower(&app, "+79160000011", "petr@example.ru", "000011", None).await;
    let (password, own_loan) =
        approved_borrower(&app, "+79160000012", "pavel@example.ru", "000012", None).await;
    let browser = app.browser(360).await;
    log_in(&browser, "pavel@example.ru", &password).await;
    assert_eq!(browser.text("h1").await, "Мои займы");
    browser.open(&format!("/cabinet/loans/{own_loan}")).await;
    assert!(browser.text("h1").await.starts_with("Договор №"));
    browser.open(&format!("/cabinet/loans/{first_loan}")).await;
    assert_eq!(browser.text("h1").await, "Страница не найдена");
    for page in [
        "/staff",
        "/staff/compliance",
        "/staff/compliance/audit?subject=x",
    ] {
        browser.open(page).await;
        assert_eq!(browser.text("h1").await, "Нет доступа", "{page}");
    }
    // A wrong signing code is told, and the offer stays unsigned.
    browser.open(&format!("/cabinet/loans/{own_loan}")).await;
    browser.fill("code", "000000").await;
    browser.submit("#sign").await;
    assert_eq!(
        browser.text("#notice").await,
        "Неверный или устаревший код. Запросите новый."
    );
    assert_eq!(browser.text("#loan-status").await, "ждёт подписи");
    browser.close().await;
}
