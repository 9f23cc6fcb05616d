//! The audit trail (issue #16): `read.audit_log`, every event of every aggregate with who
//! recorded it (actor, role, request, channel) and whom it concerns.
//!
//! The log already holds every event with its metadata, so the trail is a view over `events`,
//! not a second copy of the log: a copy cost the ticket path a quarter of its throughput and
//! doubled a rebuild. What the log does not say per event is whom it concerns; that is kept per
//! aggregate in `read.audit_subjects` (a row per aggregate, written when it is first seen), and
//! the view joins it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use k911_aggregates::account::Account;
use k911_aggregates::compliance_read::AuditQuery;
use k911_aggregates::loan::{Loan, LoanEventType};
use k911_aggregates::replay::{named_loan, named_subject};
use k911_event_store::follower::{BatchTx, Follower, FollowerError, Kind};
use k911_event_store::log::RecordedEvent;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::reader::{ReadError, Reader};

/// Keeps `read.audit_subjects`, and defines `read.audit_log` over it.
pub struct AuditSubjects;

const CREATE_SQL: &str = "
CREATE TABLE IF NOT EXISTS read.audit_subjects (
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    subject_id     uuid   NOT NULL,
    since_position bigint NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);
CREATE INDEX IF NOT EXISTS audit_subjects_subject ON read.audit_subjects (subject_id);
COMMENT ON TABLE read.audit_subjects IS
    'Whom each aggregate''s events concern (issue #16): the person named by its first event that names one. Aggregates about no one (FAQ entries, documents, a payment not yet matched to a loan) have no row.';
COMMENT ON COLUMN read.audit_subjects.aggregate_type IS 'The aggregate''s type, as in events.aggregate_type.';
COMMENT ON COLUMN read.audit_subjects.aggregate_id IS 'The aggregate''s id, as in events.aggregate_id.';
COMMENT ON COLUMN read.audit_subjects.subject_id IS
    'The person: a customer (their account id), an agent, or an anonymous ticket''s author; the id whose key seals their personal data.';
COMMENT ON COLUMN read.audit_subjects.since_position IS 'The log position of the event that named the person.';

CREATE OR REPLACE VIEW read.audit_log AS
SELECT e.global_position                  AS position,
       e.recorded_at,
       e.aggregate_type,
       e.aggregate_id,
       e.sequence,
       e.event_type,
       e.event_version,
       (e.metadata ->> 'actor_id')::uuid   AS actor_id,
       e.metadata ->> 'actor_role'         AS actor_role,
       e.metadata ->> 'request_id'         AS request_id,
       e.metadata ->> 'channel'            AS channel,
       s.subject_id
  FROM events e
  LEFT JOIN read.audit_subjects s USING (aggregate_type, aggregate_id);
COMMENT ON VIEW read.audit_log IS
    'The audit trail (issue #16): every event of every aggregate, once, with who recorded it and whom it concerns. A view over the event log: nothing is copied. Search by subject_id, or by position or recorded_at ranges; personal data is not here (it is sealed in the events).';
COMMENT ON COLUMN read.audit_log.position IS 'The event''s global log position (gaps are normal).';
COMMENT ON COLUMN read.audit_log.recorded_at IS 'When the database recorded the event.';
COMMENT ON COLUMN read.audit_log.aggregate_type IS 'What the event happened to: Account, LoanApplication, Loan, IncomingPayment, SupportTicket, Agent, ...';
COMMENT ON COLUMN read.audit_log.aggregate_id IS 'Which one.';
COMMENT ON COLUMN read.audit_log.sequence IS 'The event''s number within its aggregate (1, 2, ...).';
COMMENT ON COLUMN read.audit_log.event_type IS 'The event type (a past-tense fact, e.g. LoanIssued).';
COMMENT ON COLUMN read.audit_log.event_version IS 'The version of the event''s stored shape.';
COMMENT ON COLUMN read.audit_log.actor_id IS 'The account that caused it (null: the system, a bank''s notification, an anonymous visitor).';
COMMENT ON COLUMN read.audit_log.actor_role IS 'The actor''s role then: borrower, agent, support, underwriter, finance, admin, compliance; system (the service''s own steps); payment_channel:NAME (a bank''s notification).';
COMMENT ON COLUMN read.audit_log.request_id IS 'The HTTP request it came from (X-Request-Id); null for the service''s own steps.';
COMMENT ON COLUMN read.audit_log.channel IS 'Where it came from: site (anonymous forms), cabinet, staff, cli, registry, payments, or the service''s own process (lending, onboarding, payouts, scheduler, ...).';
COMMENT ON COLUMN read.audit_log.subject_id IS 'Whom it concerns (read.audit_subjects); null: no one, or not yet known.';";

#[async_trait]
impl Follower for AuditSubjects {
    fn name(&self) -> &'static str {
        "audit_subjects"
    }

    /// Every event that could be the first to name whom its aggregate concerns, whatever its
    /// type, but a loan's after its first: a loan is opened by its offer (made or refused), which
    /// names the borrower, so what follows (charges, reminders, payments: two thirds of the log
    /// in a loan book) never names anyone first. Reading those cost a rebuild as much as the
    /// loans' read model itself.
    fn event_types(&self) -> Vec<&'static str> {
        let opens_a_loan: [&str; 2] = [
            LoanEventType::LoanOffered.into(),
            LoanEventType::OfferRefused.into(),
        ];
        k911_aggregates::event_types()
            .into_iter()
            .filter(|(aggregate, event)| *aggregate != Loan::TYPE || opens_a_loan.contains(event))
            .map(|(_, event)| event)
            .collect()
    }

    /// Whom an event concerns matters to compliance, not to the command that recorded it.
    fn trails(&self) -> bool {
        true
    }

    fn kind(&self) -> Kind {
        Kind::ReadModel {
            create_sql: CREATE_SQL,
            tables: &["read.audit_subjects"],
            views: &["read.audit_log"],
        }
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        self.apply_all(tx, std::slice::from_ref(event)).await
    }

    /// Two statements a batch at most: the people events name, then the payments that follow
    /// the person of their loan (after, so a loan offered in the same batch is found).
    async fn apply_all(
        &self,
        tx: &BatchTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), FollowerError> {
        let mut named = Rows::default();
        let mut via_loan = Rows::default();
        for event in events {
            match concerns(event) {
                Concerns::Subject(subject) => named.push(event, subject.to_string()),
                Concerns::LoanOf(loan) => via_loan.push(event, loan.to_string()),
                Concerns::Unknown => {}
            }
        }
        if !named.is_empty() {
            tx.execute(
                "INSERT INTO read.audit_subjects (aggregate_type, aggregate_id, subject_id, since_position)
                 SELECT t, id, s::uuid, p FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(t, id, s, p)
                 ON CONFLICT DO NOTHING",
                &named.params(),
            )
            .await?;
        }
        if !via_loan.is_empty() {
            tx.execute(
                "INSERT INTO read.audit_subjects (aggregate_type, aggregate_id, subject_id, since_position)
                 SELECT u.t, u.id, l.subject_id, u.p
                   FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(t, id, loan, p)
                   JOIN read.audit_subjects l ON l.aggregate_type = $5 AND l.aggregate_id = u.loan
                 ON CONFLICT DO NOTHING",
                &[&via_loan.types, &via_loan.ids, &via_loan.whom, &via_loan.positions, &Loan::TYPE],
            )
            .await?;
        }
        Ok(())
    }
}

/// The rows of one INSERT, as arrays: aggregate type, id, the person or loan, position.
#[derive(Default)]
struct Rows {
    types: Vec<String>,
    ids: Vec<String>,
    whom: Vec<String>,
    positions: Vec<i64>,
}

impl Rows {
    fn push(&mut self, event: &RecordedEvent, whom: String) {
        self.types.push(event.aggregate_type.clone());
        self.ids.push(event.aggregate_id.clone());
        self.whom.push(whom);
        self.positions.push(event.position());
    }

    fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 4] {
        [&self.types, &self.ids, &self.whom, &self.positions]
    }
}

/// Whom an event says its aggregate concerns.
#[derive(Debug, PartialEq, Eq)]
enum Concerns {
    Subject(Uuid),
    /// The person of this loan (a payment assigned or matched to it).
    LoanOf(Uuid),
    Unknown,
}

/// The person the payload names (`named_subject`: a customer, else a sealed value's subject);
/// else an account's first event is about the account itself (staff accounts seal nothing);
/// else a `loan_id` points at the loan's person.
fn concerns(event: &RecordedEvent) -> Concerns {
    if let Some(subject) = named_subject(&event.payload) {
        return Concerns::Subject(subject);
    }
    if event.sequence == 1 && event.aggregate_type == Account::TYPE {
        if let Ok(account) = event.aggregate_id.parse() {
            return Concerns::Subject(account);
        }
    }
    if event.aggregate_type != Loan::TYPE {
        if let Some(loan) = named_loan(&event.payload) {
            return Concerns::LoanOf(loan);
        }
    }
    Concerns::Unknown
}

/// One event of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub position: i64,
    pub recorded_at: DateTime<Utc>,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<String>,
    pub request_id: Option<String>,
    pub channel: Option<String>,
    pub subject_id: Option<Uuid>,
}

// Planned with its values every run (`query_typed`), so the filters left out fold away and the
// plan follows the one given: a subject through its aggregates, a time through the log's BRIN
// index, nothing but the position through the log's position index.
const AUDIT_PAGE: &str = "
SELECT position, recorded_at, aggregate_type, aggregate_id, sequence, event_type, event_version,
       actor_id, actor_role, request_id, channel, subject_id
  FROM read.audit_log
 WHERE position > $1
   AND ($2::uuid IS NULL OR subject_id = $2)
   AND ($3::uuid IS NULL OR actor_id = $3)
   AND ($4::text IS NULL OR aggregate_type = $4)
   AND ($5::text IS NULL OR aggregate_id = $5)
   AND ($6::text IS NULL OR event_type = $6)
   AND ($7::timestamptz IS NULL OR recorded_at >= $7)
   AND ($8::timestamptz IS NULL OR recorded_at < $8)
 ORDER BY position
 LIMIT $9";

impl Reader {
    /// Up to `limit` events of the audit trail matching `filter`, after log position `after`,
    /// in position order: the next page starts after the last one's position.
    pub async fn audit_page(
        &self,
        filter: &AuditQuery,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, ReadError> {
        use tokio_postgres::types::Type;
        let client = self.client().await?;
        let rows = client
            .query_typed(
                AUDIT_PAGE,
                &[
                    (&after, Type::INT8),
                    (&filter.subject_id, Type::UUID),
                    (&filter.actor_id, Type::UUID),
                    (&filter.aggregate_type, Type::TEXT),
                    (&filter.aggregate_id, Type::TEXT),
                    (&filter.event_type, Type::TEXT),
                    (&filter.from, Type::TIMESTAMPTZ),
                    (&filter.to, Type::TIMESTAMPTZ),
                    (&limit, Type::INT8),
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| AuditEntry {
                position: row.get(0),
                recorded_at: row.get(1),
                aggregate_type: row.get(2),
                aggregate_id: row.get(3),
                sequence: row.get(4),
                event_type: row.get(5),
                event_version: row.get(6),
                actor_id: row.get(7),
                actor_role: row.get(8),
                request_id: row.get(9),
                channel: row.get(10),
                subject_id: row.get(11),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k911_event_store::log::Checkpoint;
    use serde_json::{json, Value};

    fn event(aggregate_type: &str, sequence: i64, payload: Value) -> RecordedEvent {
        RecordedEvent {
            checkpoint: Checkpoint::default(),
            aggregate_type: aggregate_type.to_string(),
            aggregate_id: "5f0c6f2e-8d5b-4a8e-9b1e-2f4f3c7a9d10".to_string(),
            sequence,
            event_type: "Whatever".to_string(),
            event_version: "1.0".to_string(),
            payload,
            metadata: json!({}),
            recorded_at: Utc::now(),
        }
    }

    const LOAN: &str = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";

    #[test]
    fn a_loan_is_read_for_its_offer_only_and_other_aggregates_for_every_event() {
        let read = AuditSubjects.event_types();
        for opening in [LoanEventType::LoanOffered, LoanEventType::OfferRefused] {
            assert!(read.contains(&opening.into()), "{opening:?}");
        }
        for later in [
            LoanEventType::InterestAccrued,
            LoanEventType::OverdueReminderSent,
            LoanEventType::PaymentReceived,
        ] {
            assert!(!read.contains(&later.into()), "{later:?}");
        }
        let others: Vec<&str> = k911_aggregates::event_types()
            .into_iter()
            .filter(|(aggregate, _)| *aggregate != Loan::TYPE)
            .map(|(_, event)| event)
            .collect();
        assert!(others.contains(&"PaymentAssigned") && others.contains(&"TicketSubmitted"));
        assert!(others.iter().all(|event| read.contains(event)));
    }

    #[test]
    fn an_account_is_about_itself_and_a_payment_about_its_loan() {
        let opened = event(
            "Account",
            1,
            json!({"StaffAccountCreated": {"role": "admin"}}),
        );
        assert_eq!(
            concerns(&opened),
            Concerns::Subject(opened.aggregate_id.parse().unwrap())
        );
        let later = event("Account", 2, json!({"PasswordChanged": {}}));
        assert_eq!(concerns(&later), Concerns::Unknown);
        let assigned = event(
            "IncomingPayment",
            2,
            json!({"PaymentAssigned": {"loan_id": LOAN}}),
        );
        assert_eq!(concerns(&assigned), Concerns::LoanOf(LOAN.parse().unwrap()));
        let faq = event(
            "FaqEntry",
            1,
            json!({"FaqEntryPublished": {"question": "q"}}),
        );
        assert_eq!(concerns(&faq), Concerns::Unknown);
    }
}

/// An event of a person's own copy of their data.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SubjectEvent {
    pub position: i64,
    pub recorded_at: DateTime<Utc>,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    /// Who acted, as a role (staff are not named), and from where.
    pub actor_role: Option<String>,
    pub channel: Option<String>,
    /// The client's address when it was recorded, if it is the person's own.
    pub client_ip: Option<serde_json::Value>,
    /// The event with the person's own sealed values opened; another person's read
    /// "данные другого лица".
    pub payload: serde_json::Value,
}

/// A recorded read of the person's data by staff, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PersonalDataRead {
    pub read_at: DateTime<Utc>,
    pub purpose: String,
}

impl Reader {
    /// Every event that concerns `subject` (through `read.audit_subjects`), in log order, with
    /// their own personal data opened: what the log holds about them.
    pub async fn subject_events(&self, subject: Uuid) -> Result<Vec<SubjectEvent>, ReadError> {
        self.subjects_caught_up().await?;
        let client = self.client().await?;
        let rows = client
            .query_typed(
                "SELECT e.global_position, e.recorded_at, e.aggregate_type, e.aggregate_id,
                        e.sequence, e.event_type, e.metadata, e.payload
                   FROM read.audit_subjects s
                   JOIN events e USING (aggregate_type, aggregate_id)
                  WHERE s.subject_id = $1
                  ORDER BY e.global_position",
                &[(&subject, tokio_postgres::types::Type::UUID)],
            )
            .await?;
        drop(client);
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let metadata: serde_json::Value = row.get(6);
            let text = |key: &str| metadata.get(key).and_then(|v| v.as_str()).map(String::from);
            let client_ip = match text("client_ip") {
                Some(sealed) => {
                    let mut sealed: serde_json::Value = serde_json::from_str(&sealed)
                        .map_err(|e| ReadError::Corrupt(e.to_string()))?;
                    self.keys.open_within(&mut sealed, Some(subject)).await?;
                    Some(sealed)
                }
                None => None,
            };
            let mut payload: serde_json::Value = row.get(7);
            self.keys.open_within(&mut payload, Some(subject)).await?;
            events.push(SubjectEvent {
                position: row.get(0),
                recorded_at: row.get(1),
                aggregate_type: row.get(2),
                aggregate_id: row.get(3),
                sequence: row.get(4),
                event_type: row.get(5),
                actor_role: text("actor_role"),
                channel: text("channel"),
                client_ip,
                payload,
            });
        }
        Ok(events)
    }

    /// Waits until whom each event concerns is known up to the log's head: the subjects trail
    /// the log (up to half a second), and a person's copy of their data must hold their last
    /// request too.
    async fn subjects_caught_up(&self) -> Result<(), ReadError> {
        if let Some(head) = self.head().await? {
            self.followers
                .wait_for_named(AuditSubjects.name(), head, self.wait)
                .await?;
        }
        Ok(())
    }

    /// Staff reads of `subject`'s personal data, oldest first.
    pub async fn personal_data_reads(
        &self,
        subject: Uuid,
    ) -> Result<Vec<PersonalDataRead>, ReadError> {
        let rows = self
            .client()
            .await?
            .query_typed(
                "SELECT read_at, purpose FROM personal_data_reads WHERE subject_id = $1
                  ORDER BY read_at, id",
                &[(&subject, tokio_postgres::types::Type::UUID)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| PersonalDataRead {
                read_at: row.get(0),
                purpose: row.get(1),
            })
            .collect())
    }
}
