//! The scheduled jobs: the loan book (a read model) says which loans to visit, each loan decides
//! what happens to it. Run every few seconds by `k911 serve`, and at once when the development
//! clock moves.

use std::time::Duration;

use k911_commands::clock::moscow_date;
use k911_commands::App;
use k911_projections::Reader;
use tokio::task::JoinHandle;

/// One run: the provider asked about payouts and refunds, then (with the loans that just paid
/// out) interest accrued through today, reminders and lapsed offers, then the housekeeping that
/// visits no loan. One loan's failure is logged and skipped (the `App` methods isolate each
/// loan), and a list that cannot be read skips only its own job.
pub async fn run(app: &App, reader: &Reader) {
    match reader.awaited_answers().await {
        Ok(awaited) => {
            app.settle_payouts(&awaited.payouts).await;
            app.settle_refunds(&awaited.refunds).await;
        }
        Err(error) => tracing::warn!(%error, "payouts awaiting an answer could not be listed"),
    }
    let now = app.clock.now();
    match reader.due_loans(moscow_date(now), now).await {
        Ok(due) => {
            app.accrue(&due.to_accrue).await;
            app.remind(&due.overdue).await;
            app.expire_offers(&due.lapsed_offers).await;
        }
        Err(error) => tracing::warn!(%error, "loans due a visit could not be listed"),
    }
    app.tidy_up().await;
}

/// Runs [`run`] every `every` (at most that late on a new day) until the process stops.
pub fn start(app: App, reader: Reader, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        // The jobs read the loan book: not before its tables exist.
        if let Err(error) = app.followers.wait_started(Duration::from_secs(60)).await {
            tracing::warn!(%error, "read models not started; the scheduler starts anyway");
        }
        loop {
            run(&app, &reader).await;
            tokio::time::sleep(every).await;
        }
    })
}
