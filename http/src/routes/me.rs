//! The borrower's cabinet: their own profile and applications, applying again, the password.
//! Everything here is the caller's own: the customer id comes from the token, never the path.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use chrono::{DateTime, NaiveDate, Utc};
use k911_aggregates::loan_application::applicant::{Applicant, PayoutMethod};
use k911_aggregates::regions::LocalTimeZone;
use k911_commands::auth::{Access, MIN_PASSWORD_CHARS};
use k911_commands::lending::Lending;
use k911_commands::onboarding::Onboarding;
use k911_commands::profile::Profiles;
use k911_commands::Error as AppError;
use k911_projections::cabinet::{
    ApplicationRow, ApplicationState, CustomerState, CustomerView, LoginKind,
};
use k911_projections::Reader;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Borrower, Caller};
use crate::error::ApiError;
use crate::extract::{IdPath, Json, Page, Today};
use crate::routes::applications::form::RepeatRequest;
use crate::routes::applications::ApplicationReceipt;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Me {
    customer_id: Uuid,
    status: CustomerState,
    /// How this cabinet logs in: `email` (password) or `phone` (SMS codes).
    login: LoginKind,
    registered_at: DateTime<Utc>,
    opened_at: Option<DateTime<Utc>>,
    contacts: MeContacts,
    profile: Option<Profile>,
    payout_methods: Vec<PayoutView>,
    social_accounts: Vec<SocialAccount>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SocialAccount {
    provider: String,
    linked_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MeContacts {
    phone: String,
    email: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Profile {
    last_name: String,
    first_name: String,
    middle_name: Option<String>,
    birth_date: NaiveDate,
    birth_place: String,
    passport: PassportView,
    registration_address: String,
    residence_address: Option<String>,
    employment: EmploymentView,
    monthly_income_kopecks: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PassportView {
    series: String,
    /// In the cabinet only the last two digits (`****56`): enough to recognise it, useless to
    /// anyone who steals a session.
    number: String,
    issued_on: NaiveDate,
    issued_by: String,
    division_code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EmploymentView {
    status: String,
    employer: Option<String>,
    position: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PayoutView {
    /// `card` | `ewallet`
    method: &'static str,
    /// `220000******0004`, or `yoomoney ****3344`
    masked: String,
}

/// How much of the passport number a view shows.
#[derive(Clone, Copy)]
pub(crate) enum PassportNumber {
    Masked,
    Full,
}

impl Profile {
    pub(crate) fn new(a: Applicant, passport_number: PassportNumber) -> Self {
        let number = a.passport.number.as_str();
        let number = match passport_number {
            PassportNumber::Masked => format!("****{}", &number[number.len() - 2..]),
            PassportNumber::Full => number.to_string(),
        };
        let employment = serde_json::to_value(a.employment.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        Self {
            last_name: a.last_name.as_str().to_string(),
            first_name: a.first_name.as_str().to_string(),
            middle_name: a.middle_name.map(|m| m.as_str().to_string()),
            birth_date: a.birth_date,
            birth_place: a.birth_place.as_str().to_string(),
            passport: PassportView {
                series: a.passport.series.as_str().to_string(),
                number,
                issued_on: a.passport.issued_on,
                issued_by: a.passport.issued_by.as_str().to_string(),
                division_code: a.passport.division_code.as_str().to_string(),
            },
            registration_address: a.registration_address.as_str().to_string(),
            residence_address: a.residence_address.map(|r| r.as_str().to_string()),
            employment: EmploymentView {
                status: employment,
                employer: a.employment.employer.map(|e| e.as_str().to_string()),
                position: a.employment.position.map(|p| p.as_str().to_string()),
            },
            monthly_income_kopecks: a.monthly_income.get(),
        }
    }
}

impl From<PayoutMethod> for PayoutView {
    fn from(payout: PayoutMethod) -> Self {
        let method = match payout {
            PayoutMethod::Card { .. } => "card",
            PayoutMethod::Ewallet { .. } => "ewallet",
        };
        Self {
            method,
            masked: payout.masked(),
        }
    }
}

impl From<CustomerView> for Me {
    fn from(c: CustomerView) -> Self {
        Self {
            customer_id: c.customer_id,
            status: c.status,
            login: c.login,
            registered_at: c.registered_at,
            opened_at: c.opened_at,
            contacts: MeContacts {
                phone: c.phone.as_str().to_string(),
                email: c.email.map(|e| e.as_str().to_string()),
            },
            profile: c.profile.map(|p| Profile::new(p, PassportNumber::Masked)),
            payout_methods: c.payout.map(PayoutView::from).into_iter().collect(),
            social_accounts: c
                .social_links
                .into_iter()
                .map(|(provider, linked_at)| SocialAccount {
                    provider,
                    linked_at,
                })
                .collect(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/me", tag = "cabinet", security(("bearer" = [])), params(("X-Min-Position" = Option<i64>, Header, description = "wait until the read models applied this position")), responses((status = 200, body = Me), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn me(
    State(reader): State<Reader>,
    Borrower(caller): Borrower,
) -> Result<JsonResponse<Me>, ApiError> {
    let view = reader.customer_view(caller.principal.account_id).await?;
    Ok(JsonResponse(view.into()))
}

/// An application as its customer sees it (the underwriter's notes stay inside).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MyApplication {
    application_id: Uuid,
    status: ApplicationState,
    repeat: bool,
    requested_amount_kopecks: i64,
    requested_term_days: i32,
    approved_amount_kopecks: Option<i64>,
    approved_term_days: Option<i32>,
    /// Percent per day.
    daily_rate: Option<String>,
    submitted_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
}

impl From<ApplicationRow> for MyApplication {
    fn from(row: ApplicationRow) -> Self {
        Self {
            application_id: row.application_id,
            status: row.status,
            repeat: row.repeat,
            requested_amount_kopecks: row.requested_amount_kopecks,
            requested_term_days: row.requested_term_days,
            approved_amount_kopecks: row.approved_amount_kopecks,
            approved_term_days: row.approved_term_days,
            daily_rate: row.daily_rate,
            submitted_at: row.submitted_at,
            decided_at: row.decided_at,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/me/applications", tag = "cabinet", security(("bearer" = [])), params(("limit" = Option<i64>, Query, description = "1..1000, default 100"), ("offset" = Option<i64>, Query, description = "default 0"), ("X-Min-Position" = Option<i64>, Header, description = "wait until the read models applied this position")), responses((status = 200, body = Vec<MyApplication>), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn applications(
    State(reader): State<Reader>,
    Borrower(caller): Borrower,
    page: Page,
) -> Result<JsonResponse<Vec<MyApplication>>, ApiError> {
    let rows = reader
        .customer_applications(caller.principal.account_id, page.limit, page.offset)
        .await?;
    Ok(JsonResponse(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/api/v1/me/applications/{id}", tag = "cabinet", security(("bearer" = [])), params(("id" = uuid::Uuid, Path), ("X-Min-Position" = Option<i64>, Header, description = "wait until the read models applied this position")), responses((status = 200, body = MyApplication), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem, description = "Unknown, or another customer's")))]
pub(crate) async fn application(
    State(reader): State<Reader>,
    Borrower(caller): Borrower,
    IdPath(application_id): IdPath,
) -> Result<JsonResponse<MyApplication>, ApiError> {
    let row = reader
        .customer_application(caller.principal.account_id, application_id)
        .await?;
    Ok(JsonResponse(row.into()))
}

/// A repeat application: prefilled from the profile; only the loan and what changed are sent.
#[utoipa::path(post, path = "/api/v1/me/applications", tag = "cabinet", security(("bearer" = [])), request_body = RepeatRequest, responses((status = 201, body = ApplicationReceipt), (status = 409, body = crate::error::Problem, description = "An application is already being considered"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn apply_again(
    State(profiles): State<Profiles>,
    State(onboarding): State<Onboarding>,
    Borrower(caller): Borrower,
    Today(today): Today,
    Json(body): Json<RepeatRequest>,
) -> Result<(StatusCode, JsonResponse<ApplicationReceipt>), ApiError> {
    let customer_id = caller.principal.account_id;
    let profile = profiles.current(customer_id).await?;
    let form = body.parse(profile.0.birth_date, today)?;
    let written = onboarding
        .apply_again(customer_id, profile, form, &caller.meta)
        .await
        .map_err(|e| match e {
            AppError::Application(e) => ApiError::application(e, "loan."),
            other => other.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        JsonResponse(ApplicationReceipt::submitted(written)),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordChange {
    current_password: String,
    new_password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PasswordChanged {
    account_id: Uuid,
    position: i64,
}

/// Changes the caller's password; every other session of the account ends.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "cabinet", security(("bearer" = [])), request_body = PasswordChange, responses((status = 200, body = PasswordChanged), (status = 401, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "The cabinet logs in by SMS code"), (status = 422, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
pub(crate) async fn change_password(
    State(access): State<Access>,
    caller: Caller,
    Json(body): Json<PasswordChange>,
) -> Result<JsonResponse<PasswordChanged>, ApiError> {
    check_new_password(&body.current_password, &body.new_password)?;
    let written = access
        .change_password(
            caller.principal.account_id,
            &caller.token,
            &body.current_password,
            &body.new_password,
            &caller.meta,
        )
        .await?;
    Ok(JsonResponse(PasswordChanged {
        account_id: written.id,
        position: written.position,
    }))
}

/// A new password is long enough and not the current one.
pub(crate) fn check_new_password(current: &str, new: &str) -> Result<(), ApiError> {
    if new.chars().count() < MIN_PASSWORD_CHARS {
        let message = format!("must be at least {MIN_PASSWORD_CHARS} characters");
        return Err(ApiError::invalid("new_password", message));
    }
    if new == current {
        return Err(ApiError::invalid(
            "new_password",
            "must differ from the current one",
        ));
    }
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimeZoneChange {
    /// IANA name of a Russian region's zone, e.g. `Asia/Vladivostok`.
    time_zone: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TimeZoneChanged {
    time_zone: String,
    /// The loans now reminded in this zone.
    loans: Vec<Uuid>,
    /// The log position of the last change (`null`: no loan needed one).
    position: Option<i64>,
}

/// The borrower's local time zone: overdue reminders keep 230-FZ's quiet hours in it.
#[utoipa::path(put, path = "/api/v1/me/time-zone", tag = "cabinet", security(("bearer" = [])), request_body = TimeZoneChange, responses((status = 200, body = TimeZoneChanged), (status = 401, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn change_time_zone(
    State(reader): State<Reader>,
    State(lending): State<Lending>,
    Borrower(caller): Borrower,
    Json(body): Json<TimeZoneChange>,
) -> Result<JsonResponse<TimeZoneChanged>, ApiError> {
    let zone =
        LocalTimeZone::parse(&body.time_zone).map_err(|e| ApiError::invalid("time_zone", e))?;
    let customer_id = caller.principal.account_id;
    let held = reader.customer_loan_ids(customer_id).await?;
    let (loans, position) = lending
        .change_time_zone(customer_id, zone, &held, &caller.meta)
        .await?;
    Ok(JsonResponse(TimeZoneChanged {
        time_zone: zone.to_string(),
        loans,
        position,
    }))
}

/// Everything k911 holds about a customer (152-FZ art. 14): the profile as the cabinet shows
/// it, every event of the log that concerns them with their own personal data opened, and the
/// recorded reads of their data by staff.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DataExport {
    customer_id: Uuid,
    exported_at: DateTime<Utc>,
    profile: Me,
    /// In log order: `{position, recorded_at, aggregate_type, aggregate_id, sequence,
    /// event_type, actor_role, channel, client_ip, payload}`; another person's data in them
    /// reads "данные другого лица".
    #[schema(value_type = Vec<Object>)]
    events: Vec<k911_projections::audit::SubjectEvent>,
    /// `{read_at, purpose}`: when staff opened the customer's data, and why.
    #[schema(value_type = Vec<Object>)]
    personal_data_reads: Vec<k911_projections::audit::PersonalDataRead>,
    /// `{channel: sms|email, sent_at, subject, text}`: the messages sent to them, oldest first.
    #[schema(value_type = Vec<Object>)]
    messages: Vec<k911_commands::effects::MessageSent>,
}

/// The customer's data export, as the API and the cabinet's download give it.
pub(crate) async fn data_export(
    reader: &Reader,
    effects: &k911_commands::effects::Effects,
    customer_id: Uuid,
    now: DateTime<Utc>,
) -> Result<DataExport, ApiError> {
    Ok(DataExport {
        customer_id,
        exported_at: now,
        profile: reader.customer_view(customer_id).await?.into(),
        events: reader.subject_events(customer_id).await?,
        personal_data_reads: reader.personal_data_reads(customer_id).await?,
        messages: effects.sent_to(customer_id).await?,
    })
}

#[utoipa::path(get, path = "/api/v1/me/data-export", tag = "cabinet", security(("bearer" = [])), responses((status = 200, body = DataExport), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn export(
    State(reader): State<Reader>,
    State(state): State<crate::AppState>,
    Borrower(caller): Borrower,
) -> Result<JsonResponse<DataExport>, ApiError> {
    let now = state.app.core.clock.now();
    Ok(JsonResponse(
        data_export(
            &reader,
            &state.app.effects,
            caller.principal.account_id,
            now,
        )
        .await?,
    ))
}
