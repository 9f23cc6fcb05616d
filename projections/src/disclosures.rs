//! The register of lawful disclosures (issue #16): `read.disclosures`, one row per request a
//! court or the regulator made, and whether and when it was answered. What a request asks stays
//! sealed in its event (it may name the person); the register holds what identifies it.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use k911_aggregates::disclosure::{Disclosure, DisclosureEvent, DisclosureEventType, LawfulBasis};
use k911_event_store::follower::{aggregate_uuid, payload, BatchTx, Follower, FollowerError, Kind};
use k911_event_store::log::RecordedEvent;
use uuid::Uuid;

use crate::reader::{ReadError, Reader};

pub struct Disclosures;

#[async_trait]
impl Follower for Disclosures {
    fn name(&self) -> &'static str {
        "disclosures"
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            DisclosureEventType::DisclosureRequested.into(),
            DisclosureEventType::DataDisclosed.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ReadModel {
            create_sql: "CREATE TABLE IF NOT EXISTS read.disclosures (
            disclosure_id  uuid PRIMARY KEY,
            subject_id     uuid        NOT NULL,
            basis          text        NOT NULL,
            authority      text        NOT NULL,
            reference      text        NOT NULL,
            dated          date        NOT NULL,
            categories     text[]      NOT NULL,
            period_from    date,
            period_to      date,
            registered_at  timestamptz NOT NULL,
            registered_by  uuid,
            disclosed_at   timestamptz,
            file_sha256    text,
            events         bigint,
            last_position  bigint      NOT NULL
        );
        CREATE INDEX IF NOT EXISTS disclosures_subject ON read.disclosures (subject_id);
        COMMENT ON TABLE read.disclosures IS
            'The register of lawful disclosures (issue #16): every request for a person''s data from a court or the regulator, and its answer. What a request asks is sealed in its event.';
        COMMENT ON COLUMN read.disclosures.disclosure_id IS 'The request''s id.';
        COMMENT ON COLUMN read.disclosures.subject_id IS 'Whose data was asked for.';
        COMMENT ON COLUMN read.disclosures.basis IS 'court | regulator.';
        COMMENT ON COLUMN read.disclosures.authority IS 'The court, or Банк России.';
        COMMENT ON COLUMN read.disclosures.reference IS 'The case number (a court) or the request''s number (the regulator).';
        COMMENT ON COLUMN read.disclosures.dated IS 'The date the request bears.';
        COMMENT ON COLUMN read.disclosures.categories IS 'The parts of the data asked for: profile, applications, loans, payments, support.';
        COMMENT ON COLUMN read.disclosures.period_from IS 'The first day (Moscow) of the period asked for; null: from the start.';
        COMMENT ON COLUMN read.disclosures.period_to IS 'The last day (Moscow) of the period asked for; null: to the answer.';
        COMMENT ON COLUMN read.disclosures.registered_at IS 'When compliance registered the request.';
        COMMENT ON COLUMN read.disclosures.registered_by IS 'The compliance officer who registered it.';
        COMMENT ON COLUMN read.disclosures.disclosed_at IS 'When the answering file was made; null: not answered yet.';
        COMMENT ON COLUMN read.disclosures.file_sha256 IS 'SHA-256 (hex) of the file handed over.';
        COMMENT ON COLUMN read.disclosures.events IS 'How many events of the person''s trail the file holds.';
        COMMENT ON COLUMN read.disclosures.last_position IS 'The log position of the last event applied to the row.';",
            tables: &["read.disclosures"],
            views: &[],
        }
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        if !event.of::<Disclosure>() {
            return Ok(());
        }
        let id = aggregate_uuid(event)?;
        let position = event.position();
        match payload::<DisclosureEvent>(event)? {
            DisclosureEvent::DisclosureRequested {
                subject_id,
                basis,
                scope,
                registered_at,
                ..
            } => {
                let (kind, authority, reference, dated) = match &basis {
                    LawfulBasis::Court {
                        court,
                        case_number,
                        dated,
                    } => ("court", court.as_str(), case_number.as_str(), dated),
                    LawfulBasis::Regulator {
                        request_number,
                        dated,
                    } => ("regulator", "Банк России", request_number.as_str(), dated),
                };
                let categories: Vec<&str> = scope.categories.iter().map(<&str>::from).collect();
                let officer: Option<Uuid> = event
                    .metadata
                    .get("actor_id")
                    .and_then(|v| v.as_str())
                    .and_then(|v| v.parse().ok());
                tx.execute(
                    "INSERT INTO read.disclosures (disclosure_id, subject_id, basis, authority,
                            reference, dated, categories, period_from, period_to, registered_at,
                            registered_by, last_position)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    &[
                        &id,
                        &subject_id,
                        &kind,
                        &authority,
                        &reference,
                        dated,
                        &categories,
                        &scope.from,
                        &scope.to,
                        &registered_at,
                        &officer,
                        &position,
                    ],
                )
                .await?;
            }
            DisclosureEvent::DataDisclosed {
                file_sha256,
                events,
                disclosed_at,
            } => {
                tx.execute(
                    "UPDATE read.disclosures SET disclosed_at = $2, file_sha256 = $3, events = $4,
                            last_position = $5
                      WHERE disclosure_id = $1",
                    &[
                        &id,
                        &disclosed_at,
                        &file_sha256,
                        &(events as i64),
                        &position,
                    ],
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// A row of the register.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DisclosureRow {
    pub disclosure_id: Uuid,
    pub subject_id: Uuid,
    pub basis: String,
    pub authority: String,
    pub reference: String,
    pub dated: NaiveDate,
    pub categories: Vec<String>,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    pub registered_at: DateTime<Utc>,
    pub registered_by: Option<Uuid>,
    pub disclosed_at: Option<DateTime<Utc>>,
    pub file_sha256: Option<String>,
    pub events: Option<i64>,
}

impl Reader {
    /// The register, newest request first.
    pub async fn disclosures(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<DisclosureRow>, ReadError> {
        let rows = self
            .client()
            .await?
            .query_typed(
                "SELECT disclosure_id, subject_id, basis, authority, reference, dated, categories,
                        period_from, period_to, registered_at, registered_by, disclosed_at,
                        file_sha256, events
                   FROM read.disclosures
                  ORDER BY registered_at DESC, disclosure_id
                  LIMIT $1 OFFSET $2",
                &[
                    (&limit, tokio_postgres::types::Type::INT8),
                    (&offset, tokio_postgres::types::Type::INT8),
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| DisclosureRow {
                disclosure_id: row.get(0),
                subject_id: row.get(1),
                basis: row.get(2),
                authority: row.get(3),
                reference: row.get(4),
                dated: row.get(5),
                categories: row.get(6),
                period_from: row.get(7),
                period_to: row.get(8),
                registered_at: row.get(9),
                registered_by: row.get(10),
                disclosed_at: row.get(11),
                file_sha256: row.get(12),
                events: row.get(13),
            })
            .collect())
    }
}
