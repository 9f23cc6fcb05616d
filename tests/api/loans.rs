//! Loans through HTTP with the manual clock: the offer an approval makes, signing with the SMS
//! code, the payout, daily interest, lapsed offers and failed payouts.

use std::collections::HashMap;

use axum::http::StatusCode;
use chrono::NaiveDate;
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
    // Derived from the loan's course, not recorded day by day: the log holds no charge yet.
    assert_eq!(charges_recorded(&app, &id).await, Vec::<Value>::new());
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
    // 23 days of interest (28 Nov – 20 Dec) and 2 days of penalty at 8.21 ₽ (8.219… rounded down).
    assert_eq!(loan["outstanding"]["interest_kopecks"], 276_000);
    assert_eq!(loan["outstanding"]["penalty_kopecks"], 1_642);
    // Recorded by the close that found it past due: the term's charges, the fall overdue on the
    // 19th and the overdue days through the close's day. Nothing else.
    assert_eq!(
        charges_recorded(&app, &id).await,
        [
            json!({"InterestAccrued": {"from": "2026-11-28", "through": "2026-12-18",
                   "interest": 252_000, "penalty": 0, "overdue": false}}),
            json!({"LoanFellOverdue": {"on": "2026-12-19"}}),
            json!({"InterestAccrued": {"from": "2026-12-19", "through": "2026-12-20",
                   "interest": 24_000, "penalty": 1_642, "overdue": true}}),
        ]
    );

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

/// The charges a loan's log records, in order.
async fn charges_recorded(app: &TestApp, loan_id: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_type = 'Loan' AND aggregate_id = $1
            AND event_type IN ('InterestAccrued', 'LoanFellOverdue') ORDER BY sequence",
    )
    .bind(loan_id)
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap()
}

/// Signs the borrower's first loan with the code sent to `phone`: its id and contract number.
pub(crate) async fn sign_first_loan(app: &TestApp, token: &str, phone: &str) -> (String, String) {
    let loan = &loans(app, token).await[0];
    let id = loan["loan_id"].as_str().unwrap().to_string();
    let number = loan["contract_number"].as_str().unwrap().to_string();
    let code = signing_code(app, phone).await;
    let signed = app
        .post_as(
            token,
            &format!("/api/v1/me/loans/{id}/sign"),
            Some(&json!({ "code": code })),
        )
        .await;
    assert_eq!(signed.status, StatusCode::OK, "{:#}", signed.body);
    (id, number)
}

/// An approved customer's loan, signed and paid out on 2026-11-27 (due 2026-12-18): the
/// customer's password, the loan id and its contract number.
pub(crate) async fn issued_loan(app: &TestApp) -> (String, String, String) {
    let (token, _, _, password) = customer(app).await;
    let (id, number) = sign_first_loan(app, &token, "+79161234567").await;
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

/// A borrower applies and is approved again and again as fast as the API lets them, while the
/// earlier loans are still being offered: the account counts each approval at once, so no timing
/// lets a third loan above 200 % a year through.
#[tokio::test]
async fn approvals_in_quick_succession_never_grant_more_high_cost_loans_than_the_law_allows() {
    let app = TestApp::spawn().await;
    let (token, underwriter, _, _) = customer(&app).await;
    let repeat = json!({"loan": {"amount_kopecks": 100000, "term_days": 10}});
    let approve = |id: String| {
        let (app, underwriter) = (&app, underwriter.clone());
        async move {
            let path = format!("/api/v1/staff/applications/{id}/approve");
            app.post_as(&underwriter, &path, None).await
        }
    };
    let mut answers = vec![];
    for _ in 0..2 {
        // The next application may start once the account has heard of the last decision.
        let id = loop {
            let applied = app
                .post_as(&token, "/api/v1/me/applications", Some(&repeat))
                .await;
            if applied.status == StatusCode::CREATED {
                break applied.body["application_id"].as_str().unwrap().to_string();
            }
            assert_eq!(applied.status, StatusCode::CONFLICT, "{:#}", applied.body);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        };
        answers.push(approve(id.clone()).await);
        // Asked again at once: the same answer.
        answers.push(approve(id).await);
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    // The first loan (from registration) and one more; then the rule, with nothing approved.
    assert_eq!(statuses, [200, 409, 409, 409], "{answers:#?}");
    assert!(answers[2].body["detail"]
        .as_str()
        .unwrap()
        .contains("200 %"));
    let offered: Vec<String> = loans(&app, &token)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|loan| loan["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(offered, ["offered", "offered"]);
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
        sent.contains("Задолженность 17\u{a0}648,21\u{a0}₽"),
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
    let loan_id = loan["loan_id"].as_str().unwrap().to_string();
    let url = loan["contract_url"].as_str().unwrap().to_string();
    // The offer, before signing: what the borrower reads.
    let pdf = contract_pdf(&app, &token, &url).await;
    assert!(!pdf.get_pages().is_empty());
    let map = unicode_map(&pdf);
    let text = pdf_text(&pdf, &map);
    // Wrapped lines joined again: a phrase reads whole whichever line it broke at.
    let flowing = text.replace('\n', " ");
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
        "Индивидуальные условия договора потребительского кредита (займа)",
        "Содержание условия",
        "Бесплатный способ исполнения заемщиком обязательств по договору",
        "Не применимо",
        "Не подписано",
    ] {
        assert!(flowing.contains(expected), "{expected:?} not in {text}");
    }
    // Every row of the Bank of Russia's form, numbered in its own cell.
    let lines: Vec<&str> = text.lines().collect();
    for number in ["1", "5.1", "8.1", "16"] {
        assert!(lines.contains(&number), "row {number} not in {text}");
    }

    // Measured from the first page's drawing: two square frames in the top right corner, each
    // at least 5 % of the page (353-FZ art. 6 part 1), percent first, roubles to its right.
    let pages = pdf.get_pages();
    let first = pages[&1];
    let (width, height) = media_box(&pdf, first);
    let page = drawing(&pdf, first, &map);
    let squares: Vec<[f32; 4]> = page
        .rectangles
        .iter()
        .filter(|[x, y, w, h]| {
            (w - h).abs() < 0.5 && x + w / 2.0 > width / 2.0 && y + h / 2.0 > height / 2.0
        })
        .copied()
        .collect();
    assert_eq!(squares.len(), 2, "{:?}", page.rectangles);
    for [_, _, w, h] in &squares {
        assert!(
            w * h >= 0.05 * width * height,
            "{squares:?} on {width}×{height}"
        );
    }
    let [left, right] = [squares[0], squares[1]];
    assert!(
        left[0] + left[2] <= right[0],
        "percent left of roubles: {squares:?}"
    );
    // In the page's largest type, in capitals.
    let largest = page.texts.iter().map(|t| t.size).fold(0.0, f32::max);
    for (square, expected) in squares.iter().zip([
        ["ПОЛНАЯ СТОИМОСТЬ", "292,000 %", "ГОДОВЫХ"],
        ["ПОЛНАЯ СТОИМОСТЬ", "2 520,00 ₽", "В РУБЛЯХ"],
    ]) {
        let inside: Vec<&Shown> = page.texts.iter().filter(|t| t.within(square)).collect();
        for shown in &inside {
            assert_eq!(shown.text, shown.text.to_uppercase(), "capitals: {shown:?}");
            assert_eq!(shown.size, largest, "the largest type: {shown:?}");
        }
        let framed: Vec<String> = inside
            .iter()
            .map(|t| t.text.replace('\u{a0}', " "))
            .collect();
        let framed = framed.join(" ");
        for expected in expected {
            assert!(framed.contains(expected), "{expected:?} not in {framed:?}");
        }
    }
    // Before the table: its heading is below both frames.
    let heading = page
        .texts
        .iter()
        .find(|t| t.text.starts_with("Индивидуальные условия"))
        .expect("the table's heading on the first page");
    assert!(heading.y < left[1].min(right[1]), "{heading:?} {squares:?}");
    // The table's cells are bordered: each row number stands inside a stroked rectangle.
    for page_id in pages.values() {
        let page = drawing(&pdf, *page_id, &map);
        for shown in page.texts.iter().filter(|t| {
            (1..=3).contains(&t.text.len())
                && t.text.chars().all(|c| c.is_ascii_digit() || c == '.')
        }) {
            assert!(
                page.rectangles.iter().any(|r| shown.within(r)),
                "no border around {shown:?}"
            );
        }
    }

    // Signed, the contract says when, in Moscow time.
    let code = signing_code(&app, "+79161234567").await;
    let signed = app
        .post_as(
            &token,
            &format!("/api/v1/me/loans/{loan_id}/sign"),
            Some(&json!({ "code": code })),
        )
        .await;
    assert_eq!(signed.status, StatusCode::OK, "{:#}", signed.body);
    let loan = &loans(&app, &token).await[0];
    let signed_at: chrono::DateTime<chrono::Utc> =
        loan["signed_at"].as_str().unwrap().parse().unwrap();
    let moscow = chrono::FixedOffset::east_opt(3 * 3600).unwrap();
    let expected = format!(
        "{} (время московское)",
        signed_at.with_timezone(&moscow).format("%d.%m.%Y %H:%M")
    );
    let pdf = contract_pdf(&app, &token, &url).await;
    let text = pdf_text(&pdf, &unicode_map(&pdf)).replace('\n', " ");
    assert!(text.contains(&expected), "{expected:?} not in {text}");
    assert!(!text.contains("Не подписано"), "{text}");

    // Another customer's contract does not exist for them.
    let other = format!("/api/v1/me/loans/{}/contract", uuid::Uuid::now_v7());
    app.get_as(&token, &other)
        .await
        .problem(StatusCode::NOT_FOUND);
}

/// The contract at `url`, checked to be a PDF with its font subset, parsed.
async fn contract_pdf(app: &TestApp, token: &str, url: &str) -> lopdf::Document {
    let response = app.get_as(token, url).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.content_type(), "application/pdf");
    assert!(response.bytes.starts_with(b"%PDF-"));
    assert!(
        response.bytes.len() < 100_000,
        "the font is subset: {}",
        response.bytes.len()
    );
    lopdf::Document::load_mem(&response.bytes).unwrap()
}

/// A contract PDF's text, its lines joined by spaces (a cell's text wraps over lines).
pub(crate) fn contract_text(bytes: &[u8]) -> String {
    let pdf = lopdf::Document::load_mem(bytes).unwrap();
    pdf_text(&pdf, &unicode_map(&pdf)).replace('\n', " ")
}

/// A one-font PDF's glyph codes to text, through the font's ToUnicode map (read by hand: the
/// map's `bfchar` pairs; lopdf's own reader does not take printpdf's layout).
fn unicode_map(pdf: &lopdf::Document) -> HashMap<u16, char> {
    let mut map = HashMap::new();
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
    map
}

/// The text of every page in order, a line for each string shown, no-break spaces as spaces.
fn pdf_text(pdf: &lopdf::Document, map: &HashMap<u16, char>) -> String {
    let mut lines = vec![];
    for page in pdf.get_pages().values() {
        for shown in drawing(pdf, *page, map).texts {
            lines.push(shown.text.replace('\u{a0}', " "));
        }
    }
    lines.join("\n")
}

/// The page's width and height in points, from its `MediaBox`.
fn media_box(pdf: &lopdf::Document, page: lopdf::ObjectId) -> (f32, f32) {
    let dictionary = pdf.get_dictionary(page).unwrap();
    let corners: Vec<f32> = dictionary
        .get(b"MediaBox")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_float().unwrap())
        .collect();
    (corners[2] - corners[0], corners[3] - corners[1])
}

/// A string a page shows: where its line starts, in which size, what it says.
#[derive(Debug)]
struct Shown {
    x: f32,
    y: f32,
    size: f32,
    text: String,
}

impl Shown {
    fn within(&self, [x, y, w, h]: &[f32; 4]) -> bool {
        (*x..=x + w).contains(&self.x) && (*y..=y + h).contains(&self.y)
    }
}

/// What a page's content stream draws, in points from its lower left corner.
struct Drawing {
    /// `[x, y, width, height]` of every rectangle stroked: a `re`, or a closed path of four
    /// corners with straight sides, painted with a stroking operator (`re … n` draws nothing).
    rectangles: Vec<[f32; 4]>,
    texts: Vec<Shown>,
}

/// Walks a page's decoded operators, keeping the font size (`Tf`), the text line's position
/// (`BT`, `Td`/`TD`, `Tm`) and the path being built (`m`, `l`, `h`, `re`) until it is painted.
fn drawing(pdf: &lopdf::Document, page: lopdf::ObjectId, map: &HashMap<u16, char>) -> Drawing {
    let content = pdf.get_and_decode_page_content(page).unwrap();
    let mut drawing = Drawing {
        rectangles: vec![],
        texts: vec![],
    };
    let (mut size, mut x, mut y) = (0.0f32, 0.0f32, 0.0f32);
    // Subpaths: their points, and whether closed.
    let mut path: Vec<(Vec<(f32, f32)>, bool)> = vec![];
    for op in &content.operations {
        let numbers: Vec<f32> = op
            .operands
            .iter()
            .filter_map(|o| o.as_float().ok())
            .collect();
        match op.operator.as_str() {
            "BT" => (x, y) = (0.0, 0.0),
            "Tf" => size = numbers[0],
            "Td" | "TD" => (x, y) = (x + numbers[0], y + numbers[1]),
            "Tm" => (x, y) = (numbers[4], numbers[5]),
            "Tj" | "TJ" => drawing.texts.push(Shown {
                x,
                y,
                size,
                text: decode(&op.operands[0], map),
            }),
            "m" => path.push((vec![(numbers[0], numbers[1])], false)),
            "l" => {
                if let Some((points, _)) = path.last_mut() {
                    points.push((numbers[0], numbers[1]));
                }
            }
            "h" => {
                if let Some((_, closed)) = path.last_mut() {
                    *closed = true;
                }
            }
            "re" => {
                let [x, y, w, h] = [numbers[0], numbers[1], numbers[2], numbers[3]];
                path.push((vec![(x, y), (x + w, y), (x + w, y + h), (x, y + h)], true));
            }
            "S" | "s" | "B" | "B*" | "b" | "b*" => {
                let closes = matches!(op.operator.as_str(), "s" | "b" | "b*");
                for (points, closed) in path.drain(..) {
                    if closed || closes {
                        drawing.rectangles.extend(rectangle(&points));
                    }
                }
            }
            "n" | "f" | "F" | "f*" => path.clear(),
            _ => {}
        }
    }
    drawing
}

/// `[x, y, width, height]` if `points` are the four corners of an upright rectangle, in order.
fn rectangle(points: &[(f32, f32)]) -> Option<[f32; 4]> {
    let mut points = points.to_vec();
    if points.len() == 5 && points[0] == points[4] {
        points.pop();
    }
    if points.len() != 4 {
        return None;
    }
    let close = |a: f32, b: f32| (a - b).abs() < 0.01;
    for (n, a) in points.iter().enumerate() {
        let b = points[(n + 1) % 4];
        if !close(a.0, b.0) && !close(a.1, b.1) {
            return None;
        }
    }
    let xs = points.iter().map(|p| p.0);
    let ys = points.iter().map(|p| p.1);
    let (left, right) = (
        xs.clone().fold(f32::MAX, f32::min),
        xs.fold(f32::MIN, f32::max),
    );
    let (bottom, top) = (
        ys.clone().fold(f32::MAX, f32::min),
        ys.fold(f32::MIN, f32::max),
    );
    let corners = points.iter().all(|p| {
        (close(p.0, left) || close(p.0, right)) && (close(p.1, bottom) || close(p.1, top))
    });
    (corners && right - left > 0.01 && top - bottom > 0.01).then_some([
        left,
        bottom,
        right - left,
        top - bottom,
    ])
}

/// A `Tj` string or `TJ` array in two-byte glyph codes, as text.
fn decode(operand: &lopdf::Object, map: &HashMap<u16, char>) -> String {
    let strings: Vec<&lopdf::Object> = match operand.as_array() {
        Ok(items) => items.iter().collect(),
        Err(_) => vec![operand],
    };
    let mut text = String::new();
    for item in strings {
        if let Ok(bytes) = item.as_str() {
            for code in bytes.chunks(2) {
                let code = u16::from_be_bytes([code[0], code[1]]);
                text.push(*map.get(&code).unwrap_or(&'?'));
            }
        }
    }
    text
}

/// One loan that cannot be loaded (here: an event its code does not know) is logged, counted
/// and skipped by the scheduler; the other loan's fall overdue is still recorded.
#[tokio::test]
async fn one_failing_loan_does_not_stop_the_daily_jobs_of_the_others() {
    let app = TestApp::spawn().await;
    let mut ids = vec![];
    for (n, phone) in ["+79160000011", "+79160000012"].into_iter().enumerate() {
        let email = format!("c{n}@example.ru");
        let (token, _, _, _) =
            crate::cabinet::customer_with(&app, phone, &email, &format!("00001{n}")).await;
        let loan = &loans(&app, &token).await[0];
        let id = loan["loan_id"].as_str().unwrap().to_string();
        let code = signing_code(&app, phone).await;
        let signed = app
            .post_as(
                &token,
                &format!("/api/v1/me/loans/{id}/sign"),
                Some(&json!({ "code": code })),
            )
            .await;
        assert_eq!(signed.status, StatusCode::OK, "{:#}", signed.body);
        ids.push(id);
    }
    move_clock(&app, "2026-11-27T12:05:00+03:00").await;
    // The first loan in the scheduler's order gets an event no code knows.
    ids.sort();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         SELECT 'Loan', $1, max(sequence) + 1, 'Unknown', '1.0', '{\"Unknown\": {}}', '{}'
           FROM events WHERE aggregate_type = 'Loan' AND aggregate_id = $1",
    )
    .bind(&ids[0])
    .execute(&app.db.sqlx)
    .await
    .unwrap();
    // Both are due on 18 December: from the 19th they are overdue.
    move_clock(&app, "2026-12-20T09:00:00+03:00").await;
    let recorded: Vec<(Option<NaiveDate>, Option<NaiveDate>)> =
        sqlx::query_as("SELECT accrued_through, overdue_since FROM read.loans ORDER BY loan_id")
            .fetch_all(&app.db.sqlx)
            .await
            .unwrap();
    let (fell, closed) = (
        NaiveDate::from_ymd_opt(2026, 12, 19),
        NaiveDate::from_ymd_opt(2026, 12, 20),
    );
    assert_eq!(recorded, [(None, None), (closed, fell)]);
    let metrics = app
        .request(axum::http::Method::GET, "/metrics", None, &[])
        .await;
    let text = String::from_utf8(metrics.bytes).unwrap();
    assert!(
        text.contains("k911_scheduled_job_failures_total{job=\"fall_overdue\"}"),
        "{text}"
    );
}

/// The loan page is a point read by key: PostgreSQL keeps one generic plan for it instead of
/// planning every read (which took as long as the read). A page of a list is planned with its
/// LIMIT and OFFSET every time: a generic plan cannot know how much of the table a page takes.
#[tokio::test]
async fn the_loan_page_reuses_its_plan_and_a_list_page_is_planned_with_its_values() {
    let app = TestApp::spawn().await;
    let (password, id, _) = issued_loan(&app).await;
    let token = login(&app, "ivan@example.ru", &password).await;
    // One after another, so the read pool's connections take turns: each one runs every
    // statement more than the five custom plans PostgreSQL makes before it decides.
    for _ in 0..100 {
        let page = app.get_as(&token, &format!("/api/v1/me/loans/{id}")).await;
        assert_eq!(page.status, StatusCode::OK, "{:#}", page.body);
        let list = app.get_as(&token, "/api/v1/me/loans?limit=10").await;
        assert_eq!(list.status, StatusCode::OK, "{:#}", list.body);
    }
    // Every connection of the read pool at once, so each one is asked.
    let size = app.db.pg.status().size;
    let mut clients = Vec::new();
    for _ in 0..size {
        clients.push(app.db.pg.get().await.unwrap());
    }
    let (mut page, mut list) = ((0, 0), (0, 0));
    for client in &clients {
        for row in client
            .query(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements p
                  WHERE statement LIKE '%FROM read.loans l%' AND name <> ''
                    AND statement NOT LIKE '%pg_prepared_statements p%'",
                &[],
            )
            .await
            .unwrap()
        {
            let statement: String = row.get(0);
            let plans: (i64, i64) = (row.get(1), row.get(2));
            let counted = if statement.contains("LIMIT") {
                &mut list
            } else {
                &mut page
            };
            *counted = (counted.0 + plans.0, counted.1 + plans.1);
        }
    }
    assert!(page.0 > 0, "the loan page was planned every time: {page:?}");
    assert_eq!(list.0, 0, "a page of loans reused a generic plan: {list:?}");
}

/// The scheduler's lists, read every few seconds, find their few loans through partial indexes
/// of their own, not by reading the book: at 100 000 loans each list was a 100 ms scan every 5 s,
/// at a million it would be the whole of PostgreSQL's time.
#[tokio::test]
async fn the_schedulers_lists_read_their_own_loans_not_the_book() {
    let app = TestApp::spawn().await;
    // A book for the planner (no events: this is about plans only): 4 000 loans running, 1 000
    // overdue and reminded this morning.
    sqlx::query(
        "INSERT INTO read.loans (loan_id, application_id, customer_id, contract_number, status,
                                 principal_kopecks, term_days, daily_rate, psk_percent,
                                 interest_for_term_kopecks, total_to_repay_kopecks, contract_date,
                                 offered_at, expires_at, due_on, overdue_since, last_reminder_at,
                                 last_position, course)
         SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'book-' || n, 'active',
                1000000, 30, 0.8, 292, 240000, 1240000, date '2026-11-01',
                timestamptz '2026-11-01', timestamptz '2026-11-02',
                CASE WHEN n <= 1000 THEN date '2026-11-20' ELSE date '2026-12-20' END,
                CASE WHEN n <= 1000 THEN date '2026-11-21' END,
                CASE WHEN n <= 1000 THEN timestamptz '2026-12-07 07:00+00' END,
                n, '{}'
           FROM generate_series(1, 5000) n",
    )
    .execute(&app.db.sqlx)
    .await
    .unwrap();
    sqlx::query("ANALYZE read.loans")
        .execute(&app.db.sqlx)
        .await
        .unwrap();
    let explain = |sql: &str| format!("EXPLAIN (FORMAT JSON) {sql}");
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
    let falling: serde_json::Value =
        sqlx::query_scalar(&explain(k911_projections::loans::FALLING_OVERDUE))
            .bind(today)
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    assert!(
        falling.to_string().contains("loans_falling_due"),
        "{falling}"
    );
    let rested = chrono::DateTime::parse_from_rfc3339("2026-12-07T06:00:00Z").unwrap();
    let to_remind: serde_json::Value =
        sqlx::query_scalar(&explain(k911_projections::loans::TO_REMIND))
            .bind(vec!["Europe/Moscow".to_string()])
            .bind(rested)
            .bind(today)
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    let plan = to_remind.to_string();
    assert!(plan.contains("loans_never_reminded"), "{plan}");
    assert!(plan.contains("loans_reminded"), "{plan}");
    assert!(!plan.contains("Seq Scan"), "{plan}");
}
