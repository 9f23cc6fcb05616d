//! The agent's own cabinet: the clients they brought, masked (first name and last initial, the
//! phone's middle hidden), those clients' applications and loans, the commission ledger and the
//! monthly statements. An agent never sees a client they did not bring; every look at a client
//! is recorded like staff reads.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json as JsonResponse;
use chrono::{DateTime, NaiveDate, Utc};
use k911_commands::agents::Agents;
use k911_projections::agents::{CommissionKind, StatementState};
use k911_projections::cabinet::ApplicationState;
use k911_projections::loans::LoanState;
use k911_projections::Reader;
use serde::Serialize;
use uuid::Uuid;

use crate::auth::{AgentUser, Caller};
use crate::error::ApiError;
use crate::extract::{IdPath, Today};

/// The agent the caller logs in as.
async fn agent_of(reader: &Reader, caller: &Caller) -> Result<Uuid, ApiError> {
    reader
        .agent_of_account(caller.principal.account_id)
        .await?
        .ok_or(ApiError::NotFound("agent"))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AgentClient {
    customer_id: Uuid,
    /// The first name and the last name's initial (`null` once erased).
    name: Option<String>,
    /// `+7 916 ***-**-12` (`null` once erased).
    phone: Option<String>,
    attributed_at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/api/v1/agent/clients", tag = "agent", security(("bearer" = [])), responses((status = 200, body = Vec<AgentClient>), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn clients(
    State(reader): State<Reader>,
    State(agents): State<Agents>,
    AgentUser(caller): AgentUser,
) -> Result<JsonResponse<Vec<AgentClient>>, ApiError> {
    let agent_id = agent_of(&reader, &caller).await?;
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
    Ok(JsonResponse(clients))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ClientApplication {
    application_id: Uuid,
    status: ApplicationState,
    requested_amount_kopecks: i64,
    submitted_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ClientLoan {
    loan_id: Uuid,
    status: LoanState,
    principal_kopecks: i64,
    issued_on: Option<NaiveDate>,
    due_on: Option<NaiveDate>,
    closed_on: Option<NaiveDate>,
    days_overdue: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ClientObligations {
    customer_id: Uuid,
    applications: Vec<ClientApplication>,
    loans: Vec<ClientLoan>,
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
    let agent_id = agent_of(&reader, &caller).await?;
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
    Ok(JsonResponse(ClientObligations {
        customer_id,
        applications,
        loans,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LedgerLine {
    loan_id: Uuid,
    kind: CommissionKind,
    amount_kopecks: i64,
    /// The statement month it counts in (YYYY-MM).
    month: String,
    first_loan: Option<bool>,
    at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/api/v1/agent/commissions", tag = "agent", security(("bearer" = [])), responses((status = 200, body = Vec<LedgerLine>), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn commissions(
    State(reader): State<Reader>,
    AgentUser(caller): AgentUser,
) -> Result<JsonResponse<Vec<LedgerLine>>, ApiError> {
    let agent_id = agent_of(&reader, &caller).await?;
    let rows = reader.agent_commissions(agent_id).await?;
    Ok(JsonResponse(
        rows.into_iter()
            .map(|r| LedgerLine {
                loan_id: r.loan_id,
                kind: r.kind,
                amount_kopecks: r.amount_kopecks,
                month: r.month,
                first_loan: r.first_loan,
                at: r.at,
            })
            .collect(),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct StatementView {
    month: String,
    status: StatementState,
    accrued_kopecks: i64,
    reversed_kopecks: i64,
    carried_in: i64,
    net_kopecks: Option<i64>,
    payable_kopecks: Option<i64>,
    carried_out: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/agent/statements", tag = "agent", security(("bearer" = [])), responses((status = 200, body = Vec<StatementView>), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn statements(
    State(reader): State<Reader>,
    AgentUser(caller): AgentUser,
) -> Result<JsonResponse<Vec<StatementView>>, ApiError> {
    let agent_id = agent_of(&reader, &caller).await?;
    Ok(JsonResponse(
        reader
            .agent_statements(agent_id)
            .await?
            .into_iter()
            .map(statement_view)
            .collect(),
    ))
}

fn statement_view(r: k911_projections::agents::StatementRow) -> StatementView {
    StatementView {
        month: r.month,
        status: r.status,
        accrued_kopecks: r.accrued_kopecks,
        reversed_kopecks: r.reversed_kopecks,
        carried_in: r.carried_in,
        net_kopecks: r.net_kopecks,
        payable_kopecks: r.payable_kopecks,
        carried_out: r.carried_out,
    }
}

/// The statements as CSV (UTF-8, comma-separated, amounts in kopecks).
#[utoipa::path(get, path = "/api/v1/agent/statements.csv", tag = "agent", security(("bearer" = [])), responses((status = 200, description = "CSV", content_type = "text/csv"), (status = 403, body = crate::error::Problem)))]
pub(crate) async fn statements_csv(
    State(reader): State<Reader>,
    AgentUser(caller): AgentUser,
) -> Result<Response, ApiError> {
    let agent_id = agent_of(&reader, &caller).await?;
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
