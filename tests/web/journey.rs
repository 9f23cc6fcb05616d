use k911_aggregates::incoming_payment::PaymentChannel;
use k911_aggregates::values::Role;
use k911_tests::browser::Browser;
use k911_tests::{Options, TestApp, STAFF_PASSWORD};
use serde_json::json;

use crate::staff::log_in;

const PHONE: &str = "+79161234567";

/// The digits after `marker`'s colon in an SMS: "код для входа в кабинет: 123456".
pub(crate) fn code_after(text: &str, marker: &str) -> String {
    let from = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {text}"));
    let tail = text[from..].split(": ").nth(1).unwrap();
    tail.chars().take_while(char::is_ascii_digit).collect()
}

/// Amount text as the cabinet writes it (`14 120,00 ₽`) as the form takes it (`14120.00`).
fn typed_amount(shown: &str) -> String {
    shown
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == ',')
        .collect::<String>()
        .replace(',', ".")
}

/// How the applicant wants the money.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Payout {
    /// A ЮMoney wallet: no JavaScript needed.
    Wallet,
    /// A card, tokenised by the payout provider from the page's script.
    Card,
}

/// Fills the application's steps for a borrower who gives only a phone, with one field wrong
/// on the first step (refused beside the field, the rest kept) and then corrected.
pub(crate) async fn apply_through_the_pages(
    browser: &Browser,
    start: &str,
    phone: &str,
    passport: &str,
    payout: Payout,
) {
    browser.open(start).await;
    browser.submit("form.calculator button").await;
    browser.submit("#apply").await;
    assert_eq!(browser.text("h2").await, "Заём и контакты");
    browser.fill("last_name", "Иванов").await;
    browser.fill("first_name", "Иван").await;
    browser.fill("middle_name", "Иванович").await;
    browser.set("birth_date", "1990-05-14").await;
    browser.fill("birth_place", "г. Москва").await;
    browser.fill("phone", "12345").await;
    browser.screenshot("apply-360").await;
    browser.submit("#next").await;
    assert_eq!(
        browser.text("#phone-error").await,
        "Телефон в формате +7 900 000-00-00"
    );
    let kept = browser
        .client
        .find(fantoccini::Locator::Id("last_name"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("Иванов"));
    browser.fill("phone", phone).await;
    browser.submit("#next").await;
    assert_eq!(browser.text("h2").await, "Паспорт");
    browser.fill("passport_series", "4510").await;
    browser.fill("passport_number", passport).await;
    browser.set("passport_issued_on", "2010-06-01").await;
    browser
        .fill("passport_issued_by", "ОВД Тверского района г. Москвы")
        .await;
    browser.fill("passport_division_code", "770-001").await;
    browser.submit("#next").await;
    assert_eq!(browser.text("h2").await, "Адрес");
    browser
        .fill(
            "registration_address",
            "г. Москва, ул. Тверская, д. 1, кв. 1",
        )
        .await;
    browser.fill("registration_region", "77").await;
    browser.submit("#next").await;
    assert_eq!(browser.text("h2").await, "Работа и доход");
    browser.set("employment_status", "employed").await;
    browser.fill("employer", "ООО Ромашка").await;
    browser.fill("position", "инженер").await;
    browser.fill("monthly_income", "80000").await;
    browser.submit("#next").await;
    assert_eq!(browser.text("h2").await, "Куда перечислить");
    match payout {
        Payout::Wallet => {
            browser.set("payout_method", "ewallet").await;
            browser.fill("wallet_id", "410011223344").await;
        }
        Payout::Card => {
            browser.set("payout_method", "card").await;
            browser.fill("card-pan", "2200 0000 0000 0004").await;
            browser.fill("card-exp", "12/30").await;
            browser.click("#card-link").await;
            for _ in 0..100 {
                if browser.text("#card-linked").await.contains("привязана") {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            assert_eq!(
                browser.text("#card-linked").await,
                "Карта 220000******0004 привязана."
            );
        }
    }
    browser.submit("#next").await;
    assert_eq!(browser.text("h2").await, "Согласия");
    browser.check("consent_personal_data").await;
    browser.check("consent_credit_history").await;
    browser.check("consent_terms").await;
    browser.submit("#next").await;
    assert_eq!(browser.text("h1").await, "Заявка принята");
}

/// Sends a payment of `amount` roubles for `contract` from the back office's development page
/// (under `external_id`, or the page's own fresh one), and checks it was applied.
async fn pay_as_channel(staff: &Browser, contract: &str, amount: &str, external_id: Option<&str>) {
    staff.open("/staff/dev/payment").await;
    staff.fill("contract_number", contract).await;
    staff.fill("amount", amount).await;
    if let Some(external_id) = external_id {
        staff.fill("external_id", external_id).await;
    }
    staff.submit("#send-payment").await;
    assert!(staff
        .text("#notice")
        .await
        .starts_with("Платёж принят и зачтён"));
}

/// A phone-only borrower's whole way through the pages: calculator, application, approval in
/// the back office, login by SMS code, signing, the loan active, a payment applied, paid in
/// full and closed.
#[tokio::test]
async fn a_borrower_applies_signs_repays_and_the_loan_closes_all_in_the_browser() {
    let mut options = Options::default();
    options
        .settings
        .payment_secrets
        .insert(PaymentChannel::SberbankOnline, "development".into());
    let app = TestApp::spawn_with(options).await;
    app.staff("anna@k911.ru", Role::Underwriter).await;
    let borrower = app.browser(360).await;
    apply_through_the_pages(&borrower, "/", PHONE, "123456", Payout::Wallet).await;

    // The underwriter opens the applicant with a purpose and approves as asked.
    let staff = app.browser(1280).await;
    log_in(&staff, "anna@k911.ru", STAFF_PASSWORD).await;
    staff.open("/staff/applications").await;
    staff.submit(".open-application").await;
    staff.submit("#open-applicant").await;
    assert!(staff
        .text("#applicant")
        .await
        .contains("Иванов Иван Иванович"));
    staff.submit("#approve").await;
    assert!(staff.text("#notice").await.starts_with("Заявка одобрена"));

    // The borrower gave no e-mail: they log in with a code by SMS.
    borrower.open("/login").await;
    borrower.fill("phone", PHONE).await;
    borrower.submit("#send-code").await;
    let sms = app.sms_containing(PHONE, "код для входа").await;
    borrower
        .fill("code", &code_after(&sms, "код для входа"))
        .await;
    borrower.submit("#code-login").await;
    assert_eq!(borrower.text("h1").await, "Мои займы");

    // The offer is signed with the code from its SMS; the payout follows.
    borrower.submit(".open-loan").await;
    let sms = app.sms_containing(PHONE, "код для подписания").await;
    borrower
        .fill("code", &code_after(&sms, "код для подписания"))
        .await;
    borrower.submit("#sign").await;
    assert!(borrower
        .text("#notice")
        .await
        .starts_with("Договор подписан"));
    app.settle().await;
    let moved = app
        .post("/dev/clock", &json!({"now": "2026-11-27T12:05:00+03:00"}))
        .await;
    assert_eq!(moved.status, 200);
    app.settle().await;
    borrower.open("/cabinet").await;
    assert!(borrower.text(".loan .status").await.contains("действует"));
    borrower.submit(".open-loan").await;
    let contract = borrower.text("#pay-contract").await;
    borrower.screenshot("cabinet-loan-360").await;

    // A channel reports a payment: the cabinet shows how it was applied.
    pay_as_channel(&staff, &contract, "1000", None).await;
    app.settle().await;
    borrower.client.refresh().await.unwrap();
    assert_eq!(borrower.text(".payment-amount").await, "1\u{202f}000,00 ₽");
    let rest = typed_amount(&borrower.text("#total-due").await);

    // The rest of the debt, and the loan is closed.
    pay_as_channel(&staff, &contract, &rest, Some("second-payment")).await;
    app.settle().await;
    borrower.client.refresh().await.unwrap();
    assert_eq!(borrower.text("#loan-status").await, "погашен");
    assert!(!borrower.text("#closed-on").await.is_empty());
    borrower.screenshot("cabinet-closed-360").await;
    staff.close().await;
    borrower.close().await;
}

/// A card is linked on the payout step by the page's script, straight with the payout provider
/// (the sandbox here): only its token and masked number reach the application, which the
/// service checks with the provider.
#[tokio::test]
async fn an_applicant_links_a_card_on_the_payout_step() {
    let app = TestApp::spawn().await;
    let browser = app.browser(360).await;
    apply_through_the_pages(&browser, "/", "+79160000061", "000061", Payout::Card).await;
    browser.close().await;
}
