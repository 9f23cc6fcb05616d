//! The law's money rules through HTTP and the real process managers: approvals at the caps
//! always become lawful offers, a refused offer never stops the next one, the contract follows
//! the edition of its signing day, and the high-cost limits count loans at other lenders.

use std::collections::HashMap;

use axum::http::StatusCode;
use k911_aggregates::loan::law::LawEditions;
use k911_aggregates::loan_application::{LendingPolicy, LoanApplication, LoanApplicationCommand};
use k911_aggregates::money::DailyRate;
use k911_aggregates::values::Role;
use k911_commands::clock::Clock;
use k911_tests::{Options, TestApp};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::cabinet::{customer_with, login};
use crate::loans::{loans, move_clock};
use crate::notifications::{sms_with, sms_with_n};
use crate::onboarding::{application, apply, password_in};

/// Applies for `amount_kopecks` over `term_days` as a new customer and has it approved.
async fn approved_customer(
    app: &TestApp,
    n: u32,
    amount_kopecks: i64,
    term_days: u16,
) -> (String, StatusCode, Value) {
    let phone = format!("+7916{n:07}");
    let mut body = application(
        &phone,
        Some(&format!("c{n}@example.ru")),
        &format!("{n:06}"),
    );
    body["loan"] = json!({"amount_kopecks": amount_kopecks, "term_days": term_days});
    let id = apply(app, &body).await;
    let underwriter = underwriter(app).await;
    let approved = app
        .post_as(
            &underwriter,
            &format!("/api/v1/staff/applications/{id}/approve"),
            None,
        )
        .await;
    (phone, approved.status, approved.body)
}

async fn underwriter(app: &TestApp) -> String {
    let response = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "olga@k911.ru", "password": k911_tests::STAFF_PASSWORD}),
        )
        .await;
    match response.status {
        StatusCode::OK => response.body["token"].as_str().unwrap().to_string(),
        _ => app.staff("olga@k911.ru", Role::Underwriter).await,
    }
}

/// The customer's only loan, as the cabinet shows it.
async fn only_loan(app: &TestApp, n: u32, phone: &str) -> Value {
    let password = password_in(&sms_with(app, phone, "пароль").await);
    let token = login(app, &format!("c{n}@example.ru"), &password).await;
    let list = loans(app, &token).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
    list[0].clone()
}

/// 7 777 ₽ for 21 days at 0.8 %: rounded half up, 62.22 ₽ a day made the ПСК 292.019 % and the
/// offer was refused forever, stopping every later one. Now: 62.21 ₽ a day, ПСК within 292 %.
#[tokio::test]
async fn an_approval_at_the_caps_gets_a_lawful_offer() {
    let app = TestApp::spawn().await;
    let (phone, status, body) = approved_customer(&app, 1, 777_700, 21).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    app.settle().await;
    let loan = only_loan(&app, 1, &phone).await;
    assert_eq!(loan["status"], "offered", "{loan:#}");
    assert_eq!(loan["interest_for_term_kopecks"], 21 * 6_221);
    let psk: Decimal = loan["psk_percent"].as_str().unwrap().parse().unwrap();
    assert!(psk <= Decimal::from(292), "{psk}");
    assert!(sms_with(&app, &phone, "код для подписания")
        .await
        .contains("911-"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 12,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Whatever whole-rouble amount and term at the top rate an underwriter approves, the real
    /// process manager makes it a lawful offer.
    #[test]
    fn every_approval_at_the_caps_becomes_an_offer(
        roubles in 1_000i64..=30_000,
        term_days in 5u16..=30,
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let app = TestApp::spawn().await;
            let (phone, status, body) =
                approved_customer(&app, 1, roubles * 100, term_days).await;
            assert_eq!(status, StatusCode::OK, "{body:#}");
            app.settle().await;
            let loan = only_loan(&app, 1, &phone).await;
            assert_eq!(loan["status"], "offered", "{roubles} ₽, {term_days} d: {loan:#}");
            let psk: Decimal = loan["psk_percent"].as_str().unwrap().parse().unwrap();
            assert!(psk <= Decimal::from(292), "{roubles} ₽, {term_days} d: {psk}");
            let daily = Decimal::from(roubles * 100) * Decimal::new(8, 3);
            let interest = loan["interest_for_term_kopecks"].as_i64().unwrap();
            assert_eq!(
                Decimal::from(interest),
                (daily.floor()) * Decimal::from(term_days),
            );
        });
    }
}

/// An approval made under another configuration (a rate the law's edition no longer allows)
/// cannot become an offer: the loan records the refusal, the borrower is told, the application
/// goes back to the underwriters, and the next borrower's offer comes as usual.
#[tokio::test]
async fn a_refused_offer_is_recorded_and_does_not_stop_the_next_one() {
    let app = TestApp::spawn().await;
    let first = apply(
        &app,
        &application("+79160000001", Some("c1@example.ru"), "000001"),
    )
    .await;
    // The approval of a deployment whose product and law allowed 0.9 % a day.
    let mut rules = LawEditions::default()
        .for_contract(chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap())
        .clone();
    rules.max_daily_rate_percent = Decimal::new(9, 1);
    rules.max_psk_percent = Decimal::from(400);
    let mut policy = LendingPolicy {
        law: LawEditions::new(vec![(chrono::NaiveDate::MIN, rules)]).unwrap(),
        ..LendingPolicy::default()
    };
    policy.product.daily_rate = DailyRate::parse("0.9").unwrap();
    let elsewhere = k911_event_store::store::cqrs::<LoanApplication>(&app.db, policy);
    let underwriter = underwriter(&app).await;
    let underwriter_id = staff_id(&app, "olga@k911.ru").await;
    let approve = LoanApplicationCommand::Approve {
        underwriter_id,
        amount: None,
        term_days: None,
        daily_rate: None,
        assessment: {
            let finances = k911_aggregates::loan_application::DeclaredFinances {
                monthly_income: k911_aggregates::money::Kopecks::from_roubles(80_000),
                monthly_payments: k911_aggregates::money::Kopecks::ZERO,
            };
            k911_aggregates::loan_application::Assessment {
                monthly_income: finances.monthly_income,
                monthly_payments: finances.monthly_payments,
                credit_history: vec![],
                declared: app
                    .app
                    .core
                    .keys
                    .seal(uuid::Uuid::now_v7(), &finances)
                    .await
                    .unwrap(),
            }
        },
        at: app.clock.now(),
    };
    elsewhere
        .framework
        .execute_with_metadata(&first, approve, HashMap::new())
        .await
        .unwrap();
    app.settle().await;

    let told = sms_with(&app, "+79160000001", "не может быть заключён").await;
    assert!(told.contains("возвращена на рассмотрение"), "{told}");
    // The underwriter who approved hears why, at their work login.
    let mail = crate::notifications::outbox(&app, "/dev/mail?email=olga@k911.ru", 1).await;
    let body = mail.body[0]["text"].as_str().unwrap();
    assert!(body.contains(&first) && body.contains("0.9 %"), "{body}");
    let queue = app
        .get_as(&underwriter, "/api/v1/staff/applications?status=submitted")
        .await;
    assert_eq!(queue.status, StatusCode::OK);
    let back = queue.body.as_array().unwrap();
    assert!(
        back.iter().any(|a| a["application_id"] == first.as_str()),
        "{:#}",
        queue.body
    );
    // The borrower has no loan to sign.
    let password = password_in(&sms_with(&app, "+79160000001", "пароль").await);
    let token = login(&app, "c1@example.ru", &password).await;
    assert_eq!(loans(&app, &token).await, json!([]));

    // The next borrower's approval becomes an offer.
    let (token, _, _, _) = customer_with(&app, "+79160000002", "c2@example.ru", "000002").await;
    let list = loans(&app, &token).await;
    assert_eq!(list[0]["status"], "offered", "{list:#}");

    // Approved again by an underwriter today, at the lawful rate: an offer with a new loan.
    let again = app
        .post_as(
            &underwriter,
            &format!("/api/v1/staff/applications/{first}/approve"),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{:#}", again.body);
    let first_token = token_of(&app, "c1@example.ru", &password).await;
    let list = loans(&app, &first_token).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
    assert_eq!(list[0]["status"], "offered");
    assert_eq!(list[0]["daily_rate"], "0.8");

    // Handling the refused first approval again (a replay, a batch retried after a crash) gives
    // nothing back: the approval in force is the second one, and its loan still counts.
    app.replay_process_manager("lending").await;
    let approved = app
        .get_as(&underwriter, "/api/v1/staff/applications?status=approved")
        .await;
    assert!(
        approved
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["application_id"] == first.as_str()),
        "{:#}",
        approved.body
    );
    assert_eq!(loans(&app, &first_token).await[0]["status"], "offered");
    let released: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'CreditReleased'")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    // The refused approval never counted (its rate failed before); the one in force still does.
    assert_eq!(released, 0, "the approval in force keeps its credit");
    // Returned, approved again, offered twice: a rebuild folds it all to the same rows.
    app.assert_a_rebuild_agrees().await;
}

async fn token_of(app: &TestApp, email: &str, password: &str) -> String {
    login(app, email, password).await
}

/// Approved on 2026-03-31 at 23:30 Moscow time, signed on 2026-04-01: the contract is of
/// 1 April and follows that day's edition (total cost cap 100 %, not 130 %).
#[tokio::test]
async fn a_contract_signed_on_the_first_of_april_gets_the_100_percent_cap() {
    let options = Options {
        clock: k911_commands::clock::ManualClock::starting_at(
            chrono::DateTime::parse_from_rfc3339("2026-03-31T23:30:00+03:00")
                .unwrap()
                .into(),
        ),
        ..Options::default()
    };
    let app = TestApp::spawn_with(options).await;
    let (token, _, _, password) =
        customer_with(&app, "+79161234567", "ivan@example.ru", "123456").await;
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["contract_date"], "2026-03-31");
    let id = loan["loan_id"].as_str().unwrap().to_string();
    move_clock(&app, "2026-04-01T00:10:00+03:00").await;
    let token = login(&app, "ivan@example.ru", &password).await;
    // The offer's code lived five minutes: a new one.
    let resent = app
        .post_as(&token, &format!("/api/v1/me/loans/{id}/sign-code"), None)
        .await;
    assert_eq!(resent.status, StatusCode::ACCEPTED, "{:#}", resent.body);
    let second = sms_with_n(&app, "+79161234567", "код для подписания", 2).await;
    let code: String = second[1]
        .split(": ")
        .nth(2)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let signed = app
        .post_as(
            &token,
            &format!("/api/v1/me/loans/{id}/sign"),
            Some(&json!({ "code": code })),
        )
        .await;
    assert_eq!(signed.status, StatusCode::OK, "{:#}", signed.body);
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["contract_date"], "2026-04-01");
    let pdf = app
        .get_as(&token, loan["contract_url"].as_str().unwrap())
        .await;
    let text = crate::loans::contract_text(&pdf.bytes);
    assert!(text.contains("от 01.04.2026"), "{text}");
    assert!(text.contains("100 % суммы займа"), "{text}");
}

/// From 2027-04-01 (545-FZ, second stage) one loan above 100 % a year at most, counting a
/// loan at another lender that the credit bureau reports.
#[tokio::test]
async fn the_2027_edition_refuses_a_second_loan_above_100_percent_held_elsewhere() {
    let options = Options {
        clock: k911_commands::clock::ManualClock::starting_at(
            chrono::DateTime::parse_from_rfc3339("2027-04-05T10:00:00+03:00")
                .unwrap()
                .into(),
        ),
        ..Options::default()
    };
    let app = TestApp::spawn_with(options).await;
    let id = apply(
        &app,
        &application("+79161234567", Some("ivan@example.ru"), "123456"),
    )
    .await;
    // Another lender's loan at 180 % a year, in force.
    sqlx::query(
        "INSERT INTO credit_history (record_id, subject_hash, lender, psk_percent, opened_on)
         VALUES ($1, $2, 'ООО МКК «Другой»', 180, '2027-03-20')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(app.app.core.keys.lookup_hash("credit-history:4510123456"))
    .execute(&app.db.sqlx)
    .await
    .unwrap();
    let underwriter = underwriter(&app).await;
    let refused = app
        .post_as(
            &underwriter,
            &format!("/api/v1/staff/applications/{id}/approve"),
            None,
        )
        .await;
    refused.problem(StatusCode::CONFLICT);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("above 100 %") && detail.contains("545-FZ"),
        "{detail}"
    );
    // At 0.25 % a day (91.25 % a year) the loan is not high-cost: approved.
    let approved = app
        .post_as(
            &underwriter,
            &format!("/api/v1/staff/applications/{id}/approve"),
            Some(&json!({"daily_rate": "0.25"})),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{:#}", approved.body);
}

/// 230-FZ counts quiet hours in the debtor's local time: the region of the address gives it
/// (Primorsky Krai, `25`: Vladivostok, UTC+10). 21:30 in Moscow on a working day is 04:30 there:
/// no reminder; once the borrower says they live in Moscow time, one goes.
#[tokio::test]
async fn a_debtor_in_vladivostok_is_not_reminded_at_night_there() {
    let app = TestApp::spawn().await;
    let mut body = application("+79161234567", Some("ivan@example.ru"), "123456");
    body["applicant"]["registration_address"] =
        json!({"text": "г. Владивосток, ул. Светланская, д. 1", "region_code": "25"});
    let id = apply(&app, &body).await;
    let underwriter = underwriter(&app).await;
    let approved = app
        .post_as(
            &underwriter,
            &format!("/api/v1/staff/applications/{id}/approve"),
            None,
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{:#}", approved.body);
    let password = password_in(&sms_with(&app, "+79161234567", "пароль").await);
    let token = login(&app, "ivan@example.ru", &password).await;
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["time_zone"], "Asia/Vladivostok", "{loan:#}");
    let loan_id = loan["loan_id"].as_str().unwrap().to_string();
    let code = crate::loans::signing_code(&app, "+79161234567").await;
    let signed = app
        .post_as(
            &token,
            &format!("/api/v1/me/loans/{loan_id}/sign"),
            Some(&json!({ "code": code })),
        )
        .await;
    assert_eq!(signed.status, StatusCode::OK, "{:#}", signed.body);
    move_clock(&app, "2026-11-27T12:05:00+03:00").await;
    // Due on Friday 18 December; Monday 21st, 21:30 in Moscow is 04:30 on the 22nd there.
    move_clock(&app, "2026-12-21T21:30:00+03:00").await;
    assert_eq!(reminders_recorded(&app).await, 0);

    let token = login(&app, "ivan@example.ru", &password).await;
    let bearer = format!("Bearer {token}");
    let moved = app
        .request(
            axum::http::Method::PUT,
            "/api/v1/me/time-zone",
            Some(&json!({"time_zone": "Europe/Moscow"})),
            &[("authorization", bearer.as_str())],
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{:#}", moved.body);
    assert_eq!(moved.body["loans"][0], loan_id.as_str());
    move_clock(&app, "2026-12-21T21:40:00+03:00").await;
    assert_eq!(reminders_recorded(&app).await, 1);
    let sent = sms_with(&app, "+79161234567", "просрочен").await;
    assert!(sent.contains("просрочен на 3 дн."), "{sent}");
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["time_zone"], "Europe/Moscow");
}

/// A region spanning several zones needs the applicant to name theirs; a zone outside the
/// region is refused.
#[tokio::test]
async fn yakutia_needs_a_named_time_zone() {
    let app = TestApp::spawn().await;
    let mut body = application("+79161234567", Some("ivan@example.ru"), "123456");
    body["applicant"]["residence_address"] =
        json!({"text": "г. Якутск, ул. Ленина, д. 1", "region_code": "14"});
    let body = crate::onboarding::with_card(&app, &body).await;
    let fields = app
        .post("/api/v1/applications", &body)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["applicant.time_zone"]);
    let mut wrong = body.clone();
    wrong["applicant"]["time_zone"] = json!("Europe/Moscow");
    let fields = app
        .post("/api/v1/applications", &wrong)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["applicant.time_zone"]);
    let mut named = body.clone();
    named["applicant"]["time_zone"] = json!("Asia/Yakutsk");
    let response = app.post("/api/v1/applications", &named).await;
    assert_eq!(response.status, StatusCode::CREATED, "{:#}", response.body);
}

/// Overdue reminders the loans recorded (the SMS follow through the outbox).
async fn reminders_recorded(app: &TestApp) -> i64 {
    app.settle().await;
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'OverdueReminderSent'")
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap()
}

/// A staff member's account id, from their login.
async fn staff_id(app: &TestApp, login: &str) -> uuid::Uuid {
    let response = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": login, "password": k911_tests::STAFF_PASSWORD}),
        )
        .await;
    response.body["user_id"].as_str().unwrap().parse().unwrap()
}

/// Terms lawful when offered but not on the day the borrower signs (a new edition lowered the
/// rate cap overnight): signing is refused with the reason, the offer lapses, the borrower and
/// the underwriter are told, and the application is back in the queue.
#[tokio::test]
async fn signing_under_an_edition_that_forbids_the_terms_is_refused() {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
    let tomorrow = today.succ_opt().unwrap();
    let mut rules = LawEditions::default().for_contract(today).clone();
    let before = (chrono::NaiveDate::MIN, rules.clone());
    rules.max_daily_rate_percent = Decimal::new(5, 1);
    let mut options = Options::default();
    options.settings.law = LawEditions::new(vec![before, (tomorrow, rules)]).unwrap();
    let app = TestApp::spawn_with(options).await;
    let (token, _, application_id, password) =
        customer_with(&app, "+79161234567", "ivan@example.ru", "123456").await;
    let loan = &loans(&app, &token).await[0];
    let id = loan["loan_id"].as_str().unwrap().to_string();
    move_clock(&app, "2026-11-28T09:00:00+03:00").await;
    let token = login(&app, "ivan@example.ru", &password).await;
    let resent = app
        .post_as(&token, &format!("/api/v1/me/loans/{id}/sign-code"), None)
        .await;
    assert_eq!(resent.status, StatusCode::ACCEPTED, "{:#}", resent.body);
    let codes = sms_with_n(&app, "+79161234567", "код для подписания", 2).await;
    let code: String = codes[1]
        .split(": ")
        .nth(2)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let refused = app
        .post_as(
            &token,
            &format!("/api/v1/me/loans/{id}/sign"),
            Some(&json!({ "code": code })),
        )
        .await;
    refused.problem(StatusCode::CONFLICT);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("0.5 %") && detail.contains("lapsed"),
        "{detail}"
    );
    app.settle().await;
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["status"], "expired");
    let told = sms_with(&app, "+79161234567", "не может быть заключён").await;
    assert!(told.contains("возвращена на рассмотрение"), "{told}");
    crate::notifications::outbox(&app, "/dev/mail?email=olga@k911.ru", 1).await;
    // A day later the underwriter's morning session is a new one.
    let underwriter = underwriter(&app).await;
    let queue = app
        .get_as(&underwriter, "/api/v1/staff/applications?status=submitted")
        .await;
    assert!(
        queue
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["application_id"] == application_id.as_str()),
        "{:#}",
        queue.body
    );
}

/// `GET /api/v1/me/loans/{id}` reads the loan's figures and its payments in one snapshot. The
/// test holds the payments table while the read is between its two statements, commits a
/// payment (row and figures together, as the projector does) and lets the read go on: the
/// answer shows the loan before the payment or after it, never the payment beside the figures
/// from before it.
#[tokio::test]
async fn a_loan_is_read_in_one_snapshot() {
    let app = TestApp::spawn().await;
    let (token, _, _, _) = customer_with(&app, "+79161234567", "ivan@example.ru", "123456").await;
    let loan = &loans(&app, &token).await[0];
    let id = loan["loan_id"].as_str().unwrap().to_string();
    let mut writer = app.db.sqlx.begin().await.unwrap();
    sqlx::query("LOCK TABLE read.loan_payments IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *writer)
        .await
        .unwrap();
    let path = format!("/api/v1/me/loans/{id}");
    let read = app.get_as(&token, &path);
    let pay = async {
        // Wait until the read has read the loan and waits for the payments.
        for _ in 0..200 {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE wait_event_type = 'Lock' AND query LIKE '%read.loan_payments%'",
            )
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        sqlx::query(
            "UPDATE read.loans SET paid_kopecks = paid_kopecks + 100000 WHERE loan_id = $1::uuid",
        )
        .bind(&id)
        .execute(&mut *writer)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO read.loan_payments (channel, external_id, loan_id, amount_kopecks,
                 paid_at, paid_on, to_overdue_interest, to_overdue_principal, to_current_interest,
                 to_current_principal, to_penalty, to_other, held_kopecks, position)
             VALUES ('terminal', 'snapshot-1', $1::uuid, 100000, now(), current_date,
                     0, 0, 0, 0, 0, 0, 100000, 1)",
        )
        .bind(&id)
        .execute(&mut *writer)
        .await
        .unwrap();
        writer.commit().await.unwrap();
    };
    let (answer, ()) = tokio::join!(read, pay);
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
    let paid: i64 = answer.body["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["amount_kopecks"].as_i64().unwrap())
        .sum();
    assert_eq!(answer.body["paid_kopecks"], paid, "{:#}", answer.body);
}
