use axum::http::StatusCode;
use k911_aggregates::values::Role;
use k911_tests::TestApp;
use serde_json::{json, Value};

use crate::staff::log_in;

/// An application as the API takes it, paid out to a ЮMoney wallet.
fn application(phone: &str, email: &str, passport_number: &str) -> Value {
    json!({
        "applicant": {
            "last_name": "Петров", "first_name": "Пётр", "middle_name": null,
            "birth_date": "1988-03-02", "birth_place": "г. Тула",
            "passport": {"series": "7001", "number": passport_number, "issued_on": "2008-04-01",
                         "issued_by": "ОВД г. Тулы", "division_code": "710-001"},
            "registration_address": {"text": "г. Тула, ул. Ленина, д. 2", "region_code": "71"},
            "residence_address": null,
            "phone": phone, "email": email,
            "employment": {"status": "employed", "employer": "ООО Ромашка", "position": "инженер"},
            "monthly_income_kopecks": 9000000
        },
        "loan": {"amount_kopecks": 1000000, "term_days": 14},
        "payout": {"method": "ewallet", "provider": "yoomoney", "wallet_id": "410011223355"},
        "consents": {"personal_data": true, "credit_history_check": true, "terms": true}
    })
}

/// A borrower applied and approved through the API: their password (from the SMS) and the id
/// of the loan they were offered.
async fn approved_borrower(
    app: &TestApp,
    phone: &str,
    email: &str,
    passport: &str,
) -> (String, String) {
    let applied = app
        .post("/api/v1/applications", &application(phone, email, passport))
        .await;
    assert_eq!(applied.status, StatusCode::CREATED, "{:#}", applied.body);
    let id = applied.body["application_id"].as_str().unwrap();
    let underwriter = app
        .staff(&format!("u{passport}@k911.ru"), Role::Underwriter)
        .await;
    let approved = app
        .post_as(
            &underwriter,
            &format!("/api/v1/staff/applications/{id}/approve"),
            None,
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{:#}", approved.body);
    let sms = app.sms_containing(phone, "пароль").await;
    let password = sms.rsplit("пароль ").next().unwrap().trim().to_string();
    app.settle().await;
    let login = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": email, "password": password}),
        )
        .await;
    let token = login.body["token"].as_str().unwrap();
    let loans = app.get_as(token, "/api/v1/me/loans").await;
    let loan = loans.body[0]["loan_id"].as_str().unwrap().to_string();
    (password, loan)
}

/// Another borrower's loan is not found, and a borrower cannot open the back office.
#[tokio::test]
async fn a_borrower_sees_only_their_own_loans_and_never_the_back_office() {
    let app = TestApp::spawn().await;
    let (_, first_loan) =
        approved_borrower(&app, "+79160000011", "petr@example.ru", "000011").await;
    let (password, own_loan) =
        approved_borrower(&app, "+79160000012", "pavel@example.ru", "000012").await;
    let browser = app.browser(360).await;
    log_in(&browser, "pavel@example.ru", &password).await;
    assert_eq!(browser.text("h1").await, "Мои займы");
    browser.open(&format!("/cabinet/loans/{own_loan}")).await;
    assert!(browser.text("h1").await.starts_with("Договор №"));
    browser.open(&format!("/cabinet/loans/{first_loan}")).await;
    assert_eq!(browser.text("h1").await, "Страница не найдена");
    browser.open("/staff").await;
    assert_eq!(browser.text("h1").await, "Нет доступа");
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
