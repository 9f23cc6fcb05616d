//! Loan applications: the public first application (= registration) and the underwriters'
//! decisions.

pub(crate) mod form;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use k911_aggregates::money::{DailyRate, Kopecks};
use k911_aggregates::values::MessageText;
use k911_commands::agents::Referral;
use k911_commands::onboarding::{Approval, Onboarding};
use k911_commands::{Error as AppError, Written};
use k911_projections::cabinet::{ApplicationState, StaffApplication};
use k911_projections::Reader;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Underwriter;
use crate::error::ApiError;
use crate::extract::{check, IdPath, Json, OptionalJson, Page, Today};
use crate::routes::me::{MyApplication, PassportNumber, PayoutView, Profile};
use crate::routes::support::PublicMeta;
use form::ApplicationRequest;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ApplicationReceipt {
    application_id: Uuid,
    status: ApplicationState,
    position: i64,
    /// What became of the referral code, when the application carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    referral: Option<ReferralAnswer>,
}

/// A referral code's outcome: the application goes on either way.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ReferralAnswer {
    code: String,
    attributed: bool,
    /// Why not: `unknown_code` | `agent_suspended` | `existing_customer`.
    reason: Option<&'static str>,
}

impl ApplicationReceipt {
    pub(crate) fn submitted(written: Written) -> Self {
        Self {
            application_id: written.id,
            status: ApplicationState::Submitted,
            position: written.position,
            referral: None,
        }
    }

    fn with_referral(mut self, referral: Option<Referral>) -> Self {
        self.referral = referral.map(|r| ReferralAnswer {
            attributed: r.attributed(),
            code: r.code,
            reason: r.refused,
        });
        self
    }
}

#[utoipa::path(post, path = "/api/v1/applications", tag = "applications", request_body = ApplicationRequest, responses((status = 201, body = ApplicationReceipt), (status = 409, body = crate::error::Problem, description = "Already a customer: log in"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn apply(
    State(onboarding): State<Onboarding>,
    PublicMeta(meta): PublicMeta,
    Today(today): Today,
    Json(body): Json<ApplicationRequest>,
) -> Result<(StatusCode, JsonResponse<ApplicationReceipt>), ApiError> {
    let form = body.parse(today)?;
    let (written, referral) = onboarding.apply(form, &meta).await.map_err(|e| match e {
        // The limits broken by the loan asked for are the loan fields' fault.
        AppError::Application(e) => ApiError::application(e, "loan."),
        other => other.into(),
    })?;
    Ok((
        StatusCode::CREATED,
        JsonResponse(ApplicationReceipt::submitted(written).with_referral(referral)),
    ))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveRequest {
    #[serde(default)]
    amount_kopecks: Option<i64>,
    #[serde(default)]
    term_days: Option<i64>,
    /// Percent per day, e.g. "0.8".
    #[serde(default)]
    daily_rate: Option<String>,
}

impl ApproveRequest {
    pub(crate) fn new(
        amount_kopecks: Option<i64>,
        term_days: Option<i64>,
        daily_rate: Option<String>,
    ) -> Self {
        Self {
            amount_kopecks,
            term_days,
            daily_rate,
        }
    }

    /// The underwriter's terms, each checked; what is not given stays as asked.
    pub(crate) fn parse(self) -> Result<Approval, ApiError> {
        let mut errors = vec![];
        let amount = self
            .amount_kopecks
            .map(|a| check(&mut errors, "amount_kopecks", Kopecks::new(a)));
        let term_days = self.term_days.map(|t| {
            check(
                &mut errors,
                "term_days",
                u16::try_from(t).map_err(|_| "must be a number of days"),
            )
        });
        let daily_rate = self
            .daily_rate
            .map(|rate: String| check(&mut errors, "daily_rate", DailyRate::parse(&rate)));
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        Ok(Approval {
            amount: amount.flatten(),
            term_days: term_days.flatten(),
            daily_rate: daily_rate.flatten(),
        })
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectRequest {
    reason: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Decision {
    application_id: Uuid,
    status: ApplicationState,
    position: i64,
}

#[utoipa::path(post, path = "/api/v1/staff/applications/{id}/approve", tag = "applications", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body = ApproveRequest, responses((status = 200, body = Decision), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "Already decided"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn approve(
    State(onboarding): State<Onboarding>,
    Underwriter(caller): Underwriter,
    IdPath(application_id): IdPath,
    OptionalJson(body): OptionalJson<ApproveRequest>,
) -> Result<JsonResponse<Decision>, ApiError> {
    let approval = body.parse()?;
    let written = onboarding
        .approve_application(
            application_id,
            caller.principal.account_id,
            approval,
            &caller.meta,
        )
        .await?;
    Ok(JsonResponse(Decision {
        application_id,
        status: ApplicationState::Approved,
        position: written.position,
    }))
}

#[utoipa::path(post, path = "/api/v1/staff/applications/{id}/reject", tag = "applications", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body = RejectRequest, responses((status = 200, body = Decision), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "Already decided"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn reject(
    State(onboarding): State<Onboarding>,
    Underwriter(caller): Underwriter,
    IdPath(application_id): IdPath,
    Json(body): Json<RejectRequest>,
) -> Result<JsonResponse<Decision>, ApiError> {
    let reason = MessageText::parse(&body.reason).map_err(|e| ApiError::invalid("reason", e))?;
    let written = onboarding
        .reject_application(
            application_id,
            caller.principal.account_id,
            reason,
            &caller.meta,
        )
        .await?;
    Ok(JsonResponse(Decision {
        application_id,
        status: ApplicationState::Rejected,
        position: written.position,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct Purpose {
    /// Why the applicant's personal data is opened (kept in the audit trail), e.g.
    /// `underwriting`.
    purpose: Option<String>,
}

/// An application with the applicant's personal data, for the underwriter deciding it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ApplicationDetails {
    #[serde(flatten)]
    application: QueuedApplication,
    applicant: Profile,
    contacts: ApplicantContacts,
    payout: PayoutView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ApplicantContacts {
    phone: String,
    email: Option<String>,
}

/// Opens the applicant's personal data for underwriting; every call is recorded with the caller
/// and the purpose.
#[utoipa::path(get, path = "/api/v1/staff/applications/{id}", tag = "applications", security(("bearer" = [])), params(("id" = uuid::Uuid, Path), Purpose), responses((status = 200, body = ApplicationDetails), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem, description = "No purpose given")))]
pub(crate) async fn details(
    State(onboarding): State<Onboarding>,
    State(reader): State<Reader>,
    Underwriter(caller): Underwriter,
    IdPath(application_id): IdPath,
    purpose: Result<Query<Purpose>, QueryRejection>,
) -> Result<JsonResponse<ApplicationDetails>, ApiError> {
    let Query(purpose) = purpose.map_err(|e| ApiError::Malformed(e.body_text()))?;
    let purpose = purpose
        .purpose
        .map(|p| MessageText::parse(&p))
        .transpose()
        .map_err(|e| ApiError::invalid("purpose", e))?
        .ok_or_else(|| ApiError::invalid("purpose", "say why the personal data is needed"))?;
    let (applicant, payout) = onboarding
        .applicant_for_underwriter(
            application_id,
            caller.principal.account_id,
            purpose.as_str(),
            &caller.meta,
        )
        .await?;
    let row = reader.staff_application(application_id).await?;
    let contacts = ApplicantContacts {
        phone: applicant.phone.as_str().to_string(),
        email: applicant.email.as_ref().map(|e| e.as_str().to_string()),
    };
    Ok(JsonResponse(ApplicationDetails {
        application: row.into(),
        applicant: Profile::new(applicant, PassportNumber::Full),
        contacts,
        payout: payout.into(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct QueueFilter {
    /// `submitted` (default) | `approved` | `rejected`
    status: Option<String>,
}

/// An application in the underwriters' queue; the applicant's personal data is not in the list.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct QueuedApplication {
    #[serde(flatten)]
    application: MyApplication,
    customer_id: Uuid,
    rejection_reason: Option<String>,
}

impl From<StaffApplication> for QueuedApplication {
    fn from(staff: StaffApplication) -> Self {
        Self {
            customer_id: staff.row.customer_id,
            rejection_reason: staff.rejection_reason.map(|r| r.as_str().to_string()),
            application: staff.row.into(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/staff/applications", tag = "applications", security(("bearer" = [])), params(QueueFilter, ("limit" = Option<i64>, Query, description = "1..1000, default 100"), ("offset" = Option<i64>, Query, description = "default 0"), ("X-Min-Position" = Option<i64>, Header, description = "wait until the read models applied this position")), responses((status = 200, body = Vec<QueuedApplication>), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn queue(
    State(reader): State<Reader>,
    _: Underwriter,
    filter: Result<Query<QueueFilter>, QueryRejection>,
    page: Page,
) -> Result<JsonResponse<Vec<QueuedApplication>>, ApiError> {
    let Query(filter) = filter.map_err(|e| ApiError::Malformed(e.body_text()))?;
    let status = match filter.status.as_deref() {
        None => ApplicationState::Submitted,
        Some(text) => text.parse().map_err(|_| {
            ApiError::invalid("status", "must be one of: submitted, approved, rejected")
        })?,
    };
    let rows = reader
        .applications_with_status(status, page.limit, page.offset)
        .await?;
    Ok(JsonResponse(rows.into_iter().map(Into::into).collect()))
}
