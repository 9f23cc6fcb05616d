//! Agents in the back office: admins register them (with a login, a referral code and a plan),
//! suspend and resume them and give them a new plan from a date; finance approves closed
//! statements for payment; support reads. Every action is the agents API's own use case.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use k911_aggregates::agent::plan::CommissionPlan;
use k911_aggregates::agent::values::Month;
use k911_aggregates::values::Role;
use k911_commands::agents::Agents;
use k911_commands::Written;
use k911_projections::agents::{AgentRow, AgentState, StatementState};
use k911_projections::Reader;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::agent::StatementLine;
use super::csrf::{CheckedForm, WithCsrf};
use super::format;
use super::forms::{done_at, CsrfForm};
use super::frame::{Frame, Visit};
use super::session::Signed;
use super::PageError;
use crate::error::{ApiError, FieldError};
use crate::extract::{IdPath, Today};
use crate::routes::agent::StatementView;
use crate::routes::agents::{AgentRequest, PlanChange, AGENT_DESK};

/// An agent as the back office lists them.
pub(crate) struct AgentLine {
    id: Uuid,
    code: String,
    kind: &'static str,
    status: &'static str,
    active: bool,
    clients: i32,
    plan: String,
}

impl From<AgentRow> for AgentLine {
    fn from(a: AgentRow) -> Self {
        let plan = a
            .plan
            .and_then(|p| serde_json::from_value::<CommissionPlan>(p).ok())
            .map_or_else(|| "—".to_string(), |p| plan_words(&p, a.plan_from));
        Self {
            id: a.agent_id,
            kind: match a.kind.as_str() {
                "individual" => "физическое лицо",
                "sole_trader" => "ИП",
                _ => "организация",
            },
            status: match a.status {
                AgentState::Active => "работает",
                AgentState::Suspended => "приостановлен",
            },
            active: a.status == AgentState::Active,
            code: a.code,
            clients: a.clients,
            plan,
        }
    }
}

/// `5 % от суммы займа, 500,00 ₽ за первый заём клиента, не более 3 000,00 ₽ за заём, с 01.12.2026`.
fn plan_words(plan: &CommissionPlan, from: Option<NaiveDate>) -> String {
    let mut words = vec![format!(
        "{} от суммы займа",
        format::percent(plan.percent_of_principal)
    )];
    if plan.first_loan_bonus.get() > 0 {
        words.push(format!(
            "{} за первый заём клиента",
            format::money(plan.first_loan_bonus.get())
        ));
    }
    if let Some(cap) = plan.cap_per_loan {
        words.push(format!("не более {} за заём", format::money(cap.get())));
    }
    if let Some(from) = from {
        words.push(format!("с {}", format::date(from)));
    }
    words.join(", ")
}

/// The registration form's text fields: name, label, input type, and what to say when the API
/// refuses the field (`api_field`).
const FIELDS: [(&str, &str, &str, &str, &str); 9] = [
    (
        "name",
        "Имя или наименование",
        "text",
        "name",
        "Укажите полное имя или наименование.",
    ),
    (
        "inn",
        "ИНН",
        "text",
        "inn",
        "ИНН: 12 цифр у человека и ИП, 10 у организации, с верными контрольными цифрами.",
    ),
    (
        "login",
        "Логин (e-mail)",
        "email",
        "login",
        "Нужен e-mail, ещё не занятый другой учётной записью.",
    ),
    (
        "password",
        "Первый пароль",
        "password",
        "password",
        "Пароль — не короче 8 символов.",
    ),
    (
        "wallet_provider",
        "Кошелёк: провайдер (yoomoney)",
        "text",
        "payout.provider",
        "Укажите провайдера кошелька.",
    ),
    (
        "wallet_id",
        "Кошелёк: номер",
        "text",
        "payout.wallet_id",
        "Укажите номер кошелька.",
    ),
    (
        "percent",
        "Процент от суммы займа",
        "text",
        "plan.percent_of_principal",
        "Процент от 0 до 100, например 5 или 2,5.",
    ),
    (
        "bonus_roubles",
        "Бонус за первый заём клиента, ₽",
        "text",
        "plan.first_loan_bonus_kopecks",
        "Целое число рублей.",
    ),
    (
        "cap_roubles",
        "Не более за один заём, ₽ (необязательно)",
        "text",
        "plan.cap_per_loan_kopecks",
        "Целое число рублей.",
    ),
];

/// A text field of the registration form as shown.
pub(crate) struct FieldView {
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    value: String,
    error: Option<&'static str>,
}

/// The registration form as typed (never the password), with its errors.
#[derive(Default)]
pub(crate) struct Typed {
    values: Vec<(&'static str, String)>,
    errors: Vec<FieldError>,
}

impl Typed {
    fn value(&self, field: &str) -> String {
        self.values
            .iter()
            .find(|(name, _)| *name == field)
            .map_or_else(String::new, |(_, value)| value.clone())
    }

    fn refused(&self, api_field: &str) -> bool {
        self.errors.iter().any(|e| e.field == api_field)
    }

    fn fields(&self) -> Vec<FieldView> {
        FIELDS
            .iter()
            .map(|&(name, label, kind, api_field, message)| FieldView {
                name,
                label,
                kind,
                value: if kind == "password" {
                    String::new()
                } else {
                    self.value(name)
                },
                error: self.refused(api_field).then_some(message),
            })
            .collect()
    }

    /// Errors the fields do not show (the agent's kind, a card not linked).
    fn other_errors(&self) -> Vec<&'static str> {
        let mut other = vec![];
        if self.refused("kind") {
            other.push("Выберите, кто агент: человек, ИП или организация.");
        }
        if self
            .errors
            .iter()
            .any(|e| e.field.starts_with("payout.card") || e.field == "payout.masked_pan")
        {
            other.push("Привяжите карту агента или выберите кошелёк.");
        }
        other
    }
}

#[derive(Template)]
#[template(path = "staff_agents.html")]
struct AgentsPage {
    frame: Frame,
    agents: Vec<AgentLine>,
    /// Closed statements with something to pay, for finance.
    to_pay: Vec<(Uuid, StatementLine)>,
    can_register: bool,
    fields: Vec<FieldView>,
    other_errors: Vec<&'static str>,
    has_errors: bool,
    kind: String,
    payout_method: String,
}

async fn agents_page(
    reader: &Reader,
    visit: Visit,
    form: Typed,
    status: StatusCode,
) -> Result<Response, PageError> {
    let agents = reader.agents(1000, 0).await?;
    let to_pay = reader
        .statements_with_status(StatementState::Closed, 1000, 0)
        .await?
        .into_iter()
        .map(StatementView::from)
        .map(|s| (s.agent_id, StatementLine::from(&s)))
        .filter(|(_, line)| line.payable_now)
        .collect();
    let page = AgentsPage {
        frame: visit.frame(),
        agents: agents.into_iter().map(AgentLine::from).collect(),
        to_pay,
        can_register: visit.caller.principal.role == Role::Admin,
        fields: form.fields(),
        other_errors: form.other_errors(),
        has_errors: !form.errors.is_empty(),
        kind: form.value("kind"),
        payout_method: form.value("payout_method"),
    };
    Ok((status, visit.answer(&page)?).into_response())
}

/// `/staff/agents`: every agent; finance's statements to pay; the admin's registration form.
pub(crate) async fn list(
    State(reader): State<Reader>,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&AGENT_DESK)?;
    agents_page(&reader, visit, Typed::default(), StatusCode::OK).await
}

#[derive(Deserialize)]
pub(crate) struct RegisterForm {
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    inn: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    payout_method: String,
    #[serde(default)]
    card_token: String,
    #[serde(default)]
    masked_pan: String,
    #[serde(default)]
    wallet_provider: String,
    #[serde(default)]
    wallet_id: String,
    #[serde(flatten)]
    plan: PlanFields,
}

impl WithCsrf for RegisterForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A plan as the form takes it: the percent as typed, the amounts in whole roubles.
#[derive(Deserialize)]
pub(crate) struct PlanFields {
    #[serde(default)]
    percent: String,
    #[serde(default)]
    bonus_roubles: String,
    #[serde(default)]
    cap_roubles: String,
}

impl PlanFields {
    /// The API's `plan` body; an amount that is not whole roubles is an error under its API
    /// field.
    fn body(&self, errors: &mut Vec<FieldError>) -> Value {
        let mut roubles = |field: &'static str, typed: &str| -> Option<i64> {
            let typed = typed.trim().replace([' ', '\u{a0}'], "");
            if typed.is_empty() {
                return None;
            }
            match typed.parse::<i64>() {
                Ok(roubles) if roubles >= 0 => roubles.checked_mul(100),
                _ => {
                    errors.push(FieldError::new(field, "must be whole roubles"));
                    None
                }
            }
        };
        json!({
            "percent_of_principal": self.percent.replace(',', "."),
            "first_loan_bonus_kopecks":
                roubles("plan.first_loan_bonus_kopecks", &self.bonus_roubles).unwrap_or(0),
            "cap_per_loan_kopecks": roubles("plan.cap_per_loan_kopecks", &self.cap_roubles),
        })
    }
}

/// `POST /staff/agents` (admins): the agent registered, or the form again with its errors.
pub(crate) async fn register(
    State(reader): State<Reader>,
    State(agents): State<Agents>,
    Today(today): Today,
    visit: Visit,
    CheckedForm(form): CheckedForm<RegisterForm>,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Admin])?;
    let mut errors = vec![];
    let plan = form.plan.body(&mut errors);
    let payout = match form.payout_method.as_str() {
        "card" => {
            json!({"method": "card", "card_token": form.card_token, "masked_pan": form.masked_pan})
        }
        _ => {
            json!({"method": "ewallet", "provider": form.wallet_provider, "wallet_id": form.wallet_id})
        }
    };
    let body = json!({
        "kind": form.kind, "name": form.name, "inn": form.inn, "login": form.login,
        "password": form.password, "payout": payout, "plan": plan,
    });
    let request: AgentRequest =
        serde_json::from_value(body).expect("the page builds the API's body shape");
    let registration = match request.parse(today) {
        Ok(registration) => Some(registration),
        Err(ApiError::Invalid(more)) => {
            errors.extend(more);
            None
        }
        Err(other) => return Err(other.into()),
    };
    let refused = match registration.filter(|_| errors.is_empty()) {
        None => StatusCode::UNPROCESSABLE_ENTITY,
        Some(registration) => match agents.register(registration, &visit.caller.meta).await {
            Ok((written, _)) => {
                let to = format!("/staff/agents/{}", written.id);
                let to = done_at(&to, "agent_registered", written.position);
                return Ok(Redirect::to(&to).into_response());
            }
            Err(refusal) => match ApiError::from(refusal) {
                ApiError::Invalid(more) => {
                    errors.extend(more);
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                conflict if conflict.status() == StatusCode::CONFLICT => {
                    errors.push(FieldError::new("login", "is taken"));
                    StatusCode::CONFLICT
                }
                other => return Err(other.into()),
            },
        },
    };
    let typed = Typed {
        values: vec![
            ("kind", form.kind),
            ("name", form.name),
            ("inn", form.inn),
            ("login", form.login),
            ("payout_method", form.payout_method),
            ("wallet_provider", form.wallet_provider),
            ("wallet_id", form.wallet_id),
            ("percent", form.plan.percent),
            ("bonus_roubles", form.plan.bonus_roubles),
            ("cap_roubles", form.plan.cap_roubles),
        ],
        errors,
    };
    agents_page(&reader, visit, typed, refused).await
}

#[derive(Template)]
#[template(path = "staff_agent.html")]
struct AgentPage {
    frame: Frame,
    agent: AgentLine,
    link: String,
    statements: Vec<StatementLine>,
    is_admin: bool,
    is_finance: bool,
}

/// `/staff/agents/{id}`: the agent, their statements, and what the caller's role may do.
pub(crate) async fn one(
    State(reader): State<Reader>,
    visit: Visit,
    IdPath(id): IdPath,
) -> Result<Response, PageError> {
    let visit = visit.of(&AGENT_DESK)?;
    let agent = reader.agent(id).await?;
    let statements = reader.agent_statements(id).await?;
    let role = visit.caller.principal.role;
    let page = AgentPage {
        frame: visit.frame(),
        link: format!("/?ref={}", agent.code),
        agent: agent.into(),
        statements: statements
            .into_iter()
            .map(|s| StatementLine::from(&StatementView::from(s)))
            .collect(),
        is_admin: role == Role::Admin,
        is_finance: role == Role::Finance,
    };
    visit.answer(&page)
}

/// Where an action on an agent sends the browser: the agent's page, saying what happened once
/// it shows it; a refusal (409/422) is said there too.
fn back_to(
    id: Uuid,
    done: Result<(&str, Written), ApiError>,
    refused: &str,
) -> Result<Response, PageError> {
    let to = format!("/staff/agents/{id}");
    let to = match done {
        Ok((done, written)) => done_at(&to, done, written.position),
        Err(e) if matches!(e.status().as_u16(), 409 | 422) => format!("{to}?done={refused}"),
        Err(other) => return Err(other.into()),
    };
    Ok(Redirect::to(&to).into_response())
}

/// `POST /staff/agents/{id}/suspend` (admins).
pub(crate) async fn suspend(
    State(agents): State<Agents>,
    signed: Signed,
    IdPath(id): IdPath,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Admin])?;
    let done = agents.suspend(id, &caller.meta).await;
    back_to(
        id,
        done.map(|w| ("agent_suspended", w)).map_err(Into::into),
        "agent_unchanged",
    )
}

/// `POST /staff/agents/{id}/resume` (admins).
pub(crate) async fn resume(
    State(agents): State<Agents>,
    signed: Signed,
    IdPath(id): IdPath,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Admin])?;
    let done = agents.resume(id, &caller.meta).await;
    back_to(
        id,
        done.map(|w| ("agent_resumed", w)).map_err(Into::into),
        "agent_unchanged",
    )
}

#[derive(Deserialize)]
pub(crate) struct PlanForm {
    csrf: String,
    #[serde(default)]
    effective_from: String,
    #[serde(flatten)]
    plan: PlanFields,
}

impl WithCsrf for PlanForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /staff/agents/{id}/plan` (admins): a new plan from a date.
pub(crate) async fn change_plan(
    State(agents): State<Agents>,
    signed: Signed,
    IdPath(id): IdPath,
    CheckedForm(form): CheckedForm<PlanForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Admin])?;
    let mut errors = vec![];
    let plan = form.plan.body(&mut errors);
    let Ok(from) = NaiveDate::parse_from_str(form.effective_from.trim(), "%Y-%m-%d") else {
        return back_to(
            id,
            Err(ApiError::invalid("effective_from", "must be a date")),
            "plan_refused",
        );
    };
    let change: PlanChange = serde_json::from_value(json!({"plan": plan, "effective_from": from}))
        .expect("the page builds the API's body shape");
    let done = match change.parse() {
        Ok(_) if !errors.is_empty() => Err(ApiError::Invalid(errors)),
        Ok((plan, from)) => agents
            .change_plan(id, plan, from, &caller.meta)
            .await
            .map(|w| ("plan_changed", w))
            .map_err(Into::into),
        Err(refused) => Err(refused),
    };
    back_to(id, done, "plan_refused")
}

/// `POST /staff/agents/{id}/statements/{month}/pay` (finance).
pub(crate) async fn approve_payment(
    State(agents): State<Agents>,
    signed: Signed,
    Path((id, month)): Path<(Uuid, String)>,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Finance])?;
    let month = Month::parse(&month).map_err(|_| ApiError::NotFound("statement"))?;
    let done = agents
        .approve_payment(id, month, caller.principal.account_id, &caller.meta)
        .await
        .map(|(w, _)| ("payment_approved", w))
        .map_err(Into::into);
    back_to(id, done, "payment_refused")
}
