//! Effects exactly once: payouts and refunds leave through the effects outbox, are sent once per
//! id whatever is rebuilt or replayed, survive a worker that dies mid-call, are retried with
//! back-off, and are parked as dead for an admin while everything else flows.

use k911_aggregates::incoming_payment::PaymentChannel;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use hmac::{Hmac, Mac};
use k911_aggregates::values::Role;
use k911_commands::payout::{PayoutOrder, PayoutOutcome, PayoutProvider, SandboxPayouts};
use k911_tests::{Options, TestApp};
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

use crate::cabinet::{customer_with, login};
use crate::loans::{issued_loan, loans, move_clock, sign_first_loan, signing_code};

const SECRET: &str = "sberbank-test-secret";

/// The sandbox behind a switch: fails while `failures` is above zero (or below zero: always),
/// and can hang once after the sandbox moved the money, as a process killed before it recorded
/// the answer would.
struct Unreliable {
    sandbox: Arc<SandboxPayouts>,
    failures: AtomicI32,
    hang_once: AtomicBool,
}

impl Unreliable {
    fn new(sandbox: Arc<SandboxPayouts>, failures: i32, hang_once: bool) -> Self {
        Self {
            sandbox,
            failures: AtomicI32::new(failures),
            hang_once: AtomicBool::new(hang_once),
        }
    }
}

#[async_trait]
impl PayoutProvider for Unreliable {
    async fn card_matches(&self, token: &str, masked_pan: &str) -> Result<bool, String> {
        self.sandbox.card_matches(token, masked_pan).await
    }

    async fn pay_out(&self, order: &PayoutOrder) -> Result<(), String> {
        let left = self.failures.load(Ordering::SeqCst);
        if left != 0 {
            if left > 0 {
                self.failures.fetch_sub(1, Ordering::SeqCst);
            }
            return Err("provider answered HTTP 503".to_string());
        }
        self.sandbox.pay_out(order).await?;
        if self.hang_once.swap(false, Ordering::SeqCst) {
            // The money moved; the answer never comes back to this worker.
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn outcome(&self, payout_id: Uuid) -> Result<PayoutOutcome, String> {
        self.sandbox.outcome(payout_id).await
    }

    fn sandbox(&self) -> Option<&SandboxPayouts> {
        Some(&self.sandbox)
    }
}

/// A service whose payouts go through `Unreliable`, retried fast.
async fn spawn(failures: i32, hang_once: bool, max_attempts: i32) -> (TestApp, Arc<Unreliable>) {
    spawn_leased(
        failures,
        hang_once,
        max_attempts,
        Duration::from_millis(300),
    )
    .await
}

async fn spawn_leased(
    failures: i32,
    hang_once: bool,
    max_attempts: i32,
    lease: Duration,
) -> (TestApp, Arc<Unreliable>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut options = Options {
        payout: Some(Box::new(move |sandbox| {
            let provider = Arc::new(Unreliable::new(sandbox, failures, hang_once));
            tx.send(provider.clone()).unwrap();
            provider as Arc<dyn PayoutProvider>
        })),
        ..Options::default()
    };
    options.settings.effects.first_retry = Duration::from_millis(20);
    options.settings.effects.lease = lease;
    options.settings.effects.max_attempts = max_attempts;
    options
        .settings
        .payment_secrets
        .insert(PaymentChannel::SberbankOnline, SECRET.into());
    let app = TestApp::spawn_with(options).await;
    (app, rx.recv().unwrap())
}

async fn received(app: &TestApp) -> Vec<Value> {
    let response = app
        .request(Method::GET, "/sandbox/payouts", None, &[])
        .await;
    assert_eq!(response.status, StatusCode::OK, "{:#}", response.body);
    response.body.as_array().unwrap().clone()
}

async fn notify(app: &TestApp, body: &Value) -> Value {
    let raw = body.to_string();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(raw.as_bytes());
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/v1/payments/notifications")
        .header("content-type", "application/json")
        .header("x-signature", hex::encode(mac.finalize().into_bytes()))
        .body(axum::body::Body::from(raw))
        .unwrap();
    let answer = app.send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
    answer.body
}

#[tokio::test]
async fn rebuilding_every_read_model_and_replaying_lending_sends_no_payout_or_refund_again() {
    let (app, _) = spawn(0, false, 8).await;
    let (password, id, number) = issued_loan(&app).await;
    // 16 000 ₽ against 15 000 ₽ owed on the day of issue: 1 000 ₽ held, then refunded.
    let paid = json!({"channel": "sberbank_online", "external_id": "sb-1",
                      "contract_number": number, "amount_kopecks": 1_600_000,
                      "paid_at": "2026-11-27T12:05:00+03:00"});
    assert_eq!(notify(&app, &paid).await["status"], "applied");
    let token = login(&app, "ivan@example.ru", &password).await;
    let refund = app
        .post_as(&token, &format!("/api/v1/me/loans/{id}/refund"), None)
        .await;
    assert_eq!(refund.status, StatusCode::ACCEPTED, "{:#}", refund.body);
    move_clock(&app, "2026-11-27T12:30:00+03:00").await;
    let token = login(&app, "ivan@example.ru", &password).await;
    assert_eq!(loans(&app, &token).await[0]["refund_status"], "paid");

    let before = received(&app).await;
    let kinds: Vec<&str> = before.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["loan", "refund"], "{before:#?}");
    assert_eq!(before[1]["amount_kopecks"], 100_000);

    app.assert_a_rebuild_agrees().await;
    app.replay_process_manager("lending").await;
    // A day and more later, when the provider has forgotten the keys, still nothing.
    move_clock(&app, "2026-11-29T12:30:00+03:00").await;
    app.replay_process_manager("lending").await;
    let after = received(&app).await;
    assert_eq!(after, before);
    for payout in &after {
        assert_eq!(payout["requests"], 1, "{payout:#}");
        assert_eq!(payout["executions"], 1, "{payout:#}");
    }
    // A process manager is not a read model: it is never rebuilt.
    assert!(app.app.followers.rebuild(Some("lending")).await.is_err());
}

#[tokio::test]
async fn a_worker_that_dies_between_the_provider_call_and_its_answer_leaves_one_execution() {
    let (app, _) = spawn(0, true, 8).await;
    let (token, _, _, _) = customer_with(&app, "+79161234567", "ivan@example.ru", "123456").await;
    sign_first_loan(&app, &token, "+79161234567").await;
    // The first worker moved the money and hangs; a second one (another instance, or this one
    // restarted) takes the effect once the lease runs out, asks the provider first, hears the
    // payout was made, and sends nothing.
    let _second = app.app.start_effects_worker();
    app.settle().await;
    let payouts = received(&app).await;
    assert_eq!(payouts.len(), 1, "{payouts:#?}");
    assert_eq!(payouts[0]["requests"], 1);
    assert_eq!(payouts[0]["executions"], 1);
    let (status, attempts, note): (String, i32, Option<String>) =
        sqlx::query_as("SELECT status, attempts, note FROM effects WHERE kind = 'payout'")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("done", 2));
    assert_eq!(note.as_deref(), Some("the provider had answered already"));
    move_clock(&app, "2026-11-27T12:05:00+03:00").await;
    assert_eq!(loans(&app, &token).await[0]["status"], "active");
}

#[tokio::test]
async fn a_provider_that_fails_three_times_then_answers_pays_once() {
    let (app, _) = spawn(3, false, 8).await;
    let (_, id, _) = issued_loan(&app).await;
    let payouts = received(&app).await;
    assert_eq!(payouts.len(), 1);
    assert_eq!(payouts[0]["requests"], 1);
    assert_eq!(payouts[0]["executions"], 1);
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM effects WHERE kind = 'payout'")
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap();
    assert_eq!(attempts, 4);
    let status: String =
        sqlx::query_scalar("SELECT status FROM read.loans WHERE loan_id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    assert_eq!(status, "active");
}

#[tokio::test]
async fn a_payout_that_always_fails_is_parked_as_dead_while_everything_else_flows() {
    let (app, provider) = spawn(-1, false, 3).await;
    let (token, _, _, _) = customer_with(&app, "+79161234567", "ivan@example.ru", "123456").await;
    sign_first_loan(&app, &token, "+79161234567").await;
    app.settle().await;

    // Another borrower is approved meanwhile: the offer and its signing code go out, and a read
    // at the approval's position answers at once.
    let (other, _, _, _) = customer_with(&app, "+79160000002", "petr@example.ru", "000002").await;
    let position: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap();
    let position = position.to_string();
    let auth = format!("Bearer {other}");
    let read = app
        .request(
            Method::GET,
            "/api/v1/me/loans",
            None,
            &[("authorization", &auth), ("x-min-position", &position)],
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:#}", read.body);
    assert_eq!(read.body[0]["status"], "offered");
    signing_code(&app, "+79160000002").await;

    let admin = app.staff("root@k911.ru", Role::Admin).await;
    let dead = app
        .get_as(&admin, "/api/v1/staff/effects?status=dead")
        .await;
    assert_eq!(dead.status, StatusCode::OK, "{:#}", dead.body);
    let dead = dead.body.as_array().unwrap().clone();
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(dead[0]["kind"], "payout");
    assert_eq!(dead[0]["attempts"], 3);
    assert_eq!(dead[0]["last_error"], "provider answered HTTP 503");
    assert!(received(&app).await.is_empty());
    let metrics = app.request(Method::GET, "/metrics", None, &[]).await;
    let text = String::from_utf8(metrics.bytes).unwrap();
    assert!(
        text.contains(r#"k911_effects_total{kind="payout",outcome="dead"} 1"#),
        "{text}"
    );
    // Only an admin sees them; a bad status is named.
    let underwriter = app.staff("anna@k911.ru", Role::Underwriter).await;
    app.get_as(&underwriter, "/api/v1/staff/effects")
        .await
        .problem(StatusCode::FORBIDDEN);
    let fields = app
        .get_as(&admin, "/api/v1/staff/effects?status=lost")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["status"]);

    // The provider is back; the admin retries it: paid once.
    provider.failures.store(0, Ordering::SeqCst);
    let effect = dead[0]["effect_id"].as_str().unwrap();
    let retry = format!("/api/v1/staff/effects/{effect}/retry");
    let retried = app.post_as(&admin, &retry, None).await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{:#}", retried.body);
    app.settle().await;
    app.post_as(&admin, &retry, None)
        .await
        .problem(StatusCode::CONFLICT);
    let unknown = format!("/api/v1/staff/effects/{}/retry", Uuid::now_v7());
    app.post_as(&admin, &unknown, None)
        .await
        .problem(StatusCode::NOT_FOUND);
    let payouts = received(&app).await;
    assert_eq!(payouts.len(), 1);
    assert_eq!(payouts[0]["executions"], 1);
    move_clock(&app, "2026-11-27T12:05:00+03:00").await;
    let token = login(
        &app,
        "ivan@example.ru",
        &password_of(&app, "+79161234567").await,
    )
    .await;
    assert_eq!(loans(&app, &token).await[0]["status"], "active");
}

async fn password_of(app: &TestApp, phone: &str) -> String {
    crate::onboarding::password_in(&crate::notifications::sms_with(app, phone, "пароль").await)
}

/// A payout first asked more than a day ago may have been paid under a key the provider has
/// forgotten since: an admin cannot simply retry it (it is reconciled by hand).
#[tokio::test]
async fn a_dead_payout_older_than_the_providers_key_is_not_retried() {
    let (app, _) = spawn(0, false, 8).await;
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO effects (id, kind, request, status, attempts, created_at)
         VALUES ($1, 'payout', '{}', 'dead', 8, now() - interval '25 hours')",
    )
    .bind(id)
    .execute(&app.db.sqlx)
    .await
    .unwrap();
    let admin = app.staff("root@k911.ru", Role::Admin).await;
    let answer = app
        .post_as(&admin, &format!("/api/v1/staff/effects/{id}/retry"), None)
        .await;
    answer.problem(StatusCode::CONFLICT);
    assert!(answer.body["detail"].as_str().unwrap().contains("by hand"));
    let status: String = sqlx::query_scalar("SELECT status FROM effects WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap();
    assert_eq!(status, "dead");
}

/// An event a process manager can never handle (a bug or a hand edit could leave one) is set
/// aside and recorded; it does not stop every other borrower's offers, payouts and messages.
#[tokio::test]
async fn a_process_manager_sets_aside_an_event_it_cannot_handle_and_lending_goes_on() {
    let app = TestApp::spawn().await;
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('Loan', $1, 1, 'ContractSigned', '1.0', '{\"ContractSigned\": {}}', '{}')",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .execute(&app.db.sqlx)
    .await
    .unwrap();
    // Offered, signed and paid out after the broken event.
    let (_, loan_id, _) = crate::loans::issued_loan(&app).await;
    app.settle().await;
    let payouts = received(&app).await;
    assert_eq!(payouts.len(), 1, "{payouts:#?}");
    assert_eq!(payouts[0]["executions"], 1);
    let loan = app.dump("read.loans", "loan_id").await.join("\n");
    assert!(
        loan.contains(&loan_id) && loan.contains("\"active\""),
        "{loan}"
    );
    let set_aside: Vec<(String, String)> =
        sqlx::query_as("SELECT projection, event_type FROM projection_failures ORDER BY 1")
            .fetch_all(&app.db.sqlx)
            .await
            .unwrap();
    assert!(
        set_aside.contains(&("lending".to_string(), "ContractSigned".to_string())),
        "{set_aside:?}"
    );
}

/// A payout provider that does not answer holds up its own lane only: the next borrower's
/// password and signing code go out meanwhile, long before the payout's lease runs out.
#[tokio::test]
async fn a_payout_provider_that_does_not_answer_holds_up_no_sms() {
    let (app, _) = spawn_leased(0, true, 8, Duration::from_secs(60)).await;
    let (token, _, _, _) = customer_with(&app, "+79161234567", "ivan@example.ru", "123456").await;
    sign_first_loan(&app, &token, "+79161234567").await;
    // The payout is taken and its provider hangs.
    let mut waited = 0;
    while received(&app).await.is_empty() {
        assert!(waited < 100, "the payout was never sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }

    // Well within the payout's 60 s lease: nothing here waits for it.
    let next_borrower = async {
        customer_with(&app, "+79160000002", "petr@example.ru", "000002").await;
        signing_code(&app, "+79160000002").await
    };
    let code = tokio::time::timeout(Duration::from_secs(20), next_borrower)
        .await
        .expect("the next borrower's SMS went out while the payout hung");
    assert_eq!(code.len(), 6);
}

/// 5 000 bureau reports waiting for the day's export, each `request` (an SQL expression), with
/// the outbox's planner statistics taken.
async fn bureau_reports_waiting(app: &TestApp, request: &str) {
    sqlx::query(&format!(
        "INSERT INTO effects (id, kind, request, due_on)
         SELECT gen_random_uuid(), 'bureau_report', {request}, current_date
           FROM generate_series(1, 5000)"
    ))
    .execute(&app.db.sqlx)
    .await
    .unwrap();
    sqlx::query("ANALYZE effects")
        .execute(&app.db.sqlx)
        .await
        .unwrap();
}

/// Every plan node under `plan` (an `EXPLAIN (FORMAT JSON)` answer).
fn plan_nodes(plan: &Value) -> Vec<&Value> {
    let mut nodes = vec![];
    let mut stack = vec![&plan[0]["Plan"]];
    while let Some(node) = stack.pop() {
        nodes.push(node);
        if let Some(children) = node["Plans"].as_array() {
            stack.extend(children);
        }
    }
    nodes
}

/// A lane's claim seeks its own kind's due effects: bureau reports wait in the outbox until the
/// day's export, and with the due index on the time alone every SMS and e-mail claim (each lane
/// polls every 100 ms) walked past all of them (20-25 ms a claim at 11 000 reports, a third of
/// the machine during the loan book's cabinet load).
#[tokio::test]
async fn a_claim_seeks_its_own_kind_past_a_backlog_of_bureau_reports() {
    let app = TestApp::spawn().await;
    bureau_reports_waiting(&app, "'{}'").await;
    let plan: Value = sqlx::query_scalar(&format!(
        "EXPLAIN (ANALYZE, FORMAT JSON) {}",
        k911_event_store::outbox::CLAIM
    ))
    .bind(16i64)
    .bind(30.0f64)
    .bind("sms")
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    let nodes = plan_nodes(&plan);
    let seek = nodes
        .iter()
        .find(|node| node["Index Name"] == "effects_due")
        .unwrap_or_else(|| panic!("the claim does not use effects_due: {plan}"));
    assert!(
        seek["Index Cond"]
            .as_str()
            .unwrap_or_default()
            .contains("kind"),
        "{plan}"
    );
    let walked: i64 = nodes
        .iter()
        .map(|node| node["Rows Removed by Filter"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(walked, 0, "{plan}");
}

/// Whether reports about a customer are still owed to the bureau (asked by each decision of their
/// erasure, and by the scheduler for every refusal waiting for an event) is found through the
/// customer, not by reading every report that waits for the day's export.
#[tokio::test]
async fn reports_owed_about_a_customer_are_found_through_the_customer() {
    let app = TestApp::spawn().await;
    bureau_reports_waiting(
        &app,
        "jsonb_build_object('BureauReport', jsonb_build_object('customer_id', gen_random_uuid()))",
    )
    .await;
    let plan: Value = sqlx::query_scalar(&format!(
        "EXPLAIN (ANALYZE, FORMAT JSON) {}",
        k911_commands::erasure::REPORTS_PENDING
    ))
    .bind(Uuid::new_v4())
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    let nodes = plan_nodes(&plan);
    assert!(
        nodes
            .iter()
            .any(|node| node["Index Name"] == "effects_bureau_pending_customer"),
        "{plan}"
    );
    let read: i64 = nodes
        .iter()
        .map(|node| {
            node["Rows Removed by Filter"].as_i64().unwrap_or(0)
                + node["Rows Removed by Index Recheck"].as_i64().unwrap_or(0)
        })
        .sum();
    assert_eq!(read, 0, "{plan}");
}
