//! The HTTP layer: authenticates, validates the shape of a request, dispatches one use case and
//! answers. Business rules live in the aggregates; errors are RFC 9457 problem documents.

mod auth;
mod error;
mod extract;
pub mod jobs;
mod limits;
mod middleware;
mod openapi;
mod routes;
mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};
use axum::Router;
use k911_commands::clock::ManualClock;
use k911_commands::App;
use k911_event_store::follower::Follower;
use k911_projections::support::Receipts;
use k911_projections::Reader;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use limits::{Action, Limit, RateLimitConfig};
pub use routes::Contacts;

/// The largest request body accepted (a feedback form is a few kilobytes).
pub(crate) const BODY_LIMIT: usize = 64 * 1024;
/// How long a GET with `X-Min-Position` may wait for the read models (API.md: 5 s).
pub(crate) const MIN_POSITION_WAIT: Duration = Duration::from_secs(5);

/// What the HTTP layer is configured with besides the application.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Origins allowed by CORS; empty means no cross-origin access.
    pub cors_origins: Vec<String>,
    /// Hotline, WhatsApp and support hours shown at `/api/v1/contacts`.
    pub contacts: Contacts,
    /// Serve the development routes (`/dev/sms`, `/dev/mail`); never in production mode.
    pub dev_routes: bool,
    /// The manual clock behind `POST /dev/clock`, when the service runs on one.
    pub manual_clock: Option<ManualClock>,
    /// Limits on logins, codes, applications and tickets (`K911_RATE_LIMITS`).
    pub rate_limits: RateLimitConfig,
    /// Proxies whose `X-Forwarded-For` names the client (`K911_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Cookies only over HTTPS (production).
    pub secure_cookies: bool,
}

#[derive(Clone)]
pub(crate) struct AppState {
    // Behind an Arc: the state is cloned for every request, and App holds dozens of handles.
    pub app: Arc<App>,
    pub contacts: Arc<Contacts>,
    pub manual_clock: Option<ManualClock>,
    pub limits: Arc<limits::RateLimits>,
    /// The read side: queries over the read models.
    pub reader: Reader,
    /// Cookies only over HTTPS (production).
    pub secure_cookies: bool,
    /// Development pages (`/dev/*`, the back office's test payment) are served.
    pub dev_routes: bool,
}

/// Handlers that use one service take it alone (`State<Content>`).
impl axum::extract::FromRef<AppState> for k911_commands::compliance::Compliance {
    fn from_ref(state: &AppState) -> Self {
        state.app.compliance.clone()
    }
}

impl axum::extract::FromRef<AppState> for k911_commands::content::Content {
    fn from_ref(state: &AppState) -> Self {
        state.app.content.clone()
    }
}

impl axum::extract::FromRef<AppState> for k911_commands::support::Support {
    fn from_ref(state: &AppState) -> Self {
        state.app.support.clone()
    }
}

impl axum::extract::FromRef<AppState> for k911_commands::payments::Payments {
    fn from_ref(state: &AppState) -> Self {
        state.app.payments.clone()
    }
}

impl axum::extract::FromRef<AppState> for k911_commands::auth::Access {
    fn from_ref(state: &AppState) -> Self {
        state.app.access.clone()
    }
}

impl axum::extract::FromRef<AppState> for k911_commands::onboarding::Onboarding {
    fn from_ref(state: &AppState) -> Self {
        state.app.onboarding.clone()
    }
}

impl axum::extract::FromRef<AppState> for k911_commands::lending::Lending {
    fn from_ref(state: &AppState) -> Self {
        state.app.lending.clone()
    }
}

impl axum::extract::FromRef<AppState> for k911_commands::profile::Profiles {
    fn from_ref(state: &AppState) -> Self {
        state.app.profiles.clone()
    }
}

impl axum::extract::FromRef<AppState> for k911_commands::effects::Effects {
    fn from_ref(state: &AppState) -> Self {
        state.app.effects.clone()
    }
}

impl axum::extract::FromRef<AppState> for k911_commands::agents::Agents {
    fn from_ref(state: &AppState) -> Self {
        state.app.agents.clone()
    }
}

impl axum::extract::FromRef<AppState> for Reader {
    fn from_ref(state: &AppState) -> Self {
        state.reader.clone()
    }
}

/// The application with the read models following the log beside its process managers, and
/// the reader over them: `build` makes the `App` from the read models it is given.
pub fn application(build: impl FnOnce(Vec<Arc<dyn Follower>>) -> App) -> (App, Reader) {
    let receipts = Receipts::default();
    let app = build(k911_projections::all(&receipts));
    let reader = Reader::new(
        app.core.db.clone(),
        app.core.keys.clone(),
        app.followers.clone(),
        receipts,
        app.core.settings.read_your_writes_timeout,
    );
    (app, reader)
}

/// The whole service as one router, so tests can drive it without a socket.
pub fn router(app: App, reader: Reader, config: &HttpConfig) -> Router {
    let sandbox = app.ports.payout.sandbox().is_some();
    let state = AppState {
        app: Arc::new(app),
        reader,
        secure_cookies: config.secure_cookies,
        dev_routes: config.dev_routes,
        contacts: Arc::new(config.contacts.clone()),
        manual_clock: config.manual_clock.clone(),
        limits: Arc::new(limits::RateLimits::new(
            &config.rate_limits,
            &config.trusted_proxies,
        )),
    };
    let request_id = HeaderName::from_static("x-request-id");
    routes::routes(config.dev_routes, config.manual_clock.is_some(), sandbox)
        .merge(web::routes())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::idempotency,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::min_position,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::rate_limit,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::metrics,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors(config))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(middleware::span))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

fn cors(config: &HttpConfig) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-min-position"),
        ])
}
