use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::plan::CommissionPlan;
use super::values::{AgentKind, AgentProfile, Month, ReferralCode};
use crate::loan_application::applicant::PayoutMethod;
use crate::money::Kopecks;
use crate::Sealed;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AgentCommand {
    /// An admin registers an agent with their first plan, in effect from `plan_from`.
    Register {
        kind: AgentKind,
        profile: Sealed<AgentProfile>,
        /// Where commission is paid: a card tokenised by the payout provider, or an e-wallet.
        payout: Sealed<PayoutMethod>,
        /// The agent's login account (e-mail and password, like staff).
        account_id: Uuid,
        code: ReferralCode,
        plan: CommissionPlan,
        plan_from: NaiveDate,
        at: DateTime<Utc>,
    },
    Suspend {
        at: DateTime<Utc>,
    },
    Resume {
        at: DateTime<Utc>,
    },
    /// A new plan from `effective_from` (not in the past, after the latest plan's date): loans
    /// issued from that day earn by it; nothing earned before is rewritten.
    ChangePlan {
        plan: CommissionPlan,
        effective_from: NaiveDate,
        at: DateTime<Utc>,
    },
    /// A first application carried the agent's code: the new customer is theirs.
    AttributeClient {
        customer_id: Uuid,
        application_id: Uuid,
        at: DateTime<Utc>,
    },
    /// A referred client's loan was paid out (`issued_on`, Moscow): commission is earned by the
    /// plan in effect that day, unless the agent was suspended.
    Accrue {
        loan_id: Uuid,
        customer_id: Uuid,
        principal: Kopecks,
        issued_on: NaiveDate,
        at: DateTime<Utc>,
    },
    /// The loan was returned in full within 14 days of issue and before its due date (353-FZ
    /// art. 11): its commission is taken back, in the month this happens (`returned_on`,
    /// Moscow).
    Reverse {
        loan_id: Uuid,
        returned_on: NaiveDate,
        at: DateTime<Utc>,
    },
    /// Closes a month that has ended: its statement is fixed.
    CloseMonth {
        month: Month,
        at: DateTime<Utc>,
    },
    /// Finance approves a closed statement's payable amount for payment, as `payout_id`.
    ApprovePayment {
        month: Month,
        payout_id: Uuid,
        approved_by: Uuid,
        at: DateTime<Utc>,
    },
    /// The payout provider's answer to a statement's payment.
    RecordPayout {
        month: Month,
        paid: bool,
        at: DateTime<Utc>,
    },
}
