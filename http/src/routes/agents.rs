//! Agents as admins manage them: registered with a login, a referral code and a plan;
//! suspended, resumed, given a new plan from a date.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use chrono::NaiveDate;
use k911_aggregates::agent::plan::CommissionPlan;
use k911_aggregates::agent::values::{AgentKind, Inn, Month};
use k911_aggregates::loan_application::applicant::OfficialText;
use k911_aggregates::money::Kopecks;
use k911_aggregates::values::Email;
use k911_commands::agents::{AgentForm, Agents};
use k911_projections::agents::{AgentRow, AgentState, StatementState};
use k911_projections::Reader;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Admin, Caller, Finance};
use crate::error::{ApiError, FieldError};
use crate::extract::{check, IdPath, Json, Page, Today};
use crate::routes::agent::StatementView;
use crate::routes::applications::form::PayoutBody;
use crate::routes::content::Changed;
use k911_aggregates::values::Role;

/// A commission plan: a share of the issued principal and/or a bonus for a client's first loan
/// ever, capped per loan.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanBody {
    /// Percent of the issued principal, e.g. `"5"` (0–100).
    percent_of_principal: String,
    #[serde(default)]
    first_loan_bonus_kopecks: i64,
    #[serde(default)]
    cap_per_loan_kopecks: Option<i64>,
}

impl PlanBody {
    fn parse(self, errors: &mut Vec<FieldError>) -> Option<CommissionPlan> {
        let percent = check(
            errors,
            "plan.percent_of_principal",
            self.percent_of_principal
                .trim()
                .parse::<Decimal>()
                .map_err(|_| "must be a percentage, e.g. \"5\""),
        );
        let bonus = check(
            errors,
            "plan.first_loan_bonus_kopecks",
            Kopecks::new(self.first_loan_bonus_kopecks),
        );
        let cap = self
            .cap_per_loan_kopecks
            .map(|c| check(errors, "plan.cap_per_loan_kopecks", Kopecks::new(c)));
        Some(CommissionPlan {
            percent_of_principal: percent?,
            first_loan_bonus: bonus?,
            cap_per_loan: cap.map_or(Some(None), |c| c.map(Some))?,
        })
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentRequest {
    /// `individual` | `sole_trader` | `company`
    kind: String,
    /// A person's full name or a company's name.
    name: String,
    /// ИНН: 12 digits for a person or sole trader, 10 for a company.
    inn: String,
    /// Where commission is paid, as a borrower's payout method.
    payout: PayoutBody,
    /// The agent's login e-mail and first password (at least 8 characters).
    login: String,
    password: String,
    plan: PlanBody,
    /// The plan's first day (default: today).
    #[serde(default)]
    plan_from: Option<NaiveDate>,
}

impl AgentRequest {
    /// The registration, every failure named by its field; the plan starts `today` unless the
    /// request says when.
    pub(crate) fn parse(self, today: NaiveDate) -> Result<AgentForm, ApiError> {
        let mut errors = vec![];
        let kind = check(
            &mut errors,
            "kind",
            self.kind
                .parse::<AgentKind>()
                .map_err(|_| "must be individual, sole_trader or company"),
        );
        let name = check(&mut errors, "name", OfficialText::parse(&self.name));
        let inn = check(&mut errors, "inn", Inn::parse(&self.inn));
        let login = check(&mut errors, "login", Email::parse(&self.login));
        if self.password.chars().count() < k911_commands::auth::MIN_PASSWORD_CHARS {
            errors.push(FieldError::new("password", "too short"));
        }
        let plan = self.plan.parse(&mut errors);
        let payout = match self.payout.parse_alone() {
            Ok(payout) => Some(payout),
            Err(ApiError::Invalid(more)) => {
                errors.extend(more);
                None
            }
            Err(other) => return Err(other),
        };
        let (Some(kind), Some(name), Some(inn), Some(login), Some(plan), Some(payout)) =
            (kind, name, inn, login, plan, payout)
        else {
            return Err(ApiError::Invalid(errors));
        };
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        Ok(AgentForm {
            kind,
            name,
            inn,
            payout,
            login,
            password: self.password,
            plan,
            plan_from: self.plan_from.unwrap_or(today),
        })
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AgentCreated {
    agent_id: Uuid,
    /// The agent's referral code.
    code: String,
    /// The site's link that carries the code into the application form.
    link: String,
    position: i64,
}

#[utoipa::path(post, path = "/api/v1/staff/agents", tag = "agents", security(("bearer" = [])), request_body = AgentRequest, responses((status = 201, body = AgentCreated), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "The login is taken"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn create(
    State(agents): State<Agents>,
    Admin(caller): Admin,
    Today(today): Today,
    Json(body): Json<AgentRequest>,
) -> Result<(StatusCode, JsonResponse<AgentCreated>), ApiError> {
    let form = body.parse(today)?;
    let (written, code) = agents.register(form, &caller.meta).await?;
    Ok((
        StatusCode::CREATED,
        JsonResponse(AgentCreated {
            agent_id: written.id,
            link: format!("/?ref={}", code.as_str()),
            code: code.as_str().to_string(),
            position: written.position,
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/staff/agents/{id}/suspend", tag = "agents", security(("bearer" = [])), params(("id" = Uuid, Path)), responses((status = 200, body = Changed), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub(crate) async fn suspend(
    State(agents): State<Agents>,
    Admin(caller): Admin,
    IdPath(id): IdPath,
) -> Result<JsonResponse<Changed>, ApiError> {
    Ok(JsonResponse(agents.suspend(id, &caller.meta).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/staff/agents/{id}/resume", tag = "agents", security(("bearer" = [])), params(("id" = Uuid, Path)), responses((status = 200, body = Changed), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub(crate) async fn resume(
    State(agents): State<Agents>,
    Admin(caller): Admin,
    IdPath(id): IdPath,
) -> Result<JsonResponse<Changed>, ApiError> {
    Ok(JsonResponse(agents.resume(id, &caller.meta).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanChange {
    plan: PlanBody,
    /// The first day loans earn by the new plan: not in the past, after the latest plan's.
    effective_from: NaiveDate,
}

impl PlanChange {
    /// The plan and its first day, every failure named by its field.
    pub(crate) fn parse(self) -> Result<(CommissionPlan, NaiveDate), ApiError> {
        let mut errors = vec![];
        match self.plan.parse(&mut errors) {
            Some(plan) => Ok((plan, self.effective_from)),
            None => Err(ApiError::Invalid(errors)),
        }
    }
}

#[utoipa::path(put, path = "/api/v1/staff/agents/{id}/plan", tag = "agents", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = PlanChange, responses((status = 200, body = Changed), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn change_plan(
    State(agents): State<Agents>,
    Admin(caller): Admin,
    IdPath(id): IdPath,
    Json(body): Json<PlanChange>,
) -> Result<JsonResponse<Changed>, ApiError> {
    let (plan, from) = body.parse()?;
    let written = agents.change_plan(id, plan, from, &caller.meta).await?;
    Ok(JsonResponse(written.into()))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PaymentApproved {
    agent_id: Uuid,
    month: String,
    /// The payout's id at the provider: one per agent and month.
    payout_id: Uuid,
    position: i64,
}

/// Finance approves a closed statement for payment: the payable amount goes to the agent's card
/// or wallet through the payout provider, once.
#[utoipa::path(post, path = "/api/v1/staff/agents/{id}/statements/{month}/pay", tag = "agents", security(("bearer" = [])), params(("id" = Uuid, Path), ("month" = String, Path, description = "YYYY-MM")), responses((status = 202, body = PaymentApproved), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "Not closed, nothing payable, or approved already"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn approve_payment(
    State(agents): State<Agents>,
    Finance(caller): Finance,
    Path((id, month)): Path<(String, String)>,
) -> Result<(StatusCode, JsonResponse<PaymentApproved>), ApiError> {
    let agent_id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("agent"))?;
    let month = Month::parse(&month).map_err(|e| ApiError::invalid("month", e))?;
    let (written, payout_id) = agents
        .approve_payment(agent_id, month, caller.principal.account_id, &caller.meta)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        JsonResponse(PaymentApproved {
            agent_id,
            month: month.to_string(),
            payout_id,
            position: written.position,
        }),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AgentSummary {
    agent_id: Uuid,
    /// `individual` | `sole_trader` | `company`
    kind: String,
    code: String,
    status: AgentState,
    clients: i32,
    plan_version: i32,
    /// `{percent_of_principal, first_loan_bonus, cap_per_loan}`
    #[schema(value_type = Object)]
    plan: Option<serde_json::Value>,
    plan_from: Option<NaiveDate>,
    registered_at: chrono::DateTime<chrono::Utc>,
}

impl From<AgentRow> for AgentSummary {
    fn from(a: AgentRow) -> Self {
        Self {
            agent_id: a.agent_id,
            kind: a.kind,
            code: a.code,
            status: a.status,
            clients: a.clients,
            plan_version: a.plan_version,
            plan: a.plan,
            plan_from: a.plan_from,
            registered_at: a.registered_at,
        }
    }
}

/// Who sees the agents: admins manage them, finance pays them, support reads.
pub(crate) const AGENT_DESK: [Role; 3] = [Role::Admin, Role::Finance, Role::Support];

/// Agents, for admins who manage them, finance who pays them and support (read only).
#[utoipa::path(get, path = "/api/v1/staff/agents", tag = "agents", security(("bearer" = [])), params(("limit" = Option<i64>, Query, description = "1..1000, default 100"), ("offset" = Option<i64>, Query, description = "default 0")), responses((status = 200, body = Vec<AgentSummary>), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn list(
    State(reader): State<Reader>,
    caller: Caller,
    page: Page,
) -> Result<JsonResponse<Vec<AgentSummary>>, ApiError> {
    caller.require(&AGENT_DESK)?;
    let rows = reader.agents(page.limit, page.offset).await?;
    Ok(JsonResponse(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/api/v1/staff/agents/{id}", tag = "agents", security(("bearer" = [])), params(("id" = Uuid, Path)), responses((status = 200, body = AgentSummary), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub(crate) async fn one(
    State(reader): State<Reader>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<JsonResponse<AgentSummary>, ApiError> {
    caller.require(&AGENT_DESK)?;
    Ok(JsonResponse(reader.agent(id).await?.into()))
}

/// One agent's statements, newest month first.
#[utoipa::path(get, path = "/api/v1/staff/agents/{id}/statements", tag = "agents", security(("bearer" = [])), params(("id" = Uuid, Path)), responses((status = 200, body = Vec<StatementView>), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub(crate) async fn statements(
    State(reader): State<Reader>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<JsonResponse<Vec<StatementView>>, ApiError> {
    caller.require(&AGENT_DESK)?;
    reader.agent(id).await?;
    let rows = reader.agent_statements(id).await?;
    Ok(JsonResponse(rows.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct StatementsQuery {
    /// `open` | `closed` (default: what finance may pay) | `approved` | `paid`
    status: Option<String>,
}

/// Every agent's statements in one status, oldest month first: by default the closed ones
/// finance may approve for payment.
#[utoipa::path(get, path = "/api/v1/staff/agent-statements", tag = "agents", security(("bearer" = [])), params(StatementsQuery, ("limit" = Option<i64>, Query, description = "1..1000, default 100"), ("offset" = Option<i64>, Query, description = "default 0")), responses((status = 200, body = Vec<StatementView>), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn all_statements(
    State(reader): State<Reader>,
    caller: Caller,
    Query(query): Query<StatementsQuery>,
    page: Page,
) -> Result<JsonResponse<Vec<StatementView>>, ApiError> {
    caller.require(&AGENT_DESK)?;
    let status = match query.status.as_deref() {
        None => StatementState::Closed,
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::invalid("status", "must be open, closed, approved or paid"))?,
    };
    let rows = reader
        .statements_with_status(status, page.limit, page.offset)
        .await?;
    Ok(JsonResponse(rows.into_iter().map(Into::into).collect()))
}
