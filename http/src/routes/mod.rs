//! Every route of the API, grouped by who calls it.

mod auth;
mod dev;
mod health;
mod support;

use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub(crate) fn routes(dev_routes: bool) -> Router<AppState> {
    let api = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/support/tickets", post(support::submit))
        .route("/api/v1/staff/support/queue", get(support::queue))
        .route("/api/v1/staff/support/queue/next", post(support::take_next))
        .route("/api/v1/staff/support/tickets/{id}", get(support::ticket))
        .route(
            "/api/v1/staff/support/tickets/{id}/reply",
            post(support::reply),
        )
        .route(
            "/api/v1/staff/support/tickets/{id}/close",
            post(support::close),
        );
    if dev_routes {
        api.route("/dev/sms", get(dev::sms))
            .route("/dev/mail", get(dev::mail))
    } else {
        api
    }
}
