//! A question and answer of the public FAQ, managed by staff.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::values::MessageText;
use crate::EVENT_VERSION_1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FaqCommand {
    Publish {
        question: MessageText,
        answer: MessageText,
        at: DateTime<Utc>,
    },
    Edit {
        question: MessageText,
        answer: MessageText,
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
/// `FaqEventType` names each event type, for followers of the log (`FaqEventType::X.into()`).
#[strum_discriminants(name(FaqEventType), derive(strum::IntoStaticStr))]
pub enum FaqEvent {
    FaqEntryPublished {
        question: MessageText,
        answer: MessageText,
        published_at: DateTime<Utc>,
    },
    FaqEntryEdited {
        question: MessageText,
        answer: MessageText,
        edited_at: DateTime<Utc>,
    },
    FaqEntryWithdrawn {
        withdrawn_at: DateTime<Utc>,
    },
}

impl DomainEvent for FaqEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION_1.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaqError {
    #[error("the FAQ entry already exists")]
    AlreadyPublished,
    #[error("no such FAQ entry")]
    NotFound,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct FaqEntry {
    /// Published and not withdrawn.
    live: bool,
    /// Ever published: ids are never reused.
    exists: bool,
}

impl Aggregate for FaqEntry {
    const TYPE: &'static str = "FaqEntry";
    type Command = FaqCommand;
    type Event = FaqEvent;
    type Error = FaqError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            FaqCommand::Publish {
                question,
                answer,
                at,
            } => {
                if self.exists {
                    return Err(FaqError::AlreadyPublished);
                }
                FaqEvent::FaqEntryPublished {
                    question,
                    answer,
                    published_at: at,
                }
            }
            FaqCommand::Edit {
                question,
                answer,
                at,
            } => {
                if !self.live {
                    return Err(FaqError::NotFound);
                }
                FaqEvent::FaqEntryEdited {
                    question,
                    answer,
                    edited_at: at,
                }
            }
            FaqCommand::Withdraw { at } => {
                if !self.live {
                    return Err(FaqError::NotFound);
                }
                FaqEvent::FaqEntryWithdrawn { withdrawn_at: at }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            FaqEvent::FaqEntryPublished { .. } => {
                self.exists = true;
                self.live = true;
            }
            FaqEvent::FaqEntryEdited { .. } => {}
            FaqEvent::FaqEntryWithdrawn { .. } => self.live = false,
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

    fn text(s: &str) -> MessageText {
        MessageText::parse(s).unwrap()
    }

    fn published() -> FaqEvent {
        FaqEvent::FaqEntryPublished {
            question: text("Как погасить заём?"),
            answer: text("В Сбербанк Онлайн по номеру договора."),
            published_at: at(),
        }
    }

    fn edit() -> FaqCommand {
        FaqCommand::Edit {
            question: text("Как погасить заём?"),
            answer: text("Через терминал."),
            at: at(),
        }
    }

    #[test]
    fn staff_publish_an_entry() {
        TestFramework::<FaqEntry>::with(())
            .given_no_previous_events()
            .when(FaqCommand::Publish {
                question: text("Как погасить заём?"),
                answer: text("В Сбербанк Онлайн по номеру договора."),
                at: at(),
            })
            .then_expect_events(vec![published()]);
    }

    #[test]
    fn an_entry_is_not_published_twice() {
        TestFramework::<FaqEntry>::with(())
            .given(vec![published()])
            .when(FaqCommand::Publish {
                question: text("?"),
                answer: text("!"),
                at: at(),
            })
            .then_expect_error(FaqError::AlreadyPublished);
    }

    #[test]
    fn a_published_entry_is_edited() {
        TestFramework::<FaqEntry>::with(())
            .given(vec![published()])
            .when(edit())
            .then_expect_events(vec![FaqEvent::FaqEntryEdited {
                question: text("Как погасить заём?"),
                answer: text("Через терминал."),
                edited_at: at(),
            }]);
    }

    #[test]
    fn an_unknown_entry_cannot_be_edited() {
        TestFramework::<FaqEntry>::with(())
            .given_no_previous_events()
            .when(edit())
            .then_expect_error(FaqError::NotFound);
    }

    #[test]
    fn a_withdrawn_entry_can_be_neither_edited_nor_withdrawn_again() {
        let withdrawn = FaqEvent::FaqEntryWithdrawn { withdrawn_at: at() };
        TestFramework::<FaqEntry>::with(())
            .given(vec![published()])
            .when(FaqCommand::Withdraw { at: at() })
            .then_expect_events(vec![withdrawn.clone()]);
        TestFramework::<FaqEntry>::with(())
            .given(vec![published(), withdrawn.clone()])
            .when(edit())
            .then_expect_error(FaqError::NotFound);
        TestFramework::<FaqEntry>::with(())
            .given(vec![published(), withdrawn])
            .when(FaqCommand::Withdraw { at: at() })
            .then_expect_error(FaqError::NotFound);
    }
}
