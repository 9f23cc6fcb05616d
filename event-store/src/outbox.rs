//! The effects outbox: what process managers ask the outside world to see (an SMS, an e-mail,
//! money sent out), written in the process manager's own transaction and performed later, once,
//! by the effects worker. Personal data stays sealed until the moment it is sent.

use k911_aggregates::credit_report::CreditReport;
use k911_aggregates::loan_application::applicant::PayoutMethod;
use k911_aggregates::money::Kopecks;
use k911_aggregates::support_ticket::TicketContact;
use k911_aggregates::values::{Email, MessageText, Phone};
use k911_aggregates::Sealed;
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use uuid::Uuid;

crate::text_enum! {
    /// Which way a notification travels.
    pub enum Channel {
        Sms,
        Email,
    }
}

crate::text_enum! {
    /// What kind of effect a row is: the port that performs it.
    pub enum EffectKind {
        Sms,
        Email,
        Payout,
        /// A report owed to a credit bureau: exported as a file, never performed by the worker.
        BureauReport,
    }
}

impl From<Channel> for EffectKind {
    fn from(channel: Channel) -> Self {
        match channel {
            Channel::Sms => EffectKind::Sms,
            Channel::Email => EffectKind::Email,
        }
    }
}

crate::text_enum! {
    /// What money out is for: the payout provider and its sandbox show it.
    pub enum PayoutPurpose {
        /// A loan's principal, to the borrower.
        Loan,
        /// An overpayment, back to the borrower.
        Refund,
        /// A month's commission, to an agent.
        Commission,
    }
}

/// One effect; its recipient and text are personal data, kept sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    /// A support agent answered a ticket: the answer goes to the requester's contact.
    TicketAnswer {
        contact: Sealed<TicketContact>,
        answer: Sealed<MessageText>,
    },
    /// A text for a customer's phone, composed by a process manager (it may carry a password,
    /// so it is sealed like the number).
    Sms {
        phone: Sealed<Phone>,
        text: Sealed<String>,
        /// The text carries a password or a one-time code: the person's own copy of their data
        /// withholds it (absent in older rows: none did but the decision and code messages).
        #[serde(default)]
        secret: bool,
    },
    /// An e-mail to a customer, composed by a process manager: the address and the text are
    /// theirs, sealed; the subject line carries no personal data.
    CustomerEmail {
        email: Sealed<Email>,
        subject: String,
        body: Sealed<String>,
    },
    /// A notice to a staff member at their work login (not personal data: stored plainly, and
    /// it must carry none).
    StaffEmail {
        to: Email,
        subject: String,
        body: String,
    },
    /// An event of a borrower's credit history, owed to the bureau by its deadline.
    BureauReport(CreditReport),
    /// Money out through the payout provider, under `payout_id` (its idempotency key).
    Payout {
        payout_id: Uuid,
        loan_id: Uuid,
        purpose: PayoutPurpose,
        amount: Kopecks,
        method: Sealed<PayoutMethod>,
    },
}

/// Adds an effect inside the caller's transaction. The id derives from the cause (see
/// [`message_id`]), so enqueueing the same cause twice adds one row, and a row once done is
/// never done again.
pub async fn enqueue(
    client: &impl GenericClient,
    id: Uuid,
    kind: impl Into<EffectKind>,
    effect: &Effect,
) -> Result<(), tokio_postgres::Error> {
    let request = serde_json::to_value(effect).expect("effects serialize");
    let kind: EffectKind = kind.into();
    client
        .execute(
            "INSERT INTO effects (id, kind, request) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO NOTHING",
            &[&id, &kind, &request],
        )
        .await?;
    Ok(())
}

/// Adds a bureau report inside the caller's transaction, with its deadline; like [`enqueue`],
/// once per id.
pub async fn enqueue_report(
    client: &impl GenericClient,
    id: Uuid,
    report: CreditReport,
) -> Result<(), tokio_postgres::Error> {
    let due_on = report.deadline;
    let request = serde_json::to_value(Effect::BureauReport(report)).expect("effects serialize");
    client
        .execute(
            "INSERT INTO effects (id, kind, request, due_on) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING",
            &[&id, &EffectKind::BureauReport, &request, &due_on],
        )
        .await?;
    Ok(())
}

/// Whether the effect `id` was already enqueued (a process manager's proof that it finished its
/// work for an event).
pub async fn exists(client: &impl GenericClient, id: Uuid) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_opt("SELECT 1 FROM effects WHERE id = $1", &[&id])
        .await?;
    Ok(row.is_some())
}

/// A stable id for the notification `channel` caused by event `position`.
pub fn message_id(position: i64, channel: Channel) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6b39_3131_6f75_7462_6f78_0000_0000_0001);
    Uuid::new_v5(
        &NAMESPACE,
        format!("{position}/{}", channel.as_str()).as_bytes(),
    )
}

/// An effect a worker holds under a lease.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub kind: EffectKind,
    pub effect: Result<Effect, String>,
    /// Times taken, this one included.
    pub attempts: i32,
}

crate::text_enum! {
    /// Where an effect stands.
    pub enum EffectStatus {
        Pending,
        Done,
        Dead,
    }
}

/// The claim of [`claim`]: `$1` how many, `$2` the lease in seconds, `$3` the kind. It seeks the
/// kind's due effects through `effects_due` (kind first), whatever waits in other lanes.
pub const CLAIM: &str = "
UPDATE effects e
   SET attempts = e.attempts + 1,
       leased_until = now() + make_interval(secs => $2)
  FROM (SELECT id FROM effects
         WHERE status = 'pending' AND kind = $3 AND next_attempt_at <= now()
           AND (leased_until IS NULL OR leased_until <= now())
         ORDER BY next_attempt_at, created_at, id
         LIMIT $1 FOR UPDATE SKIP LOCKED) due
 WHERE e.id = due.id
RETURNING e.id, e.request, e.attempts";

/// Takes up to `limit` due effects for `lease` in one short statement (its own transaction): no
/// transaction stays open while they are performed. `SKIP LOCKED` and the lease let several
/// workers share the outbox; a worker that dies leaves its effects to be taken again once the
/// lease runs out.
pub async fn claim(
    client: &impl GenericClient,
    kind: EffectKind,
    limit: i64,
    lease: std::time::Duration,
) -> Result<Vec<Claimed>, tokio_postgres::Error> {
    let rows = client
        .query(CLAIM, &[&limit, &lease.as_secs_f64(), &kind])
        .await?;
    Ok(rows
        .iter()
        .map(|row| Claimed {
            id: row.get(0),
            kind,
            effect: serde_json::from_value(row.get(1)).map_err(|e| e.to_string()),
            attempts: row.get(2),
        })
        .collect())
}

/// Records that the effect taken as attempt `attempt` was performed (`note`: why it did
/// nothing, if it did nothing). The attempt number fences a worker whose lease ran out: its
/// answer changes nothing once another worker took the effect. Returns whether it was recorded.
pub async fn done(
    client: &impl GenericClient,
    id: Uuid,
    attempt: i32,
    note: Option<&str>,
) -> Result<bool, tokio_postgres::Error> {
    let recorded = client
        .execute(
            "UPDATE effects
                SET status = 'done', done_at = now(), leased_until = NULL, note = $3,
                    last_error = NULL
              WHERE id = $1 AND attempts = $2 AND status = 'pending'",
            &[&id, &attempt, &note],
        )
        .await?;
    Ok(recorded == 1)
}

/// Records that attempt `attempt` failed: the effect is tried again after `retry_in`, or parked
/// as dead when `dead`; fenced like [`done`].
pub async fn failed(
    client: &impl GenericClient,
    id: Uuid,
    attempt: i32,
    error: &str,
    retry_in: std::time::Duration,
    dead: bool,
) -> Result<bool, tokio_postgres::Error> {
    let status = if dead {
        EffectStatus::Dead
    } else {
        EffectStatus::Pending
    };
    let recorded = client
        .execute(
            "UPDATE effects
                SET status = $4, last_error = $3, leased_until = NULL,
                    next_attempt_at = now() + make_interval(secs => $5)
              WHERE id = $1 AND attempts = $2 AND status = 'pending'",
            &[&id, &attempt, &error, &status, &retry_in.as_secs_f64()],
        )
        .await?;
    Ok(recorded == 1)
}

/// An effect as an operator sees it (never its sealed request).
#[derive(Debug, Clone)]
pub struct EffectRow {
    pub id: Uuid,
    pub kind: EffectKind,
    pub status: EffectStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub next_attempt_at: chrono::DateTime<chrono::Utc>,
    pub done_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Effects in `status`, oldest first.
pub async fn list(
    client: &impl GenericClient,
    status: EffectStatus,
    limit: i64,
    offset: i64,
) -> Result<Vec<EffectRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT id, kind, status, attempts, last_error, created_at, next_attempt_at, done_at
               FROM effects WHERE status = $1
              ORDER BY created_at, id LIMIT $2 OFFSET $3",
            &[&status, &limit, &offset],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| EffectRow {
            id: row.get(0),
            kind: row.get(1),
            status: row.get(2),
            attempts: row.get(3),
            last_error: row.get(4),
            created_at: row.get(5),
            next_attempt_at: row.get(6),
            done_at: row.get(7),
        })
        .collect())
}

/// The SMS and e-mails sent to `subject` (done, sent, oldest first): kind, when, and the effect
/// as queued (sealed).
pub async fn sent_to(
    client: &impl GenericClient,
    subject: Uuid,
) -> Result<
    Vec<(
        EffectKind,
        chrono::DateTime<chrono::Utc>,
        Result<Effect, String>,
    )>,
    tokio_postgres::Error,
> {
    // The expression of the index `effects_recipient` (migration 24).
    let rows = client
        .query(
            "SELECT kind, done_at, request FROM effects
              WHERE kind IN ('sms', 'email') AND status = 'done' AND note IS NULL
                AND coalesce(request #>> '{Sms,phone,subject_id}',
                             request #>> '{CustomerEmail,email,subject_id}',
                             request #>> '{TicketAnswer,contact,subject_id}') = $1::uuid::text
              ORDER BY done_at, id",
            &[&subject],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            (
                row.get(0),
                row.get(1),
                serde_json::from_value(row.get(2)).map_err(|e: serde_json::Error| e.to_string()),
            )
        })
        .collect())
}

/// Whether `id` is a payout created more than `age` ago.
pub async fn payout_older_than(
    client: &impl GenericClient,
    id: Uuid,
    age: std::time::Duration,
) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT 1 FROM effects
              WHERE id = $1 AND kind = 'payout' AND created_at < now() - make_interval(secs => $2)",
            &[&id, &age.as_secs_f64()],
        )
        .await?;
    Ok(row.is_some())
}

/// Gives a dead effect a new round of tries, now. Returns its status before (`None`: no such
/// effect); only a dead one is changed.
pub async fn revive(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<EffectStatus>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "UPDATE effects SET status = 'pending', attempts = 0, next_attempt_at = now(),
                    leased_until = NULL
              WHERE id = $1 AND status = 'dead'
             RETURNING id",
            &[&id],
        )
        .await?;
    if row.is_some() {
        return Ok(Some(EffectStatus::Dead));
    }
    let row = client
        .query_opt("SELECT status FROM effects WHERE id = $1", &[&id])
        .await?;
    Ok(row.map(|row| row.get(0)))
}
