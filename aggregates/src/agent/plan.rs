//! Commission plans: what an agent earns for a referred client's loan. A plan is versioned and
//! takes effect from a date; a loan earns by the plan in effect on the day it was issued.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Kopecks;

/// A share of the issued principal and/or a fixed amount for a client's first loan ever, capped
/// per loan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionPlan {
    /// Percent of the issued principal (0–100).
    pub percent_of_principal: Decimal,
    /// Paid once per client, for the first loan they ever took.
    pub first_loan_bonus: Kopecks,
    /// At most this much per loan (`None`: no cap).
    pub cap_per_loan: Option<Kopecks>,
}

impl CommissionPlan {
    /// Whether the plan can be applied: a percentage from 0 to 100.
    pub fn is_valid(&self) -> bool {
        (Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&self.percent_of_principal)
    }

    /// What a loan of `principal` earns. The share is rounded down to the kopeck (the lender
    /// never pays a fraction of a kopeck it does not owe); the bonus is added for a first loan
    /// ever, and the sum is held to the cap.
    pub fn commission(&self, principal: Kopecks, first_loan_ever: bool) -> Kopecks {
        let share = principal.percent(self.percent_of_principal);
        let bonus = if first_loan_ever {
            self.first_loan_bonus
        } else {
            Kopecks::ZERO
        };
        let earned = share + bonus;
        match self.cap_per_loan {
            Some(cap) if earned > cap => cap,
            _ => earned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(percent: &str, bonus: i64, cap: Option<i64>) -> CommissionPlan {
        CommissionPlan {
            percent_of_principal: percent.parse().unwrap(),
            first_loan_bonus: Kopecks::new(bonus).unwrap(),
            cap_per_loan: cap.map(|c| Kopecks::new(c).unwrap()),
        }
    }

    #[test]
    fn the_share_is_rounded_down_to_the_kopeck() {
        // 2.5 % of 10 000,01 ₽ is 250,00025 ₽: 250,00 ₽.
        let earned = plan("2.5", 0, None).commission(Kopecks::new(1_000_001).unwrap(), false);
        assert_eq!(earned.get(), 25_000);
    }

    #[test]
    fn the_bonus_is_for_a_first_loan_ever_and_the_cap_holds() {
        let plan = plan("5", 30_000, Some(80_000));
        let principal = Kopecks::from_roubles(10_000);
        assert_eq!(plan.commission(principal, false).get(), 50_000);
        assert_eq!(plan.commission(principal, true).get(), 80_000);
        assert_eq!(
            plan.commission(Kopecks::from_roubles(1_000), true).get(),
            35_000
        );
    }

    #[test]
    fn a_percentage_outside_0_to_100_is_no_plan() {
        assert!(!plan("100.5", 0, None).is_valid());
        assert!(!plan("-1", 0, None).is_valid());
        assert!(plan("0", 10_000, None).is_valid());
    }
}
