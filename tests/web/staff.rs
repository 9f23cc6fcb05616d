use k911_aggregates::values::Role;
use k911_tests::browser::Browser;
use k911_tests::{TestApp, STAFF_PASSWORD};

/// Logs `login` in through the login page.
pub(crate) async fn log_in(browser: &Browser, login: &str, password: &str) {
    browser.open("/login").await;
    browser.fill("login", login).await;
    browser.fill("password", password).await;
    browser.submit("#password-login").await;
}

/// An anonymous question from the side panel is taken in queue order and answered in the back
/// office; the answer goes out by SMS.
#[tokio::test]
async fn support_answers_a_question_from_the_side_panel() {
    let app = TestApp::spawn().await;
    app.staff("olga@k911.ru", Role::Support).await;
    let visitor = app.browser(360).await;
    visitor.open("/").await;
    visitor.click(".support summary").await;
    visitor.fill("support-name", "Мария").await;
    visitor.fill("support-phone", "+79161234567").await;
    visitor
        .fill("support-question", "Можно ли продлить заём?")
        .await;
    visitor.submit(".support button").await;
    assert!(visitor
        .text("#ticket-receipt")
        .await
        .contains("1-й в очереди"));
    visitor.close().await;

    let agent = app.browser(1280).await;
    log_in(&agent, "olga@k911.ru", STAFF_PASSWORD).await;
    agent.open("/staff/support").await;
    agent.submit("#take-next").await;
    assert_eq!(agent.text("#question").await, "Можно ли продлить заём?");
    agent.screenshot("staff-ticket-1280").await;
    agent.fill("answer", "Да, в личном кабинете.").await;
    agent.submit("#reply").await;
    assert_eq!(agent.text("#notice").await, "Ответ отправлен.");
    agent.submit("#close").await;
    assert!(agent.text("#notice").await.contains("закрыто"));
    let sms = app
        .sms_containing("+79161234567", "Да, в личном кабинете.")
        .await;
    assert!(sms.starts_with("k911: ответ на ваше обращение"), "{sms}");
    agent.close().await;
}

/// The back office is for staff only, and each section for its role.
#[tokio::test]
async fn support_cannot_approve_and_no_one_gets_in_without_logging_in() {
    let app = TestApp::spawn().await;
    app.staff("olga@k911.ru", Role::Support).await;
    let browser = app.browser(1280).await;
    browser.open("/staff/applications").await;
    assert_eq!(browser.text("h1").await, "Вход в личный кабинет");
    log_in(&browser, "olga@k911.ru", STAFF_PASSWORD).await;
    browser.open("/staff/applications").await;
    assert_eq!(browser.text("h1").await, "Нет доступа");
    browser.close().await;
}

/// A wrong password is told on the login page, and no session starts.
#[tokio::test]
async fn a_wrong_password_is_refused_on_the_login_page() {
    let app = TestApp::spawn().await;
    app.staff("olga@k911.ru", Role::Support).await;
    let browser = app.browser(360).await;
    log_in(&browser, "olga@k911.ru", "not the password").await;
    assert_eq!(
        browser.text("#login-error").await,
        "Неверный e-mail или пароль."
    );
    browser.open("/staff").await;
    assert_eq!(browser.text("h1").await, "Вход в личный кабинет");
    browser.close().await;
}
