use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::plan::CommissionPlan;
use super::values::{AgentKind, AgentProfile, Month, ReferralCode};
use crate::loan_application::applicant::PayoutMethod;
use crate::money::Kopecks;
use crate::{Sealed, EVENT_VERSION_1};

/// Why a referred loan earned nothing: recorded, as every outcome is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotEarned {
    /// The agent was suspended when the loan was issued.
    Suspended,
    /// The client was not the agent's.
    NotAClient,
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
/// `AgentEventType` names each event type, for followers of the log (`AgentEventType::X.into()`).
#[strum_discriminants(name(AgentEventType), derive(strum::IntoStaticStr))]
pub enum AgentEvent {
    AgentRegistered {
        kind: AgentKind,
        profile: Sealed<AgentProfile>,
        payout: Sealed<PayoutMethod>,
        account_id: Uuid,
        code: ReferralCode,
        plan: CommissionPlan,
        plan_from: NaiveDate,
        registered_at: DateTime<Utc>,
    },
    AgentSuspended {
        suspended_at: DateTime<Utc>,
    },
    AgentResumed {
        resumed_at: DateTime<Utc>,
    },
    /// Plan `version` (1 is the first) takes effect from `effective_from`.
    CommissionPlanChanged {
        version: u32,
        plan: CommissionPlan,
        effective_from: NaiveDate,
        changed_at: DateTime<Utc>,
    },
    ClientAttributed {
        customer_id: Uuid,
        application_id: Uuid,
        attributed_at: DateTime<Utc>,
    },
    CommissionAccrued {
        loan_id: Uuid,
        customer_id: Uuid,
        principal: Kopecks,
        plan_version: u32,
        first_loan: bool,
        amount: Kopecks,
        month: Month,
        accrued_at: DateTime<Utc>,
    },
    CommissionNotEarned {
        loan_id: Uuid,
        customer_id: Uuid,
        reason: NotEarned,
        recorded_at: DateTime<Utc>,
    },
    CommissionReversed {
        loan_id: Uuid,
        amount: Kopecks,
        month: Month,
        reversed_at: DateTime<Utc>,
    },
    /// A month's statement: what was earned and taken back in it, what an earlier negative
    /// month carried in, the net, what is payable and what negative rest is carried on.
    StatementClosed {
        month: Month,
        accrued: Kopecks,
        reversed: Kopecks,
        carried_in: i64,
        net: i64,
        payable: Kopecks,
        carried_out: i64,
        closed_at: DateTime<Utc>,
    },
    StatementPaymentApproved {
        month: Month,
        payout_id: Uuid,
        amount: Kopecks,
        approved_by: Uuid,
        approved_at: DateTime<Utc>,
    },
    StatementPaid {
        month: Month,
        paid_at: DateTime<Utc>,
    },
    /// The provider refused the payment: the statement can be approved again.
    StatementPaymentFailed {
        month: Month,
        failed_at: DateTime<Utc>,
    },
}

impl DomainEvent for AgentEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION_1.to_string()
    }
}
