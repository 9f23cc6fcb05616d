//! The consents customers gave (issue #16): `read.consents`, one row per consent given with an
//! application, naming the text's version it was given to, and when a consent was withdrawn.
//! The cabinet shows a customer theirs; analysts and compliance see which texts were accepted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use k911_aggregates::account::{Account, AccountEvent, AccountEventType};
use k911_aggregates::loan_application::consents::{Consent, TextVersion};
use k911_aggregates::loan_application::{
    LoanApplication, LoanApplicationEvent, LoanApplicationEventType,
};
use k911_event_store::follower::{aggregate_uuid, payload, BatchTx, Follower, FollowerError, Kind};
use k911_event_store::log::RecordedEvent;
use strum::VariantArray;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::reader::{ReadError, Reader};

pub struct Consents;

#[async_trait]
impl Follower for Consents {
    fn name(&self) -> &'static str {
        "consents"
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            LoanApplicationEventType::ApplicationSubmitted.into(),
            AccountEventType::ApplicationStarted.into(),
            AccountEventType::CreditHistoryConsentWithdrawn.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ReadModel {
            create_sql: "CREATE TABLE IF NOT EXISTS read.consents (
            application_id uuid        NOT NULL,
            consent        text        NOT NULL,
            customer_id    uuid        NOT NULL,
            document_id    uuid,
            text_sha256    text,
            given_at       timestamptz NOT NULL,
            withdrawn_at   timestamptz,
            last_position  bigint      NOT NULL,
            PRIMARY KEY (application_id, consent)
        );
        CREATE INDEX IF NOT EXISTS consents_customer ON read.consents (customer_id, given_at);
        COMMENT ON TABLE read.consents IS
            'Consents given with loan applications (issue #16): personal data processing, the credit history request (218-FZ), the general terms; one row per consent and application, with the text''s version.';
        COMMENT ON COLUMN read.consents.application_id IS 'The application it was given with.';
        COMMENT ON COLUMN read.consents.consent IS 'personal_data | credit_history_check | terms.';
        COMMENT ON COLUMN read.consents.customer_id IS 'Who gave it.';
        COMMENT ON COLUMN read.consents.document_id IS 'The published document holding its text (read.documents); null for an application recorded before text versions were.';
        COMMENT ON COLUMN read.consents.text_sha256 IS 'SHA-256 (hex) of the text''s file the consent was given to.';
        COMMENT ON COLUMN read.consents.given_at IS 'When it was given.';
        COMMENT ON COLUMN read.consents.withdrawn_at IS 'When the customer withdrew it (credit history only; personal data is withdrawn by a deletion request).';
        COMMENT ON COLUMN read.consents.last_position IS 'The log position of the last event applied to the row.';",
            tables: &["read.consents"],
            views: &[],
        }
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        let id = aggregate_uuid(event)?;
        let position = event.position();
        if event.of::<LoanApplication>() {
            if let LoanApplicationEvent::ApplicationSubmitted {
                customer_id,
                consents,
                consents_given_at,
                repeat,
                ..
            } = payload(event)?
            {
                // A repeat application relies on the consents given before (unless it said).
                if consents.is_none() && repeat {
                    return Ok(());
                }
                for &consent in Consent::VARIANTS {
                    let text = consents.as_ref().map(|texts| texts.of(consent));
                    insert(
                        tx,
                        id,
                        consent,
                        customer_id,
                        text,
                        consents_given_at,
                        position,
                    )
                    .await?;
                }
            }
        } else if event.of::<Account>() {
            match payload(event)? {
                AccountEvent::ApplicationStarted {
                    application_id,
                    credit_history_consent: Some(text),
                    started_at,
                } => {
                    insert(
                        tx,
                        application_id,
                        Consent::CreditHistoryCheck,
                        id,
                        Some(&text),
                        started_at,
                        position,
                    )
                    .await?
                }
                AccountEvent::CreditHistoryConsentWithdrawn { withdrawn_at } => {
                    tx.execute(
                        "UPDATE read.consents SET withdrawn_at = $2, last_position = $3
                          WHERE customer_id = $1 AND consent = 'credit_history_check'
                            AND withdrawn_at IS NULL",
                        &[&id, &withdrawn_at, &position],
                    )
                    .await?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// One consent given; the public form's repeat gives the credit history's twice (with the
/// account and with the application), kept once.
async fn insert(
    tx: &BatchTx<'_>,
    application_id: Uuid,
    consent: Consent,
    customer_id: Uuid,
    text: Option<&TextVersion>,
    given_at: DateTime<Utc>,
    position: i64,
) -> Result<(), FollowerError> {
    tx.execute(
        "INSERT INTO read.consents (application_id, consent, customer_id, document_id,
                text_sha256, given_at, last_position)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (application_id, consent) DO NOTHING",
        &[
            &application_id,
            &consent.as_str(),
            &customer_id,
            &text.map(|t| t.document_id),
            &text.map(|t| t.sha256.as_str()),
            &given_at,
            &position,
        ],
    )
    .await?;
    Ok(())
}

/// A consent as the cabinet lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConsentRow {
    pub application_id: Uuid,
    pub consent: String,
    pub document_id: Option<Uuid>,
    /// The document's title, if it is published.
    pub title: Option<String>,
    pub text_sha256: Option<String>,
    pub given_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl Reader {
    /// The consents `customer_id` gave, newest first.
    pub async fn consents_of(&self, customer_id: Uuid) -> Result<Vec<ConsentRow>, ReadError> {
        let rows = self
            .client()
            .await?
            .query_typed(
                "SELECT c.application_id, c.consent, c.document_id, d.title, c.text_sha256,
                        c.given_at, c.withdrawn_at
                   FROM read.consents c
                   LEFT JOIN read.documents d ON d.document_id = c.document_id
                  WHERE c.customer_id = $1
                  ORDER BY c.given_at DESC, c.consent",
                &[(&customer_id, Type::UUID)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ConsentRow {
                application_id: row.get(0),
                consent: row.get(1),
                document_id: row.get(2),
                title: row.get(3),
                text_sha256: row.get(4),
                given_at: row.get(5),
                withdrawn_at: row.get(6),
            })
            .collect())
    }
}
