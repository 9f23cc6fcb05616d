//! k911's own snapshots (`event-store/src/snapshot.rs`): a loan with a year of daily charges is
//! loaded from its latest snapshot and the events after it, to the state its whole history gives;
//! a snapshot of other code is never used.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::EventStore;
use k911_aggregates::loan::law::LawEditions;
use k911_aggregates::loan::{ContractNumber, Loan, LoanCommand, LoanStatus, OfferTerms};
use k911_aggregates::money::{DailyRate, Kopecks};
use k911_aggregates::regions::LocalTimeZone;
use k911_aggregates::upcast::Upcasters;
use k911_aggregates::{Sealed, CODE_VERSION};
use k911_event_store::append::Repository;
use k911_event_store::snapshot::SNAPSHOT_EVERY;
use k911_event_store::store;
use k911_tests::TestApp;
use uuid::Uuid;

fn day(n: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 10).unwrap() + Days::new(n)
}

fn at(n: u64) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day(n).and_hms_opt(9, 0, 0).unwrap())
}

/// 30 000 ₽ for a year at 0.2 % a day: a charge every day of the term.
fn year_terms(law: &LawEditions) -> OfferTerms {
    OfferTerms {
        application_id: Uuid::now_v7(),
        customer_id: Uuid::now_v7(),
        contract_number: ContractNumber::new(day(0), 1),
        principal: Kopecks::new(3_000_000).unwrap(),
        term_days: 365,
        daily_rate: DailyRate::parse("0.2").unwrap(),
        payout: Sealed::new(Uuid::nil(), "n".into(), "c".into()),
        contract_date: day(0),
        rules: law.for_contract(day(0)).clone(),
        expires_at: at(3),
        time_zone: LocalTimeZone::MOSCOW,
        pdn_percent: None,
    }
}

/// The loan loaded from every one of its events, with no snapshot.
async fn replayed(app: &TestApp, id: &str) -> (usize, serde_json::Value) {
    let plain = PersistedEventStore::<_, Loan>::new_event_store(Repository::new(
        app.db.sqlx.clone(),
        app.db.appends.clone(),
    ))
    .with_upcasters(vec![Box::new(Upcasters)]);
    let context = plain.load_aggregate(id).await.unwrap();
    (
        context.current_sequence,
        serde_json::to_value(&context.aggregate).unwrap(),
    )
}

async fn loaded(app: &TestApp, id: &str) -> (usize, serde_json::Value, LoanStatus) {
    let context = store::store::<Loan>(&app.db)
        .load_aggregate(id)
        .await
        .unwrap();
    (
        context.current_sequence,
        serde_json::to_value(&context.aggregate).unwrap(),
        context.aggregate.status(),
    )
}

/// The loan loaded among others, as a registry import loads its loans.
async fn loaded_in_a_batch(app: &TestApp, id: &str) -> (usize, serde_json::Value) {
    let other = Uuid::now_v7().to_string();
    let ids = [id.to_string(), other.clone()];
    let loaded = k911_event_store::batch::load_many::<Loan>(&app.db, &ids)
        .await
        .unwrap();
    assert_eq!(
        loaded[&other].current_sequence, 0,
        "a loan with no events is new"
    );
    let context = &loaded[id];
    (
        context.current_sequence,
        serde_json::to_value(&context.aggregate).unwrap(),
    )
}

#[tokio::test]
async fn a_year_old_loan_loads_from_its_snapshot_to_the_state_its_whole_history_gives() {
    let app = TestApp::spawn().await;
    let law = LawEditions::default();
    let cqrs = store::cqrs::<Loan>(&app.db, law.clone());
    let loan_id = Uuid::now_v7();
    let id = loan_id.to_string();
    // The payout the lending process asks for once the contract is signed (it runs beside this
    // test): whoever asks first, it is the same one.
    let payout_id = k911_commands::lending::payout_id_for(loan_id);
    let opening = [
        LoanCommand::Offer {
            terms: Box::new(year_terms(&law)),
            at: at(0),
        },
        LoanCommand::Sign { at: at(0) },
        LoanCommand::RequestPayout {
            payout_id,
            at: at(0),
        },
        LoanCommand::ConfirmPayout {
            payout_id,
            on: day(0),
            at: at(0),
        },
    ];
    for command in opening {
        // The lending process asks for the same payout once the contract is signed: whichever
        // of the two appends second meets the other's event and tries again, as any caller does.
        loop {
            match cqrs.framework.execute(&id, command.clone()).await {
                Err(cqrs_es::AggregateError::AggregateConflict) => continue,
                done => break done.unwrap(),
            }
        }
    }
    for n in 1..=365 {
        let accrue = LoanCommand::Accrue { through: day(n) };
        cqrs.framework.execute(&id, accrue).await.unwrap();
    }

    let (events, whole) = replayed(&app, &id).await;
    assert_eq!(events, 4 + 365, "a charge a day");
    assert_eq!(
        snapshot(&app, &id).await,
        (events - events % SNAPSHOT_EVERY, CODE_VERSION.to_string())
    );
    let (at_sequence, state, status) = loaded(&app, &id).await;
    assert_eq!((at_sequence, &state), (events, &whole));
    assert_eq!(status, LoanStatus::Active);
    assert_eq!(loaded_in_a_batch(&app, &id).await, (events, whole.clone()));

    // The snapshot is what a load starts from: edited, the load shows the edit.
    sqlx::query(
        "UPDATE aggregate_snapshots SET state = jsonb_set(state, '{status}', '\"Closed\"')
          WHERE aggregate_id = $1",
    )
    .bind(&id)
    .execute(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(loaded(&app, &id).await.2, LoanStatus::Closed);

    // Taken by other code, it is not used: the whole history is replayed.
    sqlx::query("UPDATE aggregate_snapshots SET code_version = 'other' WHERE aggregate_id = $1")
        .bind(&id)
        .execute(&app.db.sqlx)
        .await
        .unwrap();
    assert_eq!(
        loaded(&app, &id).await,
        (events, whole.clone(), LoanStatus::Active)
    );
    assert_eq!(loaded_in_a_batch(&app, &id).await, (events, whole));

    // The next command after a load of the whole history leaves a snapshot of it at once.
    let accrue = LoanCommand::Accrue { through: day(366) };
    cqrs.framework.execute(&id, accrue).await.unwrap();
    let (now, _) = replayed(&app, &id).await;
    assert!(now > events);
    assert_eq!(snapshot(&app, &id).await, (now, CODE_VERSION.to_string()));
}

/// The loan's snapshot: its event number and the code that took it.
async fn snapshot(app: &TestApp, id: &str) -> (usize, String) {
    let (sequence, version): (i64, String) = sqlx::query_as(
        "SELECT sequence, code_version FROM aggregate_snapshots
          WHERE aggregate_type = 'Loan' AND aggregate_id = $1",
    )
    .bind(id)
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    (sequence as usize, version)
}
