//! The agent's own cabinet: the clients they brought, masked (first name and last initial, the
//! phone's middle hidden), those clients' applications and loans, the commission ledger and the
//! monthly statements. An agent never sees a client they did not bring; every look at a client
//! is recorded like staff reads.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json as JsonResponse;
use chrono::{DateTime, NaiveDate, Utc};
use k911_aggregates::agent::values::Month;
use k911_aggregates::calendar::moscow_date;
use k911_aggregates::money::Kopecks;
use k911_commands::agents::Agents;
use k911_commands::statement::{StatementFacts, StatementLine};
use k911_projections::agents::{CommissionKind, StatementRow, StatementState};
use k911_projections::cabinet::ApplicationState;
use k911_projections::loans::LoanState;
use k911_projections::{ReadError, Reader};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::{AgentUser, Caller};
use crate::error::ApiError;
use crate::extract::{IdPath, Today};

/// The agent the caller logs in as.
pub(crate) async fn agent_of(reader: &Reader, caller: &Caller) -> Result<Uuid, ApiError> {
    reader
        .agent_of_account(caller.principal.account_id)
        .await?
        .ok_or(ApiError::NotFound("agent"))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AgentClient {
    pub(crate) customer_id: Uuid,
    /// The first name and the last name's initial (`null` once erased).
    pub(crate) name: Option<String>,
    /// `+7 916 ***-**-12` (`null` once erased).
    pub(crate) phone: Option<String>,
    pub(crate) attributed_at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/api/v1/agent/clients", tag = "agent", security(("bearer" = [])), responses((status = 200, body = Vec<AgentClient>), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn clients(
    State(reader): State<Reader>,
    State(agents): State<Agents>,
    AgentUser(caller): AgentUser,
) -> Result<JsonResponse<Vec<AgentClient>>, ApiError> {
    Ok(JsonResponse(client_list(&reader, &agents, &caller).await?))
}

/// The caller's clients, each look recorded.
pub(crate) async fn client_list(
    reader: &Reader,
    agents: &Agents,
    caller: &Caller,
) -> Result<Vec<AgentClient>, ApiError> {
    let agent_id = agent_of(reader, caller).await?;
    let rows = reader.agent_clients(agent_id).await?;
    let mut clients = Vec::with_capacity(rows.len());
    for row in rows {
        agents
            .record_client_read(
                caller.principal.account_id,
                row.customer_id,
                "agent: clients list",
                &caller.meta,
            )
            .await?;
        clients.push(AgentClient {
            customer_id: row.customer_id,
            name: row.name,
            phone: row.phone,
            attributed_at: row.attributed_at,
        });
    }
    Ok(clients)
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ClientApplication {
    pub(crate) application_id: Uuid,
    pub(crate) status: ApplicationState,
    pub(crate) requested_amount_kopecks: i64,
    pub(crate) submitted_at: DateTime<Utc>,
    pub(crate) decided_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ClientLoan {
    pub(crate) loan_id: Uuid,
    pub(crate) status: LoanState,
    pub(crate) principal_kopecks: i64,
    pub(crate) issued_on: Option<NaiveDate>,
    pub(crate) due_on: Option<NaiveDate>,
    pub(crate) closed_on: Option<NaiveDate>,
    pub(crate) days_overdue: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ClientObligations {
    pub(crate) customer_id: Uuid,
    pub(crate) applications: Vec<ClientApplication>,
    pub(crate) loans: Vec<ClientLoan>,
}

/// One client's applications and loans: amounts, statuses, dates; nothing personal. Another
/// agent's client is not found.
#[utoipa::path(get, path = "/api/v1/agent/clients/{id}", tag = "agent", security(("bearer" = [])), params(("id" = Uuid, Path)), responses((status = 200, body = ClientObligations), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub(crate) async fn client(
    State(reader): State<Reader>,
    State(agents): State<Agents>,
    AgentUser(caller): AgentUser,
    Today(today): Today,
    IdPath(customer_id): IdPath,
) -> Result<JsonResponse<ClientObligations>, ApiError> {
    Ok(JsonResponse(
        obligations(&reader, &agents, &caller, today, customer_id).await?,
    ))
}

/// One of the caller's clients' applications and loans, the look recorded.
pub(crate) async fn obligations(
    reader: &Reader,
    agents: &Agents,
    caller: &Caller,
    today: NaiveDate,
    customer_id: Uuid,
) -> Result<ClientObligations, ApiError> {
    let agent_id = agent_of(reader, caller).await?;
    if !reader.is_agent_client(agent_id, customer_id).await? {
        return Err(ApiError::NotFound("client"));
    }
    agents
        .record_client_read(
            caller.principal.account_id,
            customer_id,
            "agent: client's obligations",
            &caller.meta,
        )
        .await?;
    let applications = reader
        .customer_applications(customer_id, 1000, 0)
        .await?
        .into_iter()
        .map(|a| ClientApplication {
            application_id: a.application_id,
            status: a.status,
            requested_amount_kopecks: a.requested_amount_kopecks,
            submitted_at: a.submitted_at,
            decided_at: a.decided_at,
        })
        .collect();
    let loans = reader
        .customer_loans(customer_id, 1000, 0)
        .await?
        .into_iter()
        .map(|view| {
            let l = view.loan;
            let days_overdue = match (l.status, l.due_on) {
                (LoanState::Active, Some(due)) => k911_aggregates::loan::days_overdue(due, today),
                _ => 0,
            };
            ClientLoan {
                loan_id: l.loan_id,
                status: l.status,
                principal_kopecks: l.principal_kopecks,
                issued_on: l.issued_on,
                due_on: l.due_on,
                closed_on: l.closed_on,
                days_overdue,
            }
        })
        .collect();
    Ok(ClientObligations {
        customer_id,
        applications,
        loans,
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LedgerLine {
    pub(crate) loan_id: Uuid,
    pub(crate) kind: CommissionKind,
    pub(crate) amount_kopecks: i64,
    /// The statement month it counts in (YYYY-MM).
    pub(crate) month: String,
    pub(crate) first_loan: Option<bool>,
    pub(crate) at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/api/v1/agent/commissions", tag = "agent", security(("bearer" = [])), responses((status = 200, body = Vec<LedgerLine>), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn commissions(
    State(reader): State<Reader>,
    AgentUser(caller): AgentUser,
) -> Result<JsonResponse<Vec<LedgerLine>>, ApiError> {
    Ok(JsonResponse(ledger(&reader, &caller).await?))
}

/// The caller's commission ledger.
pub(crate) async fn ledger(reader: &Reader, caller: &Caller) -> Result<Vec<LedgerLine>, ApiError> {
    let agent_id = agent_of(reader, caller).await?;
    let rows = reader.agent_commissions(agent_id, None).await?;
    Ok(rows
        .into_iter()
        .map(|r| LedgerLine {
            loan_id: r.loan_id,
            kind: r.kind,
            amount_kopecks: r.amount_kopecks,
            month: r.month,
            first_loan: r.first_loan,
            at: r.at,
        })
        .collect())
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct StatementView {
    pub(crate) agent_id: Uuid,
    /// The agent's referral code.
    pub(crate) code: String,
    /// YYYY-MM (Europe/Moscow).
    pub(crate) month: String,
    pub(crate) status: StatementState,
    pub(crate) accrued_kopecks: i64,
    pub(crate) reversed_kopecks: i64,
    /// A negative rest carried from the month before (0 or less).
    pub(crate) carried_in: i64,
    /// Fixed when the month closes (`null` while it runs), as the next three.
    pub(crate) net_kopecks: Option<i64>,
    pub(crate) payable_kopecks: Option<i64>,
    pub(crate) carried_out: Option<i64>,
    pub(crate) closed_at: Option<DateTime<Utc>>,
    pub(crate) paid_at: Option<DateTime<Utc>>,
}

impl From<StatementRow> for StatementView {
    fn from(r: StatementRow) -> Self {
        Self {
            agent_id: r.agent_id,
            code: r.code,
            month: r.month,
            status: r.status,
            accrued_kopecks: r.accrued_kopecks,
            reversed_kopecks: r.reversed_kopecks,
            carried_in: r.carried_in,
            net_kopecks: r.net_kopecks,
            payable_kopecks: r.payable_kopecks,
            carried_out: r.carried_out,
            closed_at: r.closed_at,
            paid_at: r.paid_at,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/agent/statements", tag = "agent", security(("bearer" = [])), responses((status = 200, body = Vec<StatementView>), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn statements(
    State(reader): State<Reader>,
    AgentUser(caller): AgentUser,
) -> Result<JsonResponse<Vec<StatementView>>, ApiError> {
    Ok(JsonResponse(statement_views(&reader, &caller).await?))
}

/// The caller's statements, newest month first.
pub(crate) async fn statement_views(
    reader: &Reader,
    caller: &Caller,
) -> Result<Vec<StatementView>, ApiError> {
    let agent_id = agent_of(reader, caller).await?;
    let rows = reader.agent_statements(agent_id).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The statements as CSV (UTF-8, comma-separated, amounts in kopecks).
#[utoipa::path(get, path = "/api/v1/agent/statements.csv", tag = "agent", security(("bearer" = [])), responses((status = 200, description = "CSV", content_type = "text/csv"), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn statements_csv(
    State(reader): State<Reader>,
    AgentUser(caller): AgentUser,
) -> Result<Response, ApiError> {
    statements_file(&reader, &caller).await
}

/// The caller's statements as a CSV download.
pub(crate) async fn statements_file(
    reader: &Reader,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let agent_id = agent_of(reader, caller).await?;
    let mut csv = String::from(
        "month,status,accrued_kopecks,reversed_kopecks,carried_in,net_kopecks,payable_kopecks,carried_out\n",
    );
    for r in reader.agent_statements(agent_id).await? {
        let optional = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            r.month,
            r.status,
            r.accrued_kopecks,
            r.reversed_kopecks,
            r.carried_in,
            optional(r.net_kopecks),
            optional(r.payable_kopecks),
            optional(r.carried_out)
        ));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"statements.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

/// One month's statement as a PDF: its ledger lines and totals.
#[utoipa::path(get, path = "/api/v1/agent/statements/{month}/pdf", tag = "agent", security(("bearer" = [])), params(("month" = String, Path, description = "YYYY-MM")), responses((status = 200, description = "The PDF", content_type = "application/pdf"), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub(crate) async fn statement_pdf(
    State(reader): State<Reader>,
    AgentUser(caller): AgentUser,
    Path(month): Path<String>,
) -> Result<Response, ApiError> {
    statement_document(&reader, &caller, &month).await
}

/// The caller's statement for `month` as a PDF download; a month that is not a month, or has no
/// statement, is not found.
pub(crate) async fn statement_document(
    reader: &Reader,
    caller: &Caller,
    month: &str,
) -> Result<Response, ApiError> {
    let agent_id = agent_of(reader, caller).await?;
    let month = Month::parse(month).map_err(|_| ApiError::NotFound("statement"))?;
    let key = month.to_string();
    let row = match reader.agent_statement(agent_id, &key).await {
        Err(ReadError::NotFound) => return Err(ApiError::NotFound("statement")),
        other => other?,
    };
    let lines = reader
        .agent_commissions(agent_id, Some(&key))
        .await?
        .into_iter()
        .map(|line| {
            Ok(StatementLine {
                at: line.at,
                loan_id: line.loan_id,
                reversal: line.kind == CommissionKind::Reversal,
                first_loan: line.first_loan == Some(true),
                amount: Kopecks::new(line.amount_kopecks)
                    .map_err(|e| ApiError::Internal(format!("a ledger line: {e}")))?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    let facts = StatementFacts {
        month,
        standing: standing_of(row.status, row.closed_at, row.paid_at),
        agent_code: row.code,
        lines,
        accrued: row.accrued_kopecks,
        reversed: row.reversed_kopecks,
        carried_in: row.carried_in,
        net: row.net_kopecks,
        payable: row.payable_kopecks,
        carried_out: row.carried_out,
    };
    let disposition = format!("inline; filename=\"statement-{key}.pdf\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        facts.pdf(),
    )
        .into_response())
}

/// Where a statement stands, in words: `закрыт 01.12.2026`.
pub(crate) fn standing_of(
    status: StatementState,
    closed_at: Option<DateTime<Utc>>,
    paid_at: Option<DateTime<Utc>>,
) -> String {
    let day = |at: Option<DateTime<Utc>>| {
        at.map(|at| moscow_date(at).format(" %d.%m.%Y").to_string())
            .unwrap_or_default()
    };
    match status {
        StatementState::Open => "месяц идёт, суммы предварительные".to_string(),
        StatementState::Closed => format!("закрыт{}", day(closed_at)),
        StatementState::Approved => "одобрен к выплате".to_string(),
        StatementState::Paid => format!("выплачен{}", day(paid_at)),
    }
}
