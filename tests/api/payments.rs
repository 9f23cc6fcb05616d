//! Repayments from outside: signed notifications and registry files, each payment applied once
//! in the law's order, until the loan closes; and an overdue loan that reaches the cost cap.

use axum::http::{Method, StatusCode};
use hmac::{Hmac, Mac};
use k911_aggregates::incoming_payment::PaymentChannel;
use k911_tests::{Options, TestApp, TestResponse};
use serde_json::{json, Value};
use sha2::Sha256;

use k911_aggregates::incoming_payment::{Destination, IncomingPayment, IncomingPaymentCommand};
use k911_commands::clock::Clock;
use k911_commands::registry::RegistryLayout;

use crate::cabinet::login;
use crate::loans::{issued_loan, loans, move_clock};

pub(crate) const SECRET: &str = "sberbank-test-secret";

pub(crate) async fn spawn() -> TestApp {
    let mut options = Options::default();
    options
        .settings
        .payment_secrets
        .insert(PaymentChannel::SberbankOnline, SECRET.into());
    TestApp::spawn_with(options).await
}

/// `registry` imported through `k911 payments import`'s code, from `channel` in `layout`.
async fn import(
    app: &TestApp,
    channel: PaymentChannel,
    layout: RegistryLayout,
    registry: &str,
) -> k911_commands::payments::ImportReport {
    app.app
        .payments
        .import_payments(channel, layout, registry.as_bytes(), |_| {})
        .await
        .unwrap()
}

fn sign(body: &str, secret: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub(crate) async fn notify(app: &TestApp, body: &Value, secret: &str) -> TestResponse {
    let raw = body.to_string();
    let signature = sign(&raw, secret);
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/v1/payments/notifications")
        .header("content-type", "application/json")
        .header("x-signature", signature)
        .body(axum::body::Body::from(raw))
        .unwrap();
    app.send(request).await
}

pub(crate) fn notification(
    external_id: &str,
    contract: &str,
    kopecks: i64,
    paid_at: &str,
) -> Value {
    json!({"channel": "sberbank_online", "external_id": external_id,
           "contract_number": contract, "amount_kopecks": kopecks, "paid_at": paid_at})
}

#[tokio::test]
async fn a_loan_is_repaid_by_notification_and_registry_each_payment_once_and_closes() {
    let app = spawn().await;
    let (password, id, number) = issued_loan(&app).await;
    move_clock(&app, "2026-12-02T10:30:00+03:00").await;

    // 5 000 ₽ on 2 December: 600 ₽ interest for 5 days first, then 4 400 ₽ of principal.
    // Typed without dashes at the terminal: the number is found by its digits.
    let typed = number.replace('-', "");
    let payment = notification("sb-1", &typed, 500_000, "2026-12-02T10:00:00+03:00");
    let answer = notify(&app, &payment, SECRET).await;
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
    assert_eq!(answer.body["status"], "applied");
    let payment_id = answer.body["payment_id"].clone();

    // The same notification again: nothing changes.
    let again = notify(&app, &payment, SECRET).await;
    assert_eq!(again.body["status"], "duplicate");
    assert_eq!(again.body["payment_id"], payment_id);

    // A forged signature and a closed channel store nothing.
    let before = app.event_count().await;
    let forged = notification("sb-2", &number, 100, "2026-12-02T10:00:00+03:00");
    notify(&app, &forged, "not the secret")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    let mut closed = forged.clone();
    closed["channel"] = json!("terminal");
    notify(&app, &closed, SECRET)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    let mut bad = notification("sb-3", &number, 0, "2026-12-02T10:00:00+03:00");
    bad["external_id"] = json!("");
    let fields = notify(&app, &bad, SECRET)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["external_id", "amount_kopecks"]);
    assert_eq!(app.event_count().await, before);

    let token = login(&app, "ivan@example.ru", &password).await;
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["outstanding"]["principal_kopecks"], 1_060_000);
    assert_eq!(loan["outstanding"]["interest_kopecks"], 0);
    assert_eq!(
        loan["payments"][0]["applied"]["current_interest_kopecks"],
        60_000
    );
    assert_eq!(
        loan["payments"][0]["applied"]["current_principal_kopecks"],
        440_000
    );

    // The registry of 5 December: the notified payment again, an unknown contract, a bad row,
    // and the rest: 10 600 ₽ + 3 days × 84.80 ₽ = 10 854.40 ₽.
    move_clock(&app, "2026-12-05T09:00:00+03:00").await;
    let registry = format!(
        "external_id,contract_number,amount_kopecks,paid_at\n\
         sb-1,{typed},500000,2026-12-02T10:00:00+03:00\n\
         sb-9,911-000000-999999,100000,2026-12-05T08:00:00+03:00\n\
         sb-10,{number},ten roubles,2026-12-05T08:00:00+03:00\n\
         sb-11,{number},1085440,2026-12-05T08:30:00+03:00\n"
    );
    let report = import(
        &app,
        PaymentChannel::SberbankOnline,
        RegistryLayout::Standard,
        &registry,
    )
    .await;
    assert_eq!(
        (
            report.applied,
            report.duplicate,
            report.unmatched,
            report.rejected
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(report.errors[0].0, 4, "the bad row's line");
    assert!(report.errors[0].1.contains("amount_kopecks"));
    // Importing the same file again applies nothing.
    let again = import(
        &app,
        PaymentChannel::SberbankOnline,
        RegistryLayout::Standard,
        &registry,
    )
    .await;
    assert_eq!((again.applied, again.duplicate, again.unmatched), (0, 3, 0));

    // The unknown contract's payment waits for staff.
    let support = app
        .staff("anna@k911.ru", k911_aggregates::values::Role::Support)
        .await;
    app.settle().await;
    let queue = app
        .get_as(&support, "/api/v1/staff/payments/unmatched")
        .await;
    assert_eq!(queue.status, StatusCode::OK, "{:#}", queue.body);
    assert_eq!(queue.body.as_array().unwrap().len(), 1);
    assert_eq!(queue.body[0]["external_id"], "sb-9");
    assert_eq!(queue.body[0]["amount_kopecks"], 100_000);
    assert_eq!(queue.body[0]["reason"], "no contract with this number");

    let token = login(&app, "ivan@example.ru", &password).await;
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["loan_id"], id.as_str());
    assert_eq!(loan["status"], "closed", "{loan:#}");
    assert_eq!(loan["closed_on"], "2026-12-05");
    assert_eq!(loan["outstanding"]["total_kopecks"], 0);
    assert_eq!(loan["paid_kopecks"], 1_585_440);
    assert_eq!(loan["payments"].as_array().unwrap().len(), 2);
    assert_eq!(
        loan["payments"][1]["applied"]["current_interest_kopecks"],
        25_440
    );

    // Staff send the held payment to the contract it was meant for: the loan is repaid, so it
    // is held for the borrower as an overpayment.
    let held_id = queue.body[0]["payment_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/staff/payments/{held_id}/match");
    let fields = app
        .post_as(
            &support,
            &path,
            Some(&json!({"contract_number": "911-000000-000000"})),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["contract_number"]);
    let matched = app
        .post_as(&support, &path, Some(&json!({ "contract_number": number })))
        .await;
    assert_eq!(matched.status, StatusCode::OK, "{:#}", matched.body);
    assert_eq!(matched.body["loan_id"], id.as_str());
    // Again: nothing more happens.
    let again = app
        .post_as(&support, &path, Some(&json!({ "contract_number": number })))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    app.settle().await;
    let queue = app
        .get_as(&support, "/api/v1/staff/payments/unmatched")
        .await;
    assert_eq!(queue.body, json!([]));
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["held_kopecks"], 100_000);
    assert_eq!(loan["paid_kopecks"], 1_685_440);

    // The borrower asks for it back: it goes to the card, once.
    let path = format!("/api/v1/me/loans/{id}/refund");
    let refund = app.post_as(&token, &path, None).await;
    assert_eq!(refund.status, StatusCode::ACCEPTED, "{:#}", refund.body);
    assert_eq!(refund.body["amount_kopecks"], 100_000);
    app.post_as(&token, &path, None)
        .await
        .problem(StatusCode::CONFLICT);
    move_clock(&app, "2026-12-05T09:10:00+03:00").await;
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["held_kopecks"], 0);
    assert_eq!(loan["refunded_kopecks"], 100_000);
    assert_eq!(loan["refund_status"], "paid");
    app.post_as(&token, &path, None)
        .await
        .problem(StatusCode::CONFLICT);

    // The read model says what replaying the loan's events says.
    app.app.followers.rebuild(Some("loans")).await.unwrap();
    let rebuilt = &loans(&app, &token).await[0];
    assert_eq!(rebuilt, loan);
}

#[tokio::test]
async fn an_overdue_loan_stops_accruing_at_the_total_cost_cap() {
    let app = spawn().await;
    let (password, _, _) = issued_loan(&app).await;
    // Half a year later: a contract of 2026 may cost at most 100 % of the principal.
    move_clock(&app, "2027-05-27T09:00:00+03:00").await;
    let token = login(&app, "ivan@example.ru", &password).await;
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["status"], "active");
    assert_eq!(loan["days_overdue"], 160);
    let outstanding = &loan["outstanding"];
    assert_eq!(
        outstanding["interest_kopecks"].as_i64().unwrap()
            + outstanding["penalty_kopecks"].as_i64().unwrap(),
        1_500_000
    );
    assert_eq!(outstanding["total_kopecks"], 3_000_000);
    // And no further.
    move_clock(&app, "2027-06-27T09:00:00+03:00").await;
    let token = login(&app, "ivan@example.ru", &password).await;
    assert_eq!(
        loans(&app, &token).await[0]["outstanding"]["total_kopecks"],
        3_000_000
    );
}

#[tokio::test]
async fn a_registry_that_comes_days_late_books_each_payment_on_its_own_day() {
    let app = spawn().await;
    let (password, _, number) = issued_loan(&app).await;
    // The 5th: interest is charged through the 5th, 8 days at 120 ₽.
    move_clock(&app, "2026-12-05T09:00:00+03:00").await;
    // The terminal's registry of the 2nd arrives only now: 15 000 ₽ + 5 days (28 Nov – 2 Dec).
    let registry = format!(
        "external_id,contract_number,amount_kopecks,paid_at\n\
         t-1,{number},1560000,2026-12-02T18:00:00+03:00\n"
    );
    let report = import(
        &app,
        PaymentChannel::Terminal,
        RegistryLayout::Standard,
        &registry,
    )
    .await;
    assert_eq!(report.applied, 1);
    let token = login(&app, "ivan@example.ru", &password).await;
    let loan = &loans(&app, &token).await[0];
    // Paid in full on the 2nd: nothing more was owed for the 3rd to the 5th.
    assert_eq!(loan["status"], "closed", "{loan:#}");
    assert_eq!(loan["closed_on"], "2026-12-02");
    assert_eq!(loan["outstanding"]["total_kopecks"], 0);
    assert_eq!(loan["held_kopecks"], 0);
    assert_eq!(
        loan["payments"][0]["applied"]["current_interest_kopecks"],
        60_000
    );
    // And a rebuild agrees.
    app.app.followers.rebuild(Some("loans")).await.unwrap();
    assert_eq!(&loans(&app, &token).await[0], loan);
}

#[tokio::test]
async fn a_registry_in_sberbanks_layout_is_mapped_onto_payments() {
    let app = spawn().await;
    let (password, _, number) = issued_loan(&app).await;
    move_clock(&app, "2026-11-28T12:00:00+03:00").await;
    // 15 000 ₽ + one day's 120 ₽ on the 28th, and the closing line that adds up to it.
    let registry =
        format!("28-11-2026;11-30-00;8603;100200300;{number};Иванов И. И.;15120,00\n=1;15120,00\n");
    let report = import(
        &app,
        PaymentChannel::SberbankOnline,
        RegistryLayout::Sberbank,
        &registry,
    )
    .await;
    assert_eq!((report.applied, report.rejected), (1, 0), "{report:?}");
    let token = login(&app, "ivan@example.ru", &password).await;
    let loan = &loans(&app, &token).await[0];
    assert_eq!(loan["status"], "closed", "{loan:#}");
    assert_eq!(loan["payments"][0]["external_id"], "8603/100200300");
    assert_eq!(loan["payments"][0]["paid_on"], "2026-11-28");
}

/// Two borrowers' issued loans: the first's `(password, id, number)` and the second's.
async fn two_issued_loans(app: &TestApp) -> [(String, String, String); 2] {
    let first = issued_loan(app).await;
    let (token, _, _, password) =
        crate::cabinet::customer_with(app, "+79160000002", "petr@example.ru", "000002").await;
    let (id, number) = crate::loans::sign_first_loan(app, &token, "+79160000002").await;
    move_clock(app, "2026-11-27T12:10:00+03:00").await;
    [first, (password, id, number)]
}

async fn paid_kopecks(app: &TestApp, email: &str, password: &str) -> i64 {
    let token = login(app, email, password).await;
    loans(app, &token).await[0]["paid_kopecks"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn one_payment_named_with_two_contracts_is_credited_once_however_it_comes() {
    let app = spawn().await;
    let [(ivan, _, first), (petr, _, second)] = two_issued_loans(&app).await;
    let payment = notification("sb-1", &first, 100_000, "2026-11-27T12:10:00+03:00");
    assert_eq!(
        notify(&app, &payment, SECRET).await.body["status"],
        "applied"
    );
    // The same payment reported again naming the other contract: it went to the first already.
    let again = notification("sb-1", &second, 100_000, "2026-11-27T12:10:00+03:00");
    let answer = notify(&app, &again, SECRET).await;
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
    assert_eq!(answer.body["status"], "duplicate");
    // And in a registry.
    let registry = format!(
        "external_id,contract_number,amount_kopecks,paid_at\n\
         sb-1,{second},100000,2026-11-27T12:10:00+03:00\n"
    );
    let report = import(
        &app,
        PaymentChannel::SberbankOnline,
        RegistryLayout::Standard,
        &registry,
    )
    .await;
    assert_eq!((report.applied, report.duplicate), (0, 1));
    assert_eq!(paid_kopecks(&app, "ivan@example.ru", &ivan).await, 100_000);
    assert_eq!(paid_kopecks(&app, "petr@example.ru", &petr).await, 0);

    // Staff cannot send an applied payment to another loan.
    let support = app
        .staff("anna@k911.ru", k911_aggregates::values::Role::Support)
        .await;
    let payment_id = answer.body["payment_id"].as_str().unwrap();
    app.post_as(
        &support,
        &format!("/api/v1/staff/payments/{payment_id}/match"),
        Some(&json!({ "contract_number": second })),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    assert_eq!(paid_kopecks(&app, "petr@example.ru", &petr).await, 0);
    // Every read model still moves, and rebuilds.
    app.app.followers.rebuild(None).await.unwrap();
    assert_eq!(paid_kopecks(&app, "ivan@example.ru", &ivan).await, 100_000);
}

#[tokio::test]
async fn a_payment_dated_in_the_future_or_before_the_issue_is_refused_naming_paid_at() {
    let app = spawn().await;
    let (_, _, number) = issued_loan(&app).await;
    let before = app.event_count().await;
    // The clock says 12:05 on 27 November; a channel's clock may run 5 minutes fast, no more.
    let future = notification("sb-1", &number, 100_000, "2026-11-27T12:11:00+03:00");
    let fields = notify(&app, &future, SECRET)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["paid_at"]);
    let early = notification("sb-2", &number, 100_000, "2026-11-26T23:00:00+03:00");
    let fields = notify(&app, &early, SECRET)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["paid_at"]);
    assert_eq!(app.event_count().await, before);
    let skewed = notification("sb-3", &number, 100_000, "2026-11-27T12:09:00+03:00");
    assert_eq!(
        notify(&app, &skewed, SECRET).await.body["status"],
        "applied"
    );
}

#[tokio::test]
async fn a_payment_reserved_for_a_loan_is_applied_even_if_the_receiving_process_died() {
    let app = spawn().await;
    let (password, id, number) = issued_loan(&app).await;
    // The reservation alone, as a process that died before the loan's command leaves it.
    let payment = k911_aggregates::incoming_payment::ExternalPayment::check(
        PaymentChannel::SberbankOnline,
        "sb-1",
        &number,
        100_000,
        chrono::DateTime::parse_from_rfc3339("2026-11-27T12:05:00+03:00")
            .unwrap()
            .into(),
        app.clock.now(),
    )
    .unwrap();
    let loan_id: uuid::Uuid = id.parse().unwrap();
    let incoming = k911_event_store::store::cqrs::<IncomingPayment>(&app.db, ());
    let receive = IncomingPaymentCommand::Receive {
        destination: Destination::Loan(loan_id),
        at: app.clock.now(),
        payment: payment.clone(),
    };
    incoming
        .framework
        .execute(&payment.id().to_string(), receive)
        .await
        .unwrap();
    app.settle().await;
    assert_eq!(
        paid_kopecks(&app, "ivan@example.ru", &password).await,
        100_000
    );
}

#[tokio::test]
async fn a_registry_imported_twice_at_once_applies_each_payment_once() {
    let app = spawn().await;
    let [(ivan, _, first), (petr, _, second)] = two_issued_loans(&app).await;
    let registry = format!(
        "external_id,contract_number,amount_kopecks,paid_at\n\
         r-1,{first},10000,2026-11-27T12:06:00+03:00\n\
         r-2,{second},20000,2026-11-27T12:07:00+03:00\n\
         r-3,{first},30000,2026-11-27T12:08:00+03:00\n"
    );
    let once = || {
        import(
            &app,
            PaymentChannel::SberbankOnline,
            RegistryLayout::Standard,
            &registry,
        )
    };
    // Both read the payments as new; the one that appends second finds its batch taken and
    // goes row by row, where every row is a duplicate.
    let (one, other) = tokio::join!(once(), once());
    assert_eq!(
        (one.applied + other.applied, one.duplicate + other.duplicate),
        (3, 3)
    );
    assert_eq!(paid_kopecks(&app, "ivan@example.ru", &ivan).await, 40_000);
    assert_eq!(paid_kopecks(&app, "petr@example.ru", &petr).await, 20_000);
    // One receipt and one payment on a loan each.
    let received: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type IN ('PaymentAssigned', 'PaymentReceived')",
    )
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(received, 6);
}

#[tokio::test]
async fn a_late_payment_before_another_reallocates_both_and_a_rebuild_agrees() {
    let app = spawn().await;
    let (password, _, number) = issued_loan(&app).await;
    // 2 000 ₽ reported on the 3rd: interest first, the rest to principal.
    move_clock(&app, "2026-12-03T10:00:00+03:00").await;
    let payment = notification("sb-1", &number, 200_000, "2026-12-03T09:00:00+03:00");
    assert_eq!(
        notify(&app, &payment, SECRET).await.body["status"],
        "applied"
    );
    // On the 5th a terminal's registry brings 1 000 ₽ paid on the 1st: it comes first now, and
    // the payment of the 3rd is applied again to what it left.
    move_clock(&app, "2026-12-05T09:00:00+03:00").await;
    let registry = format!(
        "external_id,contract_number,amount_kopecks,paid_at\n\
         t-1,{number},100000,2026-12-01T18:00:00+03:00\n"
    );
    let report = import(
        &app,
        PaymentChannel::Terminal,
        RegistryLayout::Standard,
        &registry,
    )
    .await;
    assert_eq!(report.applied, 1);
    let token = login(&app, "ivan@example.ru", &password).await;
    let live = loans(&app, &token).await[0].clone();
    let payments = live["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 2, "{live:#}");
    // The rebuild applies both payments and the correction in one batch: same figures.
    app.app.followers.rebuild(Some("loans")).await.unwrap();
    assert_eq!(loans(&app, &token).await[0], live);
}
