//! Credit bureau reporting (218-FZ, issue #16). The process manager `bureau_reports` turns each
//! reportable event (an application decided, a loan issued, a payment, a fall overdue, a close)
//! into an effect of kind `bureau_report` with its legal deadline in working days; `k911 bureau
//! export` writes the reports due as a file and marks them sent.
//!
//! The bureaus' exchange formats (NBKI's RUTDF and its XML form) are given to lenders under
//! contract; no public specification could be confirmed, so the file is JSON Lines in a layout
//! documented in the README, its blocks named after RUTDF's (758-П's numbering): `C1_NAME`,
//! `C3_BIRTH`, `C4_ID`, `C8_REGADDR` for the subject, `C17_UID` and the deal's figures.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use cqrs_es::Aggregate;
use k911_aggregates::calendar::moscow_date;
use k911_aggregates::credit_report::{CreditEvent, CreditReport, ReportingRules};
use k911_aggregates::loan::{Loan, LoanEvent, LoanEventType};
use k911_aggregates::loan_application::applicant::Applicant;
use k911_aggregates::loan_application::{
    LoanApplication, LoanApplicationEvent, LoanApplicationEventType,
};
use k911_event_store::follower::{payload, BatchTx, Follower, FollowerError, Kind};
use k911_event_store::keys::KeyError;
use k911_event_store::log::RecordedEvent;
use k911_event_store::outbox::{self, Effect};
use k911_event_store::store::Store;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::app::Core;
use crate::Error;

/// The id of the report an event at `position` owes.
fn report_id(position: i64) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6b39_3131_6275_7265_6175_0000_0000_0001);
    Uuid::new_v5(&NAMESPACE, format!("bureau/{position}").as_bytes())
}

/// Process manager `bureau_reports`.
pub struct BureauReports {
    pub(crate) rules: ReportingRules,
}

#[async_trait]
impl Follower for BureauReports {
    fn name(&self) -> &'static str {
        "bureau_reports"
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            LoanApplicationEventType::ApplicationApproved.into(),
            LoanApplicationEventType::ApplicationRejected.into(),
            LoanEventType::LoanIssued.into(),
            LoanEventType::PaymentReceived.into(),
            LoanEventType::LoanFellOverdue.into(),
            LoanEventType::LoanRepaid.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ProcessManager
    }

    /// Reports are due in days: read in batches, out of the loans' way.
    fn trails(&self) -> bool {
        true
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        let bad = |e: &dyn std::fmt::Display| FollowerError::bad_event(event, e.to_string());
        // The day of the event is its own (the service's clock), not when the row was written.
        let (customer_id, application_id, credit_event, occurred_on) =
            if event.of::<LoanApplication>() {
                let (credit_event, at) = match payload(event)? {
                    LoanApplicationEvent::ApplicationApproved {
                        amount,
                        approved_at,
                        ..
                    } => (CreditEvent::ApplicationApproved { amount }, approved_at),
                    LoanApplicationEvent::ApplicationRejected { rejected_at, .. } => {
                        (CreditEvent::ApplicationRejected, rejected_at)
                    }
                    _ => return Ok(()),
                };
                let submitted = tx
                    .first_payload(LoanApplication::TYPE, &event.aggregate_id)
                    .await?;
                let Ok(LoanApplicationEvent::ApplicationSubmitted { customer_id, .. }) =
                    serde_json::from_value(submitted)
                else {
                    return Err(bad(&"an application without its submission"));
                };
                let application_id = event.aggregate_id.parse().map_err(|e| bad(&e))?;
                (customer_id, application_id, credit_event, moscow_date(at))
            } else if event.of::<Loan>() {
                let offered = tx.first_payload(Loan::TYPE, &event.aggregate_id).await?;
                let Ok(LoanEvent::LoanOffered {
                    terms, psk_percent, ..
                }) = serde_json::from_value(offered)
                else {
                    return Err(bad(&"a loan without its offer"));
                };
                let loan_id: Uuid = event.aggregate_id.parse().map_err(|e| bad(&e))?;
                let contract_number = terms.contract_number.to_string();
                let (credit_event, on) = match payload(event)? {
                    LoanEvent::LoanIssued {
                        due_on, issued_on, ..
                    } => (
                        CreditEvent::LoanIssued {
                            loan_id,
                            contract_number,
                            principal: terms.principal,
                            psk_percent,
                            due_on,
                        },
                        issued_on,
                    ),
                    LoanEvent::PaymentReceived {
                        amount, paid_on, ..
                    } => (
                        CreditEvent::Payment {
                            loan_id,
                            contract_number,
                            amount,
                        },
                        paid_on,
                    ),
                    LoanEvent::LoanFellOverdue { on } => (
                        CreditEvent::Overdue {
                            loan_id,
                            contract_number,
                        },
                        on,
                    ),
                    LoanEvent::LoanRepaid { closed_on } => (
                        CreditEvent::Closed {
                            loan_id,
                            contract_number,
                        },
                        closed_on,
                    ),
                    _ => return Ok(()),
                };
                (terms.customer_id, terms.application_id, credit_event, on)
            } else {
                return Ok(());
            };
        let report = CreditReport {
            customer_id,
            application_id,
            event: credit_event,
            occurred_on,
            position: event.position(),
            deadline: self.rules.deadline(occurred_on),
        };
        outbox::enqueue_report(tx.transaction(), report_id(event.position()), report).await?;
        Ok(())
    }
}

/// Where the reports owed stand: for `/metrics` and the compliance page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportsDue {
    pub pending: i64,
    /// Due today or tomorrow.
    pub due_soon: i64,
    /// Past their deadline, unsent.
    pub overdue: i64,
}

/// What an export took: the reports written, and those of people whose data was erased
/// meanwhile (nothing to send; marked with why).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exported {
    pub written: Vec<Uuid>,
    pub erased: Vec<Uuid>,
}

/// Credit bureau reports as the export and the compliance side see them.
#[derive(Clone)]
pub struct Bureau {
    pub(crate) core: Core,
    pub(crate) application_store: Arc<Store<LoanApplication>>,
}

impl Bureau {
    /// The reports pending as of `today`.
    pub async fn due(&self, today: NaiveDate) -> Result<ReportsDue, Error> {
        let row = self
            .core
            .db
            .pg
            .get()
            .await?
            .query_one(
                "SELECT count(*),
                        count(*) FILTER (WHERE due_on BETWEEN $1 AND $1 + 1),
                        count(*) FILTER (WHERE due_on < $1)
                   FROM effects WHERE kind = 'bureau_report' AND status = 'pending'",
                &[&today],
            )
            .await?;
        Ok(ReportsDue {
            pending: row.get(0),
            due_soon: row.get(1),
            overdue: row.get(2),
        })
    }

    /// Writes every pending report of an event on or before `through` (oldest first, one JSON
    /// line each) to `out`; [`Self::mark_sent`] marks them once the file is safely in place.
    pub async fn export(
        &self,
        through: NaiveDate,
        out: &mut impl std::io::Write,
    ) -> Result<Exported, Error> {
        let rows = self
            .core
            .db
            .pg
            .get()
            .await?
            .query(
                "SELECT id, request FROM effects
                  WHERE kind = 'bureau_report' AND status = 'pending'
                    AND (request -> 'BureauReport' ->> 'occurred_on')::date <= $1
                  ORDER BY (request -> 'BureauReport' ->> 'position')::bigint",
                &[&through],
            )
            .await?;
        let mut exported = Exported::default();
        for row in rows {
            let id: Uuid = row.get(0);
            let Ok(Effect::BureauReport(report)) = serde_json::from_value(row.get(1)) else {
                return Err(Error::Storage(format!(
                    "effect {id} is not a bureau report"
                )));
            };
            match self.record(id, &report).await? {
                Some(line) => {
                    let mut text = serde_json::to_vec(&line).expect("JSON values serialize");
                    text.push(b'\n');
                    out.write_all(&text)
                        .map_err(|e| Error::Storage(format!("writing the file: {e}")))?;
                    exported.written.push(id);
                }
                None => exported.erased.push(id),
            }
        }
        Ok(exported)
    }

    /// Marks the reports of an export done, each with what became of it (once: a report marked
    /// already is left alone).
    pub async fn mark_sent(&self, exported: &Exported, file: &str) -> Result<(), Error> {
        let client = self.core.db.pg.get().await?;
        for (ids, note) in [
            (&exported.written, format!("exported to {file}")),
            (
                &exported.erased,
                "personal data erased: nothing sent".to_string(),
            ),
        ] {
            client
                .execute(
                    "UPDATE effects SET status = 'done', done_at = now(), note = $2
                      WHERE id = ANY($1) AND kind = 'bureau_report' AND status = 'pending'",
                    &[ids, &note],
                )
                .await?;
        }
        Ok(())
    }

    /// One report as the file carries it; `None` when the subject's data was erased.
    async fn record(&self, id: Uuid, report: &CreditReport) -> Result<Option<Value>, Error> {
        let application: LoanApplication = self
            .core
            .load(&self.application_store, report.application_id)
            .await?;
        let Some((applicant, _)) = application.profile() else {
            return Err(Error::Storage(format!(
                "report {id}: application {} has no applicant",
                report.application_id
            )));
        };
        let applicant: Applicant = match self.core.keys.open(applicant).await {
            Ok(applicant) => applicant,
            Err(KeyError::Erased(_)) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let passport = &applicant.passport;
        Ok(Some(json!({
            "uid": id,
            "event": report.event.code(),
            "occurred_on": report.occurred_on,
            "deadline": report.deadline,
            "subject": {
                "customer_id": report.customer_id,
                "C1_NAME": {
                    "last_name": applicant.last_name,
                    "first_name": applicant.first_name,
                    "middle_name": applicant.middle_name,
                },
                "C3_BIRTH": {"birth_date": applicant.birth_date, "birth_place": applicant.birth_place},
                "C4_ID": {
                    "document": "21",
                    "series": passport.series,
                    "number": passport.number,
                    "issued_on": passport.issued_on,
                    "issued_by": passport.issued_by,
                    "division_code": passport.division_code,
                },
                "C8_REGADDR": applicant.registration_address,
            },
            "application_id": report.application_id,
            "details": report.event,
        })))
    }
}
