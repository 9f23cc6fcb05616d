use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::AppState;

/// Read models further behind than this make the instance not ready.
const MAX_READY_LAG: i64 = 10_000;

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process answers")))]
/// Liveness: the process answers.
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "Database reachable, read models close to the log"), (status = 503, description = "Not ready")))]
/// Readiness: the database answers and the read models are close to the log.
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = state.app.core.db.ping().await;
    let lag = if database {
        state.app.followers.lag().await.ok()
    } else {
        None
    };
    let ready = database && lag.is_some_and(|lag| lag <= MAX_READY_LAG);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"ready": ready, "database": database, "projection_lag_events": lag})),
    )
}

#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text exposition", content_type = "application/openmetrics-text")))]
/// Prometheus metrics; the projector lag, the events set aside and the bureau reports owed are
/// measured at scrape time.
pub(crate) async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    if let Ok(lag) = state.app.followers.lag().await {
        state.app.core.metrics.projection_lag.set(lag);
    }
    if let Ok(set_aside) = state.app.followers.set_aside().await {
        state.app.core.metrics.events_set_aside.set(set_aside);
    }
    let today = k911_aggregates::calendar::moscow_date(state.app.core.clock.now());
    if let Ok(due) = state.app.bureau.due(today).await {
        let reports = &state.app.core.metrics.bureau_reports;
        for (standing, count) in [
            ("pending", due.pending),
            ("due_soon", due.due_soon),
            ("overdue", due.overdue),
        ] {
            reports
                .get_or_create(&k911_commands::metrics::DeadlineLabels {
                    standing: standing.to_string(),
                })
                .set(count);
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.app.core.metrics.encode(),
    )
}
