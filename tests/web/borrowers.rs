//! Borrowers made through the API, for the pages that need one with a loan.

use axum::http::StatusCode;
use k911_aggregates::values::Role;
use k911_tests::TestApp;

use crate::journey::code_after;
use serde_json::{json, Value};

/// An application as the API takes it, paid out to a ЮMoney wallet, with an agent's code if
/// the applicant came by one.
fn application(phone: &str, email: &str, passport_number: &str, referral: Option<&str>) -> Value {
    let mut body = json!({
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
    });
    if let Some(code) = referral {
        body["referral_code"] = json!(code);
    }
    body
}

/// A borrower applied and approved through the API: their password (from the SMS) and the id
/// of the loan they were offered.
pub(crate) async fn approved_borrower(
    app: &TestApp,
    phone: &str,
    email: &str,
    passport: &str,
    referral: Option<&str>,
) -> (String, String) {
    let applied = app
        .post(
            "/api/v1/applications",
            &application(phone, email, passport, referral),
        )
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

/// A borrower's loan signed through the API and paid out: its contract number.
pub(crate) async fn issued_loan(
    app: &TestApp,
    phone: &str,
    email: &str,
    passport: &str,
    referral: Option<&str>,
) -> String {
    let (password, loan) = approved_borrower(app, phone, email, passport, referral).await;
    let login = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": email, "password": password}),
        )
        .await;
    let token = login.body["token"].as_str().unwrap().to_string();
    let sms = app.sms_containing(phone, "код для подписания").await;
    let code = code_after(&sms, "код для подписания");
    let signed = app
        .post_as(
            &token,
            &format!("/api/v1/me/loans/{loan}/sign"),
            Some(&json!({"code": code})),
        )
        .await;
    assert_eq!(signed.status, StatusCode::OK, "{:#}", signed.body);
    app.settle().await;
    let moved = app
        .post("/dev/clock", &json!({"now": "2026-11-27T12:05:00+03:00"}))
        .await;
    assert_eq!(moved.status, StatusCode::OK);
    app.settle().await;
    let loan = app
        .get_as(&token, &format!("/api/v1/me/loans/{loan}"))
        .await;
    assert_eq!(loan.body["status"], "active", "{:#}", loan.body);
    loan.body["contract_number"].as_str().unwrap().to_string()
}
