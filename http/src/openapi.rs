//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    agent, agents, applications, auth, compliance, consents, content, dev, effects, erasures,
    health, loans, me, my_support, payments, sandbox, social, support,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "k911 API", description = "Event-sourced backend of an online microfinance lender."),
    paths(
        health::healthz, health::readyz, health::metrics,
        auth::login, auth::logout, auth::otp,
        social::providers, social::begin_login, social::finish_login, social::link, social::unlink,
        applications::apply, applications::queue, applications::details, applications::approve, applications::reject,
        me::me,
        me::export, me::applications, me::application, me::apply_again, me::change_password, me::change_time_zone,
        my_support::tickets, my_support::ask, my_support::request_deletion,
        loans::list, loans::one, loans::contract, loans::refund, loans::sign, loans::resend_code,
        payments::notification, payments::unmatched, payments::match_payment,
        support::submit, support::queue, support::take_next, support::ticket, support::reply, support::close,
        content::faq, content::documents, content::document_file, content::contacts,
        content::consents,
        content::publish_faq, content::edit_faq, content::withdraw_faq,
        content::upload_document, content::withdraw_document,
        effects::list, effects::retry,
        compliance::log_head,
        compliance::audit,
        compliance::register_disclosure,
        compliance::disclose,
        compliance::disclosures,
        compliance::history,
        compliance::state,
        erasures::erase,
        consents::consents,
        consents::withdraw_credit_history,
        erasures::erasures,
        agents::create, agents::suspend, agents::resume, agents::change_plan,
        agents::approve_payment, agents::list, agents::one, agents::statements,
        agents::all_statements,
        agent::clients, agent::client, agent::commissions, agent::statements,
        agent::statements_csv, agent::statement_pdf,
        dev::sms, dev::mail, dev::clock, sandbox::tokenise, sandbox::payouts,
    ),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
