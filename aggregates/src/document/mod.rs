//! A document of the public "Documents" section (general terms, personal-data policy, ...). The
//! file itself is stored once by its SHA-256; the aggregate records what is published under which
//! title, and when.

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::values::Title;
use crate::EVENT_VERSION_1;

/// A stored file, by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// Hex SHA-256 of the bytes: the key of the `document_files` table.
    pub sha256: String,
    pub content_type: String,
    pub size_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DocumentCommand {
    Publish {
        title: Title,
        file: StoredFile,
        /// The date the document takes effect, shown to customers.
        published_on: NaiveDate,
        at: DateTime<Utc>,
    },
    Withdraw {
        at: DateTime<Utc>,
    },
}

#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Deserialize,
    strum::VariantNames,
    strum::IntoStaticStr,
    strum::EnumDiscriminants,
)]
/// `DocumentEventType` names each event type, for followers of the log (`DocumentEventType::X.into()`).
#[strum_discriminants(name(DocumentEventType), derive(strum::IntoStaticStr))]
pub enum DocumentEvent {
    DocumentPublished {
        title: Title,
        file: StoredFile,
        published_on: NaiveDate,
        published_at: DateTime<Utc>,
    },
    DocumentWithdrawn {
        withdrawn_at: DateTime<Utc>,
    },
}

impl DomainEvent for DocumentEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION_1.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("the document already exists")]
    AlreadyPublished,
    #[error("no such document")]
    NotFound,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Document {
    exists: bool,
    live: bool,
    file: Option<StoredFile>,
}

impl Document {
    /// The file while the document is published: its hash is the version of its text.
    pub fn live_file(&self) -> Option<&StoredFile> {
        self.file.as_ref().filter(|_| self.live)
    }
}

impl Aggregate for Document {
    const TYPE: &'static str = "Document";
    type Command = DocumentCommand;
    type Event = DocumentEvent;
    type Error = DocumentError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            DocumentCommand::Publish {
                title,
                file,
                published_on,
                at,
            } => {
                if self.exists {
                    return Err(DocumentError::AlreadyPublished);
                }
                DocumentEvent::DocumentPublished {
                    title,
                    file,
                    published_on,
                    published_at: at,
                }
            }
            DocumentCommand::Withdraw { at } => {
                if !self.live {
                    return Err(DocumentError::NotFound);
                }
                DocumentEvent::DocumentWithdrawn { withdrawn_at: at }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            DocumentEvent::DocumentPublished { file, .. } => {
                self.exists = true;
                self.live = true;
                self.file = Some(file);
            }
            DocumentEvent::DocumentWithdrawn { .. } => self.live = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()
    }

    fn publish() -> DocumentCommand {
        DocumentCommand::Publish {
            title: Title::parse("Общие условия договора займа").unwrap(),
            file: StoredFile {
                sha256: "ab".repeat(32),
                content_type: "application/pdf".into(),
                size_bytes: 1024,
            },
            published_on: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            at: at(),
        }
    }

    fn published() -> DocumentEvent {
        DocumentEvent::DocumentPublished {
            title: Title::parse("Общие условия договора займа").unwrap(),
            file: StoredFile {
                sha256: "ab".repeat(32),
                content_type: "application/pdf".into(),
                size_bytes: 1024,
            },
            published_on: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            published_at: at(),
        }
    }

    #[test]
    fn staff_publish_a_document() {
        TestFramework::<Document>::with(())
            .given_no_previous_events()
            .when(publish())
            .then_expect_events(vec![published()]);
    }

    #[test]
    fn a_document_is_not_published_twice() {
        TestFramework::<Document>::with(())
            .given(vec![published()])
            .when(publish())
            .then_expect_error(DocumentError::AlreadyPublished);
    }

    #[test]
    fn a_published_document_is_withdrawn_once() {
        let withdrawn = DocumentEvent::DocumentWithdrawn { withdrawn_at: at() };
        TestFramework::<Document>::with(())
            .given(vec![published()])
            .when(DocumentCommand::Withdraw { at: at() })
            .then_expect_events(vec![withdrawn.clone()]);
        TestFramework::<Document>::with(())
            .given(vec![published(), withdrawn])
            .when(DocumentCommand::Withdraw { at: at() })
            .then_expect_error(DocumentError::NotFound);
    }

    #[test]
    fn an_unknown_document_cannot_be_withdrawn() {
        TestFramework::<Document>::with(())
            .given_no_previous_events()
            .when(DocumentCommand::Withdraw { at: at() })
            .then_expect_error(DocumentError::NotFound);
    }
}
