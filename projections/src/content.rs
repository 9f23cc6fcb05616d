//! Public content read models: `read.faq` and `read.documents`.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use k911_aggregates::document::DocumentEventType;
use k911_aggregates::document::{Document, DocumentEvent};
use k911_aggregates::faq::FaqEventType;
use k911_aggregates::faq::{FaqEntry, FaqEvent};
use k911_event_store::log::RecordedEvent;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::reader::{ReadError, Reader};
use k911_event_store::follower::{aggregate_uuid, payload, BatchTx, Follower, FollowerError, Kind};

/// The aggregate id and payload of an event of `A`'s, or `None` for other events.
fn decode<A: Aggregate>(event: &RecordedEvent) -> Result<Option<(Uuid, A::Event)>, FollowerError> {
    if !event.of::<A>() {
        return Ok(None);
    }
    Ok(Some((aggregate_uuid(event)?, payload(event)?)))
}

pub struct Faq;

#[async_trait]
impl Follower for Faq {
    fn name(&self) -> &'static str {
        "faq"
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            FaqEventType::FaqEntryPublished.into(),
            FaqEventType::FaqEntryEdited.into(),
            FaqEventType::FaqEntryWithdrawn.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ReadModel {
            create_sql: "CREATE TABLE IF NOT EXISTS read.faq (
            faq_id        uuid PRIMARY KEY,
            arrival       bigint      NOT NULL UNIQUE,
            question      text        NOT NULL,
            answer        text        NOT NULL,
            published_at  timestamptz NOT NULL,
            updated_at    timestamptz NOT NULL,
            withdrawn_at  timestamptz,
            last_position bigint      NOT NULL
        );
        COMMENT ON TABLE read.faq IS 'Public FAQ entries, in the order they were published.';
        COMMENT ON COLUMN read.faq.faq_id IS 'The FAQ entry''s id.';
        COMMENT ON COLUMN read.faq.arrival IS 'Order of publication (1, 2, ...): the FAQ lists in it.';
        COMMENT ON COLUMN read.faq.question IS 'The question, as published.';
        COMMENT ON COLUMN read.faq.answer IS 'The answer, as published.';
        COMMENT ON COLUMN read.faq.published_at IS 'When it was first published.';
        COMMENT ON COLUMN read.faq.updated_at IS 'When it was last changed.';
        COMMENT ON COLUMN read.faq.last_position IS 'The log position of the last event applied to the row.';
        COMMENT ON COLUMN read.faq.withdrawn_at IS 'Set once staff withdrew the entry; it is no longer shown.';",
            tables: &["read.faq"],
            views: &[],
        }
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        let Some((id, payload)) = decode::<FaqEntry>(event)? else {
            return Ok(());
        };
        let position = event.position();
        match payload {
            FaqEvent::FaqEntryPublished {
                question,
                answer,
                published_at,
            } => {
                tx.execute(
                    "INSERT INTO read.faq (faq_id, arrival, question, answer, published_at, updated_at, last_position)
                     VALUES ($1, (SELECT coalesce(max(arrival), 0) + 1 FROM read.faq), $2, $3, $4, $4, $5)",
                    &[&id, &question.as_str(), &answer.as_str(), &published_at, &position],
                )
                .await?;
            }
            FaqEvent::FaqEntryEdited {
                question,
                answer,
                edited_at,
            } => {
                tx.execute(
                    "UPDATE read.faq SET question = $2, answer = $3, updated_at = $4, last_position = $5
                      WHERE faq_id = $1",
                    &[&id, &question.as_str(), &answer.as_str(), &edited_at, &position],
                )
                .await?;
            }
            FaqEvent::FaqEntryWithdrawn { withdrawn_at } => {
                tx.execute(
                    "UPDATE read.faq SET withdrawn_at = $2, last_position = $3 WHERE faq_id = $1",
                    &[&id, &withdrawn_at, &position],
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// A FAQ entry as the public sees it.
#[derive(Debug, Clone)]
pub struct FaqRow {
    pub faq_id: Uuid,
    pub question: String,
    pub answer: String,
}

pub async fn faq(
    client: &impl GenericClient,
    limit: i64,
    offset: i64,
) -> Result<Vec<FaqRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT faq_id, question, answer FROM read.faq WHERE withdrawn_at IS NULL
              ORDER BY arrival LIMIT $1 OFFSET $2",
            &[&limit, &offset],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| FaqRow {
            faq_id: r.get(0),
            question: r.get(1),
            answer: r.get(2),
        })
        .collect())
}

pub struct Documents;

#[async_trait]
impl Follower for Documents {
    fn name(&self) -> &'static str {
        "documents"
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            DocumentEventType::DocumentPublished.into(),
            DocumentEventType::DocumentWithdrawn.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ReadModel {
            create_sql: "CREATE TABLE IF NOT EXISTS read.documents (
            document_id   uuid PRIMARY KEY,
            arrival       bigint      NOT NULL UNIQUE,
            title         text        NOT NULL,
            content_type  text        NOT NULL,
            sha256        text        NOT NULL,
            size_bytes    bigint      NOT NULL,
            published_on  date        NOT NULL,
            published_at  timestamptz NOT NULL,
            withdrawn_at  timestamptz,
            last_position bigint      NOT NULL
        );
        COMMENT ON TABLE read.documents IS 'The public Documents section; files are in document_files by sha256.';
        COMMENT ON COLUMN read.documents.document_id IS 'The Document aggregate''s id.';
        COMMENT ON COLUMN read.documents.arrival IS 'Order of publication (1, 2, ...): the Documents section lists in it.';
        COMMENT ON COLUMN read.documents.title IS 'The title shown in the Documents section.';
        COMMENT ON COLUMN read.documents.content_type IS 'Always application/pdf.';
        COMMENT ON COLUMN read.documents.sha256 IS 'The file''s SHA-256 (hex): the key of its bytes in document_files.';
        COMMENT ON COLUMN read.documents.size_bytes IS 'The file''s size in bytes.';
        COMMENT ON COLUMN read.documents.published_at IS 'When it was published.';
        COMMENT ON COLUMN read.documents.withdrawn_at IS 'When it was withdrawn from the site (null: still published).';
        COMMENT ON COLUMN read.documents.last_position IS 'The log position of the last event applied to the row.';
        COMMENT ON COLUMN read.documents.published_on IS 'The date the document takes effect (Europe/Moscow).';",
            tables: &["read.documents"],
            views: &[],
        }
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        let Some((id, payload)) = decode::<Document>(event)? else {
            return Ok(());
        };
        let position = event.position();
        match payload {
            DocumentEvent::DocumentPublished {
                title,
                file,
                published_on,
                published_at,
            } => {
                tx.execute(
                    "INSERT INTO read.documents (document_id, arrival, title, content_type, sha256, size_bytes,
                                                 published_on, published_at, last_position)
                     VALUES ($1, (SELECT coalesce(max(arrival), 0) + 1 FROM read.documents),
                             $2, $3, $4, $5, $6, $7, $8)",
                    &[&id, &title.as_str(), &file.content_type, &file.sha256, &file.size_bytes, &published_on, &published_at, &position],
                )
                .await?;
            }
            DocumentEvent::DocumentWithdrawn { withdrawn_at } => {
                tx.execute(
                    "UPDATE read.documents SET withdrawn_at = $2, last_position = $3 WHERE document_id = $1",
                    &[&id, &withdrawn_at, &position],
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// A published document.
#[derive(Debug, Clone)]
pub struct DocumentRow {
    pub document_id: Uuid,
    pub title: String,
    pub content_type: String,
    pub sha256: String,
    pub published_on: NaiveDate,
    pub published_at: DateTime<Utc>,
}

const SELECT_DOCUMENT: &str =
    "SELECT document_id, title, content_type, sha256, published_on, published_at FROM read.documents";

fn document(r: &tokio_postgres::Row) -> DocumentRow {
    DocumentRow {
        document_id: r.get(0),
        title: r.get(1),
        content_type: r.get(2),
        sha256: r.get(3),
        published_on: r.get(4),
        published_at: r.get(5),
    }
}

pub async fn documents(
    client: &impl GenericClient,
    limit: i64,
    offset: i64,
) -> Result<Vec<DocumentRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "{SELECT_DOCUMENT} WHERE withdrawn_at IS NULL ORDER BY arrival LIMIT $1 OFFSET $2"
            ),
            &[&limit, &offset],
        )
        .await?;
    Ok(rows.iter().map(document).collect())
}

pub async fn document_by_id(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<DocumentRow>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!("{SELECT_DOCUMENT} WHERE withdrawn_at IS NULL AND document_id = $1"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(document))
}

impl Reader {
    pub async fn faq(&self, limit: i64, offset: i64) -> Result<Vec<FaqRow>, ReadError> {
        Ok(faq(&**self.client().await?, limit, offset).await?)
    }

    pub async fn documents(&self, limit: i64, offset: i64) -> Result<Vec<DocumentRow>, ReadError> {
        Ok(documents(&**self.client().await?, limit, offset).await?)
    }

    /// A published document and its bytes (kept once per content by the write side).
    pub async fn document_file(&self, id: Uuid) -> Result<(DocumentRow, Vec<u8>), ReadError> {
        let client = self.client().await?;
        let row = document_by_id(&**client, id)
            .await?
            .ok_or(ReadError::NotFound)?;
        let sha256 = hex::decode(&row.sha256).map_err(|e| ReadError::Corrupt(e.to_string()))?;
        let bytes: Vec<u8> = client
            .query_opt(
                "SELECT bytes FROM document_files WHERE sha256 = $1",
                &[&sha256],
            )
            .await?
            .ok_or(ReadError::NotFound)?
            .get(0);
        Ok((row, bytes))
    }
}
