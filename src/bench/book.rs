//! `k911-bench book`: a whole loan book, then each job that runs over it, measured one by one.
//!
//! How the book is made, and why that is the real thing. Each borrower's history is produced by
//! the real aggregates: the bench runs the commands the service would have run (register and
//! open the account; offer, sign, pay out; then the daily close's `Accrue` on the day the loan
//! falls overdue, and from then a `Remind` at 10:00 Moscow time each day; a year-old loan also
//! gets a repayment a month, which records its charges up to its day) through
//! `Account::handle` and `Loan::handle` with the service's own law editions, and appends the
//! events they decided through the event store's own repository (`Repository::persist`, the
//! group commit every command uses). Personal data is sealed with the real key store. What is
//! skipped is only the per-command load and round trip, which is what the measured daily close
//! then does for real. No read-model row is written: `k911 projections cut-over` starts the
//! process managers after the imported history (as after migrating a book from another system:
//! its payouts and SMS happened there), and the service's projectors build every read model
//! from the log while the bench times them.
//!
//! Then, against `k911 serve` and the `k911` commands as child processes on that database:
//! the projectors' catch-up (events/s), the daily close of every loan (`k911 jobs run` as of
//! the next day), a command on a year-old loan against one on a fresh loan, the log's size per
//! loan-day, and the service's peak memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent};
use futures::StreamExt;
use k911_aggregates::account::{Account, AccountCommand};
use k911_aggregates::incoming_payment::PaymentChannel;
use k911_aggregates::loan::law::LawEditions;
use k911_aggregates::loan::reminders::ReminderRules;
use k911_aggregates::loan::{ContractNumber, Loan, LoanCommand, OfferTerms};
use k911_aggregates::loan_application::applicant::{
    Applicant, CyrillicName, DivisionCode, Employment, EmploymentStatus, OfficialText, Passport,
    PassportNumber, PassportSeries, PayoutMethod,
};
use k911_aggregates::loan_application::{
    Assessment, DeclaredFinances, LendingPolicy, LoanApplication, LoanApplicationCommand,
    LoanApplicationEvent, LoanRequest,
};
use k911_aggregates::money::{DailyRate, Kopecks};
use k911_aggregates::regions::LocalTimeZone;
use k911_aggregates::values::{Email, Phone};
use k911_commands::clock::ManualClock;
use k911_commands::App;
use k911_event_store::append::Repository;
use k911_event_store::batch::decide;
use k911_event_store::Database;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::k911_command;

/// What `book` builds.
#[derive(Debug, Clone, clap::Args)]
pub struct BookArgs {
    /// Active loans in the book.
    #[arg(long, default_value_t = 100_000)]
    loans: usize,
    /// Days of history of each loan.
    #[arg(long, default_value_t = 30)]
    days: u64,
    /// Of them, loans with a year of history (charges every day, a repayment a month).
    #[arg(long, default_value_t = 1_000)]
    year_loans: usize,
    /// Borrowers who log in to the cabinet, picked at random; the load reads their loans.
    #[arg(long, default_value_t = 500)]
    logins: usize,
    /// Concurrent cabinet clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds of cabinet load.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// With more than one, the cabinet load runs again spread over this many instances of
    /// `k911 serve` on the one database.
    #[arg(long, default_value_t = 1)]
    instances: usize,
}

/// The password of the borrowers who log in to the cabinet during the benchmark.
const PASSWORD: &str = "book benchmark password";
/// The book's first day: the year-old loans were issued then.
const FIRST_DAY: (i32, u32, u32) = (2025, 12, 1);
/// Borrowers made at once (each is two appends; the group commit batches them).
const AT_ONCE: usize = 64;

/// One borrower's place in the book.
struct Borrower {
    index: usize,
    year: bool,
}

pub async fn run(args: &BookArgs, k911: &std::path::Path, url: &str) -> anyhow::Result<()> {
    let first_day = NaiveDate::from_ymd_opt(FIRST_DAY.0, FIRST_DAY.1, FIRST_DAY.2).unwrap();
    // The measured close runs on the day after the last day of history.
    let close_day = first_day + Days::new(365);
    // Making the book, 16 connections; then few: the service (40), `jobs run` and `payments
    // import` (32 write connections each, one at a time) share PostgreSQL's 100 with it.
    let making = Database::connect(url, k911_event_store::connect::PoolSizes::both(16)).await?;
    making.migrate().await?;
    let db = Database::connect(url, k911_event_store::connect::PoolSizes::both(4)).await?;
    let app = bench_app(&making, close_day)?;

    println!(
        "k911-bench book: {} loans with {} days of history, {} of them with 365",
        args.loans, args.days, args.year_loans
    );
    let started = Instant::now();
    let maker = Arc::new(Maker::new(app, making, first_day, close_day, args.days));
    let made: Vec<Made> = futures::stream::iter((0..args.loans).map(|index| Borrower {
        index,
        year: index < args.year_loans,
    }))
    .map(|borrower| {
        let maker = maker.clone();
        async move { maker.make(borrower).await }
    })
    .buffer_unordered(AT_ONCE)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<anyhow::Result<_>>()?;
    // Its connections closed.
    drop(maker);
    let events: usize = made.iter().map(|m| m.events).sum();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "book made: {events} events in {seconds:.0} s ({:.0} events/s appended)",
        events as f64 / seconds
    );
    let (log_bytes, event_rows) = log_size(&db).await?;
    let loan_days =
        (args.loans - args.year_loans) as u64 * args.days + args.year_loans as u64 * 365;
    println!(
        "log: {:.1} MB for {event_rows} events ({:.0} B an event with its indexes), {:.0} B per loan-day",
        log_bytes as f64 / 1e6,
        log_bytes as f64 / event_rows as f64,
        log_bytes as f64 / loan_days as f64,
    );

    // As after any bulk load: the planner's statistics of the log (autovacuum would get there
    // within minutes; the log reads' plans depend on them).
    sqlx::query("ANALYZE").execute(&db.sqlx).await?;
    k911_command(k911, url, &["projections", "cut-over"], &[]).await?;

    // The service, its clock at 23:00 Moscow time on the last day of history: its scheduler
    // finds every loan charged and every debtor in quiet hours, so the projectors are timed
    // alone.
    let last_evening = evening(close_day - Days::new(1)) + chrono::Duration::hours(2);
    let last_evening = last_evening.to_rfc3339();
    let service_clock = [
        ("K911_CLOCK", "manual"),
        ("K911_CLOCK_START", last_evening.as_str()),
    ];
    let service = crate::Service::start(k911, url, &service_clock).await?;
    let started = Instant::now();
    wait_for_read_models(&db).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "read models built from the log by the service's projectors: {event_rows} events in {seconds:.0} s ({:.0} events/s)",
        event_rows as f64 / seconds
    );
    let states: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM read.loans GROUP BY status ORDER BY status")
            .fetch_all(&db.sqlx)
            .await?;
    let overdue: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM read.loans WHERE status = 'active' AND overdue_since IS NOT NULL",
    )
    .fetch_one(&db.sqlx)
    .await?;
    println!("loans by status: {states:?}, {overdue} of the active ones overdue");
    let set_aside: i64 = sqlx::query_scalar("SELECT count(*) FROM projection_failures")
        .fetch_one(&db.sqlx)
        .await?;
    if set_aside > 0 {
        bail!("{set_aside} events were set aside by read models: the book is not consistent");
    }

    // The daily close of the next day, as the scheduler runs it, with the service running.
    let close_at = Utc.from_utc_datetime(&close_day.and_hms_opt(0, 5, 0).unwrap())
        - chrono::Duration::hours(3);
    let output = jobs_run(k911, url, close_at).await?;
    println!("daily close ({}): {}", close_day, output.trim());
    // The same day at 10:05 Moscow time: every overdue debtor of the Moscow zone is in hours, so
    // each one's reminder is decided (and, the law and the pace allowing, sent).
    let output = jobs_run(k911, url, close_at + chrono::Duration::hours(10)).await?;
    println!("reminders (10:05 Moscow time): {}", output.trim());
    // Their SMS go out through the service's process manager and effects outbox: all done, or
    // three minutes given, before the next phase.
    let started = Instant::now();
    wait_for_read_models(&db).await?;
    let (sent, pending) = drain_effects(&db, Duration::from_secs(180)).await?;
    println!(
        "reminder SMS through the effects outbox: {sent} sent, {pending} pending after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    registry_import(k911, url, &db, &made, close_day).await?;
    // Every read model dropped and replayed from the log, the service's projectors waiting.
    let rebuilt = k911_command(k911, url, &["projections", "rebuild"], &[]).await?;
    println!("rebuild:\n{}", rebuilt.trim_end());
    let client: crate::HttpClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(args.clients)
            .build_http();
    let sessions = log_in_borrowers(&client, &service.addr, &made, args.logins).await?;
    let cabinet = |what: &str, series: &crate::Series| {
        println!(
            "cabinet GET /api/v1/me/loans/{{id}}{what}, {} clients over {} borrowers: {:.0} reads/s, p50 {:.2} ms, p99 {:.2} ms ({} failed)",
            args.clients,
            sessions.len(),
            series.ok as f64 / args.duration as f64,
            series.percentile(50.0),
            series.percentile(99.0),
            series.failed
        )
    };
    let one = [service.addr.clone()];
    let cpu = crate::CpuShares::start(vec![service.pid]);
    let duration = Duration::from_secs(args.duration);
    cabinet(
        "",
        &cabinet_load(&client, &one, &sessions, args, duration).await?,
    );
    println!("  {cpu}");
    // Again, with an analyst's heavy query running back to back beside it.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let analyst = tokio::spawn(analyst_loop(url.to_string(), close_day, stop.clone()));
    let beside = cabinet_load(&client, &one, &sessions, args, duration).await?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let analyst = analyst.await??;
    cabinet(" beside the analyst's query", &beside);
    println!(
        "  the analyst's query (a month's repayments by day and channel): {} runs, p50 {:.1} ms",
        analyst.ok,
        analyst.percentile(50.0)
    );
    if args.instances > 1 {
        let mut others = vec![];
        for _ in 1..args.instances {
            others.push(crate::Service::start(k911, url, &service_clock).await?);
        }
        let addrs: Vec<String> = std::iter::once(&service)
            .chain(&others)
            .map(|s| s.addr.clone())
            .collect();
        // The new instances' pools and prepared statements warmed up first, unmeasured.
        cabinet_load(&client, &addrs, &sessions, args, duration / 4).await?;
        let pids = std::iter::once(&service).chain(&others).map(|s| s.pid);
        let cpu = crate::CpuShares::start(pids.collect());
        let spread = cabinet_load(&client, &addrs, &sessions, args, duration).await?;
        cabinet(&format!(" over {} instances", addrs.len()), &spread);
        println!("  {cpu}");
        for other in others {
            other.stop().await;
        }
    }

    let (fresh, year) = command_costs(&db, &made).await?;
    println!(
        "a command (a time-zone change) on a loan {} days old: p50 {:.2} ms; a year old: p50 {:.2} ms (ratio {:.2})",
        args.days,
        fresh,
        year,
        year / fresh
    );
    println!("service peak resident memory: {}", service.peak_memory());
    service.stop().await;
    Ok(())
}

/// The application the bench makes borrowers with: the service's own, on the manual clock.
fn bench_app(db: &Database, close_day: NaiveDate) -> anyhow::Result<App> {
    let clock = ManualClock::starting_at(evening(close_day));
    let clock: Arc<dyn k911_commands::clock::Clock> = Arc::new(clock);
    let ports = k911_commands::notify::Ports::development_answering_after(
        db.sqlx.clone(),
        clock.clone(),
        Duration::ZERO,
    );
    Ok(App::new(
        db.clone(),
        &k911_event_store::keys::MasterKey::from_base64(crate::MASTER_KEY)?,
        clock,
        Arc::new(k911_commands::ids::RandomIds),
        ports,
        k911_commands::Settings::default(),
        vec![],
    ))
}

/// 21:00 Moscow time of `day`.
fn evening(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(18, 0, 0).unwrap())
}

/// What one borrower left in the log.
struct Made {
    index: usize,
    loan_id: Uuid,
    contract_number: String,
    year: bool,
    events: usize,
}

/// Makes borrowers through the real aggregates.
struct Maker {
    app: App,
    repository: Repository,
    law: LawEditions,
    reminders: ReminderRules,
    first_day: NaiveDate,
    close_day: NaiveDate,
    days: u64,
    /// The one argon2id hash of [`PASSWORD`], stored for every borrower who logs in.
    password_hash: String,
}

impl Maker {
    fn new(app: App, db: Database, first_day: NaiveDate, close_day: NaiveDate, days: u64) -> Self {
        Self {
            app,
            repository: Repository::new(db.sqlx.clone(), db.appends.clone()),
            law: LawEditions::default(),
            reminders: ReminderRules::default(),
            first_day,
            close_day,
            days,
            password_hash: k911_commands::auth::hash_password(PASSWORD),
        }
    }

    async fn make(&self, borrower: Borrower) -> anyhow::Result<Made> {
        let mut rng = StdRng::seed_from_u64(borrower.index as u64);
        let keys = &self.app.core.keys;
        let customer_id = keys.new_subject().await?;
        let application_id = Uuid::now_v7();
        let phone = Phone::parse(&format!("+7916{:07}", borrower.index))?;
        let email = Email::parse(&format!("borrower{}@book.k911.ru", borrower.index))?;
        let (issued_on, days) = match borrower.year {
            true => (self.first_day, 365),
            false => (self.close_day - Days::new(self.days), self.days),
        };
        let opened_at = Utc.from_utc_datetime(&issued_on.and_hms_opt(7, 0, 0).unwrap());

        // The account, with a password for the cabinet.
        let credential = k911_event_store::credentials::store(
            &self.app.core.db.sqlx,
            customer_id,
            &self.password_hash,
        )
        .await?;
        let identities = [
            ("phone", keys.lookup_hash(phone.as_str())),
            (
                "email",
                keys.lookup_hash(&k911_commands::onboarding::email_key(&email)),
            ),
        ];
        self.app
            .onboarding
            .reserve_identities(customer_id, &identities)
            .await?;
        let mut account = Account::default();
        let mut account_events = vec![];
        for command in [
            AccountCommand::RegisterCustomer {
                application_id,
                phone: keys.seal(customer_id, &phone).await?,
                email: Some(keys.seal(customer_id, &email).await?),
                at: opened_at,
            },
            AccountCommand::OpenCustomer {
                application_id,
                password: Some(credential),
                at: opened_at,
            },
        ] {
            account_events.extend(decide(&mut account, command, &()).await?);
        }

        // The application: submitted with the registration, approved.
        let principal = Kopecks::new(rng.gen_range(30..=300) * 10_000)?;
        let (term_days, rate) = match borrower.year {
            // Charged every day of a year without reaching the cap.
            true => (30, "0.2"),
            false if rng.gen_bool(0.7) => (30, "0.8"),
            false => (rng.gen_range(7..30), "0.8"),
        };
        let daily_rate = DailyRate::parse(rate)?;
        let payout = keys
            .seal(
                customer_id,
                &PayoutMethod::Card {
                    card_token: format!("book-{}", borrower.index),
                    masked_pan: "220070******4242".into(),
                },
            )
            .await?;
        let income = Kopecks::new(6_000_000)?;
        let declared = DeclaredFinances {
            monthly_income: income,
            monthly_payments: Kopecks::new(0)?,
        };
        let policy = LendingPolicy {
            product: self.app.core.settings.product.clone(),
            law: self.law.clone(),
        };
        let mut application = LoanApplication::default();
        let mut application_events = vec![];
        for command in [
            LoanApplicationCommand::Submit {
                customer_id,
                applicant: keys
                    .seal(customer_id, &applicant(&phone, &email, income)?)
                    .await?,
                loan: LoanRequest {
                    amount: principal,
                    term_days,
                },
                payout: payout.clone(),
                referral_code: None,
                repeat: false,
                consents: None,
                at: opened_at,
            },
            LoanApplicationCommand::Approve {
                underwriter_id: Uuid::nil(),
                amount: None,
                term_days: None,
                daily_rate: Some(daily_rate),
                assessment: Assessment {
                    monthly_income: income,
                    monthly_payments: Kopecks::new(0)?,
                    credit_history: vec![],
                    declared: keys.seal(customer_id, &declared).await?,
                },
                at: opened_at,
            },
        ] {
            application_events.extend(decide(&mut application, command, &policy).await?);
        }
        // The loan's id follows from the approval, as the lending process makes it.
        let approval = application_events
            .iter()
            .position(|e| matches!(e, LoanApplicationEvent::ApplicationApproved { .. }))
            .context("the application was not approved")?;
        let loan_id = k911_commands::lending::loan_id_for(application_id, approval as i64 + 1);

        // The loan: offered, signed, paid out, then every day of its history.
        let mut loan = Loan::default();
        let mut loan_events = vec![];
        let payout_id = Uuid::now_v7();
        let number = ContractNumber::new(issued_on, borrower.index as i64 + 1);
        let terms = OfferTerms {
            application_id,
            customer_id,
            contract_number: number.clone(),
            principal,
            term_days,
            daily_rate,
            payout,
            contract_date: issued_on,
            rules: self.law.for_contract(issued_on).clone(),
            expires_at: opened_at + chrono::Duration::days(3),
            time_zone: LocalTimeZone::MOSCOW,
            pdn_percent: None,
        };
        let opening = [
            LoanCommand::Offer {
                terms: Box::new(terms),
                at: opened_at,
            },
            LoanCommand::Sign { at: opened_at },
            LoanCommand::RequestPayout {
                payout_id,
                at: opened_at,
            },
            LoanCommand::ConfirmPayout {
                payout_id,
                on: issued_on,
                at: opened_at,
            },
        ];
        for command in opening {
            loan_events.extend(decide(&mut loan, command, &self.law).await?);
        }
        for n in 0..days {
            let day = issued_on + Days::new(n);
            // The daily close records a charge only at the fall overdue: the days between are
            // derived from the loan's course.
            if loan.course().is_some_and(|c| c.falls_overdue_by(day)) {
                let accrue = LoanCommand::Accrue { through: day };
                loan_events.extend(decide(&mut loan, accrue, &self.law).await?);
            }
            if borrower.year && n > 0 && n % 30 == 0 {
                let paid_at = Utc.from_utc_datetime(&day.and_hms_opt(9, 0, 0).unwrap());
                let payment = LoanCommand::ApplyPayment {
                    channel: PaymentChannel::SberbankOnline,
                    external_id: format!("book-{}-{n}", borrower.index),
                    amount: Kopecks::new(100_000)?,
                    paid_at,
                    paid_on: day,
                };
                loan_events.extend(decide(&mut loan, payment, &self.law).await?);
            }
            let remind = LoanCommand::Remind {
                at: Utc.from_utc_datetime(&day.and_hms_opt(7, 0, 0).unwrap()),
                rules: self.reminders.clone(),
            };
            if loan.due_on().is_some_and(|due| due < day) {
                loan_events.extend(decide(&mut loan, remind, &self.law).await?);
            }
        }

        let events = account_events.len() + application_events.len() + loan_events.len();
        self.append::<Account>(customer_id, account_events).await?;
        self.append::<LoanApplication>(application_id, application_events)
            .await?;
        self.append::<Loan>(loan_id, loan_events).await?;
        let client = self.app.core.db.pg.get().await?;
        k911_commands::lending::register_contract(&**client, &number, loan_id, customer_id).await?;
        Ok(Made {
            index: borrower.index,
            loan_id,
            contract_number: number.to_string(),
            year: borrower.year,
            events,
        })
    }

    /// Appends an aggregate's whole history as its commands would have, the system acting.
    async fn append<A: Aggregate>(&self, id: Uuid, events: Vec<A::Event>) -> anyhow::Result<()> {
        let metadata = serde_json::json!({"actor_role": "system", "channel": "scheduler"});
        let serialized: Vec<SerializedEvent> = events
            .into_iter()
            .enumerate()
            .map(|(i, event)| {
                Ok(SerializedEvent::new(
                    id.to_string(),
                    i + 1,
                    A::TYPE.to_string(),
                    event.event_type(),
                    event.event_version(),
                    serde_json::to_value(&event)?,
                    metadata.clone(),
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        // At most a few hundred events go in one statement.
        for chunk in serialized.chunks(200) {
            self.repository.persist::<A>(chunk, None).await?;
        }
        Ok(())
    }
}

/// A borrower as the application form gives them.
fn applicant(phone: &Phone, email: &Email, income: Kopecks) -> anyhow::Result<Applicant> {
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).context("a date");
    Ok(Applicant {
        last_name: CyrillicName::parse("Петров")?,
        first_name: CyrillicName::parse("Иван")?,
        middle_name: Some(CyrillicName::parse("Сергеевич")?),
        birth_date: day(1990, 5, 14)?,
        birth_place: OfficialText::parse("г. Москва")?,
        passport: Passport {
            series: PassportSeries::parse("4510")?,
            number: PassportNumber::parse(&phone.as_str()[6..])?,
            issued_on: day(2010, 6, 1)?,
            issued_by: OfficialText::parse("ОВД района Арбат г. Москвы")?,
            division_code: DivisionCode::parse("770-001")?,
        },
        registration_address: OfficialText::parse("г. Москва, ул. Арбат, д. 1, кв. 1")?,
        registration_region: None,
        residence_address: None,
        residence_region: None,
        time_zone: LocalTimeZone::MOSCOW,
        phone: phone.clone(),
        email: Some(email.clone()),
        employment: Employment {
            status: EmploymentStatus::Employed,
            employer: Some(OfficialText::parse("ООО «Ромашка»")?),
            position: Some(OfficialText::parse("инженер")?),
        },
        monthly_income: income,
    })
}

/// A registry of payments to a tenth of the book (a 500 ₽ repayment each, on the close day) through
/// `k911 payments import`, twice: the first applies every row, the second finds each a
/// duplicate. Prints rows/s and checks each payment reached its loan exactly once.
async fn registry_import(
    k911: &std::path::Path,
    url: &str,
    db: &Database,
    made: &[Made],
    close_day: NaiveDate,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(911);
    let rows = (made.len() / 10).max(1);
    let paid_at = Utc.from_utc_datetime(&close_day.and_hms_opt(7, 0, 0).unwrap());
    let mut csv = String::from("external_id,contract_number,amount_kopecks,paid_at\n");
    let picked = rand::seq::index::sample(&mut rng, made.len(), rows);
    for i in picked.iter() {
        let m = &made[i];
        csv.push_str(&format!(
            "reg-{}-{},{},50000,{}\n",
            close_day,
            m.index,
            m.contract_number,
            paid_at.to_rfc3339()
        ));
    }
    let file = std::env::temp_dir().join(format!("k911-book-registry-{}.csv", std::process::id()));
    std::fs::write(&file, csv)?;
    let import_at = paid_at + chrono::Duration::hours(2);
    // Its own process, with as many write connections as the close (its batches in flight use
    // a few of them).
    let env = [
        ("K911_CLOCK", "manual"),
        ("K911_CLOCK_START", &import_at.to_rfc3339()),
        ("K911_WRITE_POOL_SIZE", "32"),
    ];
    let path = file.to_string_lossy().to_string();
    let args = [
        "payments",
        "import",
        "--channel",
        "sberbank_online",
        path.as_str(),
    ];
    let started = Instant::now();
    let first = k911_command(k911, url, &args, &env).await?;
    let seconds = started.elapsed().as_secs_f64();
    let again = k911_command(k911, url, &args, &env).await?;
    std::fs::remove_file(&file).ok();
    let applied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'PaymentReceived'
            AND payload->'PaymentReceived'->>'external_id' LIKE 'reg-%'",
    )
    .fetch_one(&db.sqlx)
    .await?;
    println!(
        "registry of {rows} rows: {:.0} rows/s ({seconds:.1} s): {}; again: {}; payments on loans: {applied}",
        rows as f64 / seconds,
        first.lines().last().unwrap_or_default(),
        again.lines().last().unwrap_or_default(),
    );
    if applied != rows as i64 {
        bail!("{applied} payments reached loans for {rows} rows");
    }
    Ok(())
}

/// A borrower logged in to the cabinet: the session's token and the loan to read.
type Session = (String, Uuid);

/// `logins` random borrowers logged in, for the cabinet load.
async fn log_in_borrowers(
    client: &crate::HttpClient,
    addr: &str,
    made: &[Made],
    logins: usize,
) -> anyhow::Result<Arc<Vec<Session>>> {
    let mut rng = StdRng::seed_from_u64(16);
    let mut sessions = vec![];
    for i in rand::seq::index::sample(&mut rng, made.len(), logins.min(made.len())).iter() {
        let email = format!("borrower{}@book.k911.ru", made[i].index);
        let token = crate::log_in(client, addr, &email, PASSWORD).await?;
        sessions.push((token, made[i].loan_id));
    }
    Ok(Arc::new(sessions))
}

/// `clients` concurrent borrowers reading their loan page, each request a random session's,
/// each client at one of `addrs` in turn.
async fn cabinet_load(
    client: &crate::HttpClient,
    addrs: &[String],
    sessions: &Arc<Vec<Session>>,
    args: &BookArgs,
    duration: Duration,
) -> anyhow::Result<crate::Series> {
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..args.clients)
        .map(|c| {
            let addr = addrs[c % addrs.len()].clone();
            let (client, sessions) = (client.clone(), sessions.clone());
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(c as u64);
                let mut series = crate::Series::default();
                while Instant::now() < deadline {
                    let (token, loan_id) = &sessions[rng.gen_range(0..sessions.len())];
                    let path = format!("/api/v1/me/loans/{loan_id}");
                    let started = Instant::now();
                    let result =
                        crate::request(&client, &addr, "GET", &path, Some(token), None).await;
                    series.record(matches!(result, Ok((200, _))), started);
                }
                series
            })
        })
        .collect();
    let mut total = crate::Series::default();
    for task in tasks {
        total.merge(task.await?);
    }
    Ok(total)
}

/// The heavy analyst query of issue #15: a month's repayments over the whole book, by day and
/// channel, as the analysts' role runs it.
const ANALYST_QUERY: &str = "
SELECT paid_on, channel, count(*), sum(amount_kopecks)::bigint
  FROM read.loan_payments
 WHERE paid_on > $1::date - 30 AND paid_on <= $1::date
 GROUP BY paid_on, channel ORDER BY paid_on, channel";

/// Runs [`ANALYST_QUERY`] back to back on one connection of the analysts' role until `stop`:
/// how many times, and its p50 in milliseconds.
async fn analyst_loop(
    url: String,
    close_day: NaiveDate,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<crate::Series> {
    use sqlx::Connection;
    let mut analyst = sqlx::PgConnection::connect(&url).await?;
    sqlx::query("SET ROLE k911_analyst")
        .execute(&mut analyst)
        .await?;
    let mut series = crate::Series::default();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let started = Instant::now();
        let rows = sqlx::query(ANALYST_QUERY)
            .bind(close_day)
            .fetch_all(&mut analyst)
            .await?;
        series.record(!rows.is_empty(), started);
    }
    Ok(series)
}

/// The events table with its indexes, and its rows.
async fn log_size(db: &Database) -> anyhow::Result<(i64, i64)> {
    Ok(
        sqlx::query_as("SELECT pg_total_relation_size('events'), (SELECT count(*) FROM events)")
            .fetch_one(&db.sqlx)
            .await?,
    )
}

/// `k911 jobs run` as of `at`: its own process, with a connection for each loan in flight.
async fn jobs_run(k911: &std::path::Path, url: &str, at: DateTime<Utc>) -> anyhow::Result<String> {
    let env = [
        ("K911_CLOCK", "manual"),
        ("K911_CLOCK_START", &at.to_rfc3339()),
        ("K911_WRITE_POOL_SIZE", "32"),
    ];
    k911_command(k911, url, &["jobs", "run"], &env).await
}

/// Waits until the effects outbox has nothing pending, at most `limit`: how many effects were
/// done, and how many are still pending.
async fn drain_effects(db: &Database, limit: Duration) -> anyhow::Result<(i64, i64)> {
    let deadline = Instant::now() + limit;
    loop {
        // Bureau reports wait for `k911 bureau export`, not for the worker.
        let (done, pending): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'done'),
                    count(*) FILTER (WHERE status = 'pending')
               FROM effects WHERE kind <> 'bureau_report'",
        )
        .fetch_one(&db.sqlx)
        .await?;
        if pending == 0 || Instant::now() >= deadline {
            return Ok((done, pending));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_for_read_models(db: &Database) -> anyhow::Result<()> {
    loop {
        let behind: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM projection_checkpoints
              WHERE global_position < (SELECT max(global_position) FROM events)",
        )
        .fetch_one(&db.sqlx)
        .await?;
        if behind == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// p50 of a one-event command on loans of the book's length and on year-old ones, through the
/// service's own store. The book was appended without snapshots, so each loan first gets one
/// command, unmeasured, which leaves its snapshot where the running service's commands along
/// the year would have: the measured one is the next.
async fn command_costs(db: &Database, made: &[Made]) -> anyhow::Result<(f64, f64)> {
    let cqrs = k911_event_store::store::cqrs::<Loan>(db, LawEditions::default());
    let mut timings: HashMap<bool, Vec<f64>> = HashMap::new();
    for year in [false, true] {
        for m in made.iter().filter(|m| m.year == year).take(200) {
            let id = m.loan_id.to_string();
            for (zone, measured) in [("Asia/Yekaterinburg", false), ("Europe/Samara", true)] {
                let command = LoanCommand::ChangeTimeZone {
                    time_zone: LocalTimeZone::parse(zone)?,
                    at: Utc::now(),
                };
                let started = Instant::now();
                cqrs.framework.execute(&id, command).await?;
                if measured {
                    timings
                        .entry(year)
                        .or_default()
                        .push(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
    }
    let p50 = |year: bool| {
        let mut t = timings.get(&year).cloned().unwrap_or_default();
        t.sort_by(f64::total_cmp);
        t.get(t.len() / 2).copied().unwrap_or(f64::NAN)
    };
    Ok((p50(false), p50(true)))
}
