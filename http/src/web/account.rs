//! The cabinet's other sections: applications and a repeat application (prefilled from the
//! profile, only what changed is sent), support tickets and the deletion request, settings
//! (password, linked social accounts).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use k911_aggregates::support_ticket::TicketKind;
use k911_aggregates::values::{MessageText, Role};
use k911_commands::auth::{Access, MIN_PASSWORD_CHARS};
use k911_commands::onboarding::Onboarding;
use k911_commands::profile::Profiles;
use k911_commands::social::SocialPurpose;
use k911_commands::support::Support as Tickets;
use k911_commands::Error as AppError;
use k911_projections::cabinet::LoginKind;
use k911_projections::Reader;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

use super::csrf::{CheckedForm, WithCsrf};
use super::format;
use super::forms::{CsrfForm, TextForm};
use super::frame::{Frame, Visit};
use super::session::Signed;
use super::{login, PageError};
use crate::error::ApiError;
use crate::extract::Today;
use crate::routes::applications::form::RepeatRequest;
use crate::routes::consents::{my_consents, ConsentView};
use crate::routes::me::check_new_password;
use crate::routes::my_support::deletion_request;
use crate::AppState;

/// The repeat application's fields: name, label, where in the API's body, what is wrong.
const REPEAT: [(&str, &str, &str, &str); 10] = [
    (
        "amount",
        "Сумма, ₽",
        "loan.amount_kopecks",
        "Сумма вне пределов продукта",
    ),
    (
        "term",
        "Срок, дней",
        "loan.term_days",
        "Срок вне пределов продукта",
    ),
    (
        "last_name",
        "Фамилия",
        "changes.last_name",
        "Фамилия — кириллицей",
    ),
    (
        "first_name",
        "Имя",
        "changes.first_name",
        "Имя — кириллицей",
    ),
    (
        "middle_name",
        "Отчество",
        "changes.middle_name",
        "Отчество — кириллицей",
    ),
    (
        "registration_address",
        "Адрес регистрации",
        "changes.registration_address",
        "Проверьте адрес",
    ),
    (
        "residence_address",
        "Адрес проживания",
        "changes.residence_address",
        "Проверьте адрес",
    ),
    (
        "employer",
        "Работодатель",
        "changes.employment.employer",
        "Укажите работодателя",
    ),
    (
        "position",
        "Должность",
        "changes.employment.position",
        "Проверьте должность",
    ),
    (
        "monthly_income",
        "Доход в месяц, ₽",
        "changes.monthly_income_kopecks",
        "Укажите доход в рублях",
    ),
];

#[derive(Template)]
#[template(path = "cabinet_applications.html")]
struct ApplicationsPage {
    frame: Frame,
    /// Submitted, amount, term, status.
    rows: Vec<(String, String, String, &'static str)>,
    /// Name, label, value.
    fields: Vec<(&'static str, &'static str, String)>,
    errors: Vec<(&'static str, &'static str)>,
}

/// The profile as the repeat form starts from it, by field name.
async fn profile_values(
    profiles: &Profiles,
    customer: uuid::Uuid,
) -> Result<HashMap<&'static str, String>, PageError> {
    let (a, _) = profiles.current(customer).await?;
    let text = |t: Option<&str>| t.unwrap_or_default().to_string();
    Ok(HashMap::from([
        ("amount", String::new()),
        ("term", String::new()),
        ("last_name", a.last_name.as_str().to_string()),
        ("first_name", a.first_name.as_str().to_string()),
        (
            "middle_name",
            text(a.middle_name.as_ref().map(|m| m.as_str())),
        ),
        (
            "registration_address",
            a.registration_address.as_str().to_string(),
        ),
        (
            "residence_address",
            text(a.residence_address.as_ref().map(|r| r.as_str())),
        ),
        (
            "employer",
            text(a.employment.employer.as_ref().map(|e| e.as_str())),
        ),
        (
            "position",
            text(a.employment.position.as_ref().map(|p| p.as_str())),
        ),
        ("monthly_income", (a.monthly_income.get() / 100).to_string()),
    ]))
}

async fn applications_page(
    reader: &Reader,
    visit: &Visit,
    values: &HashMap<&'static str, String>,
    errors: Vec<(&'static str, &'static str)>,
) -> Result<ApplicationsPage, PageError> {
    let rows = reader
        .customer_applications(visit.caller.principal.account_id, 100, 0)
        .await?;
    Ok(ApplicationsPage {
        frame: visit.frame(),
        rows: rows
            .iter()
            .rev()
            .map(|r| {
                (
                    format::moment(r.submitted_at),
                    format::money(
                        r.approved_amount_kopecks
                            .unwrap_or(r.requested_amount_kopecks),
                    ),
                    format::days(r.approved_term_days.unwrap_or(r.requested_term_days).into()),
                    format::application_status(r.status),
                )
            })
            .collect(),
        fields: REPEAT
            .iter()
            .map(|(name, label, _, _)| {
                (*name, *label, values.get(name).cloned().unwrap_or_default())
            })
            .collect(),
        errors,
    })
}

/// `/cabinet/applications`.
pub(crate) async fn applications(
    State(reader): State<Reader>,
    State(profiles): State<Profiles>,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Borrower])?;
    let values = profile_values(&profiles, visit.caller.principal.account_id).await?;
    let page = applications_page(&reader, &visit, &values, vec![]).await?;
    visit.answer(&page)
}

#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct RepeatForm(HashMap<String, String>);

impl WithCsrf for RepeatForm {
    fn csrf(&self) -> &str {
        self.0.get("csrf").map_or("", String::as_str)
    }
}

/// `POST /cabinet/applications`: a repeat application; only the fields that differ from the
/// profile are sent as changes.
pub(crate) async fn apply_again(
    State(reader): State<Reader>,
    State(profiles): State<Profiles>,
    State(onboarding): State<Onboarding>,
    visit: Visit,
    Today(today): Today,
    CheckedForm(form): CheckedForm<RepeatForm>,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Borrower])?;
    let caller = &visit.caller;
    let customer = caller.principal.account_id;
    let before = profile_values(&profiles, customer).await?;
    let typed = |name: &str| form.0.get(name).map_or("", |v| v.trim()).to_string();
    let roubles = |name: &str| -> Value {
        typed(name)
            .replace([' ', '\u{a0}'], "")
            .parse::<i64>()
            .ok()
            .and_then(|r| r.checked_mul(100))
            .map_or(Value::from(0), Value::from)
    };
    let mut changes = Map::new();
    for name in [
        "last_name",
        "first_name",
        "middle_name",
        "registration_address",
        "residence_address",
    ] {
        if typed(name) != before[name] {
            changes.insert(name.into(), Value::from(typed(name)));
        }
    }
    if typed("monthly_income") != before["monthly_income"] {
        changes.insert("monthly_income_kopecks".into(), roubles("monthly_income"));
    }
    let profile = profiles.current(customer).await?;
    if typed("employer") != before["employer"] || typed("position") != before["position"] {
        let optional = |v: String| {
            if v.is_empty() {
                Value::Null
            } else {
                Value::from(v)
            }
        };
        changes.insert(
            "employment".into(),
            json!({
                "status": serde_json::to_value(profile.0.employment.status).expect("serializes"),
                "employer": optional(typed("employer")),
                "position": optional(typed("position")),
            }),
        );
    }
    let term = typed("term")
        .parse::<i64>()
        .map_or(Value::from(0), Value::from);
    let body = json!({
        "loan": {"amount_kopecks": roubles("amount"), "term_days": term},
        "changes": changes,
    });
    let request: RepeatRequest =
        serde_json::from_value(body).expect("the page builds the API's body shape");
    let refused = |errors: Vec<crate::error::FieldError>| -> Vec<(&'static str, &'static str)> {
        errors
            .iter()
            .filter_map(|e| REPEAT.iter().find(|(_, _, path, _)| *path == e.field))
            .map(|(name, _, _, message)| (*name, *message))
            .collect()
    };
    let outcome = match request.parse(profile.0.birth_date, today) {
        Err(ApiError::Invalid(errors)) => Err(refused(errors)),
        Err(other) => return Err(other.into()),
        Ok(repeat) => match onboarding
            .apply_again(customer, profile, repeat, &caller.meta)
            .await
        {
            Ok(_) => Ok(()),
            Err(AppError::Application(e)) => match ApiError::application(e, "loan.") {
                ApiError::Invalid(errors) => Err(refused(errors)),
                other => return Err(other.into()),
            },
            Err(other) => return Err(other.into()),
        },
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/cabinet/applications?done=applied").into_response()),
        Err(errors) => {
            let values: HashMap<&'static str, String> = REPEAT
                .iter()
                .map(|(name, ..)| (*name, typed(name)))
                .collect();
            let page = applications_page(&reader, &visit, &values, errors).await?;
            let mut answer = visit.answer(&page)?;
            *answer.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(answer)
        }
    }
}

#[derive(Template)]
#[template(path = "cabinet_support.html")]
struct SupportPage {
    frame: Frame,
    /// Submitted, kind, question, status.
    rows: Vec<(String, &'static str, String, String)>,
}

/// `/cabinet/support`: my tickets, a new one, the deletion request.
pub(crate) async fn support(
    State(reader): State<Reader>,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Borrower])?;
    let caller = &visit.caller;
    let tickets = reader
        .customer_tickets(caller.principal.account_id, 100, 0)
        .await?;
    let page = SupportPage {
        frame: visit.frame(),
        rows: tickets
            .into_iter()
            .rev()
            .map(|(row, question)| {
                let status = match row.queue_position {
                    Some(place) => format!("в очереди: {place}-й"),
                    None => format::ticket_state(row.status).to_string(),
                };
                (
                    format::moment(row.submitted_at),
                    format::ticket_kind(row.kind),
                    question.map_or_else(|| "—".to_string(), |q| q.as_str().to_string()),
                    status,
                )
            })
            .collect(),
    };
    visit.answer(&page)
}

/// `POST /cabinet/support`: a question to support, answered in queue order.
pub(crate) async fn ask(
    State(tickets): State<Tickets>,
    signed: Signed,
    CheckedForm(form): CheckedForm<TextForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Borrower])?;
    let Ok(question) = MessageText::parse(&form.text) else {
        return Ok(Redirect::to("/cabinet/support?done=empty_question").into_response());
    };
    tickets
        .submit_customer_ticket(
            caller.principal.account_id,
            TicketKind::Question,
            question,
            &caller.meta,
        )
        .await?;
    Ok(Redirect::to("/cabinet/support?done=asked").into_response())
}

/// `POST /cabinet/deletion-request`: deletion goes through support, in queue order.
pub(crate) async fn request_deletion(
    State(tickets): State<Tickets>,
    signed: Signed,
    CheckedForm(form): CheckedForm<TextForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Borrower])?;
    let question = deletion_request(Some(form.text))?;
    tickets
        .submit_customer_ticket(
            caller.principal.account_id,
            TicketKind::Deletion,
            question,
            &caller.meta,
        )
        .await?;
    Ok(Redirect::to("/cabinet/support?done=deletion_asked").into_response())
}

#[derive(Template)]
#[template(path = "cabinet_settings.html")]
struct SettingsPage {
    frame: Frame,
    password_login: bool,
    min_password: usize,
    linked: Vec<(String, String)>,
    providers: Vec<String>,
    consents: Vec<ConsentLine>,
    /// The consent to a credit history request: whether it is live, and what to say of it.
    credit_history: Option<(bool, String)>,
}

/// A consent as the settings page lists it.
struct ConsentLine {
    what: &'static str,
    title: String,
    document_id: Option<Uuid>,
    version: String,
    given: String,
    withdrawn: Option<String>,
}

impl ConsentLine {
    fn of(view: ConsentView) -> Self {
        Self {
            what: match view.consent.as_str() {
                "personal_data" => "Обработка персональных данных",
                "credit_history_check" => "Запрос кредитной истории",
                _ => "Общие условия",
            },
            title: view.title.unwrap_or_default(),
            document_id: view.document_id,
            // The first characters of the SHA-256 name the text's version.
            version: view
                .text_sha256
                .map(|sha| sha.chars().take(12).collect())
                .unwrap_or_default(),
            given: format::moment(view.given_at),
            withdrawn: view.withdrawn_at.map(format::moment),
        }
    }
}

/// `/cabinet/settings`.
pub(crate) async fn settings(
    State(reader): State<Reader>,
    State(state): State<AppState>,
    State(access): State<Access>,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Borrower])?;
    let caller = &visit.caller;
    let me = reader.customer_view(caller.principal.account_id).await?;
    let now = state.app.core.clock.now();
    let consents = my_consents(&reader, caller.principal.account_id, now).await?;
    let credit_history = consents.credit_history_check.map(|c| {
        let said = match (c.live, c.withdrawn_at) {
            (_, Some(at)) => format!("отозвано {}", format::moment(at)),
            // `lapses_on` is the first day it no longer serves.
            (true, None) => format!(
                "действует по {}",
                format::date(c.lapses_on.pred_opt().unwrap_or(c.lapses_on))
            ),
            (false, None) => format!("истекло {}", format::date(c.lapses_on)),
        };
        (c.live, said)
    });
    let linked: Vec<(String, String)> = me
        .social_links
        .iter()
        .map(|(provider, at)| (provider.clone(), format::moment(*at)))
        .collect();
    let page = SettingsPage {
        frame: visit.frame(),
        password_login: me.login == LoginKind::Email,
        min_password: MIN_PASSWORD_CHARS,
        providers: access
            .oidc
            .names()
            .into_iter()
            .filter(|p| !linked.iter().any(|(l, _)| l == p))
            .collect(),
        linked,
        consents: consents.consents.into_iter().map(ConsentLine::of).collect(),
        credit_history,
    };
    visit.answer(&page)
}

/// `POST /cabinet/settings/consents/credit-history/withdraw`.
pub(crate) async fn withdraw_credit_history(
    State(onboarding): State<Onboarding>,
    signed: Signed,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Borrower])?;
    onboarding
        .withdraw_credit_history_consent(caller.principal.account_id, &caller.meta)
        .await?;
    Ok(Redirect::to("/cabinet/settings?done=consent_withdrawn").into_response())
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    csrf: String,
    current_password: String,
    new_password: String,
}

impl WithCsrf for PasswordForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /cabinet/settings/password`: this session stays, every other one ends.
pub(crate) async fn change_password(
    State(access): State<Access>,
    signed: Signed,
    CheckedForm(form): CheckedForm<PasswordForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Borrower])?;
    if check_new_password(&form.current_password, &form.new_password).is_err() {
        return Ok(Redirect::to("/cabinet/settings?done=weak_password").into_response());
    }
    let done = match access
        .change_password(
            caller.principal.account_id,
            &caller.token,
            &form.current_password,
            &form.new_password,
            &caller.meta,
        )
        .await
    {
        Ok(_) => "password_changed",
        Err(AppError::WrongCurrentPassword) => "wrong_password",
        Err(other) => return Err(other.into()),
    };
    Ok(Redirect::to(&format!("/cabinet/settings?done={done}")).into_response())
}

/// `POST /cabinet/settings/social/{provider}`: off to the provider to link an account.
pub(crate) async fn link_social(
    State(state): State<AppState>,
    State(access): State<Access>,
    signed: Signed,
    jar: CookieJar,
    Path(provider): Path<String>,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Borrower])?;
    let redirect = access
        .begin_social(&provider, SocialPurpose::Link(caller.principal.account_id))
        .await?;
    let jar = login::remember_social(jar, &state, login::SocialStep::Link, &provider);
    Ok((jar, Redirect::to(&redirect.authorization_url)).into_response())
}

/// `POST /cabinet/settings/social/{provider}/unlink`.
pub(crate) async fn unlink_social(
    State(access): State<Access>,
    signed: Signed,
    Path(provider): Path<String>,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Borrower])?;
    access
        .unlink_social(caller.principal.account_id, &provider, &caller.meta)
        .await?;
    Ok(Redirect::to("/cabinet/settings?done=unlinked").into_response())
}

/// The callback of a link started in settings.
pub(crate) async fn finish_link(
    access: &Access,
    caller: &crate::auth::Caller,
    provider: &str,
    code: &str,
    oidc_state: &str,
) -> Result<Response, PageError> {
    let done = match access
        .link_social(
            caller.principal.account_id,
            provider,
            code,
            oidc_state,
            &caller.meta,
        )
        .await
    {
        Ok(_) => "linked",
        Err(AppError::BadCredentials | AppError::Conflict) => "link_failed",
        Err(other) => return Err(other.into()),
    };
    Ok(Redirect::to(&format!("/cabinet/settings?done={done}")).into_response())
}

/// The customer's data as a JSON file to keep (the same as `GET /api/v1/me/data-export`).
pub(crate) async fn data_export(
    State(reader): State<Reader>,
    State(state): State<AppState>,
    signed: Signed,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Borrower])?;
    let now = state.app.core.clock.now();
    let export = crate::routes::me::data_export(
        &reader,
        &state.app.effects,
        caller.principal.account_id,
        now,
    )
    .await?;
    let disposition = format!(
        "attachment; filename=\"k911-my-data-{}.json\"",
        now.format("%Y-%m-%d")
    );
    Ok((
        [(axum::http::header::CONTENT_DISPOSITION, disposition)],
        axum::Json(export),
    )
        .into_response())
}
