//! The compliance officer's back office (issue #16): deletion requests with their deadlines
//! (carried out from here), the register of lawful disclosures, the log's head, and the audit
//! trail searched, each search recorded as the API records it.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use k911_aggregates::values::Role;
use k911_commands::bureau::ReportsDue;
use k911_commands::compliance::Compliance;
use k911_projections::Reader;
use serde::Deserialize;
use uuid::Uuid;

use super::csrf::CheckedForm;
use super::format;
use super::forms::CsrfForm;
use super::frame::{Frame, Visit};
use super::session::Signed;
use super::PageError;
use crate::extract::IdPath;
use crate::routes::compliance::{audit_page, AuditEntryView, AuditParams};

const OFFICERS: [Role; 1] = [Role::Compliance];

/// A deletion request as the page lists it.
struct ErasureLine {
    customer_id: Uuid,
    requested: String,
    deadline: String,
    /// What it stands at, in words.
    status: String,
    open: bool,
}

/// A lawful disclosure as the page lists it.
struct DisclosureLine {
    authority: String,
    reference: String,
    dated: String,
    categories: String,
    answered: String,
}

#[derive(Template)]
#[template(path = "staff_compliance.html")]
struct CompliancePage {
    frame: Frame,
    links: i64,
    head: String,
    erasures: Vec<ErasureLine>,
    disclosures: Vec<DisclosureLine>,
    bureau: ReportsDue,
}

/// `/staff/compliance`.
pub(crate) async fn home(
    State(reader): State<Reader>,
    State(state): State<crate::AppState>,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&OFFICERS)?;
    let today = k911_aggregates::calendar::moscow_date(state.app.core.clock.now());
    let bureau = state.app.bureau.due(today).await?;
    let head = reader.log_head().await?;
    let erasures = reader
        .erasure_cases(100, 0)
        .await?
        .into_iter()
        .map(|c| ErasureLine {
            customer_id: c.customer_id,
            requested: format::moment(c.requested_at),
            deadline: format::date(c.deadline),
            open: c.status != "erased",
            status: match (c.status.as_str(), c.reason.as_deref(), c.possible_from) {
                ("erased", ..) => format!(
                    "удалено {}",
                    c.erased_at.map(format::moment).unwrap_or_default()
                ),
                ("refused", Some(reason), Some(day)) => {
                    format!("отказ ({reason}), удалится {}", format::date(day))
                }
                ("refused", Some(reason), None) => format!("отказ ({reason})"),
                _ => "ждёт решения".to_string(),
            },
        })
        .collect();
    let disclosures = reader
        .disclosures(100, 0)
        .await?
        .into_iter()
        .map(|d| DisclosureLine {
            authority: d.authority,
            reference: d.reference,
            dated: format::date(d.dated),
            categories: d.categories.join(", "),
            answered: d.disclosed_at.map(format::moment).unwrap_or_default(),
        })
        .collect();
    let page = CompliancePage {
        frame: visit.frame(),
        links: head.links,
        head: hex::encode(head.link),
        erasures,
        disclosures,
        bureau,
    };
    visit.answer(&page)
}

/// `POST /staff/compliance/erasures/{customer_id}`: carries out the deletion request.
pub(crate) async fn erase(
    State(compliance): State<Compliance>,
    signed: Signed,
    IdPath(customer_id): IdPath,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    let caller = signed.require(&OFFICERS)?;
    let outcome = compliance.erase(customer_id, &caller.meta).await?;
    let done = match outcome.case.erased_at {
        Some(_) => "erased",
        None => "erasure_refused",
    };
    Ok(Redirect::to(&format!("/staff/compliance?done={done}")).into_response())
}

/// The search form: dates (Moscow days) where the API takes times.
#[derive(Deserialize, Default)]
pub(crate) struct AuditSearch {
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

impl AuditSearch {
    /// The API's parameters: `from` at the start of its day, `to` at the end of its day.
    fn params(&self) -> AuditParams {
        let day_start = |day: &str, next: bool| {
            chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
                .ok()
                .map(|d| if next { d.succ_opt().unwrap_or(d) } else { d })
                .map_or(day.to_string(), |d| format!("{d}T00:00:00+03:00"))
        };
        AuditParams {
            subject: self.subject.clone(),
            actor: self.actor.clone(),
            event_type: self.event_type.clone(),
            from: self
                .from
                .as_deref()
                .filter(|d| !d.is_empty())
                .map(|d| day_start(d, false)),
            to: self
                .to
                .as_deref()
                .filter(|d| !d.is_empty())
                .map(|d| day_start(d, true)),
            after: self.after.clone(),
            limit: Some("50".to_string()),
            ..AuditParams::default()
        }
    }
}

/// An event of the trail as the page lists it.
struct AuditLine {
    position: i64,
    recorded: String,
    aggregate_type: String,
    aggregate_id: String,
    event_type: String,
    role: String,
    channel: String,
    subject: String,
}

impl AuditLine {
    fn of(entry: AuditEntryView) -> Self {
        Self {
            position: entry.position,
            recorded: format::moment(entry.recorded_at),
            aggregate_type: entry.aggregate_type,
            aggregate_id: entry.aggregate_id,
            event_type: entry.event_type,
            role: entry.actor_role.unwrap_or_default(),
            channel: entry.channel.unwrap_or_default(),
            subject: entry.subject_id.map(|s| s.to_string()).unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "staff_audit.html")]
struct AuditTrailPage {
    frame: Frame,
    search: AuditSearch,
    entries: Vec<AuditLine>,
    /// The position the next page starts after, if there is one.
    next: Option<i64>,
    /// What the search was refused for, field by field.
    problems: Vec<String>,
}

/// `/staff/compliance/audit`: the trail searched; the search is recorded before it is shown.
pub(crate) async fn audit(
    State(reader): State<Reader>,
    State(compliance): State<Compliance>,
    visit: Visit,
    Query(search): Query<AuditSearch>,
) -> Result<Response, PageError> {
    let visit = visit.of(&OFFICERS)?;
    let searched = [
        &search.subject,
        &search.actor,
        &search.event_type,
        &search.from,
        &search.to,
    ]
    .iter()
    .any(|v| v.as_deref().is_some_and(|v| !v.trim().is_empty()));
    let (entries, next, problems) = if !searched {
        (vec![], None, vec![])
    } else {
        match audit_page(&reader, &compliance, search.params(), &visit.caller.meta).await {
            Ok(page) => (
                page.entries.into_iter().map(AuditLine::of).collect(),
                page.next_after,
                vec![],
            ),
            Err(crate::error::ApiError::Invalid(errors)) => (
                vec![],
                None,
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect(),
            ),
            Err(other) => return Err(other.into()),
        }
    };
    let page = AuditTrailPage {
        frame: visit.frame(),
        search,
        entries,
        next,
        problems,
    };
    visit.answer(&page)
}
