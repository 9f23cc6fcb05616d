//! The limits Federal Law 353-FZ "On consumer credit (loans)" sets on a loan, as they stood on
//! the day the contract was concluded. Rules that changed over time are kept as editions, each
//! in force from a date; a contract follows the edition of its own date for its whole life.
//! The defaults below are the law's; a deployment may configure others (for a newer edition).

use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::psk::LoanCost;
use crate::money::{DailyRate, Kopecks};

/// In which order a payment that does not cover the whole debt is applied (art. 5 part 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationOrder {
    /// Contracts before 2024-07-01: overdue interest, overdue principal, penalty, current
    /// interest, current principal, other payments.
    PenaltyThird,
    /// Contracts from 2024-07-01: overdue interest, overdue principal, current interest, current
    /// principal, penalty, other payments.
    PenaltyFifth,
}

/// One edition of the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LawRules {
    /// Art. 5 part 23: the daily rate may not exceed 0.8 % a day.
    pub max_daily_rate_percent: Decimal,
    /// Art. 6 part 11: the full cost of credit (ПСК) of a short-term unsecured loan may not
    /// exceed 292 % a year.
    pub max_psk_percent: Decimal,
    /// Art. 5 part 24: for a loan of up to one year, interest, penalties and fees together stop
    /// accruing once they reach this share of the principal (130 % for contracts before
    /// 2026-04-01, 100 % from then).
    pub total_cost_cap_percent: Decimal,
    /// Art. 5 part 21: the penalty for an overdue amount while interest still accrues on it, at
    /// most 20 % a year...
    pub penalty_yearly_percent_with_interest: Decimal,
    /// ...and at most 0.1 % a day of the overdue amount once interest no longer accrues.
    pub penalty_daily_percent_without_interest: Decimal,
    /// Art. 5 part 20.
    pub allocation: AllocationOrder,
    /// Limits on lending at a high full cost of credit, if the edition has any.
    #[serde(default)]
    pub high_cost: Option<HighCostLimit>,
}

/// Federal Law of 29.12.2025 No. 545-FZ (amending 353-FZ and 151-FZ) limits how many loans
/// costing more than a threshold a borrower may hold at once, counting their loans at every
/// lender (a lender asks every qualified credit bureau), and, from its second stage, makes a
/// borrower wait after repaying such a loan before taking the next:
/// - from 2026-10-01: no new loan above 200 % a year to a borrower who holds two such loans;
/// - from 2027-04-01: at most one loan above 100 % a year in force, and no new one "до
///   истечения четырех дней после полного погашения" the previous one. Press reports of the
///   law give this period as three days, and one commentary dates it from 2027-01-01; the
///   stricter reading (four whole days after the day of repayment) is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HighCostLimit {
    /// A loan whose ПСК (% a year) is above this is high-cost...
    pub psk_above_percent: Decimal,
    /// ...and a borrower already holding this many high-cost loans gets no further one...
    pub max_held: u16,
    /// ...nor one within this many whole days after the day a high-cost loan was repaid.
    #[serde(default)]
    pub waiting_days: u16,
}

/// A loan of the borrower's as a credit history shows it: at this lender or another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditRecord {
    pub psk_percent: Decimal,
    /// The day (Europe/Moscow) it was repaid in full; `None` while in force.
    pub repaid_on: Option<NaiveDate>,
}

/// Why terms cannot be offered, or a high-cost loan granted, under an edition of the law.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unlawful {
    #[error("the daily rate {rate} % exceeds the cap of {cap} % (353-FZ art. 5 part 23)")]
    RateAboveCap { rate: Decimal, cap: Decimal },
    #[error("the full cost of credit {psk} % would exceed {cap} % (353-FZ art. 6 part 11)")]
    PskAboveCap { psk: Decimal, cap: Decimal },
    #[error(
        "interest for the term, {interest}, would exceed {cap} % of the principal \
         (353-FZ art. 5 part 24)"
    )]
    CostAboveCap { interest: Kopecks, cap: Decimal },
    #[error(
        "the borrower already holds {held} loans with a full cost of credit above {above} %: \
         no further such loan (353-FZ as amended by 545-FZ of 29.12.2025)"
    )]
    HighCostLoansHeld { held: u16, above: Decimal },
    #[error(
        "a loan with a full cost of credit above {above} % was repaid on {repaid_on}: no new \
         such loan before {allowed_from} (353-FZ as amended by 545-FZ of 29.12.2025)"
    )]
    HighCostWaitingPeriod {
        above: Decimal,
        repaid_on: NaiveDate,
        allowed_from: NaiveDate,
    },
}

impl Unlawful {
    /// The request field a change of which could make the terms lawful.
    pub fn field(&self) -> &'static str {
        match self {
            // A lower rate lowers the ПСК too: below the high-cost threshold the limits are off.
            Self::RateAboveCap { .. }
            | Self::PskAboveCap { .. }
            | Self::HighCostLoansHeld { .. }
            | Self::HighCostWaitingPeriod { .. } => "daily_rate",
            Self::CostAboveCap { .. } => "term_days",
        }
    }
}

impl LawRules {
    /// What `principal` for `term_days` at `rate` costs, if this edition lets it be offered:
    /// the daily rate, the ПСК and the interest for the term within their caps.
    pub fn lawful_cost(
        &self,
        principal: Kopecks,
        term_days: u16,
        rate: DailyRate,
    ) -> Result<LoanCost, Unlawful> {
        if rate.percent() > self.max_daily_rate_percent {
            return Err(Unlawful::RateAboveCap {
                rate: rate.percent(),
                cap: self.max_daily_rate_percent,
            });
        }
        let cost = LoanCost::of(principal, term_days, rate);
        if cost.psk_percent > self.max_psk_percent {
            return Err(Unlawful::PskAboveCap {
                psk: cost.psk_percent,
                cap: self.max_psk_percent,
            });
        }
        if cost.interest > principal.percent(self.total_cost_cap_percent) {
            return Err(Unlawful::CostAboveCap {
                interest: cost.interest,
                cap: self.total_cost_cap_percent,
            });
        }
        Ok(cost)
    }

    /// Whether a new loan costing `psk_percent` may be granted on `today` to a borrower whose
    /// credit history is `history`.
    pub fn check_high_cost(
        &self,
        psk_percent: Decimal,
        history: &[CreditRecord],
        today: NaiveDate,
    ) -> Result<(), Unlawful> {
        let Some(limit) = &self.high_cost else {
            return Ok(());
        };
        let above = limit.psk_above_percent;
        if psk_percent <= above {
            return Ok(());
        }
        let high_cost = history.iter().filter(|r| r.psk_percent > above);
        let held = high_cost.clone().filter(|r| r.repaid_on.is_none()).count();
        let held = u16::try_from(held).unwrap_or(u16::MAX);
        if held >= limit.max_held {
            return Err(Unlawful::HighCostLoansHeld { held, above });
        }
        if let Some(repaid_on) = high_cost.filter_map(|r| r.repaid_on).max() {
            let allowed_from = repaid_on + Days::new(u64::from(limit.waiting_days) + 1);
            if limit.waiting_days > 0 && today < allowed_from {
                return Err(Unlawful::HighCostWaitingPeriod {
                    above,
                    repaid_on,
                    allowed_from,
                });
            }
        }
        Ok(())
    }
}

/// The editions of the rules, each from its date, in date order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LawEditions(Vec<(NaiveDate, LawRules)>);

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

impl Default for LawEditions {
    fn default() -> Self {
        let before_2024_07 = LawRules {
            max_daily_rate_percent: Decimal::new(8, 1),
            max_psk_percent: Decimal::new(292, 0),
            total_cost_cap_percent: Decimal::new(130, 0),
            penalty_yearly_percent_with_interest: Decimal::new(20, 0),
            penalty_daily_percent_without_interest: Decimal::new(1, 1),
            allocation: AllocationOrder::PenaltyThird,
            high_cost: None,
        };
        // Federal Law 353-FZ as amended: from 2024-07-01 the penalty comes after current debt.
        let from_2024_07 = LawRules {
            allocation: AllocationOrder::PenaltyFifth,
            ..before_2024_07.clone()
        };
        // From 2026-04-01 the total cost cap is 100 % of the principal.
        let from_2026_04 = LawRules {
            total_cost_cap_percent: Decimal::new(100, 0),
            ..from_2024_07.clone()
        };
        // 545-FZ of 29.12.2025, first stage: two loans above 200 % a year are the most.
        let from_2026_10 = LawRules {
            high_cost: Some(HighCostLimit {
                psk_above_percent: Decimal::new(200, 0),
                max_held: 2,
                waiting_days: 0,
            }),
            ..from_2026_04.clone()
        };
        // Its second stage: one loan above 100 % a year, and four days' wait after repaying one.
        let from_2027_04 = LawRules {
            high_cost: Some(HighCostLimit {
                psk_above_percent: Decimal::new(100, 0),
                max_held: 1,
                waiting_days: 4,
            }),
            ..from_2026_04.clone()
        };
        Self(vec![
            (NaiveDate::MIN, before_2024_07),
            (date(2024, 7, 1), from_2024_07),
            (date(2026, 4, 1), from_2026_04),
            (date(2026, 10, 1), from_2026_10),
            (date(2027, 4, 1), from_2027_04),
        ])
    }
}

impl LawEditions {
    /// Editions from configuration, in any order; the earliest also covers every contract
    /// before its date.
    pub fn new(mut editions: Vec<(NaiveDate, LawRules)>) -> Result<Self, &'static str> {
        editions.sort_by_key(|(from, _)| *from);
        if editions.is_empty() {
            return Err("at least one edition is needed");
        }
        Ok(Self(editions))
    }

    /// The rules a contract concluded on `contract_date` follows.
    pub fn for_contract(&self, contract_date: NaiveDate) -> &LawRules {
        let editions = &self.0;
        editions
            .iter()
            .rev()
            .find(|(from, _)| *from <= contract_date)
            .or(editions.first())
            .map(|(_, rules)| rules)
            .expect("there is at least one edition")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contract_follows_the_edition_of_its_own_date() {
        let law = LawEditions::default();
        let old = law.for_contract(date(2024, 6, 30));
        assert_eq!(old.allocation, AllocationOrder::PenaltyThird);
        assert_eq!(old.total_cost_cap_percent, Decimal::new(130, 0));
        let mid = law.for_contract(date(2024, 7, 1));
        assert_eq!(mid.allocation, AllocationOrder::PenaltyFifth);
        assert_eq!(mid.total_cost_cap_percent, Decimal::new(130, 0));
        assert_eq!(
            law.for_contract(date(2026, 3, 31)).total_cost_cap_percent,
            Decimal::new(130, 0)
        );
        let new = law.for_contract(date(2026, 4, 1));
        assert_eq!(new.total_cost_cap_percent, Decimal::new(100, 0));
        assert_eq!(new.max_daily_rate_percent.to_string(), "0.8");
        assert_eq!(new.max_psk_percent, Decimal::new(292, 0));
    }

    #[test]
    fn editions_are_configured_as_json() {
        let json = r#"[["0001-01-01", {
            "max_daily_rate_percent": "0.8", "max_psk_percent": "292",
            "total_cost_cap_percent": "130", "penalty_yearly_percent_with_interest": "20",
            "penalty_daily_percent_without_interest": "0.1", "allocation": "penalty_fifth"}],
          ["2027-01-01", {
            "max_daily_rate_percent": "0.5", "max_psk_percent": "200",
            "total_cost_cap_percent": "100", "penalty_yearly_percent_with_interest": "20",
            "penalty_daily_percent_without_interest": "0.1", "allocation": "penalty_fifth"}]]"#;
        let editions: Vec<(NaiveDate, LawRules)> = serde_json::from_str(json).unwrap();
        let law = LawEditions::new(editions).unwrap();
        assert_eq!(
            law.for_contract(date(2027, 1, 1)).max_daily_rate_percent,
            Decimal::new(5, 1)
        );
        assert_eq!(
            law.for_contract(date(2026, 12, 31)).total_cost_cap_percent,
            Decimal::from(130)
        );
    }

    #[test]
    fn the_earliest_configured_edition_covers_every_earlier_contract() {
        let rules = LawEditions::default()
            .for_contract(date(2026, 4, 1))
            .clone();
        assert!(LawEditions::new(vec![]).is_err());
        let law = LawEditions::new(vec![(date(2020, 1, 1), rules.clone())]).unwrap();
        assert_eq!(law.for_contract(date(1999, 1, 1)), &rules);
        assert_eq!(law.for_contract(date(2030, 1, 1)), &rules);
    }
}
