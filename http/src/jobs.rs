//! The scheduled jobs: the loan book (a read model) says which loans to visit, each loan decides
//! what happens to it. Run every few seconds by `k911 serve`, and at once when the development
//! clock moves.

use std::time::{Duration, Instant};

use k911_aggregates::agent::values::Month;
use k911_commands::clock::moscow_date;
use k911_commands::App;
use k911_projections::Reader;
use tokio::task::JoinHandle;

/// How often the housekeeping runs under `serve`: its sweeps read the log, and nothing in them
/// is urgent to the minute.
const TIDY_EVERY: Duration = Duration::from_secs(60);

/// One run: [`loan_jobs`], then the housekeeping that visits no loan.
pub async fn run(app: &App, reader: &Reader) -> Visited {
    let visited = loan_jobs(app, reader).await;
    app.tidy_up().await;
    visited
}

/// How many of each kind a run of the loan jobs visited.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Visited {
    pub payouts: usize,
    pub refunds: usize,
    /// Active loans the daily close covered (their charges are derived to the day; only a turn
    /// of their course is recorded): counted by `k911 jobs run` for its report, not by the
    /// scheduler.
    pub active: usize,
    /// Loans whose fall overdue (and the charges up to it) was recorded.
    pub fell_overdue: usize,
    /// Overdue loans whose reminder was decided.
    pub reminded: usize,
    pub lapsed_offers: usize,
    pub commission_payouts: usize,
    /// Refused deletion requests decided again on the day they named (or their application's
    /// decision) that recorded something.
    pub erasures: usize,
}

impl std::fmt::Display for Visited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "daily close of {} active loans ({} fell overdue, {} overdue with reminders \
             decided), {} lapsed offers, {} payouts and {} refunds awaiting an answer, \
             {} commission payouts, {} erasures decided again",
            self.active,
            self.fell_overdue,
            self.reminded,
            self.lapsed_offers,
            self.payouts,
            self.refunds,
            self.commission_payouts,
            self.erasures
        )
    }
}

/// The provider asked about payouts and refunds, then (with the loans that just paid out) the
/// fall overdue of loans past their due date, reminders and lapsed offers. One loan's failure is logged and
/// skipped (the `App` methods isolate each loan), and a list that cannot be read skips only its
/// own job.
pub async fn loan_jobs(app: &App, reader: &Reader) -> Visited {
    let mut visited = Visited::default();
    match reader.awaited_answers().await {
        Ok(awaited) => {
            visited.payouts = awaited.payouts.len();
            visited.refunds = awaited.refunds.len();
            app.lending.settle_payouts(&awaited.payouts).await;
            app.lending.settle_refunds(&awaited.refunds).await;
        }
        Err(error) => tracing::warn!(%error, "payouts awaiting an answer could not be listed"),
    }
    let now = app.core.clock.now();
    let reminders = &app.core.settings.reminders;
    match reader.due_loans(moscow_date(now), now, reminders).await {
        Ok(due) => {
            visited.fell_overdue = due.falling_overdue.len();
            visited.reminded = due.overdue.len();
            visited.lapsed_offers = due.lapsed_offers.len();
            app.lending.record_falls_overdue(&due.falling_overdue).await;
            app.lending.remind(&due.overdue).await;
            app.lending.expire_offers(&due.lapsed_offers).await;
        }
        Err(error) => tracing::warn!(%error, "loans due a visit could not be listed"),
    }
    match reader.awaited_commission_payouts().await {
        Ok(awaited) => {
            visited.commission_payouts = awaited.len();
            for (agent_id, month, payout_id) in awaited {
                let Ok(month) = Month::parse(&month) else {
                    continue;
                };
                if let Err(error) = app
                    .agents
                    .settle_commission_payout(agent_id, month, payout_id)
                    .await
                {
                    tracing::warn!(agent = %agent_id, %error, "a commission payout could not be settled; skipped");
                }
            }
        }
        Err(error) => {
            tracing::warn!(%error, "commission payouts awaiting an answer could not be listed")
        }
    }
    match reader.erasures_due(moscow_date(now)).await {
        Ok(due) => visited.erasures = app.compliance.erase_due(&due).await,
        Err(error) => tracing::warn!(%error, "erasures due could not be listed"),
    }
    visited
}

/// Runs the loan jobs every `every` (at most that late on a new day), and the housekeeping every
/// [`TIDY_EVERY`], until the process stops.
pub fn start(app: App, reader: Reader, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        // The jobs read the loan book: not before its tables exist.
        if let Err(error) = app.followers.wait_started(Duration::from_secs(60)).await {
            tracing::warn!(%error, "read models not started; the scheduler starts anyway");
        }
        let mut tidied: Option<Instant> = None;
        loop {
            loan_jobs(&app, &reader).await;
            if tidied.is_none_or(|at| at.elapsed() >= TIDY_EVERY) {
                app.tidy_up().await;
                tidied = Some(Instant::now());
            }
            tokio::time::sleep(every).await;
        }
    })
}
