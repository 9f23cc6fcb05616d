//! The compliance side's audit (issue #16). The log's hash chain: every event linked once, in
//! the followers' order, never rewritten by a rebuild; `verify` recomputes the links from the
//! events table and names where an edited or a deleted event breaks them. The audit trail:
//! every event once, with whom it concerns, searched by compliance, each search recorded.

use axum::http::{Method, StatusCode};
use k911_aggregates::loan::course::Course;
use k911_aggregates::values::Role;
use k911_event_store::chain::{head, verify, Break, Verdict};
use k911_tests::TestApp;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::loans::{issued_loan, move_clock};
use crate::payments::{notification, notify, SECRET};

/// A book with a customer, an application and a loan issued, the chain caught up.
async fn chained() -> TestApp {
    let app = TestApp::spawn().await;
    issued_loan(&app).await;
    app.settle().await;
    app
}

async fn verdict(app: &TestApp) -> Verdict {
    verify(&**app.db.pg.get().await.unwrap(), |_| {})
        .await
        .unwrap()
}

async fn sql(app: &TestApp, statement: &str) {
    sqlx::query(statement).execute(&app.db.sqlx).await.unwrap();
}

/// The position of the `n`th event in log order (1 = the first).
async fn nth_position(app: &TestApp, n: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT global_position FROM events ORDER BY transaction_id, global_position
          OFFSET $1 - 1 LIMIT 1",
    )
    .bind(n)
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_event_is_linked_once_in_log_order_and_a_rebuild_leaves_the_chain_alone() {
    let app = chained().await;
    let chain: Vec<i64> =
        sqlx::query_scalar("SELECT global_position FROM audit_chain ORDER BY link_number")
            .fetch_all(&app.db.sqlx)
            .await
            .unwrap();
    let log: Vec<i64> = sqlx::query_scalar(
        "SELECT global_position FROM events ORDER BY transaction_id, global_position",
    )
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap();
    assert!(log.len() > 12, "{log:?}");
    assert_eq!(chain, log);
    let Verdict::Intact(before) = verdict(&app).await else {
        panic!("an untouched log verifies");
    };
    assert_eq!(
        before,
        head(&**app.db.pg.get().await.unwrap()).await.unwrap()
    );
    assert_eq!(before.links, log.len() as i64);

    // Not a read model: refused by name, and left alone by a rebuild of them all.
    assert!(app
        .app
        .followers
        .rebuild(Some("audit_chain"))
        .await
        .is_err());
    app.app.followers.rebuild(None).await.unwrap();
    app.settle().await;
    assert_eq!(verdict(&app).await, Verdict::Intact(before));
}

#[tokio::test]
async fn verify_names_the_event_whose_payload_was_edited() {
    let app = chained().await;
    let edited = nth_position(&app, 12).await;
    sql(
        &app,
        &format!(
            "UPDATE events SET payload = payload || '{{\"x\": 1}}'::jsonb
              WHERE global_position = {edited}"
        ),
    )
    .await;
    assert_eq!(
        verdict(&app).await,
        Verdict::Broken {
            position: edited,
            reason: Break::Differs
        }
    );
}

#[tokio::test]
async fn verify_catches_a_deleted_event_and_one_deleted_with_its_link() {
    let app = chained().await;
    let deleted = nth_position(&app, 7).await;
    sql(
        &app,
        &format!("DELETE FROM events WHERE global_position = {deleted}"),
    )
    .await;
    assert_eq!(
        verdict(&app).await,
        Verdict::Broken {
            position: deleted,
            reason: Break::Deleted
        }
    );
    // Its link deleted as well: the links after it miss one.
    let next = nth_position(&app, 7).await;
    sql(
        &app,
        &format!("DELETE FROM audit_chain WHERE global_position = {deleted}"),
    )
    .await;
    assert_eq!(
        verdict(&app).await,
        Verdict::Broken {
            position: next,
            reason: Break::LinksMissing
        }
    );
    // And the links renumbered to hide the gap: the next event's link does not follow from the
    // one before it.
    sql(
        &app,
        "UPDATE audit_chain SET link_number = link_number - 1 WHERE link_number >= 7",
    )
    .await;
    assert_eq!(
        verdict(&app).await,
        Verdict::Broken {
            position: next,
            reason: Break::Differs
        }
    );
}

#[tokio::test]
async fn a_compliance_officer_reads_the_head_of_the_chain_and_nobody_else_does() {
    let app = chained().await;
    let officer = app.staff("irina@k911.ru", Role::Compliance).await;
    app.settle().await;
    let Verdict::Intact(verified) = verdict(&app).await else {
        panic!("an untouched log verifies");
    };
    let answer = app.get_as(&officer, "/api/v1/compliance/log/head").await;
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
    assert_eq!(answer.body["links"], verified.links);
    assert_eq!(answer.body["position"], verified.position.unwrap());
    assert_eq!(answer.body["link"], hex::encode(verified.link));

    let support = app.staff("anna@k911.ru", Role::Support).await;
    let refused = app.get_as(&support, "/api/v1/compliance/log/head").await;
    refused.problem(StatusCode::FORBIDDEN);
    let anonymous = app
        .request(Method::GET, "/api/v1/compliance/log/head", None, &[])
        .await;
    anonymous.problem(StatusCode::UNAUTHORIZED);
}

/// An issued loan paid `kopecks` on `on` (RFC 3339, the clock moved there) through the bank's
/// notification: the borrower's password, the loan id and its contract number.
async fn paid_loan(app: &TestApp, on: &str, kopecks: i64) -> (String, String, String) {
    let (password, loan_id, number) = issued_loan(app).await;
    move_clock(app, on).await;
    let paid = notify(app, &notification("sb-1", &number, kopecks, on), SECRET).await;
    assert!(paid.status.is_success(), "{:#}", paid.body);
    (password, loan_id, number)
}

/// The borrower of `loan_id`.
async fn customer_of(app: &TestApp, loan_id: &str) -> Uuid {
    sqlx::query_scalar("SELECT customer_id FROM read.loans WHERE loan_id = $1::uuid")
        .bind(loan_id)
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap()
}

/// The id of the (only) loan application in the log.
async fn application_id(app: &TestApp) -> String {
    sqlx::query_scalar(
        "SELECT aggregate_id FROM events WHERE aggregate_type = 'LoanApplication' LIMIT 1",
    )
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap()
}

/// Another person's question to support: their data must never show in the borrower's.
async fn someone_elses_ticket(app: &TestApp) {
    let ticket = json!({"name": "Пётр Сидоров", "phone": "+79165550011",
                        "email": "petr@example.ru", "question": "Как закрыть заём досрочно?"});
    assert_eq!(
        app.post("/api/v1/support/tickets", &ticket).await.status,
        StatusCode::CREATED
    );
}

/// The borrower asks support from the cabinet; the agent takes the oldest ticket (someone
/// else's, closed unanswered) and then theirs, and answers it.
async fn answered_question(app: &TestApp, token: &str) {
    let asked = app
        .post_as(
            token,
            "/api/v1/me/support/tickets",
            Some(&json!({"question": "Как погасить заём досрочно?"})),
        )
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{:#}", asked.body);
    let ticket = asked.body["ticket_id"].as_str().unwrap().to_string();
    let agent = app.staff("sveta@k911.ru", Role::Support).await;
    loop {
        let next = app
            .post_as(&agent, "/api/v1/staff/support/queue/next", None)
            .await;
        assert_eq!(next.status, StatusCode::OK, "{:#}", next.body);
        let taken = next.body["ticket_id"].as_str().unwrap().to_string();
        let reply = json!({"text": "Погасить можно в кабинете в любой день."});
        let path = format!("/api/v1/staff/support/tickets/{taken}/reply");
        let answered = app.post_as(&agent, &path, Some(&reply)).await;
        assert_eq!(answered.status, StatusCode::OK, "{:#}", answered.body);
        if taken == ticket {
            return;
        }
    }
}

/// Every page of the trail `query` selects, read by `officer` `limit` events at a time, and
/// how many pages that took.
async fn audit_pages(
    app: &TestApp,
    officer: &str,
    query: &str,
    limit: usize,
) -> (Vec<Value>, usize) {
    let (mut entries, mut after, mut pages) = (Vec::new(), 0i64, 0);
    loop {
        pages += 1;
        let page = app
            .get_as(
                officer,
                &format!("/api/v1/compliance/audit?{query}&limit={limit}&after={after}"),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{:#}", page.body);
        let got = page.body["entries"].as_array().unwrap().clone();
        assert!(got.len() <= limit);
        entries.extend(got);
        match page.body["next_after"].as_i64() {
            Some(next) => after = next,
            None => return (entries, pages),
        }
    }
}

#[tokio::test]
async fn the_audit_trail_shows_every_event_once_with_whom_it_concerns_and_records_each_read() {
    let app = crate::payments::spawn().await;
    let (_, loan_id, _) = paid_loan(&app, "2026-11-29T10:00:00+03:00", 100_000).await;
    someone_elses_ticket(&app).await;
    let officer = app.staff("irina@k911.ru", Role::Compliance).await;
    app.settle().await;

    // Every event of the log, once.
    let log: Vec<i64> = sqlx::query_scalar("SELECT global_position FROM events ORDER BY 1")
        .fetch_all(&app.db.sqlx)
        .await
        .unwrap();
    let trail: Vec<i64> = sqlx::query_scalar("SELECT position FROM read.audit_log ORDER BY 1")
        .fetch_all(&app.db.sqlx)
        .await
        .unwrap();
    assert_eq!(trail, log);

    // The borrower's account, application, loan and payment all concern the borrower.
    let customer = customer_of(&app, &loan_id).await;
    let concern = |aggregate_type: &'static str| {
        let app = &app;
        async move {
            sqlx::query_scalar::<_, Option<Uuid>>(
                "SELECT DISTINCT subject_id FROM read.audit_log WHERE aggregate_type = $1
                   AND (aggregate_type <> 'Account' OR aggregate_id = $2)",
            )
            .bind(aggregate_type)
            .bind(customer.to_string())
            .fetch_all(&app.db.sqlx)
            .await
            .unwrap()
        }
    };
    for aggregate_type in ["Account", "LoanApplication", "Loan", "IncomingPayment"] {
        assert_eq!(
            concern(aggregate_type).await,
            vec![Some(customer)],
            "{aggregate_type}"
        );
    }
    // The anonymous ticket concerns its author, someone else.
    let author = concern("SupportTicket").await;
    assert_eq!(author.len(), 1);
    assert!(author[0].is_some() && author[0] != Some(customer));

    // Compliance pages through the borrower's trail: the same events as the view holds.
    let theirs: Vec<i64> = sqlx::query_scalar(
        "SELECT position FROM read.audit_log WHERE subject_id = $1 ORDER BY position",
    )
    .bind(customer)
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap();
    assert!(theirs.len() > 10, "{theirs:?}");
    let (read, pages) = audit_pages(&app, &officer, &format!("subject={customer}"), 4).await;
    // The records of the pages read so far may join the trail while it is paged through.
    let positions: Vec<i64> = read
        .iter()
        .filter(|e| e["event_type"] != "AuditTrailRead")
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, theirs);
    assert!(read.iter().all(|e| e["subject_id"] == json!(customer)));
    let issued = read
        .iter()
        .find(|e| e["event_type"] == "LoanIssued")
        .expect("the loan's issue is on the trail");
    assert_eq!(issued["aggregate_id"], json!(loan_id));

    // Each page read is on the log, on the borrower's own trail, naming the officer's role.
    app.settle().await;
    let recorded: Vec<(Value, Value)> = sqlx::query_as(
        "SELECT payload, metadata FROM events WHERE event_type = 'AuditTrailRead' ORDER BY global_position",
    )
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(recorded.len(), pages);
    let (payload, metadata) = &recorded[0];
    assert_eq!(
        payload["AuditTrailRead"]["query"],
        json!({"subject_id": customer})
    );
    assert_eq!(payload["AuditTrailRead"]["entries"], 4);
    assert_eq!(metadata["actor_role"], "compliance");
    let on_trail: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM read.audit_log WHERE event_type = 'AuditTrailRead' AND subject_id = $1",
    )
    .bind(customer)
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(on_trail, pages as i64);

    // Filters combine: the loan's own events of one type, and a time range.
    let (issued_only, _) = audit_pages(
        &app,
        &officer,
        &format!("aggregate_type=Loan&aggregate_id={loan_id}&event_type=LoanIssued"),
        100,
    )
    .await;
    assert_eq!(issued_only.len(), 1);
    let (nothing, _) = audit_pages(
        &app,
        &officer,
        "from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z",
        100,
    )
    .await;
    assert!(nothing.is_empty());

    app.assert_a_rebuild_agrees().await;
}

#[tokio::test]
async fn a_bad_audit_search_names_its_fields_writes_nothing_and_only_compliance_searches() {
    let app = TestApp::spawn().await;
    let officer = app.staff("irina@k911.ru", Role::Compliance).await;
    app.settle().await;
    let before = app.event_count().await;
    let bad = app
        .get_as(
            &officer,
            "/api/v1/compliance/audit?subject=nobody&from=yesterday&limit=0&after=-1&event_type=a%00b",
        )
        .await;
    let fields = bad.problem(StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["subject", "from", "limit", "after", "event_type"] {
        assert!(fields.contains(&field.to_string()), "{field}: {fields:?}");
    }
    let backwards = app
        .get_as(
            &officer,
            "/api/v1/compliance/audit?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
        )
        .await;
    assert_eq!(backwards.problem(StatusCode::UNPROCESSABLE_ENTITY), ["to"]);
    assert_eq!(app.event_count().await, before);

    let support = app.staff("anna@k911.ru", Role::Support).await;
    app.get_as(&support, "/api/v1/compliance/audit")
        .await
        .problem(StatusCode::FORBIDDEN);
    app.request(Method::GET, "/api/v1/compliance/audit", None, &[])
        .await
        .problem(StatusCode::UNAUTHORIZED);
}

/// What the cabinet and a replayed loan both say of a debt: principal, interest, penalty owed,
/// and the payments applied.
fn cabinet_figures(loan: &Value) -> [i64; 4] {
    let outstanding = &loan["outstanding"];
    [
        outstanding["principal_kopecks"].as_i64().unwrap(),
        outstanding["interest_kopecks"].as_i64().unwrap(),
        outstanding["penalty_kopecks"].as_i64().unwrap(),
        loan["payments"].as_array().unwrap().len() as i64,
    ]
}

/// The same figures from a replayed loan on `day`, brought there by the aggregate's own course
/// (`Course::on`), as the cabinet brings its read model's course to today.
fn replayed_figures(state: &Value, day: &str) -> [i64; 4] {
    let course: Course = serde_json::from_value(state["course"].clone()).unwrap();
    let debt = course.on(day.parse().unwrap()).debt;
    [
        debt.overdue_principal.get() + debt.current_principal.get(),
        debt.overdue_interest.get() + debt.current_interest.get(),
        debt.penalty.get(),
        state["history"].as_array().unwrap().len() as i64,
    ]
}

#[tokio::test]
async fn a_loans_state_as_of_a_past_point_is_what_the_cabinet_showed_then() {
    let app = crate::payments::spawn().await;
    let (password, loan_id, number) = paid_loan(&app, "2026-12-03T10:00:00+03:00", 200_000).await;
    let token = crate::cabinet::login(&app, "ivan@example.ru", &password).await;
    app.settle().await;
    let then = crate::loans::loans(&app, &token).await[0].clone();
    let (position, at): (i64, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT max(global_position), now() FROM events")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();

    // Two days later a terminal's registry brings a payment of the 1st: the ledger is replayed
    // with it first, and the cabinet's figures change.
    move_clock(&app, "2026-12-05T09:00:00+03:00").await;
    let registry = format!(
        "external_id,contract_number,amount_kopecks,paid_at\n\
         t-1,{number},100000,2026-12-01T18:00:00+03:00\n"
    );
    let imported = app
        .app
        .payments
        .import_payments(
            k911_aggregates::incoming_payment::PaymentChannel::Terminal,
            k911_commands::registry::RegistryLayout::Standard,
            registry.as_bytes(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(imported.applied, 1);
    app.settle().await;
    let token = crate::cabinet::login(&app, "ivan@example.ru", &password).await;
    let now = crate::loans::loans(&app, &token).await[0].clone();
    assert_ne!(cabinet_figures(&now), cabinet_figures(&then));

    let officer = app.staff("irina@k911.ru", Role::Compliance).await;
    let state = |query: String| {
        let (app, officer, loan_id) = (&app, officer.clone(), loan_id.clone());
        async move {
            let answer = app
                .get_as(
                    &officer,
                    &format!("/api/v1/compliance/aggregates/Loan/{loan_id}/state{query}"),
                )
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
            answer.body
        }
    };
    let by_position = state(format!("?position={position}")).await;
    assert_eq!(
        replayed_figures(&by_position["state"], "2026-12-03"),
        cabinet_figures(&then)
    );
    assert!(by_position["last_position"].as_i64().unwrap() <= position);
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let by_time = state(format!("?at={}", urlencode(&at))).await;
    assert_eq!(by_time["state"], by_position["state"]);
    let current = state(String::new()).await;
    assert_eq!(
        replayed_figures(&current["state"], "2026-12-05"),
        cabinet_figures(&now)
    );
    assert!(current["events_applied"].as_u64() > by_position["events_applied"].as_u64());

    // Each replay is recorded, on the borrower's trail.
    app.settle().await;
    let customer = customer_of(&app, &loan_id).await;
    let replays: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM read.audit_log WHERE event_type = 'AggregateReplayed'
            AND subject_id = $1 AND actor_role = 'compliance'",
    )
    .bind(customer)
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(replays, 3);
}

#[tokio::test]
async fn personal_data_in_a_history_is_opened_only_for_a_stated_purpose_which_is_recorded() {
    let app = TestApp::spawn().await;
    issued_loan(&app).await;
    let application = application_id(&app).await;
    let officer = app.staff("irina@k911.ru", Role::Compliance).await;
    let path = format!("/api/v1/compliance/aggregates/LoanApplication/{application}/events");

    let sealed = app.get_as(&officer, &path).await;
    assert_eq!(sealed.status, StatusCode::OK, "{:#}", sealed.body);
    let text = sealed.body.to_string();
    assert!(
        text.contains("ciphertext") && !text.contains("Иванов"),
        "{text}"
    );
    let events = sealed.body["events"].as_array().unwrap();
    assert_eq!(events[0]["sequence"], 1);
    assert!(events
        .iter()
        .all(|e| e["metadata"].get("client_ip").is_none()));

    let purpose = "Запрос Тверского районного суда по делу № 2-15/2026";
    let opened = app
        .get_as(&officer, &format!("{path}?purpose={}", urlencode(purpose)))
        .await;
    assert_eq!(opened.status, StatusCode::OK, "{:#}", opened.body);
    let text = opened.body.to_string();
    assert!(
        text.contains("Иванов") && !text.contains("ciphertext"),
        "{text}"
    );

    app.settle().await;
    let recorded: Vec<Value> = sqlx::query_scalar(
        "SELECT payload -> 'AggregateReplayed' -> 'replay' FROM events
          WHERE event_type = 'AggregateReplayed' ORDER BY global_position",
    )
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0]["purpose"], Value::Null);
    assert_eq!(recorded[1]["purpose"], purpose);
    assert_eq!(recorded[1]["aggregate_id"], application);
    assert!(recorded[1]["subject_id"].is_string());

    // Nothing to replay, bad bounds, an overlong purpose, the wrong role: nothing recorded.
    let before = app.event_count().await;
    app.get_as(&officer, "/api/v1/compliance/aggregates/Spaceship/x/events")
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get_as(
        &officer,
        &format!(
            "/api/v1/compliance/aggregates/Loan/{}/state",
            Uuid::new_v4()
        ),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    let bad = app
        .get_as(
            &officer,
            &format!("/api/v1/compliance/aggregates/LoanApplication/{application}/state?position=-1&at=soon"),
        )
        .await;
    assert_eq!(
        bad.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["position", "at"]
    );
    let odd = app
        .get_as(
            &officer,
            "/api/v1/compliance/aggregates/Loan%00/x%20y/state",
        )
        .await;
    assert_eq!(
        odd.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["aggregate_type", "aggregate_id"]
    );
    let long = app
        .get_as(&officer, &format!("{path}?purpose={}", "x".repeat(4001)))
        .await;
    assert_eq!(long.problem(StatusCode::UNPROCESSABLE_ENTITY), ["purpose"]);
    let support = app.staff("anna@k911.ru", Role::Support).await;
    app.get_as(&support, &path)
        .await
        .problem(StatusCode::FORBIDDEN);
    app.settle().await;
    let replays: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'AggregateReplayed'")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    assert_eq!(replays, 2);
    assert!(
        app.event_count().await > before,
        "the support account was added"
    );
}

/// `text` as a query string value.
fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn a_borrower_downloads_everything_held_about_them_and_nobody_elses_data() {
    let app = crate::payments::spawn().await;
    let (password, loan_id, _) = paid_loan(&app, "2026-11-29T10:00:00+03:00", 100_000).await;
    let token = crate::cabinet::login(&app, "ivan@example.ru", &password).await;
    someone_elses_ticket(&app).await;
    answered_question(&app, &token).await;
    app.settle().await;

    let export = app.get_as(&token, "/api/v1/me/data-export").await;
    assert_eq!(export.status, StatusCode::OK, "{:#}", export.body);
    let body = &export.body;
    let customer: Uuid = body["customer_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(body["profile"]["customer_id"], json!(customer));
    let text = body.to_string();
    // Their own data opened: name, passport, phone; nothing sealed left; no one else's.
    for own in ["Иванов", "4510", "+79161234567", "ivan@example.ru"] {
        assert!(text.contains(own), "{own} missing");
    }
    for foreign in ["ciphertext", "Пётр", "petr@example.ru", "закрыть заём"] {
        assert!(!text.contains(foreign), "{foreign} leaked");
    }
    // Every event of the log that concerns them, in order.
    let theirs: Vec<i64> = sqlx::query_scalar(
        "SELECT position FROM read.audit_log WHERE subject_id = $1 ORDER BY position",
    )
    .bind(customer)
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap();
    let exported: Vec<i64> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert_eq!(exported, theirs);
    let types: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["aggregate_type"].as_str().unwrap())
        .collect();
    for kind in ["Account", "LoanApplication", "Loan", "IncomingPayment"] {
        assert!(types.contains(&kind), "{kind}: {types:?}");
    }
    assert!(text.contains(&loan_id));
    // The messages sent to them: the approval's and the signing code's withheld (a password,
    // a code), the rest opened (support's answer to their question).
    let messages: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .filter(|t| t.contains("текст в копию не включается"))
            .count()
            >= 2,
        "{messages:?}"
    );
    assert!(!text.contains(&password), "a password in the copy");
    assert!(
        messages
            .iter()
            .any(|t| t.contains("Погасить можно в кабинете")),
        "{messages:?}"
    );

    // A staff read of their data, with its purpose, is in the next copy.
    let officer = app.staff("irina@k911.ru", Role::Compliance).await;
    let application = application_id(&app).await;
    let purpose = "Проверка по обращению заёмщика";
    let replayed = app
        .get_as(
            &officer,
            &format!(
                "/api/v1/compliance/aggregates/LoanApplication/{application}/events?purpose={}",
                urlencode(purpose)
            ),
        )
        .await;
    assert_eq!(replayed.status, StatusCode::OK);
    // At once: the export waits for whom the officer's read concerns to be known.
    let again = app.get_as(&token, "/api/v1/me/data-export").await;
    let replay = again.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "AggregateReplayed")
        .expect("the officer's read is on the borrower's trail");
    assert_eq!(
        replay["payload"]["AggregateReplayed"]["replay"]["purpose"],
        purpose
    );
    assert_eq!(replay["actor_role"], "compliance");

    // The cabinet gives the same as a file to keep, to its own borrower only.
    let download = app
        .request(
            Method::GET,
            "/cabinet/data-export",
            None,
            &[("cookie", &format!("k911_session={token}"))],
        )
        .await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body["customer_id"], json!(customer));
    let support = app.staff("anna@k911.ru", Role::Support).await;
    app.get_as(&support, "/api/v1/me/data-export")
        .await
        .problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_court_request_is_answered_once_with_exactly_its_scope_and_is_on_the_persons_trail() {
    let app = crate::payments::spawn().await;
    let (_, loan_id, _) = paid_loan(&app, "2026-12-03T10:00:00+03:00", 200_000).await;
    app.settle().await;
    let customer = customer_of(&app, &loan_id).await;
    // The scope's days are the days k911 recorded the events (Moscow).
    let today: chrono::NaiveDate =
        sqlx::query_scalar("SELECT (now() AT TIME ZONE 'Europe/Moscow')::date")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    let officer = app.staff("irina@k911.ru", Role::Compliance).await;
    let request = |categories: Value, to: chrono::NaiveDate| {
        json!({
            "subject_id": customer,
            "basis": {"kind": "court", "court": "Тверской районный суд г. Москвы",
                      "case_number": "2-15/2026", "dated": "2026-12-04"},
            "asked": "Сведения о займах и платежах Иванова И. И.",
            "scope": {"categories": categories, "from": "2026-01-01", "to": to.to_string()}
        })
    };
    let registered = app
        .post_as(
            &officer,
            "/api/v1/compliance/disclosures",
            Some(&request(json!(["loans", "payments"]), today)),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{:#}",
        registered.body
    );
    let id = registered.body["disclosure_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Nothing of the person's has left yet: compliance's other routes hand out no personal
    // data unless a purpose is stated.
    let (trail, _) = audit_pages(&app, &officer, &format!("subject={customer}"), 1000).await;
    let application = application_id(&app).await;
    let history = app
        .get_as(
            &officer,
            &format!("/api/v1/compliance/aggregates/LoanApplication/{application}/events"),
        )
        .await;
    let state = app
        .get_as(
            &officer,
            &format!("/api/v1/compliance/aggregates/LoanApplication/{application}/state"),
        )
        .await;
    let register = app.get_as(&officer, "/api/v1/compliance/disclosures").await;
    for answer in [json!(trail), history.body, state.body, register.body] {
        let text = answer.to_string();
        for personal in ["Иванов", "+79161234567", "ivan@example.ru", "4510"] {
            assert!(!text.contains(personal), "{personal} in {text}");
        }
    }

    let file = app
        .request(
            Method::POST,
            &format!("/api/v1/compliance/disclosures/{id}/file"),
            None,
            &[("authorization", &format!("Bearer {officer}"))],
        )
        .await;
    assert_eq!(file.status, StatusCode::OK, "{:#}", file.body);
    let text = file.body.to_string();
    assert_eq!(
        file.body["asked"],
        "Сведения о займах и платежах Иванова И. И."
    );
    assert_eq!(file.body["basis"]["case_number"], "2-15/2026");
    let events = file.body["events"].as_array().unwrap();
    let kinds: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|e| e["aggregate_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["IncomingPayment", "Loan"].into());
    let in_scope: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM read.audit_log WHERE subject_id = $1
            AND aggregate_type IN ('Loan', 'IncomingPayment')",
    )
    .bind(customer)
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(events.len() as i64, in_scope);
    // Opened, and nothing from the parts not asked for (the application's passport).
    assert!(
        !text.contains("ciphertext") && !text.contains("4510"),
        "{text}"
    );

    // Recorded with the file's hash, on the person's trail; never answered twice.
    app.settle().await;
    let listed = app.get_as(&officer, "/api/v1/compliance/disclosures").await;
    let row = &listed.body[0];
    assert_eq!(row["disclosure_id"], json!(id));
    assert_eq!(row["reference"], "2-15/2026");
    assert_eq!(row["events"], in_scope);
    let hashed: String = sqlx::query_scalar(
        "SELECT payload -> 'DataDisclosed' ->> 'file_sha256' FROM events
          WHERE event_type = 'DataDisclosed'",
    )
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(row["file_sha256"], json!(hashed));
    let on_trail: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM read.audit_log WHERE aggregate_type = 'Disclosure'
            AND subject_id = $1 ORDER BY position",
    )
    .bind(customer)
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(on_trail, ["DisclosureRequested", "DataDisclosed"]);
    let before = app.event_count().await;
    let again = app
        .request(
            Method::POST,
            &format!("/api/v1/compliance/disclosures/{id}/file"),
            None,
            &[("authorization", &format!("Bearer {officer}"))],
        )
        .await;
    again.problem(StatusCode::CONFLICT);
    assert_eq!(app.event_count().await, before);

    // A period that ends before anything was recorded discloses nothing of it.
    let earlier = app
        .post_as(
            &officer,
            "/api/v1/compliance/disclosures",
            Some(&request(json!(["loans"]), today.pred_opt().unwrap())),
        )
        .await;
    let earlier = earlier.body["disclosure_id"].as_str().unwrap().to_string();
    let empty = app
        .request(
            Method::POST,
            &format!("/api/v1/compliance/disclosures/{earlier}/file"),
            None,
            &[("authorization", &format!("Bearer {officer}"))],
        )
        .await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body["events"], json!([]));
}

#[tokio::test]
async fn a_disclosure_request_is_checked_field_by_field_and_only_compliance_registers_one() {
    let app = TestApp::spawn().await;
    let officer = app.staff("irina@k911.ru", Role::Compliance).await;
    let before = app.event_count().await;
    let bad = app
        .post_as(
            &officer,
            "/api/v1/compliance/disclosures",
            Some(&json!({
                "subject_id": "someone",
                "basis": {"kind": "police", "dated": "yesterday"},
                "asked": "",
                "scope": {"categories": ["everything"], "from": "2026-13-01"}
            })),
        )
        .await;
    assert_eq!(
        bad.problem(StatusCode::UNPROCESSABLE_ENTITY),
        [
            "subject_id",
            "basis.dated",
            "basis.kind",
            "asked",
            "scope.categories",
            "scope.from"
        ]
    );
    let stranger = app
        .post_as(
            &officer,
            "/api/v1/compliance/disclosures",
            Some(&json!({
                "subject_id": Uuid::new_v4(),
                "basis": {"kind": "regulator", "request_number": "Т1-2-3/456", "dated": "2026-12-01"},
                "asked": "Сведения о заёмщике",
                "scope": {"categories": ["profile"]}
            })),
        )
        .await;
    assert_eq!(
        stranger.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["subject_id"]
    );
    assert_eq!(app.event_count().await, before);
    let support = app.staff("anna@k911.ru", Role::Support).await;
    app.get_as(&support, "/api/v1/compliance/disclosures")
        .await
        .problem(StatusCode::FORBIDDEN);
}
