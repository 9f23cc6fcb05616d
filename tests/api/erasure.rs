//! Erasure of a customer's personal data (issue #16): refused while a loan is in force and during
//! the retention period, each refusal told to the customer; decided again at the loan's close and
//! done by itself on the day it named; and once done, the person's data is nowhere in clear while
//! the log, its hash chain and the loan's figures stay as they were.

use axum::http::StatusCode;
use k911_aggregates::values::Role;
use k911_commands::clock::Clock;
use k911_event_store::chain::{verify, Verdict};
use k911_tests::{Options, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::cabinet::customer_with;
use crate::loans::{move_clock, sign_first_loan};
use crate::notifications::sms_with;
use crate::payments::{notification, notify, SECRET};

const OFFICER: &str = "irina@k911.ru";
const PHONE: &str = "+79163217654";
const EMAIL: &str = "erased.ivanov@example.ru";
const PASSPORT: &str = "918273";

/// What of the person could sit somewhere in clear: the application's name, phone (as typed
/// and as digits), e-mail and passport number (as a JSON string: bare digits could occur in any
/// hex dump).
const THEIR_DATA: &[&str] = &[
    "Иванов",
    PHONE,
    "79163217654",
    EMAIL,
    "\"918273\"",
    "4510 918273",
];

async fn spawn(retention_years: u32) -> TestApp {
    let mut options = Options::default();
    options.settings.payment_secrets.insert(
        k911_aggregates::incoming_payment::PaymentChannel::SberbankOnline,
        SECRET.into(),
    );
    options.settings.erasure.retention_years = retention_years;
    TestApp::spawn_with(options).await
}

async fn erase(app: &TestApp, officer: &str, customer_id: Uuid) -> Value {
    let answer = app
        .post_as(
            officer,
            &format!("/api/v1/staff/customers/{customer_id}/erase"),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
    answer.body
}

/// A compliance officer's token as of the service's clock now (tests move it by years).
async fn officer_token(app: &TestApp) -> String {
    crate::cabinet::login(app, OFFICER, k911_tests::STAFF_PASSWORD).await
}

async fn case_of(app: &TestApp, customer_id: Uuid) -> Value {
    app.settle().await;
    let officer = &officer_token(app).await;
    let cases = app.get_as(officer, "/api/v1/compliance/erasures").await;
    assert_eq!(cases.status, StatusCode::OK, "{:#}", cases.body);
    cases
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["customer_id"] == customer_id.to_string())
        .cloned()
        .unwrap_or_else(|| panic!("no case of {customer_id} in {:#}", cases.body))
}

async fn customer_id_of(app: &TestApp, loan_id: &str) -> Uuid {
    sqlx::query_scalar("SELECT customer_id FROM read.loans WHERE loan_id = $1::uuid")
        .bind(loan_id)
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap()
}

/// `k911 bureau export` of everything owed, as its code does it.
async fn export_bureau_reports(app: &TestApp) {
    let today = k911_aggregates::calendar::moscow_date(app.clock.now());
    let exported = app
        .app
        .bureau
        .export(today, &mut std::io::sink())
        .await
        .unwrap();
    assert!(!exported.written.is_empty());
    app.app
        .bureau
        .mark_sent(&exported, "test.jsonl")
        .await
        .unwrap();
}

async fn login_status(app: &TestApp, password: &str) -> StatusCode {
    app.post(
        "/api/v1/auth/login",
        &json!({"login": EMAIL, "password": password}),
    )
    .await
    .status
}

/// The loan as the book keeps its figures, personal data aside.
async fn figures(app: &TestApp, loan_id: &str) -> Value {
    sqlx::query_scalar(
        "SELECT to_jsonb(l) - 'last_position' FROM read.loans l WHERE loan_id = $1::uuid",
    )
    .bind(loan_id)
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap()
}

/// Whether the scheduler's next run decides the customer's case again.
async fn erasure_due(app: &TestApp, customer_id: Uuid) -> bool {
    let today = k911_aggregates::calendar::moscow_date(app.clock.now());
    app.reader
        .erasures_due(today)
        .await
        .unwrap()
        .contains(&customer_id)
}

#[tokio::test]
async fn erasure_waits_for_the_loan_and_the_retention_period_then_leaves_nothing_in_clear() {
    let app = spawn(1).await;
    let officer = app.staff(OFFICER, Role::Compliance).await;
    let (token, _, _, password) = customer_with(&app, PHONE, EMAIL, PASSPORT).await;
    let (loan_id, number) = sign_first_loan(&app, &token, PHONE).await;
    move_clock(&app, "2026-11-27T12:05:00+03:00").await;
    let customer_id = customer_id_of(&app, &loan_id).await;

    // A loan in force: refused, no date yet, and the customer told why.
    let refused = erase(&app, &officer, customer_id).await;
    assert_eq!(refused["status"], "refused", "{refused:#}");
    assert_eq!(refused["reason"], "loan_in_force");
    assert_eq!(refused["possible_from"], Value::Null);
    assert_eq!(refused["deadline"], "2026-12-27");
    assert!(sms_with(&app, PHONE, "непогашенный заём")
        .await
        .contains("Удалить их сейчас нельзя"));
    // Asked again, nothing new to tell.
    erase(&app, &officer, customer_id).await;
    // Nor is it decided again on every run of the scheduler while the loan is active.
    assert!(!erasure_due(&app, customer_id).await);

    // Repaid in full on 2 December (15 000 ₽ and 600 ₽ of interest for 5 days): decided again
    // at the close, the retention period (a year here) runs from that day.
    move_clock(&app, "2026-12-02T10:30:00+03:00").await;
    let paid = notify(
        &app,
        &notification("sb-1", &number, 1_560_000, "2026-12-02T10:30:00+03:00"),
        SECRET,
    )
    .await;
    assert!(paid.status.is_success(), "{:#}", paid.body);
    let case = case_of(&app, customer_id).await;
    assert_eq!(case["status"], "refused", "{case:#}");
    // Kept through 2 December 2027 (a year from the repayment's day), erasable the day after.
    assert_eq!(case["reason"], "retention_period");
    assert_eq!(case["possible_from"], "2027-12-03");
    sms_with(&app, PHONE, "удалим их автоматически 03.12.2027").await;
    let refusals: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'ErasureRefused' AND aggregate_id = $1",
    )
    .bind(customer_id.to_string())
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(refusals, 2, "one refusal per reason, however often asked");

    // Before: the search finds what the development SMS driver holds in clear, so it can find.
    let before = app.full_dump();
    assert!(before.contains(PHONE));
    let loan_before = figures(&app, &loan_id).await;
    let events_before = app.event_count().await;

    // On the last day of the period, still refused. On the date, the scheduler decides again:
    // the reports owed to the credit bureau go first; once exported, it erases.
    move_clock(&app, "2027-12-02T10:00:00+03:00").await;
    assert_eq!(
        case_of(&app, customer_id).await["reason"],
        "retention_period"
    );
    assert_eq!(login_status(&app, &password).await, StatusCode::OK);
    move_clock(&app, "2027-12-03T10:00:00+03:00").await;
    let case = case_of(&app, customer_id).await;
    assert_eq!(case["reason"], "reports_pending", "{case:#}");
    export_bureau_reports(&app).await;
    move_clock(&app, "2027-12-03T10:01:00+03:00").await;
    let case = case_of(&app, customer_id).await;
    assert_eq!(case["status"], "erased", "{case:#}");

    // Nothing of the person in clear, in any table of any schema.
    let after = app.full_dump();
    for needle in THEIR_DATA {
        assert!(!after.contains(needle), "{needle} is still in the database");
    }
    // Nothing logs them in, and no session of theirs is left.
    assert_eq!(
        login_status(&app, &password).await,
        StatusCode::UNAUTHORIZED
    );
    let sessions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM auth_sessions WHERE account_id = $1")
            .bind(customer_id)
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    assert_eq!(sessions, 0);
    // Their data reads "стёрто" where compliance opens it.
    let officer = officer_token(&app).await;
    let history = app
        .get_as(
            &officer,
            &format!("/api/v1/compliance/aggregates/Account/{customer_id}/events?purpose=проверка"),
        )
        .await;
    assert_eq!(history.status, StatusCode::OK, "{:#}", history.body);
    assert_eq!(
        history.body["events"][0]["payload"]["CustomerRegistered"]["phone"],
        "стёрто"
    );

    // The log only grew, its chain verifies, the loan's figures are as they were, and the read
    // models rebuilt from the log agree.
    assert!(app.event_count().await > events_before);
    let verdict = verify(&**app.db.pg.get().await.unwrap(), |_| {})
        .await
        .unwrap();
    assert!(matches!(verdict, Verdict::Intact(_)), "{verdict:?}");
    assert_eq!(figures(&app, &loan_id).await, loan_before);
    app.assert_a_rebuild_agrees().await;
}

#[tokio::test]
async fn a_deletion_request_from_the_cabinet_is_a_case_that_an_offer_never_signed_delays_only_until_it_lapses(
) {
    let app = spawn(5).await;
    let officer = app.staff(OFFICER, Role::Compliance).await;
    let (token, _, _, password) = customer_with(&app, PHONE, EMAIL, PASSPORT).await;
    let asked = app
        .post_as(
            &token,
            "/api/v1/me/deletion-request",
            Some(&json!({"reason": "больше не нужен"})),
        )
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{:#}", asked.body);
    let ticket_id = asked.body["ticket_id"].clone();
    app.settle().await;
    let customer_id: Uuid = sqlx::query_scalar("SELECT customer_id FROM read.erasure_cases")
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap_or_else(|_| panic!("no case was opened"));
    let case = case_of(&app, customer_id).await;
    assert_eq!(case["status"], "requested", "{case:#}");
    assert_eq!(case["ticket_id"], ticket_id);
    assert_eq!(case["deadline"], "2026-12-27");

    // The approved offer counts as a loan until it lapses unsigned (72 hours)...
    let refused = erase(&app, &officer, customer_id).await;
    assert_eq!(refused["reason"], "loan_in_force", "{refused:#}");
    // ...and after its lapse nothing was ever borrowed, nothing is retained: once the approval's
    // report has gone to the credit bureau, the scheduler erases.
    move_clock(&app, "2026-12-01T10:00:00+03:00").await;
    app.settle().await;
    move_clock(&app, "2026-12-01T10:01:00+03:00").await;
    let case = case_of(&app, customer_id).await;
    assert_eq!(case["reason"], "reports_pending", "{case:#}");
    export_bureau_reports(&app).await;
    move_clock(&app, "2026-12-01T10:02:00+03:00").await;
    let case = case_of(&app, customer_id).await;
    assert_eq!(case["status"], "erased", "{case:#}");
    assert_eq!(
        login_status(&app, &password).await,
        StatusCode::UNAUTHORIZED
    );
    // Erasing again changes nothing and says so.
    let officer = officer_token(&app).await;
    let again = erase(&app, &officer, customer_id).await;
    assert_eq!(again["status"], "erased");

    // Support still sees the request in its queue, its contact gone.
    let support = app.staff("sveta@k911.ru", Role::Support).await;
    let queue = app.get_as(&support, "/api/v1/staff/support/queue").await;
    assert_eq!(queue.status, StatusCode::OK, "{:#}", queue.body);
    let dump = app.full_dump();
    for needle in THEIR_DATA {
        assert!(!dump.contains(needle), "{needle} is still in the database");
    }
}

#[tokio::test]
async fn erasing_someone_who_is_not_a_customer_is_not_found_and_borrowers_cannot_erase() {
    let app = spawn(5).await;
    let officer = app.staff(OFFICER, Role::Compliance).await;
    let unknown = app
        .post_as(
            &officer,
            &format!("/api/v1/staff/customers/{}/erase", Uuid::now_v7()),
            None,
        )
        .await;
    unknown.problem(StatusCode::NOT_FOUND);
    let (token, _, _, _) = customer_with(&app, PHONE, EMAIL, PASSPORT).await;
    let mine = app
        .post_as(
            &token,
            &format!("/api/v1/staff/customers/{}/erase", Uuid::now_v7()),
            None,
        )
        .await;
    mine.problem(StatusCode::FORBIDDEN);
}
