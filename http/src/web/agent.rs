//! The agent's cabinet: their referral link, the clients they brought (masked, every look
//! recorded), each client's applications and loans, the commission ledger and the monthly
//! statements with their CSV and PDF. The figures are the agent API's own.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use k911_aggregates::values::Role;
use k911_commands::agents::Agents;
use k911_projections::agents::{CommissionKind, StatementState};
use k911_projections::Reader;
use uuid::Uuid;

use super::format;
use super::frame::{Frame, Visit};
use super::session::Signed;
use super::PageError;
use crate::extract::{IdPath, Today};
use crate::routes::agent;

#[derive(Template)]
#[template(path = "agent_home.html")]
struct HomePage {
    frame: Frame,
    code: String,
    link: String,
    /// Id, name, phone, since.
    clients: Vec<(Uuid, String, String, String)>,
}

/// `/agent`: the referral link and the clients it brought.
pub(crate) async fn home(
    State(reader): State<Reader>,
    State(agents): State<Agents>,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Agent])?;
    let caller = &visit.caller;
    let me = reader
        .agent(agent::agent_of(&reader, caller).await?)
        .await?;
    let erased = || "стёрто".to_string();
    let clients = agent::client_list(&reader, &agents, caller)
        .await?
        .into_iter()
        .map(|c| {
            (
                c.customer_id,
                c.name.unwrap_or_else(erased),
                c.phone.unwrap_or_else(erased),
                format::date(k911_aggregates::calendar::moscow_date(c.attributed_at)),
            )
        })
        .collect();
    let page = HomePage {
        frame: visit.frame(),
        link: format!("/?ref={}", me.code),
        code: me.code,
        clients,
    };
    visit.answer(&page)
}

#[derive(Template)]
#[template(path = "agent_client.html")]
struct ClientPage {
    frame: Frame,
    /// Submitted, amount, status, decided.
    applications: Vec<(String, String, &'static str, String)>,
    /// Amount, status, issued, due, closed, days overdue.
    loans: Vec<(String, &'static str, String, String, String, String)>,
}

/// `/agent/clients/{id}`: one client's applications and loans; another agent's client is not
/// found.
pub(crate) async fn client(
    State(reader): State<Reader>,
    State(agents): State<Agents>,
    Today(today): Today,
    visit: Visit,
    IdPath(id): IdPath,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Agent])?;
    let seen = agent::obligations(&reader, &agents, &visit.caller, today, id).await?;
    let day = |d: Option<chrono::NaiveDate>| d.map(format::date).unwrap_or_default();
    let page = ClientPage {
        frame: visit.frame(),
        applications: seen
            .applications
            .iter()
            .map(|a| {
                (
                    format::moment(a.submitted_at),
                    format::money(a.requested_amount_kopecks),
                    format::application_status(a.status),
                    a.decided_at.map(format::moment).unwrap_or_default(),
                )
            })
            .collect(),
        loans: seen
            .loans
            .iter()
            .map(|l| {
                (
                    format::money(l.principal_kopecks),
                    format::loan_status(l.status, l.days_overdue, None),
                    day(l.issued_on),
                    day(l.due_on),
                    day(l.closed_on),
                    if l.days_overdue > 0 {
                        format::days(l.days_overdue)
                    } else {
                        String::new()
                    },
                )
            })
            .collect(),
    };
    visit.answer(&page)
}

#[derive(Template)]
#[template(path = "agent_commissions.html")]
struct CommissionsPage {
    frame: Frame,
    /// Day, month, loan, what, amount.
    lines: Vec<(String, String, Uuid, &'static str, String)>,
}

/// `/agent/commissions`: every accrual and reversal, as written.
pub(crate) async fn commissions(
    State(reader): State<Reader>,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Agent])?;
    let lines = agent::ledger(&reader, &visit.caller)
        .await?
        .into_iter()
        .map(|l| {
            let (what, amount) = match (l.kind, l.first_loan) {
                (CommissionKind::Reversal, _) => ("сторно: заём возвращён", -l.amount_kopecks),
                (CommissionKind::Accrual, Some(true)) => ("за первый заём", l.amount_kopecks),
                (CommissionKind::Accrual, _) => ("за заём", l.amount_kopecks),
            };
            (
                format::moment(l.at),
                l.month,
                l.loan_id,
                what,
                format::money(amount),
            )
        })
        .collect();
    let page = CommissionsPage {
        frame: visit.frame(),
        lines,
    };
    visit.answer(&page)
}

pub(crate) struct StatementLine {
    pub(crate) month: String,
    pub(crate) status: String,
    pub(crate) accrued: String,
    pub(crate) reversed: String,
    pub(crate) carried_in: String,
    pub(crate) payable: String,
    pub(crate) carried_out: String,
    /// Finance may approve its payment.
    pub(crate) payable_now: bool,
}

impl From<&agent::StatementView> for StatementLine {
    fn from(s: &agent::StatementView) -> Self {
        let fixed = |v: Option<i64>| v.map_or_else(|| "—".to_string(), format::money);
        Self {
            month: s.month.clone(),
            status: agent::standing_of(s.status, s.closed_at, s.paid_at),
            accrued: format::money(s.accrued_kopecks),
            reversed: format::money(-s.reversed_kopecks),
            carried_in: format::money(s.carried_in),
            payable: fixed(s.payable_kopecks),
            carried_out: fixed(s.carried_out),
            payable_now: s.status == StatementState::Closed && s.payable_kopecks > Some(0),
        }
    }
}

#[derive(Template)]
#[template(path = "agent_statements.html")]
struct StatementsPage {
    frame: Frame,
    statements: Vec<StatementLine>,
}

/// `/agent/statements`: the months, newest first, each as a PDF, all as CSV.
pub(crate) async fn statements(
    State(reader): State<Reader>,
    visit: Visit,
) -> Result<Response, PageError> {
    let visit = visit.of(&[Role::Agent])?;
    let rows = agent::statement_views(&reader, &visit.caller).await?;
    let page = StatementsPage {
        frame: visit.frame(),
        statements: rows.iter().map(StatementLine::from).collect(),
    };
    visit.answer(&page)
}

/// `/agent/statements.csv`.
pub(crate) async fn statements_csv(
    State(reader): State<Reader>,
    signed: Signed,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Agent])?;
    Ok(agent::statements_file(&reader, &caller).await?)
}

/// `/agent/statements/{month}/pdf`.
pub(crate) async fn statement_pdf(
    State(reader): State<Reader>,
    signed: Signed,
    Path(month): Path<String>,
) -> Result<Response, PageError> {
    let caller = signed.require(&[Role::Agent])?;
    Ok(agent::statement_document(&reader, &caller, &month).await?)
}
