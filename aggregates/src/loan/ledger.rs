//! A loan's debt, by the parts the law orders payments by, and the day-by-day charges on it.
//! Every function here is pure: the Loan aggregate feeds it the facts and records the result.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::law::{AllocationOrder, LawRules};
use crate::money::{DailyRate, Kopecks};

/// The parts of a debt (353-FZ art. 5 part 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DebtPart {
    OverdueInterest,
    OverduePrincipal,
    CurrentInterest,
    CurrentPrincipal,
    Penalty,
    /// Other payments due under the contract.
    Other,
}

impl AllocationOrder {
    /// The parts in the order a payment is applied to them.
    pub fn parts(self) -> [DebtPart; 6] {
        use DebtPart::*;
        match self {
            Self::PenaltyThird => [
                OverdueInterest,
                OverduePrincipal,
                Penalty,
                CurrentInterest,
                CurrentPrincipal,
                Other,
            ],
            Self::PenaltyFifth => [
                OverdueInterest,
                OverduePrincipal,
                CurrentInterest,
                CurrentPrincipal,
                Penalty,
                Other,
            ],
        }
    }
}

/// What is owed, part by part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Debt {
    pub overdue_interest: Kopecks,
    pub overdue_principal: Kopecks,
    pub current_interest: Kopecks,
    pub current_principal: Kopecks,
    pub penalty: Kopecks,
    pub other: Kopecks,
}

impl Debt {
    /// A new loan: the principal, all of it current.
    pub fn issued(principal: Kopecks) -> Self {
        Self {
            current_principal: principal,
            ..Self::default()
        }
    }

    pub fn get(&self, part: DebtPart) -> Kopecks {
        match part {
            DebtPart::OverdueInterest => self.overdue_interest,
            DebtPart::OverduePrincipal => self.overdue_principal,
            DebtPart::CurrentInterest => self.current_interest,
            DebtPart::CurrentPrincipal => self.current_principal,
            DebtPart::Penalty => self.penalty,
            DebtPart::Other => self.other,
        }
    }

    fn get_mut(&mut self, part: DebtPart) -> &mut Kopecks {
        match part {
            DebtPart::OverdueInterest => &mut self.overdue_interest,
            DebtPart::OverduePrincipal => &mut self.overdue_principal,
            DebtPart::CurrentInterest => &mut self.current_interest,
            DebtPart::CurrentPrincipal => &mut self.current_principal,
            DebtPart::Penalty => &mut self.penalty,
            DebtPart::Other => &mut self.other,
        }
    }

    pub fn principal(&self) -> Kopecks {
        self.overdue_principal + self.current_principal
    }

    pub fn interest(&self) -> Kopecks {
        self.overdue_interest + self.current_interest
    }

    pub fn total(&self) -> Kopecks {
        self.principal() + self.interest() + self.penalty + self.other
    }

    /// The due date has passed unpaid: what was current is now overdue.
    pub fn fall_due(self) -> Self {
        Self {
            overdue_interest: self.overdue_interest + self.current_interest,
            overdue_principal: self.overdue_principal + self.current_principal,
            current_interest: Kopecks::ZERO,
            current_principal: Kopecks::ZERO,
            ..self
        }
    }

    /// Adds a day's charges: interest to the current part before the due date, to the overdue
    /// part after it (it is due the day it accrues).
    pub fn charge(mut self, charges: DayCharges, overdue: bool) -> Self {
        if overdue {
            self.overdue_interest += charges.interest;
        } else {
            self.current_interest += charges.interest;
        }
        self.penalty += charges.penalty;
        self
    }

    /// The debt after `applied` was paid off it.
    pub fn less(mut self, applied: &Debt) -> Self {
        for part in AllocationOrder::PenaltyFifth.parts() {
            let left = self.get(part).saturating_sub(applied.get(part));
            *self.get_mut(part) = left;
        }
        self
    }
}

/// How one payment was applied: the amount for each part, and what was left over (an
/// overpayment, held for the borrower).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub applied: Debt,
    pub held: Kopecks,
}

/// Applies `amount` to `debt` part by part in the law's `order`: each part is paid in full
/// before the next gets anything.
pub fn allocate(debt: &Debt, amount: Kopecks, order: AllocationOrder) -> Allocation {
    let mut left = amount;
    let mut applied = Debt::default();
    for part in order.parts() {
        let paid = left.min(debt.get(part));
        *applied.get_mut(part) = paid;
        left = left.saturating_sub(paid);
    }
    Allocation {
        applied,
        held: left,
    }
}

/// One day's charges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCharges {
    pub interest: Kopecks,
    pub penalty: Kopecks,
}

/// What may still be charged on a loan of `principal` under the total cost cap (art. 5 part
/// 24), when `charged` (interest, penalties and fees so far) was already charged.
pub fn cap_room(principal: Kopecks, charged: Kopecks, rules: &LawRules) -> Kopecks {
    principal
        .percent(rules.total_cost_cap_percent)
        .saturating_sub(charged)
}

/// The charges for one day of a loan of `principal` at `rate` that owes `debt` and was charged
/// `charged` so far: interest on the principal still owed, and once `overdue`, a penalty on the
/// overdue principal within art. 5 part 21. Interest comes first under the cap; at the cap both
/// stop for good.
pub fn charges_for_day(
    principal: Kopecks,
    debt: &Debt,
    charged: Kopecks,
    rate: DailyRate,
    overdue: bool,
    rules: &LawRules,
) -> DayCharges {
    let room = cap_room(principal, charged, rules);
    let interest = debt.principal().percent(rate.percent()).min(room);
    let penalty = if overdue {
        let overdue_principal = debt.overdue_principal;
        let penalty = if interest > Kopecks::ZERO {
            // 20 % a year while interest accrues, per day of a 365-day year.
            overdue_principal
                .percent(rules.penalty_yearly_percent_with_interest / Decimal::from(365))
        } else {
            overdue_principal.percent(rules.penalty_daily_percent_without_interest)
        };
        penalty.min(room.saturating_sub(interest))
    } else {
        Kopecks::ZERO
    };
    DayCharges { interest, penalty }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use proptest::prelude::*;

    use super::*;
    use crate::loan::law::LawEditions;

    fn k(kopecks: i64) -> Kopecks {
        Kopecks::new(kopecks).unwrap()
    }

    fn rules(y: i32, m: u32, d: u32) -> LawRules {
        LawEditions::default()
            .for_contract(NaiveDate::from_ymd_opt(y, m, d).unwrap())
            .clone()
    }

    fn debt() -> Debt {
        Debt {
            overdue_interest: k(1_000),
            overdue_principal: k(2_000),
            current_interest: k(300),
            current_principal: k(4_000),
            penalty: k(500),
            other: k(100),
        }
    }

    #[test]
    fn a_partial_payment_goes_in_the_order_of_the_contracts_date() {
        // 3 600 kopecks: overdue interest 1 000, overdue principal 2 000, then 600 more.
        let new = allocate(&debt(), k(3_600), AllocationOrder::PenaltyFifth);
        assert_eq!(new.applied.overdue_interest, k(1_000));
        assert_eq!(new.applied.overdue_principal, k(2_000));
        assert_eq!(new.applied.current_interest, k(300));
        assert_eq!(new.applied.current_principal, k(300));
        assert_eq!(new.applied.penalty, Kopecks::ZERO);
        // Before 2024-07-01 the penalty came third.
        let old = allocate(&debt(), k(3_600), AllocationOrder::PenaltyThird);
        assert_eq!(old.applied.penalty, k(500));
        assert_eq!(old.applied.current_interest, k(100));
        assert_eq!(old.applied.current_principal, Kopecks::ZERO);
        assert_eq!(old.held, Kopecks::ZERO);
    }

    #[test]
    fn an_overpayment_is_held() {
        let all = allocate(&debt(), k(10_000), AllocationOrder::PenaltyFifth);
        assert_eq!(all.applied, debt());
        assert_eq!(all.held, k(2_100));
        assert_eq!(debt().less(&all.applied), Debt::default());
    }

    #[test]
    fn interest_accrues_on_the_principal_and_a_penalty_on_what_is_overdue() {
        let rules = rules(2026, 11, 27);
        let principal = k(1_500_000);
        let rate = DailyRate::parse("0.8").unwrap();
        let day = charges_for_day(
            principal,
            &Debt::issued(principal),
            Kopecks::ZERO,
            rate,
            false,
            &rules,
        );
        assert_eq!(
            day,
            DayCharges {
                interest: k(12_000),
                penalty: Kopecks::ZERO
            }
        );
        // Overdue: 15 000 ₽ × 20 % / 365 = 8.219… ₽ → 8.21 ₽ a day (rounded down).
        let overdue = Debt::issued(principal).fall_due();
        let day = charges_for_day(principal, &overdue, k(252_000), rate, true, &rules);
        assert_eq!(
            day,
            DayCharges {
                interest: k(12_000),
                penalty: k(821)
            }
        );
        // Without interest: 0.1 % a day of the overdue principal.
        let free = DailyRate::parse("0.001").unwrap();
        let small = Debt::issued(k(100)).fall_due();
        let day = charges_for_day(k(100), &small, Kopecks::ZERO, free, true, &rules);
        assert_eq!(day.interest, Kopecks::ZERO);
        assert_eq!(day.penalty, Kopecks::ZERO, "0.1 % of 1 ₽ rounds to nothing");
    }

    #[test]
    fn the_total_cost_cap_stops_everything_at_its_edge() {
        let principal = k(1_000_000);
        let rate = DailyRate::parse("0.8").unwrap();
        let debt = Debt::issued(principal).fall_due();
        // 100 % cap for a contract of 2026-11-27: 10 000 ₽; 9 950 ₽ charged leaves 50 ₽.
        let now = rules(2026, 11, 27);
        let day = charges_for_day(principal, &debt, k(995_000), rate, true, &now);
        assert_eq!(
            day,
            DayCharges {
                interest: k(5_000),
                penalty: Kopecks::ZERO
            }
        );
        let day = charges_for_day(principal, &debt, k(1_000_000), rate, true, &now);
        assert_eq!(day, DayCharges::default());
        // 130 % for a contract of 2026-03-31.
        let old = rules(2026, 3, 31);
        assert_eq!(cap_room(principal, k(1_000_000), &old), k(300_000));
    }

    /// What a random history of a loan looks like.
    #[derive(Debug, Clone)]
    struct History {
        principal: i64,
        rate_permille: i64,
        term: u32,
        days: u32,
        /// Payments: (day, kopecks).
        payments: Vec<(u32, i64)>,
        contract_before_2024_07: bool,
    }

    fn history() -> impl Strategy<Value = History> {
        (
            100_000i64..3_000_001,
            1i64..=8,
            5u32..=30,
            0u32..400,
            proptest::collection::vec((0u32..400, 1i64..2_000_000), 0..8),
            any::<bool>(),
        )
            .prop_map(|(principal, tenths, term, days, mut payments, old)| {
                payments.sort();
                History {
                    principal,
                    rate_permille: tenths,
                    term,
                    days,
                    payments,
                    contract_before_2024_07: old,
                }
            })
    }

    proptest! {
        /// Whatever happens to a loan: money is conserved (every payment is applied or held),
        /// no part is paid beyond what it owed, the cap is never exceeded, and a later part of
        /// the order is paid only when every earlier one is settled.
        #[test]
        fn money_is_conserved_and_the_law_holds(h in history()) {
            let rules = if h.contract_before_2024_07 { rules(2024, 1, 10) } else { rules(2026, 11, 27) };
            let principal = k(h.principal);
            let rate = DailyRate::parse(&format!("0.{}", h.rate_permille)).unwrap();
            let order = rules.allocation;
            let mut debt = Debt::issued(principal);
            let (mut charged, mut paid, mut applied_total, mut held) =
                (Kopecks::ZERO, Kopecks::ZERO, Kopecks::ZERO, Kopecks::ZERO);
            let mut payments = h.payments.iter().peekable();
            for day in 1..=h.days {
                let overdue = day > h.term;
                if day == h.term + 1 {
                    debt = debt.fall_due();
                }
                let charges = charges_for_day(principal, &debt, charged, rate, overdue, &rules);
                charged += charges.interest + charges.penalty;
                debt = debt.charge(charges, overdue);
                prop_assert!(charged <= principal.percent(rules.total_cost_cap_percent));
                while let Some((_, amount)) = payments.next_if(|(d, _)| *d == day) {
                    let before = debt;
                    let allocation = allocate(&debt, k(*amount), order);
                    let applied = allocation.applied.total();
                    prop_assert_eq!(applied + allocation.held, k(*amount));
                    let parts = order.parts();
                    for (n, part) in parts.iter().enumerate() {
                        prop_assert!(allocation.applied.get(*part) <= before.get(*part));
                        if allocation.applied.get(*part) > Kopecks::ZERO {
                            for earlier in &parts[..n] {
                                prop_assert_eq!(allocation.applied.get(*earlier), before.get(*earlier));
                            }
                        }
                    }
                    if allocation.held > Kopecks::ZERO {
                        prop_assert_eq!(applied, before.total());
                    }
                    debt = before.less(&allocation.applied);
                    prop_assert_eq!(debt.total() + applied, before.total());
                    paid += k(*amount);
                    applied_total += allocation.applied.total();
                    held += allocation.held;
                }
            }
            prop_assert_eq!(paid, applied_total + held);
            // What is owed is what was lent and charged, less what was applied.
            prop_assert_eq!(debt.total() + applied_total, principal + charged);
        }
    }
}
