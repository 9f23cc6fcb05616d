//! Loans through HTTP with the manual clock: the offer an approval makes, signing with the SMS
//! code, the payout, daily interest, lapsed offers and failed payouts.

use axum::http::StatusCode;
use k911_tests::{TestApp, TestResponse};
use serde_json::{json, Value};

use crate::cabinet::{customer, login};
use crate::notifications::sms_with;
use crate::onboarding::{application, password_in};

/// The newest signing code sent to `phone`.
pub(crate) async fn signing_code(app: &TestApp, phone: &str) -> String {
    let text = sms_with(app, phone, "код для подписания").await;
    // "… договора займа № 911-…: 123456. …"
    let tail = text.split(": ").nth(2).unwrap();
    tail.chars().take_while(char::is_ascii_digit).collect()
}

pub(crate) async fn loans(app: &TestApp, token: &str) -> Value {
    app.settle().await;
    let response = app.get_as(token, "/api/v1/me/loans").await;
    assert_eq!(response.status, StatusCode::OK, "{:#}", response.body);
    response.body
}

pub(crate) async fn move_clock(app: &TestApp, to: &str) -> TestResponse {
    app.settle().await;
    let response = app.post("/dev/clock", &json!({ "now": to })).await;
    assert_eq!(response.status, StatusCode::OK, "{:#}", response.body);
    app.settle().await;
    response
}

#[tokio::test]
async fn an_approval_offers_a_loan_that_is_signed_paid_out_and_accrues_interest() {
    let app = TestApp::spawn().await;
    let (token, _, application_id, password) = customer(&app).await;
    // A borrower's session lasts 30 minutes: after the clock moves, log in again.
    let relogin = || login(&app, "ivan@example.ru", &password);
    let list = loans(&app, &token).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
    let loan = &list[0];
    assert_eq!(loan["status"], "offered");
    assert_eq!(loan["application_id"], application_id.as_str());
    assert_eq!(loan["contract_number"], "911-261127-000001");
    assert_eq!(loan["principal_kopecks"], 1_500_000);
    assert_eq!(loan["daily_rate"], "0.8");
    assert_eq!(loan["psk_percent"], "292.000");
    // 17 520 ₽ due against 80 000 ₽ of income a month.
    assert_eq!(loan["pdn_percent"], "21.9");
    assert_eq!(loan["pdn_warning"], false);
    assert_eq!(loan["interest_for_term_kopecks"], 252_000);
    assert_eq!(loan["total_to_repay_kopecks"], 1_752_000);
    assert_eq!(loan["schedule"][0]["total_kopecks"], 1_752_000);
    let id = loan["loan_id"].as_str().unwrap().to_string();

    let code = signing_code(&app, "+79161234567").await;
    let path = format!("/api/v1/me/loans/{id}/sign");
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let fields = app
        .post_as(&token, &path, Some(&json!({ "code": wrong })))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["code"]);
    let signed = app
        .post_as(&token, &path, Some(&json!({ "code": code })))
        .await;
    assert_eq!(signed.status, StatusCode::OK, "{:#}", signed.body);
    assert_eq!(signed.body["status"], "signed");
    app.post_as(&token, &path, Some(&json!({ "code": code })))
        .await
        .problem(StatusCode::CONFLICT);

    // The provider answers the payout; the loan is issued today and due in 21 days.
    move_clock(&app, "2026-11-27T12:05:00+03:00").await;
    let token = relogin().await;
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["status"], "active", "{loan:#}");
    assert_eq!(loan["issued_on"], "2026-11-27");
    assert_eq!(loan["due_on"], "2026-12-18");
    assert_eq!(loan["outstanding"]["principal_kopecks"], 1_500_000);
    assert_eq!(loan["outstanding"]["interest_kopecks"], 0);

    // Five days later: interest for the 28th to the 2nd, 120 ₽ a day.
    move_clock(&app, "2026-12-02T09:00:00+03:00").await;
    let token = relogin().await;
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["outstanding"]["interest_kopecks"], 60_000);
    assert_eq!(loan["outstanding"]["total_kopecks"], 1_560_000);
    assert_eq!(loan["days_overdue"], 0);
    // The job again the same day changes nothing.
    move_clock(&app, "2026-12-02T18:00:00+03:00").await;
    let token = relogin().await;
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["outstanding"]["interest_kopecks"], 60_000);

    // Past the due date: overdue, with a penalty.
    move_clock(&app, "2026-12-20T09:00:00+03:00").await;
    let token = relogin().await;
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["days_overdue"], 2);
    // 23 days of interest (28 Nov – 20 Dec) and 2 days of penalty at 8.22 ₽.
    assert_eq!(loan["outstanding"]["interest_kopecks"], 276_000);
    assert_eq!(loan["outstanding"]["penalty_kopecks"], 1_644);

    // Another customer does not see it.
    let other = app
        .get_as(
            &token,
            &format!("/api/v1/me/loans/{}", uuid::Uuid::now_v7()),
        )
        .await;
    other.problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unsigned_offer_lapses_and_a_refused_payout_leaves_the_loan_unissued() {
    let app = TestApp::spawn().await;
    let (token, _, _, password) = customer(&app).await;
    let id = loans(&app, &token).await[0]["loan_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Three days unsigned: the offer lapses.
    move_clock(&app, "2026-11-30T12:00:00+03:00").await;
    let token = login(&app, "ivan@example.ru", &password).await;
    assert_eq!(loans(&app, &token).await[0]["status"], "expired");
    let code = signing_code(&app, "+79161234567").await;
    app.post_as(
        &token,
        &format!("/api/v1/me/loans/{id}/sign"),
        Some(&json!({ "code": code })),
    )
    .await
    .problem(StatusCode::CONFLICT);

    // A customer whose card refuses payouts: signed, never issued, told by SMS.
    let mut body = application("+79160000002", Some("petr@example.ru"), "000002");
    let card = json!({"pan": "2200000000020002", "exp_month": 12, "exp_year": 2030});
    let card = app.post("/sandbox/cards", &card).await;
    body["payout"]["card_token"] = card.body["card_token"].clone();
    body["payout"]["masked_pan"] = card.body["masked_pan"].clone();
    let response = app.post("/api/v1/applications", &body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{:#}", response.body);
    let application_id = response.body["application_id"].as_str().unwrap();
    let underwriter = login(&app, "olga@k911.ru", k911_tests::STAFF_PASSWORD).await;
    app.post_as(
        &underwriter,
        &format!("/api/v1/staff/applications/{application_id}/approve"),
        None,
    )
    .await;
    let password = password_in(&sms_with(&app, "+79160000002", "пароль").await);
    let token = login(&app, "petr@example.ru", &password).await;
    let id = loans(&app, &token).await[0]["loan_id"]
        .as_str()
        .unwrap()
        .to_string();
    let code = signing_code(&app, "+79160000002").await;
    let signed = app
        .post_as(
            &token,
            &format!("/api/v1/me/loans/{id}/sign"),
            Some(&json!({ "code": code })),
        )
        .await;
    assert_eq!(signed.status, StatusCode::OK, "{:#}", signed.body);
    move_clock(&app, "2026-11-30T12:05:00+03:00").await;
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["status"], "payout_failed", "{loan:#}");
    assert_eq!(loan["outstanding"]["total_kopecks"], 0);
    sms_with(&app, "+79160000002", "не удалось перечислить").await;
}

/// An approved customer's loan, signed and paid out on 2026-11-27 (due 2026-12-18): the
/// customer's password, the loan id and its contract number.
pub(crate) async fn issued_loan(app: &TestApp) -> (String, String, String) {
    let (token, _, _, password) = customer(app).await;
    let loan = &loans(app, &token).await[0];
    let id = loan["loan_id"].as_str().unwrap().to_string();
    let number = loan["contract_number"].as_str().unwrap().to_string();
    let code = signing_code(app, "+79161234567").await;
    let signed = app
        .post_as(
            &token,
            &format!("/api/v1/me/loans/{id}/sign"),
            Some(&json!({ "code": code })),
        )
        .await;
    assert_eq!(signed.status, StatusCode::OK, "{:#}", signed.body);
    move_clock(app, "2026-11-27T12:05:00+03:00").await;
    (password, id, number)
}

#[tokio::test]
async fn a_high_debt_to_income_ratio_is_warned_and_a_third_high_cost_loan_refused() {
    let app = TestApp::spawn().await;
    let mut body = application("+79160000002", Some("petr@example.ru"), "000002");
    body["applicant"]["monthly_income_kopecks"] = json!(2_000_000);
    let body = crate::onboarding::with_card(&app, &body).await;
    let response = app.post("/api/v1/applications", &body).await;
    let first = response.body["application_id"]
        .as_str()
        .unwrap()
        .to_string();
    let underwriter = app
        .staff("olga@k911.ru", k911_aggregates::values::Role::Underwriter)
        .await;
    let approve = |id: String| {
        let underwriter = underwriter.clone();
        let app = &app;
        async move {
            app.post_as(
                &underwriter,
                &format!("/api/v1/staff/applications/{id}/approve"),
                None,
            )
            .await
        }
    };
    assert_eq!(approve(first).await.status, StatusCode::OK);
    // 17 520 ₽ against 20 000 ₽: 87.6 %, said before the code.
    let text = sms_with(&app, "+79160000002", "код для подписания").await;
    assert!(
        text.starts_with("Внимание: ваша долговая нагрузка (ПДН) с этим займом — 87.6 %"),
        "{text}"
    );
    let password = password_in(&sms_with(&app, "+79160000002", "пароль").await);
    let token = login(&app, "petr@example.ru", &password).await;
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["pdn_percent"], "87.6");
    assert_eq!(loan["pdn_warning"], true);

    // A second loan at 292 % a year is allowed, a third is not: the refusal names the rule.
    let repeat = json!({"loan": {"amount_kopecks": 100000, "term_days": 10}});
    let second = app
        .post_as(&token, "/api/v1/me/applications", Some(&repeat))
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{:#}", second.body);
    let id = second.body["application_id"].as_str().unwrap().to_string();
    assert_eq!(approve(id).await.status, StatusCode::OK);
    app.settle().await;
    let third = app
        .post_as(&token, "/api/v1/me/applications", Some(&repeat))
        .await;
    assert_eq!(third.status, StatusCode::CREATED, "{:#}", third.body);
    let id = third.body["application_id"].as_str().unwrap().to_string();
    let refused = approve(id).await;
    refused.problem(StatusCode::CONFLICT);
    assert!(
        refused.body["detail"].as_str().unwrap().contains("200 %"),
        "{:#}",
        refused.body
    );
}

#[tokio::test]
async fn an_overdue_debtor_is_reminded_by_sms_only_when_the_law_allows() {
    let app = TestApp::spawn().await;
    issued_loan(&app).await;
    // Due on Friday 18 December. Saturday 19th, 08:30: a day off, too early.
    move_clock(&app, "2026-12-19T08:30:00+03:00").await;
    assert!(reminders(&app).await.is_empty());
    move_clock(&app, "2026-12-19T09:30:00+03:00").await;
    let sent = sms_with(&app, "+79161234567", "просрочен").await;
    assert!(sent.contains("просрочен на 1 дн."), "{sent}");
    assert!(
        sent.contains("Задолженность 17\u{a0}648,22\u{a0}₽"),
        "{sent}"
    );
    // Not again within the product's six hours; a second one after; no third that day.
    move_clock(&app, "2026-12-19T12:00:00+03:00").await;
    assert_eq!(reminders(&app).await.len(), 1);
    move_clock(&app, "2026-12-19T15:30:00+03:00").await;
    assert_eq!(sms_with_n_count(&app, 2).await, 2);
    move_clock(&app, "2026-12-19T19:45:00+03:00").await;
    assert_eq!(reminders(&app).await.len(), 2);
    // Saturday 20:30 is past a day off's hours; Sunday morning is fine again.
    move_clock(&app, "2026-12-20T10:00:00+03:00").await;
    assert_eq!(sms_with_n_count(&app, 3).await, 3);
}

/// Waits for `n` reminders and returns how many there are.
async fn sms_with_n_count(app: &TestApp, n: usize) -> usize {
    crate::notifications::sms_with_n(app, "+79161234567", "просрочен", n)
        .await
        .len()
}

/// The reminders sent so far.
async fn reminders(app: &TestApp) -> Vec<String> {
    crate::notifications::sms_texts(app, "+79161234567")
        .await
        .into_iter()
        .filter(|t| t.contains("просрочен"))
        .collect()
}

#[tokio::test]
async fn the_contract_pdf_shows_the_loans_own_figures_with_the_psk_framed_top_right() {
    let app = TestApp::spawn().await;
    let (token, _, _, _) = customer(&app).await;
    let loan = &loans(&app, &token).await[0];
    let url = loan["contract_url"].as_str().unwrap();
    let response = app.get_as(&token, url).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.content_type(), "application/pdf");
    assert!(response.bytes.starts_with(b"%PDF-"));
    assert!(
        response.bytes.len() < 100_000,
        "the font is subset: {}",
        response.bytes.len()
    );

    let pdf = lopdf::Document::load_mem(&response.bytes).unwrap();
    assert_eq!(pdf.get_pages().len(), 1);
    let text = pdf_text(&pdf).replace('\u{a0}', " ");
    for expected in [
        "911-261127-000001",
        "292,000 %",
        "ПОЛНАЯ СТОИМОСТЬ",
        "2 520,00 ₽",
        "15 000,00 ₽",
        "17 520,00 ₽",
        "Иванов Иван Иванович",
        "220000******0004",
        "0,8 % в день",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    // Two square frames in the top right corner of the page (x > half the width, near the top).
    let page = pdf.get_pages()[&1];
    let content = pdf.get_and_decode_page_content(page).unwrap();
    let squares: Vec<Vec<f32>> = content
        .operations
        .iter()
        .filter(|op| op.operator == "re")
        .map(|op| op.operands.iter().map(|o| o.as_float().unwrap()).collect())
        .collect();
    assert_eq!(squares.len(), 2, "{squares:?}");
    for square in squares {
        let (x, y, w, h) = (square[0], square[1], square[2], square[3]);
        assert!((w - h).abs() < 0.01 && w > 100.0, "square: {square:?}");
        assert!(x > 297.0 && y + h > 780.0, "top right: {square:?}");
    }
    // Another customer's contract does not exist for them.
    let other = format!("/api/v1/me/loans/{}/contract", uuid::Uuid::now_v7());
    app.get_as(&token, &other)
        .await
        .problem(StatusCode::NOT_FOUND);
}

/// The text of a one-font PDF's first page, decoded through the font's ToUnicode map (read by
/// hand: the map's `bfchar` pairs; lopdf's own reader does not take printpdf's layout).
fn pdf_text(pdf: &lopdf::Document) -> String {
    let mut map = std::collections::HashMap::new();
    for object in pdf.objects.values() {
        let Ok(stream) = object.as_stream() else {
            continue;
        };
        let content = stream
            .decompressed_content()
            .unwrap_or_else(|_| stream.content.clone());
        let text = String::from_utf8_lossy(&content);
        if !text.contains("beginbfchar") {
            continue;
        }
        let hex: Vec<&str> = text
            .split('<')
            .skip(1)
            .filter_map(|part| part.split('>').next())
            .filter(|h| h.len() == 4 && h.chars().all(|c| c.is_ascii_hexdigit()))
            .collect();
        // The first pair is the code space range, the rest code → Unicode.
        for pair in hex[2..].chunks(2) {
            let code = u16::from_str_radix(pair[0], 16).unwrap();
            let unicode = u32::from_str_radix(pair[1], 16).unwrap();
            map.insert(code, char::from_u32(unicode).unwrap());
        }
    }
    let page = pdf.get_pages()[&1];
    let content = pdf.get_and_decode_page_content(page).unwrap();
    let mut text = String::new();
    for op in &content.operations {
        match op.operator.as_str() {
            "TJ" | "Tj" => {
                let strings: Vec<&lopdf::Object> = match op.operands[0].as_array() {
                    Ok(items) => items.iter().collect(),
                    Err(_) => vec![&op.operands[0]],
                };
                for item in strings {
                    if let Ok(bytes) = item.as_str() {
                        for code in bytes.chunks(2) {
                            let code = u16::from_be_bytes([code[0], code[1]]);
                            text.push(*map.get(&code).unwrap_or(&'?'));
                        }
                    }
                }
            }
            "ET" => text.push('\n'),
            _ => {}
        }
    }
    text
}
