use k911_tests::TestApp;

/// The calculator prices the loan with the offer's own code, and shows a mistyped amount's error
/// beside its field, keeping what was typed.
#[tokio::test]
async fn the_calculator_prices_a_loan_before_applying() {
    let app = TestApp::spawn().await;
    let browser = app.browser(1280).await;
    browser.open("/").await;
    browser.fill("amount", "15000").await;
    browser.fill("term", "21").await;
    browser.submit("form.calculator button").await;
    // 0.8 % a day on 15 000 ₽ for 21 days: 120 ₽ a day, 2 520 ₽ (WebDriver reads no-break
    // spaces as spaces).
    assert_eq!(browser.text("#quote-interest").await, "2\u{202f}520,00 ₽");
    assert_eq!(browser.text("#quote-total").await, "17\u{202f}520,00 ₽");
    assert!(browser.text("#quote-psk").await.contains("годовых"));
    browser.screenshot("calculator-1280").await;

    browser.fill("amount", "500").await;
    browser.submit("form.calculator button").await;
    assert!(browser.text("#amount-error").await.starts_with("Сумма от"));
    let typed = browser
        .client
        .find(fantoccini::Locator::Id("amount"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(typed.as_deref(), Some("500"));
    browser.close().await;
}

/// An anonymous question from the side panel joins the support queue; a field left wrong comes
/// back with its error beside it and the rest of what was typed kept.
#[tokio::test]
async fn a_question_from_the_side_panel_joins_the_queue() {
    let app = TestApp::spawn().await;
    let browser = app.browser(360).await;
    browser.open("/faq").await;
    browser.click(".support summary").await;
    browser.fill("support-name", "Мария").await;
    browser
        .fill("support-question", "Когда придут деньги?")
        .await;
    browser.submit(".support button").await;
    assert!(browser
        .text(".support .field-error")
        .await
        .contains("телефон или e-mail"));
    let question = browser.text("#support-question").await;
    assert_eq!(question, "Когда придут деньги?");
    browser.fill("support-phone", "+79161234567").await;
    browser.submit(".support button").await;
    let receipt = browser.text("#ticket-receipt").await;
    assert!(receipt.contains("1-й в очереди"), "{receipt}");
    browser.screenshot("support-360").await;
    browser.close().await;
}

/// A form whose CSRF token is not this browser's (as a form posted from another site) is
/// refused, and nothing is written.
#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    let browser = app.browser(1280).await;
    browser.open("/contacts").await;
    browser.click(".support summary").await;
    browser.fill("support-name", "Мария").await;
    browser.fill("support-phone", "+79161234567").await;
    browser.fill("support-question", "Вопрос").await;
    browser
        .client
        .execute(
            "document.querySelector('.support input[name=csrf]').value = 'forged'",
            vec![],
        )
        .await
        .unwrap();
    browser.submit(".support button").await;
    assert_eq!(browser.text("h1").await, "Форма устарела");
    assert_eq!(app.event_count().await, 0);
    browser.close().await;
}

/// The public pages at a desktop's and a phone's width: each shows its heading, and nothing is
/// wider than the screen (no sideways scrolling on a phone). Screenshots go to the test output.
#[tokio::test]
async fn the_public_pages_fit_a_phone_and_a_desktop() {
    let app = TestApp::spawn().await;
    app.settle().await;
    for width in [1280, 360] {
        let browser = app.browser(width).await;
        for (path, name, heading) in [
            ("/", "calculator", "Заём на карту за 15 минут"),
            ("/faq", "faq", "Вопросы и ответы"),
            ("/documents", "documents", "Документы"),
            ("/contacts", "contacts", "Контакты"),
            ("/login", "login", "Вход в личный кабинет"),
            ("/apply", "apply", "Заявка на заём"),
        ] {
            browser.open(path).await;
            assert_eq!(browser.text("h1").await, heading, "{path}");
            let overflow = browser
                .client
                .execute(
                    "return document.documentElement.scrollWidth - window.innerWidth",
                    vec![],
                )
                .await
                .unwrap();
            assert!(
                overflow.as_i64().unwrap_or(0) <= 0,
                "{path} is wider than {width} px by {overflow}"
            );
            browser.screenshot(&format!("{name}-{width}")).await;
        }
        browser.close().await;
    }
}
