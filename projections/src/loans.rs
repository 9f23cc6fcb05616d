//! `read.loans` and `read.loan_payments`: every loan with what is owed on it, and every payment
//! with how it was applied; `read.unmatched_payments`: money no loan could take. The cabinet's
//! obligations view, the staff and analysts read these.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use k911_aggregates::incoming_payment::{IncomingPayment, IncomingPaymentEvent};
use k911_aggregates::incoming_payment::{IncomingPaymentEventType, PaymentChannel};
use k911_aggregates::loan::course::Course;
use k911_aggregates::loan::ledger::{Allocation, Debt};
use k911_aggregates::loan::reminders::ReminderRules;
use k911_aggregates::loan::LoanEventType;
use k911_aggregates::loan::{Loan, LoanEvent, OfferTerms};
use k911_aggregates::regions::LocalTimeZone;
use k911_event_store::log::RecordedEvent;
use tokio_postgres::types::{Json, Type};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::reader::{ReadError, Reader};
use k911_event_store::follower::{aggregate_uuid, payload, BatchTx, Follower, FollowerError, Kind};

k911_event_store::text_enum! {
    /// Where a loan stands in `read.loans` (the aggregate's own states, less those no row has).
    #[derive(utoipa::ToSchema)]
    pub enum LoanState {
        Offered,
        /// Unsigned in time, or signing was refused.
        Expired,
        Signed,
        PayoutRequested,
        /// The provider could not pay out: the loan was never issued.
        PayoutFailed,
        /// Issued and not yet repaid (overdue or not).
        Active,
        Closed,
    }
}

k911_event_store::text_enum! {
    /// The latest refund of money held for the borrower.
    #[derive(utoipa::ToSchema)]
    pub enum RefundState {
        Pending,
        Paid,
        Failed,
    }
}

k911_event_store::text_enum! {
    /// Where a payment no loan could take stands.
    pub enum UnmatchedState {
        /// In the staff's queue.
        Waiting,
        /// Matched by staff to a loan.
        Matched,
    }
}

/// An update of one loan's row that also records the event's position: `$1` is the loan, `$2`
/// the position.
macro_rules! set {
    ($columns:literal) => {
        concat!(
            "UPDATE read.loans SET ",
            $columns,
            ", last_position = $2 WHERE loan_id = $1"
        )
    };
}

pub struct Loans;

/// The reminders of a batch, counted per loan and written with one UPDATE: nothing else in the
/// batch touches their columns.
#[derive(Default)]
struct Reminders(HashMap<Uuid, (i32, DateTime<Utc>, i64)>);

impl Reminders {
    fn add(&mut self, loan_id: Uuid, sent_at: DateTime<Utc>, at: i64) {
        let entry = self.0.entry(loan_id).or_insert((0, sent_at, at));
        *entry = (entry.0 + 1, sent_at, at);
    }

    async fn write(self, tx: &BatchTx<'_>) -> Result<(), FollowerError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let (mut ids, mut counts, mut last, mut at) = (vec![], vec![], vec![], vec![]);
        for (loan_id, (count, sent_at, position)) in self.0 {
            ids.push(loan_id);
            counts.push(count);
            last.push(sent_at);
            at.push(position);
        }
        tx.execute(
            "UPDATE read.loans l
                SET reminders_sent = l.reminders_sent + d.count, last_reminder_at = d.sent_at,
                    last_position = GREATEST(l.last_position, d.at)
               FROM UNNEST($1::uuid[], $2::int[], $3::timestamptz[], $4::bigint[])
                    AS d (loan_id, count, sent_at, at)
              WHERE l.loan_id = d.loan_id",
            &[&ids, &counts, &last, &at],
        )
        .await?;
        Ok(())
    }
}

/// The plain facts a batch's events set on its loans (status, dates, payout, time zone), the
/// later event's winning, written with one UPDATE at the batch's end: no statement of the batch
/// reads them, and a loan offered in the batch has its row by then.
#[derive(Default)]
struct Facts(HashMap<Uuid, Fact>);

#[derive(Default)]
struct Fact {
    status: Option<LoanState>,
    signed_at: Option<DateTime<Utc>>,
    contract_date: Option<NaiveDate>,
    payout_id: Option<Uuid>,
    issued_on: Option<NaiveDate>,
    due_on: Option<NaiveDate>,
    overdue_since: Option<NaiveDate>,
    closed_on: Option<NaiveDate>,
    time_zone: Option<String>,
    /// The last event's position.
    at: i64,
}

impl Facts {
    fn of(&mut self, loan_id: Uuid, at: i64) -> &mut Fact {
        let fact = self.0.entry(loan_id).or_default();
        fact.at = at;
        fact
    }

    async fn write(self, tx: &BatchTx<'_>) -> Result<(), FollowerError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut ids = vec![];
        let (mut status, mut signed_at, mut contract_date, mut payout_id) =
            (vec![], vec![], vec![], vec![]);
        let (mut issued_on, mut due_on, mut overdue_since, mut closed_on) =
            (vec![], vec![], vec![], vec![]);
        let (mut time_zone, mut at) = (vec![], vec![]);
        for (loan_id, fact) in self.0 {
            ids.push(loan_id);
            status.push(fact.status.map(|s| s.as_str().to_string()));
            signed_at.push(fact.signed_at);
            contract_date.push(fact.contract_date);
            payout_id.push(fact.payout_id);
            issued_on.push(fact.issued_on);
            due_on.push(fact.due_on);
            overdue_since.push(fact.overdue_since);
            closed_on.push(fact.closed_on);
            time_zone.push(fact.time_zone);
            at.push(fact.at);
        }
        tx.execute(
            "UPDATE read.loans l
                SET status = COALESCE(d.status, l.status),
                    signed_at = COALESCE(d.signed_at, l.signed_at),
                    contract_date = COALESCE(d.contract_date, l.contract_date),
                    payout_id = COALESCE(d.payout_id, l.payout_id),
                    issued_on = COALESCE(d.issued_on, l.issued_on),
                    due_on = COALESCE(d.due_on, l.due_on),
                    overdue_since = COALESCE(d.overdue_since, l.overdue_since),
                    closed_on = COALESCE(d.closed_on, l.closed_on),
                    time_zone = COALESCE(d.time_zone, l.time_zone),
                    last_position = GREATEST(l.last_position, d.at)
               FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::date[], $5::uuid[],
                           $6::date[], $7::date[], $8::date[], $9::date[], $10::text[],
                           $11::bigint[])
                    AS d (loan_id, status, signed_at, contract_date, payout_id, issued_on,
                          due_on, overdue_since, closed_on, time_zone, at)
              WHERE l.loan_id = d.loan_id",
            &[
                &ids,
                &status,
                &signed_at,
                &contract_date,
                &payout_id,
                &issued_on,
                &due_on,
                &overdue_since,
                &closed_on,
                &time_zone,
                &at,
            ],
        )
        .await?;
        Ok(())
    }
}

/// The payments of a batch: their rows inserted with one statement, each loan's paid and held
/// money moved with one more. Written before any later statement of the batch on what they touch
/// (a refund, a ledger correction), so the log's order holds.
#[derive(Default)]
struct Receipts {
    rows: Vec<Receipt>,
}

struct Receipt {
    loan_id: Uuid,
    channel: &'static str,
    external_id: String,
    amount: i64,
    paid_at: DateTime<Utc>,
    paid_on: NaiveDate,
    allocation: Allocation,
    position: i64,
}

impl Receipts {
    async fn write(&mut self, tx: &BatchTx<'_>) -> Result<(), FollowerError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let column = |f: fn(&Receipt) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
        let loan_ids: Vec<Uuid> = rows.iter().map(|r| r.loan_id).collect();
        let channels: Vec<&str> = rows.iter().map(|r| r.channel).collect();
        let external_ids: Vec<&str> = rows.iter().map(|r| r.external_id.as_str()).collect();
        let paid_at: Vec<DateTime<Utc>> = rows.iter().map(|r| r.paid_at).collect();
        let paid_on: Vec<NaiveDate> = rows.iter().map(|r| r.paid_on).collect();
        let (amounts, held, positions) = (
            column(|r| r.amount),
            column(|r| r.allocation.held.get()),
            column(|r| r.position),
        );
        tx.execute(
            "UPDATE read.loans l
                SET paid_kopecks = l.paid_kopecks + d.paid,
                    held_kopecks = l.held_kopecks + d.held,
                    last_position = GREATEST(l.last_position, d.at)
               FROM (SELECT loan_id, sum(paid)::bigint AS paid, sum(held)::bigint AS held,
                            max(at) AS at
                       FROM UNNEST($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[])
                            AS u (loan_id, paid, held, at)
                      GROUP BY loan_id) d
              WHERE l.loan_id = d.loan_id",
            &[&loan_ids, &amounts, &held, &positions],
        )
        .await?;
        tx.execute(
            "INSERT INTO read.loan_payments (channel, external_id, loan_id, amount_kopecks,
                 paid_at, paid_on, to_overdue_interest, to_overdue_principal,
                 to_current_interest, to_current_principal, to_penalty, to_other,
                 held_kopecks, position)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::uuid[], $4::bigint[],
                                  $5::timestamptz[], $6::date[], $7::bigint[], $8::bigint[],
                                  $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[],
                                  $13::bigint[], $14::bigint[])",
            &[
                &channels,
                &external_ids,
                &loan_ids,
                &amounts,
                &paid_at,
                &paid_on,
                &column(|r| r.allocation.applied.overdue_interest.get()),
                &column(|r| r.allocation.applied.overdue_principal.get()),
                &column(|r| r.allocation.applied.current_interest.get()),
                &column(|r| r.allocation.applied.current_principal.get()),
                &column(|r| r.allocation.applied.penalty.get()),
                &column(|r| r.allocation.applied.other.get()),
                &held,
                &positions,
            ],
        )
        .await?;
        Ok(())
    }
}

/// What a batch's events change of the loans, written at its end (its offers first, so every
/// later statement finds their rows), or earlier before a statement of its own on the same rows.
#[derive(Default)]
struct Pending {
    offers: Offers,
    courses: Courses,
    facts: Facts,
    receipts: Receipts,
    reminders: Reminders,
}

/// The loans a batch offers: their rows inserted with one statement, each with what the rest of
/// the batch did to it so far (its facts, its course), so that a loan offered, signed and paid
/// out in one batch (a rebuild, a catch-up) is written once. Written before any other statement
/// of the batch on the loans' rows, so that those find them.
#[derive(Default)]
struct Offers(Vec<Offer>);

struct Offer {
    loan_id: Uuid,
    terms: OfferTerms,
    interest_for_term: i64,
    total_to_repay: i64,
    psk_percent: String,
    offered_at: DateTime<Utc>,
    position: i64,
}

impl Offers {
    async fn write(
        &mut self,
        tx: &BatchTx<'_>,
        courses: &mut Courses,
        facts: &mut Facts,
    ) -> Result<(), FollowerError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let offers = std::mem::take(&mut self.0);
        let mut c = OfferColumns::default();
        for offer in offers {
            let terms = &offer.terms;
            let fact = facts.0.remove(&offer.loan_id).unwrap_or_default();
            let course = courses.known.get(&offer.loan_id).cloned();
            // A course the batch moved carries the loan's figures; an offer's own has none yet.
            let moved = courses.moved.remove(&offer.loan_id);
            let figures = moved.and(course.as_ref());
            c.ids.push(offer.loan_id);
            c.application_ids.push(terms.application_id);
            c.customer_ids.push(terms.customer_id);
            c.contract_numbers
                .push(terms.contract_number.as_str().to_string());
            c.status
                .push(fact.status.unwrap_or(LoanState::Offered).as_str());
            c.principal.push(terms.principal.get());
            c.term_days.push(i32::from(terms.term_days));
            c.daily_rate.push(terms.daily_rate.to_string());
            c.psk_percent.push(offer.psk_percent);
            c.interest_for_term.push(offer.interest_for_term);
            c.total_to_repay.push(offer.total_to_repay);
            c.contract_date
                .push(fact.contract_date.unwrap_or(terms.contract_date));
            c.offered_at.push(offer.offered_at);
            c.expires_at.push(terms.expires_at);
            c.pdn_percent.push(terms.pdn_percent.map(|p| p.to_string()));
            c.time_zone.push(
                fact.time_zone
                    .unwrap_or_else(|| terms.time_zone.to_string()),
            );
            c.signed_at.push(fact.signed_at);
            c.payout_id.push(fact.payout_id);
            c.issued_on.push(fact.issued_on);
            c.due_on.push(fact.due_on);
            c.overdue_since.push(fact.overdue_since);
            c.closed_on.push(fact.closed_on);
            c.accrued_through
                .push(figures.and_then(|course| course.accrued_through));
            c.outstanding_principal
                .push(figures.map_or(0, |course| course.debt.principal().get()));
            c.outstanding_interest
                .push(figures.map_or(0, |course| course.debt.interest().get()));
            c.outstanding_penalty
                .push(figures.map_or(0, |course| course.debt.penalty.get()));
            c.courses
                .push(Json(course.unwrap_or_else(|| Course::offered(terms))));
            c.at.push(offer.position.max(fact.at).max(moved.unwrap_or(0)));
        }
        tx.execute(
            "INSERT INTO read.loans (loan_id, application_id, customer_id, contract_number,
                 status, principal_kopecks, term_days, daily_rate, psk_percent,
                 interest_for_term_kopecks, total_to_repay_kopecks, contract_date, offered_at,
                 expires_at, pdn_percent, time_zone, signed_at, payout_id, issued_on, due_on,
                 overdue_since, closed_on, accrued_through, outstanding_principal_kopecks,
                 outstanding_interest_kopecks, outstanding_penalty_kopecks, course,
                 last_position)
             SELECT id, application_id, customer_id, contract_number, status, principal, term,
                    rate::numeric, psk::numeric, interest, total, contract_date, offered_at,
                    expires_at, pdn::numeric, time_zone, signed_at, payout_id, issued_on, due_on,
                    overdue_since, closed_on, accrued_through, owed_principal, owed_interest,
                    owed_penalty, course, at
               FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
                           $6::bigint[], $7::int[], $8::text[], $9::text[], $10::bigint[],
                           $11::bigint[], $12::date[], $13::timestamptz[], $14::timestamptz[],
                           $15::text[], $16::text[], $17::timestamptz[], $18::uuid[],
                           $19::date[], $20::date[], $21::date[], $22::date[], $23::date[],
                           $24::bigint[], $25::bigint[], $26::bigint[], $27::jsonb[],
                           $28::bigint[])
                    AS d (id, application_id, customer_id, contract_number, status, principal,
                          term, rate, psk, interest, total, contract_date, offered_at,
                          expires_at, pdn, time_zone, signed_at, payout_id, issued_on, due_on,
                          overdue_since, closed_on, accrued_through, owed_principal,
                          owed_interest, owed_penalty, course, at)",
            &[
                &c.ids,
                &c.application_ids,
                &c.customer_ids,
                &c.contract_numbers,
                &c.status,
                &c.principal,
                &c.term_days,
                &c.daily_rate,
                &c.psk_percent,
                &c.interest_for_term,
                &c.total_to_repay,
                &c.contract_date,
                &c.offered_at,
                &c.expires_at,
                &c.pdn_percent,
                &c.time_zone,
                &c.signed_at,
                &c.payout_id,
                &c.issued_on,
                &c.due_on,
                &c.overdue_since,
                &c.closed_on,
                &c.accrued_through,
                &c.outstanding_principal,
                &c.outstanding_interest,
                &c.outstanding_penalty,
                &c.courses,
                &c.at,
            ],
        )
        .await?;
        Ok(())
    }
}

/// The columns of [`Offers`]' INSERT.
#[derive(Default)]
struct OfferColumns {
    ids: Vec<Uuid>,
    application_ids: Vec<Uuid>,
    customer_ids: Vec<Uuid>,
    contract_numbers: Vec<String>,
    status: Vec<&'static str>,
    principal: Vec<i64>,
    term_days: Vec<i32>,
    daily_rate: Vec<String>,
    psk_percent: Vec<String>,
    interest_for_term: Vec<i64>,
    total_to_repay: Vec<i64>,
    contract_date: Vec<NaiveDate>,
    offered_at: Vec<DateTime<Utc>>,
    expires_at: Vec<DateTime<Utc>>,
    pdn_percent: Vec<Option<String>>,
    time_zone: Vec<String>,
    signed_at: Vec<Option<DateTime<Utc>>>,
    payout_id: Vec<Option<Uuid>>,
    issued_on: Vec<Option<NaiveDate>>,
    due_on: Vec<Option<NaiveDate>>,
    overdue_since: Vec<Option<NaiveDate>>,
    closed_on: Vec<Option<NaiveDate>>,
    accrued_through: Vec<Option<NaiveDate>>,
    outstanding_principal: Vec<i64>,
    outstanding_interest: Vec<i64>,
    outstanding_penalty: Vec<i64>,
    courses: Vec<Json<Course>>,
    at: Vec<i64>,
}

/// The courses of the loans a batch moves ([`Course::apply`], the aggregate's own), read with
/// one statement at its start and written with one at its end, with the figures derived from them.
#[derive(Default)]
struct Courses {
    known: HashMap<Uuid, Course>,
    /// The loans moved, with the position of the last event that moved each.
    moved: HashMap<Uuid, i64>,
}

impl Courses {
    async fn load(tx: &BatchTx<'_>, loan_ids: &[Uuid]) -> Result<Self, FollowerError> {
        let rows = tx
            .query(
                "SELECT loan_id, course FROM read.loans WHERE loan_id = ANY($1)",
                &[&loan_ids],
            )
            .await?;
        let known = rows
            .iter()
            .map(|row| (row.get(0), row.get::<_, Json<Course>>(1).0))
            .collect();
        Ok(Self {
            known,
            moved: HashMap::new(),
        })
    }

    /// A new loan's course, written by the row's INSERT.
    fn offered(&mut self, loan_id: Uuid, course: Course) {
        self.known.insert(loan_id, course);
    }

    /// Moves the loan's course by `event` (a loan without a row has none to move, as an UPDATE
    /// of a missing row changes nothing).
    fn follow(&mut self, loan_id: Uuid, event: &LoanEvent, at: i64) {
        if let Some(course) = self.known.get_mut(&loan_id) {
            let before = course.clone();
            course.apply(event);
            if *course != before {
                self.moved.insert(loan_id, at);
            }
        }
    }

    async fn write(mut self, tx: &BatchTx<'_>) -> Result<(), FollowerError> {
        if self.moved.is_empty() {
            return Ok(());
        }
        let mut columns = (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for (loan_id, at) in self.moved {
            let Some(course) = self.known.remove(&loan_id) else {
                continue;
            };
            columns.0.push(loan_id);
            columns.1.push(course.accrued_through);
            columns.2.push(course.debt.principal().get());
            columns.3.push(course.debt.interest().get());
            columns.4.push(course.debt.penalty.get());
            columns.5.push(at);
            columns.6.push(Json(course));
        }
        tx.execute(
            "UPDATE read.loans l
                SET accrued_through = d.through, outstanding_principal_kopecks = d.principal,
                    outstanding_interest_kopecks = d.interest,
                    outstanding_penalty_kopecks = d.penalty, course = d.course,
                    last_position = GREATEST(l.last_position, d.at)
               FROM UNNEST($1::uuid[], $2::date[], $3::bigint[], $4::bigint[], $5::bigint[],
                           $6::bigint[], $7::jsonb[])
                    AS d (loan_id, through, principal, interest, penalty, at, course)
              WHERE l.loan_id = d.loan_id",
            &[
                &columns.0, &columns.1, &columns.2, &columns.3, &columns.4, &columns.5, &columns.6,
            ],
        )
        .await?;
        Ok(())
    }
}

pub const NAME: &str = "loans";

const CREATE: &str = r#"
CREATE TABLE IF NOT EXISTS read.loans (
    loan_id                       uuid PRIMARY KEY,
    application_id                uuid        NOT NULL,
    customer_id                   uuid        NOT NULL,
    contract_number               text        NOT NULL,
    status                        text        NOT NULL,
    principal_kopecks             bigint      NOT NULL,
    term_days                     integer     NOT NULL,
    daily_rate                    numeric     NOT NULL,
    psk_percent                   numeric     NOT NULL,
    pdn_percent                   numeric,
    interest_for_term_kopecks     bigint      NOT NULL,
    total_to_repay_kopecks        bigint      NOT NULL,
    contract_date                 date        NOT NULL,
    offered_at                    timestamptz NOT NULL,
    expires_at                    timestamptz NOT NULL,
    signed_at                     timestamptz,
    payout_id                     uuid,
    issued_on                     date,
    due_on                        date,
    overdue_since                 date,
    closed_on                     date,
    accrued_through               date,
    outstanding_principal_kopecks bigint      NOT NULL DEFAULT 0,
    outstanding_interest_kopecks  bigint      NOT NULL DEFAULT 0,
    outstanding_penalty_kopecks   bigint      NOT NULL DEFAULT 0,
    paid_kopecks                  bigint      NOT NULL DEFAULT 0,
    held_kopecks                  bigint      NOT NULL DEFAULT 0,
    refund_id                     uuid,
    refund_status                 text,
    refund_kopecks                bigint      NOT NULL DEFAULT 0,
    refunded_kopecks              bigint      NOT NULL DEFAULT 0,
    reminders_sent                integer     NOT NULL DEFAULT 0,
    last_reminder_at              timestamptz,
    time_zone                     text        NOT NULL DEFAULT 'Europe/Moscow',
    last_position                 bigint      NOT NULL,
    course                        jsonb       NOT NULL
);
ALTER TABLE read.loans ADD COLUMN IF NOT EXISTS time_zone text NOT NULL DEFAULT 'Europe/Moscow';
COMMENT ON COLUMN read.loans.time_zone IS
    'The borrower''s local time zone (IANA): reminders keep 230-FZ quiet hours in it.';
CREATE INDEX IF NOT EXISTS loans_customer ON read.loans (customer_id, offered_at);
CREATE INDEX IF NOT EXISTS loans_status ON read.loans (status);
-- The scheduler's lists (`Reader::due_loans`, `pending_refunds`), read every few seconds: each
-- finds its few loans without reading the book.
CREATE INDEX IF NOT EXISTS loans_falling_due ON read.loans (due_on)
    WHERE status = 'active' AND overdue_since IS NULL;
CREATE INDEX IF NOT EXISTS loans_never_reminded ON read.loans (time_zone, due_on)
    WHERE status = 'active' AND last_reminder_at IS NULL;
CREATE INDEX IF NOT EXISTS loans_reminded ON read.loans (time_zone, last_reminder_at)
    WHERE status = 'active';
CREATE INDEX IF NOT EXISTS loans_refund_pending ON read.loans (loan_id)
    WHERE refund_status = 'pending';
COMMENT ON TABLE read.loans IS 'Loans from offer to repayment, with what is owed now.';
COMMENT ON COLUMN read.loans.loan_id IS 'The Loan aggregate''s id.';
COMMENT ON COLUMN read.loans.application_id IS 'The approved application the offer came from.';
COMMENT ON COLUMN read.loans.customer_id IS 'The borrower (read.customers).';
COMMENT ON COLUMN read.loans.contract_number IS 'The contract number payers quote, e.g. 911-261127-000001.';
COMMENT ON COLUMN read.loans.principal_kopecks IS 'The amount lent, in kopecks.';
COMMENT ON COLUMN read.loans.term_days IS 'The term, in days from the payout.';
COMMENT ON COLUMN read.loans.daily_rate IS 'Interest, percent a day (e.g. 0.8).';
COMMENT ON COLUMN read.loans.interest_for_term_kopecks IS 'Interest for the whole term if repaid on the due day, in kopecks.';
COMMENT ON COLUMN read.loans.total_to_repay_kopecks IS 'Principal and interest for the term, in kopecks.';
COMMENT ON COLUMN read.loans.offered_at IS 'When the offer was made.';
COMMENT ON COLUMN read.loans.expires_at IS 'When the offer lapses unsigned.';
COMMENT ON COLUMN read.loans.signed_at IS 'When the borrower signed with the SMS code.';
COMMENT ON COLUMN read.loans.payout_id IS 'The payout''s id at the provider (its idempotency key).';
COMMENT ON COLUMN read.loans.issued_on IS 'The day the money was paid out (Europe/Moscow): interest runs from the next day.';
COMMENT ON COLUMN read.loans.due_on IS 'The day the loan is due back.';
COMMENT ON COLUMN read.loans.closed_on IS 'The day it was repaid in full.';
COMMENT ON COLUMN read.loans.accrued_through IS
    'The last day charges were recorded for (charges are recorded where their course changes: '
    'a payment, the fall overdue); the outstanding_* columns are as of its end.';
COMMENT ON COLUMN read.loans.outstanding_principal_kopecks IS 'Principal still owed as of accrued_through, in kopecks.';
COMMENT ON COLUMN read.loans.outstanding_interest_kopecks IS 'Interest charged and not yet paid as of accrued_through, in kopecks.';
COMMENT ON COLUMN read.loans.outstanding_penalty_kopecks IS 'Penalty charged and not yet paid as of accrued_through, in kopecks.';
COMMENT ON COLUMN read.loans.course IS
    'What the charges follow from and where they stood at accrued_through (principal, daily rate, '
    'the law''s edition, due date, the debt by part, charged so far): the cabinet derives any later '
    'day''s figures from it with the Loan aggregate''s own rules (k911_aggregates::loan::course).';
COMMENT ON COLUMN read.loans.paid_kopecks IS 'Everything paid so far, in kopecks.';
COMMENT ON COLUMN read.loans.refund_id IS 'The latest refund''s id at the provider (null: none asked).';
COMMENT ON COLUMN read.loans.refund_kopecks IS 'The latest refund''s amount, in kopecks.';
COMMENT ON COLUMN read.loans.refunded_kopecks IS 'Everything refunded so far, in kopecks.';
COMMENT ON COLUMN read.loans.last_reminder_at IS 'When the last payment reminder went out (230-FZ limits count from it).';
COMMENT ON COLUMN read.loans.last_position IS 'The log position of the last event applied to the row.';
COMMENT ON COLUMN read.loans.status IS
    'offered | expired (unsigned in time, or signing refused) | signed | payout_requested | '
    'payout_failed | active | closed';
COMMENT ON COLUMN read.loans.contract_date IS
    'The day (Europe/Moscow) the contract was concluded: the offer''s day until signed.';
COMMENT ON COLUMN read.loans.psk_percent IS 'Full cost of credit, 353-FZ art. 6, % a year.';
COMMENT ON COLUMN read.loans.pdn_percent IS 'Debt-to-income ratio with this loan, %.';
COMMENT ON COLUMN read.loans.overdue_since IS 'First overdue day, if the due date passed unpaid.';
COMMENT ON COLUMN read.loans.held_kopecks IS 'Overpayments held for the borrower.';
COMMENT ON COLUMN read.loans.refund_status IS
    'The latest refund of held money: pending | paid | failed (null: none asked).';
COMMENT ON COLUMN read.loans.reminders_sent IS 'Overdue reminders sent by SMS (230-FZ limits apply).';
CREATE TABLE IF NOT EXISTS read.loan_payments (
    channel                    text        NOT NULL,
    external_id                text        NOT NULL,
    loan_id                    uuid        NOT NULL,
    amount_kopecks             bigint      NOT NULL,
    paid_at                    timestamptz NOT NULL,
    paid_on                    date        NOT NULL,
    to_overdue_interest        bigint      NOT NULL,
    to_overdue_principal       bigint      NOT NULL,
    to_current_interest        bigint      NOT NULL,
    to_current_principal       bigint      NOT NULL,
    to_penalty                 bigint      NOT NULL,
    to_other                   bigint      NOT NULL,
    held_kopecks               bigint      NOT NULL,
    position                   bigint      NOT NULL,
    PRIMARY KEY (channel, external_id)
);
CREATE INDEX IF NOT EXISTS loan_payments_loan ON read.loan_payments (loan_id, position);
-- For analysts' reports by day (a month's repayments by day and channel): a range of days reads
-- that range, not the whole book's payments.
CREATE INDEX IF NOT EXISTS loan_payments_day ON read.loan_payments (paid_on, channel)
    INCLUDE (amount_kopecks);
COMMENT ON TABLE read.loan_payments IS
    'Repayments and how each was applied (353-FZ art. 5 part 20 order).';
COMMENT ON COLUMN read.loan_payments.channel IS 'Where the money came from: sberbank_online | terminal.';
COMMENT ON COLUMN read.loan_payments.external_id IS 'The channel''s own id of the payment: with channel, taken exactly once.';
COMMENT ON COLUMN read.loan_payments.loan_id IS 'The loan it was applied to (read.loans).';
COMMENT ON COLUMN read.loan_payments.amount_kopecks IS 'The amount paid, in kopecks.';
COMMENT ON COLUMN read.loan_payments.paid_at IS 'When the payer paid, as the channel says.';
COMMENT ON COLUMN read.loan_payments.paid_on IS 'The day paid (Europe/Moscow): interest counts to it.';
COMMENT ON COLUMN read.loan_payments.to_overdue_interest IS 'Applied to overdue interest, in kopecks (first in the law''s order).';
COMMENT ON COLUMN read.loan_payments.to_overdue_principal IS 'Applied to overdue principal, in kopecks.';
COMMENT ON COLUMN read.loan_payments.to_current_interest IS 'Applied to interest not yet due, in kopecks.';
COMMENT ON COLUMN read.loan_payments.to_current_principal IS 'Applied to principal not yet due, in kopecks.';
COMMENT ON COLUMN read.loan_payments.to_penalty IS 'Applied to the penalty, in kopecks.';
COMMENT ON COLUMN read.loan_payments.to_other IS 'Applied to other charges, in kopecks.';
COMMENT ON COLUMN read.loan_payments.held_kopecks IS 'What exceeded the debt: held for the borrower and refundable, in kopecks.';
COMMENT ON COLUMN read.loan_payments.position IS 'The log position of the payment''s event (the order payments were applied in).';
"#;

#[async_trait]
impl Follower for Loans {
    fn name(&self) -> &'static str {
        NAME
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            LoanEventType::LoanOffered.into(),
            LoanEventType::ContractSigned.into(),
            LoanEventType::SigningRefused.into(),
            LoanEventType::OfferExpired.into(),
            LoanEventType::PayoutRequested.into(),
            LoanEventType::LoanIssued.into(),
            LoanEventType::PayoutFailed.into(),
            LoanEventType::InterestAccrued.into(),
            LoanEventType::LoanFellOverdue.into(),
            LoanEventType::PaymentReceived.into(),
            LoanEventType::OverdueReminderSent.into(),
            LoanEventType::TimeZoneChanged.into(),
            LoanEventType::RefundRequested.into(),
            LoanEventType::OverpaymentRefunded.into(),
            LoanEventType::RefundFailed.into(),
            LoanEventType::LedgerCorrected.into(),
            LoanEventType::LoanRepaid.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ReadModel {
            create_sql: CREATE,
            tables: &["read.loans", "read.loan_payments"],
            views: &[],
        }
    }

    /// The money of a batch's loans moves through their courses ([`Courses`]), its reminders
    /// are counted ([`Reminders`]); every other change is a statement of its own, in log order.
    async fn apply_all(
        &self,
        tx: &BatchTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), FollowerError> {
        let mut loan_events = Vec::with_capacity(events.len());
        for event in events.iter().filter(|event| event.of::<Loan>()) {
            loan_events.push((event.position(), aggregate_uuid(event)?, payload(event)?));
        }
        // The courses this batch may move: not a reminder's, and not one its offer makes.
        let mut ids: Vec<Uuid> = loan_events
            .iter()
            .filter(|(_, _, event)| {
                !matches!(
                    event,
                    LoanEvent::OverdueReminderSent { .. } | LoanEvent::LoanOffered { .. }
                )
            })
            .map(|(_, id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut pending = Pending {
            courses: Courses::load(tx, &ids).await?,
            ..Pending::default()
        };
        for (p, loan_id, event) in loan_events {
            match event {
                LoanEvent::OverdueReminderSent { sent_at, .. } => {
                    pending.reminders.add(loan_id, sent_at, p)
                }
                event => {
                    pending.courses.follow(loan_id, &event, p);
                    self.record(tx, &mut pending, loan_id, p, event).await?;
                }
            }
        }
        pending
            .offers
            .write(tx, &mut pending.courses, &mut pending.facts)
            .await?;
        pending.receipts.write(tx).await?;
        pending.facts.write(tx).await?;
        pending.reminders.write(tx).await?;
        pending.courses.write(tx).await
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        self.apply_all(tx, std::slice::from_ref(event)).await
    }
}

impl Loans {
    /// What `event` changes of the loan beside its course and reminders: its facts, for the
    /// batch's end, or a statement of its own now.
    async fn record(
        &self,
        tx: &BatchTx<'_>,
        pending: &mut Pending,
        loan_id: Uuid,
        p: i64,
        event: LoanEvent,
    ) -> Result<(), FollowerError> {
        let Pending {
            offers,
            courses,
            facts,
            receipts,
            ..
        } = pending;
        if matches!(
            event,
            LoanEvent::RefundRequested { .. }
                | LoanEvent::OverpaymentRefunded { .. }
                | LoanEvent::RefundFailed { .. }
                | LoanEvent::LedgerCorrected { .. }
        ) {
            // Statements of their own on the loan's row: it must be there. They move held money
            // and payments' rows after the payments before them.
            offers.write(tx, courses, facts).await?;
            receipts.write(tx).await?;
        }
        match event {
            LoanEvent::LoanOffered {
                terms,
                interest_for_term,
                total_to_repay,
                psk_percent,
                offered_at,
            } => {
                courses.offered(loan_id, Course::offered(&terms));
                offers.0.push(Offer {
                    loan_id,
                    terms,
                    interest_for_term: interest_for_term.get(),
                    total_to_repay: total_to_repay.get(),
                    psk_percent: psk_percent.to_string(),
                    offered_at,
                    position: p,
                });
            }
            LoanEvent::ContractSigned {
                signed_at,
                contract_date,
                ..
            } => {
                // The contract's date is the day it was signed (events before 1.1: the offer's).
                let fact = facts.of(loan_id, p);
                fact.status = Some(LoanState::Signed);
                fact.signed_at = Some(signed_at);
                fact.contract_date = contract_date.or(fact.contract_date);
            }
            LoanEvent::OfferExpired { .. } | LoanEvent::SigningRefused { .. } => {
                facts.of(loan_id, p).status = Some(LoanState::Expired);
            }
            LoanEvent::PayoutRequested { payout_id, .. } => {
                let fact = facts.of(loan_id, p);
                fact.status = Some(LoanState::PayoutRequested);
                fact.payout_id = Some(payout_id);
            }
            LoanEvent::PayoutFailed { .. } => {
                facts.of(loan_id, p).status = Some(LoanState::PayoutFailed);
            }
            LoanEvent::LoanIssued {
                issued_on, due_on, ..
            } => {
                let fact = facts.of(loan_id, p);
                fact.status = Some(LoanState::Active);
                fact.issued_on = Some(issued_on);
                fact.due_on = Some(due_on);
            }
            // Their course only.
            LoanEvent::InterestAccrued { .. } | LoanEvent::OverdueReminderSent { .. } => {}
            LoanEvent::LoanFellOverdue { on } => facts.of(loan_id, p).overdue_since = Some(on),
            LoanEvent::PaymentReceived {
                channel,
                external_id,
                amount,
                paid_at,
                paid_on,
                allocation,
            } => receipts.rows.push(Receipt {
                loan_id,
                channel: channel.as_str(),
                external_id,
                amount: amount.get(),
                paid_at,
                paid_on,
                allocation,
                position: p,
            }),
            LoanEvent::RefundRequested {
                refund_id, amount, ..
            } => {
                tx.execute(
                    set!(
                        "refund_id = $3, refund_status = $5, refund_kopecks = $4,
                          held_kopecks = held_kopecks - $4"
                    ),
                    &[
                        &loan_id,
                        &p,
                        &refund_id,
                        &amount.get(),
                        &RefundState::Pending,
                    ],
                )
                .await?;
            }
            LoanEvent::OverpaymentRefunded { .. } => {
                tx.execute(
                    set!(
                        "refund_status = $3,
                          refunded_kopecks = refunded_kopecks + refund_kopecks"
                    ),
                    &[&loan_id, &p, &RefundState::Paid],
                )
                .await?;
            }
            LoanEvent::RefundFailed { .. } => {
                tx.execute(
                    set!("refund_status = $3, held_kopecks = held_kopecks + refund_kopecks"),
                    &[&loan_id, &p, &RefundState::Failed],
                )
                .await?;
            }
            LoanEvent::LedgerCorrected {
                held, allocations, ..
            } => {
                tx.execute(
                    set!(
                        "held_kopecks = greatest($3 - refunded_kopecks
                              - CASE WHEN refund_status = $4 THEN refund_kopecks ELSE 0 END,
                              0)"
                    ),
                    &[&loan_id, &p, &held.get(), &RefundState::Pending],
                )
                .await?;
                let column = |f: fn(&Allocation) -> i64| {
                    allocations
                        .iter()
                        .map(|(_, _, a)| f(a))
                        .collect::<Vec<i64>>()
                };
                let channels: Vec<&str> = allocations.iter().map(|(c, _, _)| c.as_str()).collect();
                let external_ids: Vec<&str> =
                    allocations.iter().map(|(_, e, _)| e.as_str()).collect();
                tx.execute(
                    "UPDATE read.loan_payments p
                        SET to_overdue_interest = d.oi, to_overdue_principal = d.op,
                            to_current_interest = d.ci, to_current_principal = d.cp,
                            to_penalty = d.pe, to_other = d.ot, held_kopecks = d.held
                       FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[],
                                   $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[],
                                   $9::bigint[])
                            AS d (channel, external_id, oi, op, ci, cp, pe, ot, held)
                      WHERE p.channel = d.channel AND p.external_id = d.external_id",
                    &[
                        &channels,
                        &external_ids,
                        &column(|a| a.applied.overdue_interest.get()),
                        &column(|a| a.applied.overdue_principal.get()),
                        &column(|a| a.applied.current_interest.get()),
                        &column(|a| a.applied.current_principal.get()),
                        &column(|a| a.applied.penalty.get()),
                        &column(|a| a.applied.other.get()),
                        &column(|a| a.held.get()),
                    ],
                )
                .await?;
            }
            LoanEvent::LoanRepaid { closed_on } => {
                let fact = facts.of(loan_id, p);
                fact.status = Some(LoanState::Closed);
                fact.closed_on = Some(closed_on);
            }
            LoanEvent::TimeZoneChanged { time_zone, .. } => {
                facts.of(loan_id, p).time_zone = Some(time_zone.to_string());
            }
            // Never offered: the application went back to the underwriters, no loan to show.
            LoanEvent::OfferRefused { .. } => {}
        }
        Ok(())
    }
}

/// A loan as `read.loans` holds it.
#[derive(Debug, Clone)]
pub struct LoanRow {
    pub loan_id: Uuid,
    pub application_id: Uuid,
    pub customer_id: Uuid,
    pub contract_number: String,
    pub status: LoanState,
    pub principal_kopecks: i64,
    pub term_days: i32,
    pub daily_rate: String,
    pub psk_percent: String,
    pub pdn_percent: Option<String>,
    pub interest_for_term_kopecks: i64,
    pub total_to_repay_kopecks: i64,
    pub contract_date: NaiveDate,
    pub time_zone: String,
    pub offered_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub signed_at: Option<DateTime<Utc>>,
    pub payout_id: Option<Uuid>,
    pub issued_on: Option<NaiveDate>,
    pub due_on: Option<NaiveDate>,
    pub overdue_since: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    /// The last day charged.
    pub accrued_through: Option<NaiveDate>,
    pub outstanding_principal_kopecks: i64,
    pub outstanding_interest_kopecks: i64,
    pub outstanding_penalty_kopecks: i64,
    pub paid_kopecks: i64,
    pub held_kopecks: i64,
    pub refund_id: Option<Uuid>,
    pub refund_status: Option<RefundState>,
    pub refunded_kopecks: i64,
    /// What the charges follow from, as of `accrued_through`.
    pub course: Course,
}

impl LoanRow {
    /// What is owed at the end of `today` (Europe/Moscow): the recorded figures with the days
    /// since charged by the loan's own rules. Nothing is owed before the payout.
    pub fn owed_on(&self, today: NaiveDate) -> Debt {
        match self.status {
            LoanState::Active => self.course.on(today).debt,
            LoanState::Closed => self.course.debt,
            _ => Debt::default(),
        }
    }

    fn from_row(row: &Row) -> Self {
        Self {
            loan_id: row.get("loan_id"),
            application_id: row.get("application_id"),
            customer_id: row.get("customer_id"),
            contract_number: row.get("contract_number"),
            status: row.get("status"),
            principal_kopecks: row.get("principal_kopecks"),
            term_days: row.get("term_days"),
            daily_rate: row.get("daily_rate_text"),
            psk_percent: row.get("psk_percent_text"),
            pdn_percent: row.get("pdn_percent_text"),
            interest_for_term_kopecks: row.get("interest_for_term_kopecks"),
            total_to_repay_kopecks: row.get("total_to_repay_kopecks"),
            contract_date: row.get("contract_date"),
            time_zone: row.get("time_zone"),
            offered_at: row.get("offered_at"),
            expires_at: row.get("expires_at"),
            signed_at: row.get("signed_at"),
            payout_id: row.get("payout_id"),
            issued_on: row.get("issued_on"),
            due_on: row.get("due_on"),
            overdue_since: row.get("overdue_since"),
            closed_on: row.get("closed_on"),
            accrued_through: row.get("accrued_through"),
            outstanding_principal_kopecks: row.get("outstanding_principal_kopecks"),
            outstanding_interest_kopecks: row.get("outstanding_interest_kopecks"),
            outstanding_penalty_kopecks: row.get("outstanding_penalty_kopecks"),
            paid_kopecks: row.get("paid_kopecks"),
            held_kopecks: row.get("held_kopecks"),
            refund_id: row.get("refund_id"),
            refund_status: row.get("refund_status"),
            refunded_kopecks: row.get("refunded_kopecks"),
            course: row.get::<_, Json<Course>>("course").0,
        }
    }
}

/// A loan's columns. Rates as written (`0.8`, `292.000`): the numeric columns are read as text.
macro_rules! loan_columns {
    () => {
        "l.*, l.daily_rate::text AS daily_rate_text, l.psk_percent::text AS psk_percent_text,
         l.pdn_percent::text AS pdn_percent_text"
    };
}

const SELECT_LOAN: &str = concat!("SELECT ", loan_columns!(), " FROM read.loans l");

/// Loans with their payments in the order applied: one statement, so one snapshot and one
/// round trip for the cabinet's page.
const SELECT_VIEW: &str = concat!(
    "SELECT ",
    loan_columns!(),
    ", (SELECT coalesce(json_agg(p ORDER BY p.position), '[]')
          FROM read.loan_payments p WHERE p.loan_id = l.loan_id) AS payments
     FROM read.loans l"
);

/// A customer's loans, newest offer last.
pub async fn customer_loans(
    client: &impl GenericClient,
    customer_id: Uuid,
    limit: i64,
    offset: i64,
) -> Result<Vec<LoanRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "{SELECT_LOAN} WHERE l.customer_id = $1 ORDER BY l.offered_at, l.loan_id
                 LIMIT $2 OFFSET $3"
            ),
            &[&customer_id, &limit, &offset],
        )
        .await?;
    Ok(rows.iter().map(LoanRow::from_row).collect())
}

pub async fn loan(
    client: &impl GenericClient,
    loan_id: Uuid,
) -> Result<Option<LoanRow>, tokio_postgres::Error> {
    let row = client
        .query_opt(&format!("{SELECT_LOAN} WHERE l.loan_id = $1"), &[&loan_id])
        .await?;
    Ok(row.as_ref().map(LoanRow::from_row))
}

/// Loans with a refund waiting for the provider's answer.
pub async fn pending_refunds(
    client: &impl GenericClient,
) -> Result<Vec<LoanRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!("{SELECT_LOAN} WHERE l.refund_status = 'pending' ORDER BY l.loan_id"),
            &[],
        )
        .await?;
    Ok(rows.iter().map(LoanRow::from_row).collect())
}

/// Loans in `status` (the jobs' work lists).
pub async fn with_status(
    client: &impl GenericClient,
    status: LoanState,
) -> Result<Vec<LoanRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!("{SELECT_LOAN} WHERE l.status = $1 ORDER BY l.loan_id"),
            &[&status],
        )
        .await?;
    Ok(rows.iter().map(LoanRow::from_row).collect())
}

/// A payment as `read.loan_payments` holds it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PaymentRow {
    pub channel: PaymentChannel,
    pub external_id: String,
    pub amount_kopecks: i64,
    pub paid_at: DateTime<Utc>,
    pub paid_on: NaiveDate,
    pub to_overdue_interest: i64,
    pub to_overdue_principal: i64,
    pub to_current_interest: i64,
    pub to_current_principal: i64,
    pub to_penalty: i64,
    pub to_other: i64,
    pub held_kopecks: i64,
}

/// `read.unmatched_payments`: money received that no loan could take, for staff to resolve.
pub struct UnmatchedPayments;

pub const UNMATCHED: &str = "unmatched_payments";

const CREATE_UNMATCHED: &str = r#"
CREATE TABLE IF NOT EXISTS read.unmatched_payments (
    payment_id      uuid PRIMARY KEY,
    channel         text        NOT NULL,
    external_id     text        NOT NULL,
    contract_number text        NOT NULL,
    amount_kopecks  bigint      NOT NULL,
    paid_at         timestamptz NOT NULL,
    received_at     timestamptz NOT NULL,
    reason          text        NOT NULL,
    status          text        NOT NULL,
    matched_loan_id uuid,
    matched_by      uuid,
    matched_at      timestamptz,
    position        bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS unmatched_payments_order ON read.unmatched_payments (position)
    WHERE status = 'waiting';
COMMENT ON TABLE read.unmatched_payments IS
    'Repayments no loan could take (unknown contract number, loan not issued), oldest first.';
COMMENT ON COLUMN read.unmatched_payments.payment_id IS 'The IncomingPayment aggregate''s id.';
COMMENT ON COLUMN read.unmatched_payments.channel IS 'Where the money came from: sberbank_online | terminal.';
COMMENT ON COLUMN read.unmatched_payments.external_id IS 'The channel''s own id of the payment.';
COMMENT ON COLUMN read.unmatched_payments.amount_kopecks IS 'The amount paid, in kopecks.';
COMMENT ON COLUMN read.unmatched_payments.paid_at IS 'When the payer paid, as the channel says.';
COMMENT ON COLUMN read.unmatched_payments.received_at IS 'When k911 received it.';
COMMENT ON COLUMN read.unmatched_payments.reason IS 'Why no loan took it, in words (e.g. no contract with this number).';
COMMENT ON COLUMN read.unmatched_payments.matched_loan_id IS 'The loan staff matched it to (null while waiting).';
COMMENT ON COLUMN read.unmatched_payments.matched_by IS 'The staff member who matched it.';
COMMENT ON COLUMN read.unmatched_payments.matched_at IS 'When it was matched.';
COMMENT ON COLUMN read.unmatched_payments.position IS 'The log position of the payment''s event (the queue''s order).';
COMMENT ON COLUMN read.unmatched_payments.contract_number IS 'As the payer typed it.';
COMMENT ON COLUMN read.unmatched_payments.status IS 'waiting | matched (applied to matched_loan_id)';
"#;

#[async_trait]
impl Follower for UnmatchedPayments {
    fn name(&self) -> &'static str {
        UNMATCHED
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            IncomingPaymentEventType::PaymentUnmatched.into(),
            IncomingPaymentEventType::PaymentMatched.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ReadModel {
            create_sql: CREATE_UNMATCHED,
            tables: &["read.unmatched_payments"],
            views: &[],
        }
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        if !event.of::<IncomingPayment>() {
            return Ok(());
        }
        let payment_id = aggregate_uuid(event)?;
        match payload::<IncomingPaymentEvent>(event)? {
            // Applied by its loan at once: never in the staff's queue.
            IncomingPaymentEvent::PaymentAssigned { .. } => {}
            IncomingPaymentEvent::PaymentUnmatched {
                payment,
                reason,
                received_at,
            } => {
                tx.execute(
                    "INSERT INTO read.unmatched_payments (payment_id, channel, external_id,
                         contract_number, amount_kopecks, paid_at, received_at, reason, position,
                         status)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    &[
                        &payment_id,
                        &payment.channel.as_str(),
                        &payment.external_id,
                        &payment.contract_number,
                        &payment.amount.get(),
                        &payment.paid_at,
                        &received_at,
                        &reason,
                        &event.position(),
                        &UnmatchedState::Waiting,
                    ],
                )
                .await?;
            }
            IncomingPaymentEvent::PaymentMatched {
                loan_id,
                staff_id,
                matched_at,
            } => {
                tx.execute(
                    "UPDATE read.unmatched_payments
                        SET status = $5, matched_loan_id = $2, matched_by = $3,
                            matched_at = $4
                      WHERE payment_id = $1",
                    &[
                        &payment_id,
                        &loan_id,
                        &staff_id,
                        &matched_at,
                        &UnmatchedState::Matched,
                    ],
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// A payment waiting for staff.
#[derive(Debug, Clone)]
pub struct UnmatchedRow {
    pub payment_id: Uuid,
    pub channel: PaymentChannel,
    pub external_id: String,
    pub contract_number: String,
    pub amount_kopecks: i64,
    pub paid_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub reason: String,
}

/// Unmatched payments, oldest first.
pub async fn unmatched(
    client: &impl GenericClient,
    limit: i64,
    offset: i64,
) -> Result<Vec<UnmatchedRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            // The state as a literal, as the partial index has it (a bound one would not use it).
            "SELECT * FROM read.unmatched_payments WHERE status = 'waiting'
              ORDER BY position LIMIT $1 OFFSET $2",
            &[&limit, &offset],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| UnmatchedRow {
            payment_id: row.get("payment_id"),
            channel: crate::parsed(row, "channel"),
            external_id: row.get("external_id"),
            contract_number: row.get("contract_number"),
            amount_kopecks: row.get("amount_kopecks"),
            paid_at: row.get("paid_at"),
            received_at: row.get("received_at"),
            reason: row.get("reason"),
        })
        .collect())
}

/// A loan as its borrower sees it, with its payments.
#[derive(Debug, Clone)]
pub struct LoanView {
    pub loan: LoanRow,
    pub payments: Vec<PaymentRow>,
}

impl LoanView {
    fn from_row(row: &Row) -> Self {
        Self {
            loan: LoanRow::from_row(row),
            payments: row.get::<_, Json<Vec<PaymentRow>>>("payments").0,
        }
    }
}

/// Active loans past their due day (`$1`) whose fall overdue is not recorded yet. This list and
/// [`TO_REMIND`] are read by the scheduler every few seconds, each through partial indexes of
/// its own (`loans_falling_due`; `loans_never_reminded`, `loans_reminded`), so that it finds its few loans without
/// reading the book; the states are literals, for the planner to match the indexes.
pub const FALLING_OVERDUE: &str = "
SELECT loan_id FROM read.loans
 WHERE status = 'active' AND overdue_since IS NULL AND due_on < $1
 ORDER BY loan_id";

/// Active loans past their due day (`$3`) of the time zones `$1` not reminded since `$2` (the
/// loan decides whether it is overdue and may be reminded): those never reminded, through
/// `loans_never_reminded`, and those reminded before, through `loans_reminded`.
pub const TO_REMIND: &str = "
SELECT loan_id FROM read.loans
 WHERE status = 'active' AND last_reminder_at IS NULL AND time_zone = ANY($1) AND due_on < $3
UNION ALL
SELECT loan_id FROM read.loans
 WHERE status = 'active' AND last_reminder_at <= $2 AND time_zone = ANY($1) AND due_on < $3
 ORDER BY loan_id";

/// The loans the daily jobs should visit, as the loan book shows them. It may lag, which only
/// delays a visit: what happens to a loan is decided by the loan itself.
#[derive(Debug, Clone, Default)]
pub struct DueLoans {
    /// Active loans past their due date whose fall overdue is not recorded yet: the one turn of
    /// the charges the close records (the days between are derived, [`LoanRow::owed_on`]).
    pub falling_overdue: Vec<Uuid>,
    /// Active loans past their due date, in hours and not reminded lately.
    pub overdue: Vec<Uuid>,
    /// Offers whose time is up.
    pub lapsed_offers: Vec<Uuid>,
}

/// Money out that waits for the payout provider's answer.
#[derive(Debug, Clone, Default)]
pub struct AwaitedAnswers {
    /// `(loan, payout)`.
    pub payouts: Vec<(Uuid, Uuid)>,
    /// `(loan, refund)`.
    pub refunds: Vec<(Uuid, Uuid)>,
}

impl Reader {
    /// The customer's loans, oldest first.
    pub async fn customer_loans(
        &self,
        customer_id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<LoanView>, ReadError> {
        // Planned with the page's values (see `connect`).
        let rows = self
            .client()
            .await?
            .query_typed(
                &format!(
                    "{SELECT_VIEW} WHERE l.customer_id = $1 ORDER BY l.offered_at, l.loan_id
                     LIMIT $2 OFFSET $3"
                ),
                &[
                    (&customer_id, Type::UUID),
                    (&limit, Type::INT8),
                    (&offset, Type::INT8),
                ],
            )
            .await?;
        Ok(rows.iter().map(LoanView::from_row).collect())
    }

    /// One of the customer's loans; another customer's is not found.
    pub async fn customer_loan(
        &self,
        customer_id: Uuid,
        loan_id: Uuid,
    ) -> Result<LoanView, ReadError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "{SELECT_VIEW} WHERE l.loan_id = $1 AND l.customer_id = $2"
            ))
            .await?;
        let row = client
            .query_opt(&statement, &[&loan_id, &customer_id])
            .await?
            .ok_or(ReadError::NotFound)?;
        Ok(LoanView::from_row(&row))
    }

    /// Every loan of the customer's, by id.
    pub async fn customer_loan_ids(&self, customer_id: Uuid) -> Result<Vec<Uuid>, ReadError> {
        let loans = customer_loans(&**self.client().await?, customer_id, i64::MAX, 0).await?;
        Ok(loans.into_iter().map(|row| row.loan_id).collect())
    }

    /// How many loans are active: the book the daily close covers (for `k911 jobs run`'s report;
    /// the scheduler does not count it every few seconds).
    pub async fn active_loans(&self) -> Result<i64, ReadError> {
        Ok(self
            .client()
            .await?
            .query_one(
                "SELECT count(*) FROM read.loans WHERE status = 'active'",
                &[],
            )
            .await?
            .get(0))
    }

    /// The loans the daily jobs should visit on `today` (Moscow) at `now`: overdue ones only
    /// where `reminders` let a message go at this hour of the debtor's time zone, and only if
    /// their last reminder is as old as the product's pace (the loan still decides what the law
    /// allows). Ids only, picked by PostgreSQL: at a lender's scale the book is far too big to
    /// fetch every few seconds, and a night's visits would all be refused.
    pub async fn due_loans(
        &self,
        today: NaiveDate,
        now: DateTime<Utc>,
        reminders: &ReminderRules,
    ) -> Result<DueLoans, ReadError> {
        let client = self.client().await?;
        let ids = |rows: Vec<tokio_postgres::Row>| rows.iter().map(|row| row.get(0)).collect();
        let falling_overdue = client
            .query_typed(FALLING_OVERDUE, &[(&today, Type::DATE)])
            .await?;
        let in_hours: Vec<&str> = LocalTimeZone::all_names()
            .filter(|zone| {
                LocalTimeZone::parse(zone).is_ok_and(|zone| reminders.in_hours(now, zone))
            })
            .collect();
        let rested = now - chrono::Duration::hours(reminders.min_interval_hours);
        let overdue = client
            .query_typed(
                TO_REMIND,
                &[
                    (&in_hours, Type::TEXT_ARRAY),
                    (&rested, Type::TIMESTAMPTZ),
                    (&today, Type::DATE),
                ],
            )
            .await?;
        let lapsed_offers = client
            .query(
                "SELECT loan_id FROM read.loans WHERE status = $1 AND expires_at <= $2
                  ORDER BY loan_id",
                &[&LoanState::Offered, &now],
            )
            .await?;
        Ok(DueLoans {
            falling_overdue: ids(falling_overdue),
            overdue: ids(overdue),
            lapsed_offers: ids(lapsed_offers),
        })
    }

    /// The payouts and refunds still waiting for the provider's answer.
    pub async fn awaited_answers(&self) -> Result<AwaitedAnswers, ReadError> {
        let client = self.client().await?;
        let paying = with_status(&**client, LoanState::PayoutRequested).await?;
        let refunding = pending_refunds(&**client).await?;
        Ok(AwaitedAnswers {
            payouts: paying
                .iter()
                .filter_map(|l| Some((l.loan_id, l.payout_id?)))
                .collect(),
            refunds: refunding
                .iter()
                .filter_map(|l| Some((l.loan_id, l.refund_id?)))
                .collect(),
        })
    }

    /// Payments that named no loan, waiting for a person to match them.
    pub async fn unmatched_payments(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<UnmatchedRow>, ReadError> {
        Ok(unmatched(&**self.client().await?, limit, offset).await?)
    }
}
