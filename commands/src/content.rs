//! Public content: the FAQ and the "Documents" section, managed by staff.

use std::sync::Arc;

use chrono::NaiveDate;
use k911_aggregates::calendar::moscow_date;
use k911_aggregates::document::Document;
use k911_aggregates::document::{DocumentCommand, StoredFile};
use k911_aggregates::faq::FaqCommand;
use k911_aggregates::faq::FaqEntry;
use k911_aggregates::values::{MessageText, Title};
use k911_event_store::store::Cqrs;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::app::Core;
use crate::{CommandMeta, Error, Written};

/// Largest document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;

/// Documents every installation starts with (written for k911; `seed/documents/`).
/// The id of the seed document `slug`: the same in every installation.
pub fn seed_document_id(slug: &str) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6b39_3131_6465_6564_0000_0000_0000_0001);
    Uuid::new_v5(&NAMESPACE, slug.as_bytes())
}

const SEED_DOCUMENTS: [(&str, &str, &[u8]); 5] = [
    (
        "general-terms",
        "Общие условия договора потребительского займа",
        include_bytes!("../seed/documents/general-terms.pdf"),
    ),
    (
        "personal-data-policy",
        "Политика обработки персональных данных",
        include_bytes!("../seed/documents/personal-data-policy.pdf"),
    ),
    (
        "complaints",
        "Порядок рассмотрения обращений получателей финансовых услуг",
        include_bytes!("../seed/documents/complaints.pdf"),
    ),
    (
        "consent-personal-data",
        "Согласие на обработку персональных данных",
        include_bytes!("../seed/documents/consent-personal-data.pdf"),
    ),
    (
        "consent-credit-history",
        "Согласие на запрос кредитной истории",
        include_bytes!("../seed/documents/consent-credit-history.pdf"),
    ),
];

/// The FAQ and the "Documents" section: published, edited and withdrawn by staff.
#[derive(Clone)]
pub struct Content {
    pub(crate) core: Core,
    pub(crate) faq: Arc<Cqrs<FaqEntry>>,
    pub(crate) documents: Arc<Cqrs<Document>>,
}

impl Content {
    pub async fn publish_faq(
        &self,
        question: MessageText,
        answer: MessageText,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let command = FaqCommand::Publish {
            question,
            answer,
            at: self.core.clock.now(),
        };
        self.core
            .create(&self.faq, self.core.ids.new_id(), command, meta)
            .await
    }

    pub async fn edit_faq(
        &self,
        id: Uuid,
        question: MessageText,
        answer: MessageText,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let command = FaqCommand::Edit {
            question,
            answer,
            at: self.core.clock.now(),
        };
        self.core.execute(&self.faq, id, command, meta).await
    }

    pub async fn withdraw_faq(&self, id: Uuid, meta: &CommandMeta) -> Result<Written, Error> {
        let command = FaqCommand::Withdraw {
            at: self.core.clock.now(),
        };
        self.core.execute(&self.faq, id, command, meta).await
    }

    /// Stores an uploaded file and publishes it as a new document.
    pub async fn upload_document(
        &self,
        title: Title,
        published_on: Option<NaiveDate>,
        bytes: &[u8],
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let id = self.core.ids.new_id();
        self.publish_document(id, title, published_on, bytes, meta)
            .await
    }

    /// Stores the file (once per content) and publishes it under `title` as document `id`.
    async fn publish_document(
        &self,
        id: Uuid,
        title: Title,
        published_on: Option<NaiveDate>,
        bytes: &[u8],
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let sha256 = Sha256::digest(bytes).to_vec();
        sqlx::query(
            "INSERT INTO document_files (sha256, content_type, bytes) VALUES ($1, 'application/pdf', $2)
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&sha256)
        .bind(bytes)
        .execute(&self.core.db.sqlx)
        .await?;
        let command = DocumentCommand::Publish {
            title,
            file: StoredFile {
                sha256: hex::encode(&sha256),
                content_type: "application/pdf".to_string(),
                size_bytes: bytes.len() as i64,
            },
            published_on: published_on.unwrap_or_else(|| moscow_date(self.core.clock.now())),
            at: self.core.clock.now(),
        };
        self.core.execute(&self.documents, id, command, meta).await
    }

    pub async fn withdraw_document(&self, id: Uuid, meta: &CommandMeta) -> Result<Written, Error> {
        let command = DocumentCommand::Withdraw {
            at: self.core.clock.now(),
        };
        self.core.execute(&self.documents, id, command, meta).await
    }

    /// Publishes the bundled documents unless they exist already; safe to run at every start.
    pub async fn seed_documents(&self) -> Result<(), Error> {
        let meta = CommandMeta {
            channel: "seed",
            ..CommandMeta::default()
        };
        for (slug, title, bytes) in SEED_DOCUMENTS {
            let id = seed_document_id(slug);
            let title = Title::parse(title).expect("seed titles are valid");
            match self.publish_document(id, title, None, bytes, &meta).await {
                Ok(_)
                | Err(Error::Document(
                    k911_aggregates::document::DocumentError::AlreadyPublished,
                )) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_document_is_a_pdf_with_a_valid_title() {
        for (_, title, bytes) in SEED_DOCUMENTS {
            assert!(bytes.starts_with(b"%PDF-"), "{title}");
            assert!(Title::parse(title).is_ok());
        }
    }
}
