//! Every route of the API, grouped by who calls it.

pub(crate) mod agent;
pub(crate) mod agents;
pub(crate) mod applications;
pub(crate) mod auth;
pub(crate) mod compliance;
pub(crate) mod consents;
pub(crate) mod content;
pub(crate) mod dev;
pub(crate) mod effects;
pub(crate) mod erasures;
pub(crate) mod health;
pub(crate) mod loans;
pub(crate) mod me;
pub(crate) mod my_support;
pub(crate) mod payments;
pub(crate) mod sandbox;
pub(crate) mod social;
pub(crate) mod support;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};

use axum::Router;
pub use content::Contacts;

use crate::AppState;

pub(crate) fn routes(dev_routes: bool, manual_clock: bool, sandbox: bool) -> Router<AppState> {
    let mut api = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/v1/openapi.json", get(crate::openapi::document))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/auth/otp", post(auth::otp))
        .route("/api/v1/auth/social", get(social::providers))
        .route("/api/v1/auth/social/{provider}", post(social::begin_login))
        .route(
            "/api/v1/auth/social/{provider}/callback",
            post(social::finish_login),
        )
        .route("/api/v1/me/social-links", post(social::link))
        .route(
            "/api/v1/me/social-links/{provider}",
            axum::routing::delete(social::unlink),
        )
        .route("/api/v1/support/tickets", post(support::submit))
        .route("/api/v1/applications", post(applications::apply))
        .route("/api/v1/agent/clients", get(agent::clients))
        .route("/api/v1/agent/clients/{id}", get(agent::client))
        .route("/api/v1/agent/commissions", get(agent::commissions))
        .route("/api/v1/agent/statements", get(agent::statements))
        .route("/api/v1/agent/statements.csv", get(agent::statements_csv))
        .route(
            "/api/v1/agent/statements/{month}/pdf",
            get(agent::statement_pdf),
        )
        .route(
            "/api/v1/staff/agents",
            get(agents::list).post(agents::create),
        )
        .route("/api/v1/staff/agents/{id}", get(agents::one))
        .route(
            "/api/v1/staff/agents/{id}/statements",
            get(agents::statements),
        )
        .route(
            "/api/v1/staff/agent-statements",
            get(agents::all_statements),
        )
        .route("/api/v1/staff/agents/{id}/suspend", post(agents::suspend))
        .route("/api/v1/staff/agents/{id}/resume", post(agents::resume))
        .route("/api/v1/staff/agents/{id}/plan", put(agents::change_plan))
        .route(
            "/api/v1/staff/agents/{id}/statements/{month}/pay",
            post(agents::approve_payment),
        )
        .route(
            "/api/v1/payments/notifications",
            post(payments::notification),
        )
        .route(
            "/api/v1/staff/applications/{id}/approve",
            post(applications::approve),
        )
        .route(
            "/api/v1/staff/applications/{id}/reject",
            post(applications::reject),
        )
        .route("/api/v1/me", get(me::me))
        .route("/api/v1/me/data-export", get(me::export))
        .route(
            "/api/v1/me/applications",
            get(me::applications).post(me::apply_again),
        )
        .route("/api/v1/me/applications/{id}", get(me::application))
        .route("/api/v1/me/password", put(me::change_password))
        .route("/api/v1/me/time-zone", put(me::change_time_zone))
        .route("/api/v1/me/loans", get(loans::list))
        .route("/api/v1/me/loans/{id}", get(loans::one))
        .route("/api/v1/me/loans/{id}/sign", post(loans::sign))
        .route("/api/v1/me/loans/{id}/contract", get(loans::contract))
        .route("/api/v1/me/loans/{id}/refund", post(loans::refund))
        .route("/api/v1/me/loans/{id}/sign-code", post(loans::resend_code))
        .route(
            "/api/v1/me/support/tickets",
            get(my_support::tickets).post(my_support::ask),
        )
        .route(
            "/api/v1/me/deletion-request",
            post(my_support::request_deletion),
        )
        .route("/api/v1/me/consents", get(consents::consents))
        .route(
            "/api/v1/me/consents/credit_history_check/withdraw",
            post(consents::withdraw_credit_history),
        )
        .route("/api/v1/compliance/log/head", get(compliance::log_head))
        .route("/api/v1/compliance/audit", get(compliance::audit))
        .route(
            "/api/v1/compliance/disclosures",
            get(compliance::disclosures).post(compliance::register_disclosure),
        )
        .route(
            "/api/v1/compliance/disclosures/{id}/file",
            post(compliance::disclose),
        )
        .route(
            "/api/v1/compliance/aggregates/{aggregate_type}/{aggregate_id}/events",
            get(compliance::history),
        )
        .route(
            "/api/v1/compliance/aggregates/{aggregate_type}/{aggregate_id}/state",
            get(compliance::state),
        )
        .route("/api/v1/compliance/erasures", get(erasures::erasures))
        .route("/api/v1/staff/customers/{id}/erase", post(erasures::erase))
        .route("/api/v1/staff/payments/unmatched", get(payments::unmatched))
        .route(
            "/api/v1/staff/payments/{id}/match",
            post(payments::match_payment),
        )
        .route("/api/v1/staff/effects", get(effects::list))
        .route("/api/v1/staff/effects/{id}/retry", post(effects::retry))
        .route("/api/v1/staff/applications", get(applications::queue))
        .route(
            "/api/v1/staff/applications/{id}",
            get(applications::details),
        )
        .route("/api/v1/faq", get(content::faq))
        .route("/api/v1/documents", get(content::documents))
        .route("/api/v1/documents/{id}/file", get(content::document_file))
        .route("/api/v1/contacts", get(content::contacts))
        .route("/api/v1/consents", get(content::consents))
        .route("/api/v1/staff/faq", post(content::publish_faq))
        .route(
            "/api/v1/staff/faq/{id}",
            put(content::edit_faq).delete(content::withdraw_faq),
        )
        .route(
            crate::middleware::DOCUMENT_UPLOAD,
            post(content::upload_document).layer(DefaultBodyLimit::max(
                crate::middleware::DOCUMENT_BODY_LIMIT,
            )),
        )
        .route(
            "/api/v1/staff/documents/{id}",
            axum::routing::delete(content::withdraw_document),
        )
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
    if sandbox {
        api = api
            .route("/sandbox/cards", post(sandbox::tokenise))
            .route("/sandbox/payouts", get(sandbox::payouts));
    }
    match (dev_routes, manual_clock) {
        (false, _) => api,
        (true, false) => api
            .route("/dev/sms", get(dev::sms))
            .route("/dev/mail", get(dev::mail)),
        (true, true) => api
            .route("/dev/sms", get(dev::sms))
            .route("/dev/mail", get(dev::mail))
            .route("/dev/clock", post(dev::clock)),
    }
}
