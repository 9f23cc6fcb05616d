//! The back office, by role: underwriters decide applications, support answers the queue. Every
//! action is the API's own use case; a page only reads the form and says what happened.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use k911_aggregates::loan_application::applicant::{Applicant, PayoutMethod};
use k911_aggregates::values::{MessageText, Role};
use k911_commands::onboarding::Onboarding;
use k911_commands::support::Support as Tickets;
use k911_projections::cabinet::ApplicationState;
use k911_projections::support::TicketState;
use k911_projections::Reader;
use serde::Deserialize;
use uuid::Uuid;

use super::csrf::{CheckedForm, WithCsrf};
use super::format;
use super::forms::{CsrfForm, TextForm};
use super::frame::{Frame, Visit};
use super::session::Signed;
use super::PageError;
use crate::error::ApiError;
use crate::extract::IdPath;
use crate::routes::applications::ApproveRequest;
use crate::routes::support::ReadQueue;

#[derive(Template)]
#[template(path = "staff_home.html")]
struct HomePage {
    frame: Frame,
}

/// `/staff`: the sections of the caller's role.
pub(crate) async fn home(visit: Visit) -> Result<Response, PageError> {
    let visit = visit.of(&Role::STAFF)?;
    let page = HomePage {
        frame: visit.frame(),
    };
    visit.answer(&page)
}

pub(crate) struct QueuedRow {
    id: Uuid,
    submitted: String,
    amount: String,
    term: String,
    repeat: bool,
}

#[derive(Template)]
#[template(path = "staff_applications.html")]
struct ApplicationsPage {
    frame: Frame,
    rows: Vec<QueuedRow>,
}

/// `/staff/applications`: the underwriters' queue, oldest first.
pub(crate) async fn applications(
    State(reader): State<Reader>,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Underwriter])?;
    let rows = reader
        .applications_with_status(ApplicationState::Submitted, 100, 0)
        .await?;
    let page = ApplicationsPage {
        frame: visit.frame(),
        rows: rows
            .into_iter()
            .map(|a| QueuedRow {
                id: a.row.application_id,
                submitted: format::moment(a.row.submitted_at),
                amount: format::money(a.row.requested_amount_kopecks),
                term: format::days(a.row.requested_term_days.into()),
                repeat: a.row.repeat,
            })
            .collect(),
    };
    visit.answer(&page)
}

#[derive(Template)]
#[template(path = "staff_application.html")]
struct ApplicationPage {
    frame: Frame,
    id: Uuid,
    status: &'static str,
    submitted: String,
    amount: String,
    term: String,
    decidable: bool,
    /// The applicant's data, once opened with a purpose.
    facts: Vec<(&'static str, String)>,
    error: Option<String>,
    amount_roubles: String,
    term_days: String,
    daily_rate: String,
}

#[derive(Deserialize)]
pub(crate) struct Purpose {
    purpose: Option<String>,
}

/// `/staff/applications/{id}`: the application; with `?purpose=` the applicant's personal data
/// too (the read is recorded with the purpose), and the decision's forms.
pub(crate) async fn application(
    State(reader): State<Reader>,
    State(onboarding): State<Onboarding>,
    visit: Visit,
    IdPath(id): IdPath,
    Query(purpose): Query<Purpose>,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Underwriter])?;
    let caller = &visit.caller;
    let staff = reader.staff_application(id).await?;
    let row = staff.row;
    let facts = match purpose.purpose.as_deref().map(MessageText::parse) {
        Some(Ok(purpose)) => {
            let (applicant, payout) = onboarding
                .applicant_for_underwriter(
                    id,
                    caller.principal.account_id,
                    purpose.as_str(),
                    &caller.meta,
                )
                .await?;
            applicant_facts(&applicant, &payout)
        }
        _ => vec![],
    };
    let rate = onboarding.product().daily_rate.percent().to_string();
    let page = ApplicationPage {
        frame: visit.frame(),
        id,
        status: format::application_status(row.status),
        submitted: format::moment(row.submitted_at),
        amount: format::money(row.requested_amount_kopecks),
        term: format::days(row.requested_term_days.into()),
        decidable: row.status == ApplicationState::Submitted,
        facts,
        error: None,
        amount_roubles: (row.requested_amount_kopecks / 100).to_string(),
        term_days: row.requested_term_days.to_string(),
        daily_rate: rate,
    };
    visit.answer(&page)
}

fn applicant_facts(a: &Applicant, payout: &PayoutMethod) -> Vec<(&'static str, String)> {
    let mut facts = vec![
        ("ФИО", a.full_name()),
        ("Дата рождения", format::date(a.birth_date)),
        ("Место рождения", a.birth_place.as_str().to_string()),
        (
            "Паспорт",
            format!(
                "{} {}, выдан {} {}, код {}",
                a.passport.series.as_str(),
                a.passport.number.as_str(),
                format::date(a.passport.issued_on),
                a.passport.issued_by.as_str(),
                a.passport.division_code.as_str()
            ),
        ),
        (
            "Адрес регистрации",
            a.registration_address.as_str().to_string(),
        ),
    ];
    if let Some(residence) = &a.residence_address {
        facts.push(("Адрес проживания", residence.as_str().to_string()));
    }
    facts.push(("Телефон", a.phone.to_string()));
    if let Some(email) = &a.email {
        facts.push(("E-mail", email.as_str().to_string()));
    }
    if let Some(employer) = &a.employment.employer {
        facts.push(("Работодатель", employer.as_str().to_string()));
    }
    facts.push(("Доход в месяц", format::money(a.monthly_income.get())));
    facts.push(("Выплата на", payout.masked()));
    facts
}

#[derive(Deserialize)]
pub(crate) struct ApproveForm {
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    term_days: String,
    #[serde(default)]
    daily_rate: String,
}

impl WithCsrf for ApproveForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /staff/applications/{id}/approve`: with the terms as typed (blank: as asked).
pub(crate) async fn approve(
    State(onboarding): State<Onboarding>,
    signed: Signed,
    IdPath(id): IdPath,
    CheckedForm(form): CheckedForm<ApproveForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Underwriter])?;
    let number = |text: &str| -> Result<Option<i64>, ApiError> {
        let text = text.trim().replace([' ', '\u{a0}'], "");
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|_| ApiError::invalid("form", "a number"))
    };
    let request = ApproveRequest::new(
        number(&form.amount)?.and_then(|roubles| roubles.checked_mul(100)),
        number(&form.term_days)?,
        Some(form.daily_rate.trim().replace(',', ".")).filter(|r| !r.is_empty()),
    );
    onboarding
        .approve_application(
            id,
            caller.principal.account_id,
            request.parse()?,
            &caller.meta,
        )
        .await?;
    Ok(Redirect::to("/staff/applications?done=approved").into_response())
}

/// `POST /staff/applications/{id}/reject`.
pub(crate) async fn reject(
    State(onboarding): State<Onboarding>,
    signed: Signed,
    IdPath(id): IdPath,
    CheckedForm(form): CheckedForm<TextForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Underwriter])?;
    let reason = MessageText::parse(&form.text).map_err(|e| ApiError::invalid("reason", e))?;
    onboarding
        .reject_application(id, caller.principal.account_id, reason, &caller.meta)
        .await?;
    Ok(Redirect::to("/staff/applications?done=rejected").into_response())
}

pub(crate) struct TicketLine {
    place: i64,
    kind: &'static str,
    requester: &'static str,
    submitted: String,
}

#[derive(Template)]
#[template(path = "staff_support.html")]
struct SupportPage {
    frame: Frame,
    rows: Vec<TicketLine>,
}

/// `/staff/support`: the waiting tickets in their order, and "take the next one".
pub(crate) async fn support(
    State(reader): State<Reader>,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Support])?;
    let rows = reader.support_queue(100, 0).await?;
    let page = SupportPage {
        frame: visit.frame(),
        rows: rows
            .into_iter()
            .map(|t| TicketLine {
                place: t.queue_position.unwrap_or_default(),
                kind: format::ticket_kind(t.kind),
                requester: match t.requester {
                    k911_projections::support::RequesterKind::Anonymous => "с сайта",
                    k911_projections::support::RequesterKind::Customer => "клиент",
                },
                submitted: format::moment(t.submitted_at),
            })
            .collect(),
    };
    visit.answer(&page)
}

/// `POST /staff/support/next`: the oldest waiting ticket becomes the caller's.
pub(crate) async fn take_next(
    State(tickets): State<Tickets>,
    State(reader): State<Reader>,
    signed: Signed,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Support])?;
    let taken = tickets
        .take_next_ticket(
            caller.principal.account_id,
            &ReadQueue(&reader),
            &caller.meta,
        )
        .await?;
    Ok(match taken {
        Some((_, view)) => Redirect::to(&format!("/staff/support/tickets/{}", view.ticket_id)),
        None => Redirect::to("/staff/support?done=empty"),
    }
    .into_response())
}

#[derive(Template)]
#[template(path = "staff_ticket.html")]
struct TicketPage {
    frame: Frame,
    id: Uuid,
    status: &'static str,
    kind: &'static str,
    name: String,
    phone: String,
    email: String,
    question: String,
    open: bool,
    error: Option<String>,
}

/// `/staff/support/tickets/{id}`: a ticket the caller holds, its personal data opened (the
/// read is recorded).
pub(crate) async fn ticket(
    State(tickets): State<Tickets>,
    State(reader): State<Reader>,
    IdPath(id): IdPath,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Support])?;
    let caller = &visit.caller;
    let view = tickets
        .ticket_for_agent(id, caller.principal.account_id, &caller.meta)
        .await?;
    let row = reader.ticket(id).await?;
    let erased = "— (данные удалены)".to_string();
    let contact = view.contact.as_ref();
    let page = TicketPage {
        frame: visit.frame(),
        id,
        status: format::ticket_state(row.status),
        kind: format::ticket_kind(row.kind),
        name: contact.map_or(erased.clone(), |c| c.name.as_str().to_string()),
        phone: contact
            .and_then(|c| c.phone.as_ref())
            .map_or_else(|| "—".to_string(), |p| p.to_string()),
        email: contact
            .and_then(|c| c.email.as_ref())
            .map_or_else(|| "—".to_string(), |e| e.as_str().to_string()),
        question: view.question.map_or(erased, String::from),
        open: row.status != TicketState::Closed,
        error: None,
    };
    visit.answer(&page)
}

/// `POST /staff/support/tickets/{id}/reply`: the answer goes to the requester's contact.
pub(crate) async fn reply(
    State(tickets): State<Tickets>,
    signed: Signed,
    IdPath(id): IdPath,
    CheckedForm(form): CheckedForm<TextForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Support])?;
    let text = MessageText::parse(&form.text).map_err(|e| ApiError::invalid("text", e))?;
    tickets
        .reply_to_ticket(id, caller.principal.account_id, text, &caller.meta)
        .await?;
    Ok(Redirect::to(&format!("/staff/support/tickets/{id}?done=answered")).into_response())
}

/// `POST /staff/support/tickets/{id}/close`.
pub(crate) async fn close(
    State(tickets): State<Tickets>,
    signed: Signed,
    IdPath(id): IdPath,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Support])?;
    tickets
        .close_ticket(id, caller.principal.account_id, &caller.meta)
        .await?;
    Ok(Redirect::to("/staff/support?done=closed").into_response())
}
