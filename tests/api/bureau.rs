//! Credit bureau reporting (issue #16): each reportable event owes one report, due by the end of
//! the second working day after it (a holiday does not count); `/metrics` shows what is near or
//! past its deadline; the export writes the reports due once and marks them sent.

use axum::http::{Method, StatusCode};
use chrono::{TimeZone, Utc};
use k911_aggregates::incoming_payment::PaymentChannel;
use k911_tests::{Options, TestApp};
use serde_json::Value;

use crate::cabinet::customer;
use crate::loans::{move_clock, sign_first_loan};
use crate::payments::{notification, notify, SECRET};

/// A service whose clock starts on Tuesday 3 November 2026, 12:00 in Moscow: the 4th is a
/// holiday.
async fn spawn() -> TestApp {
    let mut options = Options {
        clock: k911_commands::clock::ManualClock::starting_at(
            Utc.with_ymd_and_hms(2026, 11, 3, 9, 0, 0).unwrap(),
        ),
        ..Options::default()
    };
    options
        .settings
        .payment_secrets
        .insert(PaymentChannel::SberbankOnline, SECRET.into());
    TestApp::spawn_with(options).await
}

/// The reports owed, in the order they were owed: (758-П event, event day, deadline, status).
async fn reports(app: &TestApp) -> Vec<(String, String, String, String)> {
    app.settle().await;
    sqlx::query_as(
        "SELECT request -> 'BureauReport' -> 'event' ->> 'kind',
                request -> 'BureauReport' ->> 'occurred_on', due_on::text, status
           FROM effects WHERE kind = 'bureau_report'
          ORDER BY (request -> 'BureauReport' ->> 'position')::bigint",
    )
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap()
}

async fn metric(app: &TestApp, standing: &str) -> String {
    let response = app.request(Method::GET, "/metrics", None, &[]).await;
    assert_eq!(response.status, StatusCode::OK);
    let text = String::from_utf8(response.bytes).unwrap();
    let prefix = format!("k911_bureau_reports{{standing=\"{standing}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
        .to_string()
}

fn owed(kind: &str, on: &str, due: &str, status: &str) -> (String, String, String, String) {
    (kind.into(), on.into(), due.into(), status.into())
}

#[tokio::test]
async fn each_reportable_event_owes_one_report_due_by_working_days_and_is_exported_once() {
    let app = spawn().await;
    let (token, _, _, _) = customer(&app).await;
    let (_, number) = sign_first_loan(&app, &token, "+79161234567").await;
    move_clock(&app, "2026-11-03T12:05:00+03:00").await;
    // Repaid in full on Thursday 5 November: 15 000 ₽ and two days' interest of 120 ₽.
    move_clock(&app, "2026-11-05T10:00:00+03:00").await;
    let paid = notify(
        &app,
        &notification("sb-1", &number, 1_524_000, "2026-11-05T10:00:00+03:00"),
        SECRET,
    )
    .await;
    assert!(paid.status.is_success(), "{:#}", paid.body);

    // Tuesday's events are due Friday 6 (Wednesday 4 is a holiday); Thursday's on Monday 9.
    let expected = vec![
        owed(
            "application_approved",
            "2026-11-03",
            "2026-11-06",
            "pending",
        ),
        owed("loan_issued", "2026-11-03", "2026-11-06", "pending"),
        owed("payment", "2026-11-05", "2026-11-09", "pending"),
        owed("closed", "2026-11-05", "2026-11-09", "pending"),
    ];
    assert_eq!(reports(&app).await, expected);
    // Handling the log again owes nothing more.
    app.replay_process_manager("bureau_reports").await;
    assert_eq!(reports(&app).await, expected);
    assert_eq!(metric(&app, "pending").await, "4");
    // On Thursday 5, Tuesday's two are due tomorrow.
    assert_eq!(metric(&app, "due_soon").await, "2");

    // On Saturday 7 November the first two are past their deadline.
    move_clock(&app, "2026-11-07T10:00:00+03:00").await;
    assert_eq!(metric(&app, "overdue").await, "2");

    // The export through Wednesday 4 takes Tuesday's two; the next one the rest, then none.
    let export = |through: &str| {
        let through = through.parse().unwrap();
        let app = &app;
        async move {
            let mut file = Vec::new();
            let exported = app.app.bureau.export(through, &mut file).await.unwrap();
            app.app
                .bureau
                .mark_sent(&exported, "test.jsonl")
                .await
                .unwrap();
            assert!(exported.erased.is_empty());
            String::from_utf8(file)
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str::<Value>(line).unwrap())
                .collect::<Vec<_>>()
        }
    };
    let first = export("2026-11-04").await;
    let events: Vec<&str> = first.iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["1.2", "2.2"]);
    let subject = &first[0]["subject"];
    assert_eq!(subject["C1_NAME"]["last_name"], "Иванов");
    assert_eq!(subject["C4_ID"]["number"], "123456");
    assert_eq!(first[1]["details"]["contract_number"], number.as_str());
    assert_eq!(first[1]["details"]["principal"], 1_500_000);
    let rest = export("2026-11-07").await;
    let events: Vec<&str> = rest.iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["2.3", "2.5"]);
    assert_eq!(rest[0]["details"]["amount"], 1_524_000);
    assert!(export("2026-11-07").await.is_empty());
    assert!(reports(&app)
        .await
        .iter()
        .all(|(_, _, _, status)| status == "done"));
    assert_eq!(metric(&app, "overdue").await, "0");
}
