//! The scheduled jobs: the loan book (a read model) says which loans to visit, each loan decides
//! what happens to it. Run every few seconds by `k911 serve`, and at once when the development
//! clock moves.

use std::time::Duration;

use k911_commands::clock::moscow_date;
use k911_commands::App;
use k911_projections::{ReadError, Reader};
use tokio::task::JoinHandle;

/// One run: payouts and refunds asked about, interest accrued through today, reminders,
/// lapsed offers, and the housekeeping that visits no loan. One loan's failure is logged and
/// skipped (the `App` methods isolate each loan); only the list's read can fail the run.
pub async fn run(app: &App, reader: &Reader) -> Result<(), ReadError> {
    let now = app.clock.now();
    let visits = reader.visits(moscow_date(now), now).await?;
    app.settle_payouts(&visits.payouts).await;
    app.settle_refunds(&visits.refunds).await;
    app.accrue(&visits.to_accrue).await;
    app.remind(&visits.overdue).await;
    app.expire_offers(&visits.lapsed_offers).await;
    app.tidy_up().await;
    Ok(())
}

/// Runs [`run`] every `every` (at most that late on a new day) until the process stops.
pub fn start(app: App, reader: Reader, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        // The jobs read the loan book: not before its tables exist.
        if let Err(error) = app.followers.wait_started(Duration::from_secs(60)).await {
            tracing::warn!(%error, "read models not started; the scheduler starts anyway");
        }
        loop {
            if let Err(error) = run(&app, &reader).await {
                tracing::warn!(%error, "scheduled jobs failed");
            }
            tokio::time::sleep(every).await;
        }
    })
}
