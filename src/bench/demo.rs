//! The second baseline (issue #15): the shape a Rust user builds from cqrs-es's own demo
//! (`cqrs-demo`), doing k911's ticket job. axum takes the form, cqrs-es runs the command over
//! postgres-es as it comes (its repository and pool), and a `GenericQuery` view persisted by
//! postgres-es's view repository is written in the same call, before the 201. It runs as its
//! own process (`k911-bench demo-serve`), as `k911 serve` does, so each server's CPU is its own.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::GenericQuery;
use cqrs_es::{Aggregate, DomainEvent, EventEnvelope, View};
use postgres_es::PostgresViewRepository;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;

/// The view's table, as the demo's migration makes it.
const VIEW_TABLE: &str = "
CREATE TABLE IF NOT EXISTS demo_ticket_query (
    view_id text NOT NULL PRIMARY KEY,
    version bigint CHECK (version >= 0) NOT NULL,
    payload json NOT NULL
)";

/// The ticket form k911's `POST /api/v1/support/tickets` takes from an anonymous requester.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketForm {
    name: String,
    phone: String,
    question: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DemoTicket {
    submitted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DemoTicketEvent {
    TicketSubmitted { form: TicketForm },
}

impl DomainEvent for DemoTicketEvent {
    fn event_type(&self) -> String {
        "DemoTicketSubmitted".into()
    }
    fn event_version(&self) -> String {
        "1.0".into()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoTicketError {
    #[error("the ticket was submitted already")]
    Submitted,
    #[error("{0} must not be empty")]
    Empty(&'static str),
}

impl Aggregate for DemoTicket {
    const TYPE: &'static str = "DemoTicket";
    type Command = TicketForm;
    type Event = DemoTicketEvent;
    type Error = DemoTicketError;
    type Services = ();

    async fn handle(
        &mut self,
        form: TicketForm,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), DemoTicketError> {
        if self.submitted {
            return Err(DemoTicketError::Submitted);
        }
        for (field, value) in [("name", &form.name), ("question", &form.question)] {
            if value.trim().is_empty() {
                return Err(DemoTicketError::Empty(field));
            }
        }
        sink.write(DemoTicketEvent::TicketSubmitted { form }, self)
            .await;
        Ok(())
    }

    fn apply(&mut self, _: DemoTicketEvent) {
        self.submitted = true;
    }
}

/// The demo's query side: a view per ticket, for the support desk.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TicketView {
    ticket_id: String,
    name: String,
    question: String,
    open: bool,
}

impl View<DemoTicket> for TicketView {
    fn update(&mut self, event: &EventEnvelope<DemoTicket>) {
        let DemoTicketEvent::TicketSubmitted { form } = &event.payload;
        self.ticket_id = event.aggregate_id.clone();
        self.name = form.name.clone();
        self.question = form.question.clone();
        self.open = true;
    }
}

type DemoCqrs = postgres_es::PostgresCqrs<DemoTicket>;

/// `k911-bench demo-serve`: listens on `addr` and prints `demo listening on http://ADDR`.
pub async fn serve(url: &str, addr: &str, pool_size: u32) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(pool_size)
        .connect(url)
        .await?;
    sqlx::query(VIEW_TABLE).execute(&pool).await?;
    let view =
        PostgresViewRepository::<TicketView, DemoTicket>::new("demo_ticket_query", pool.clone());
    let mut query = GenericQuery::new(Arc::new(view));
    query.use_error_handler(Box::new(|e| eprintln!("demo view: {e}")));
    let cqrs: Arc<DemoCqrs> = Arc::new(postgres_es::postgres_cqrs(pool, vec![Box::new(query)], ()));
    let app = Router::new()
        .route("/api/v1/support/tickets", post(submit))
        .with_state(cqrs);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("demo listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn submit(
    State(cqrs): State<Arc<DemoCqrs>>,
    Json(form): Json<TicketForm>,
) -> (StatusCode, Json<serde_json::Value>) {
    let id = uuid::Uuid::now_v7().to_string();
    match cqrs.execute(&id, form).await {
        Ok(()) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "ticket_id": id })),
        ),
        Err(cqrs_es::AggregateError::UserError(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({ "detail": e.to_string() })),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "detail": e.to_string() })),
        ),
    }
}
