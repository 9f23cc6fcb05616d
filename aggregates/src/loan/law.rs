//! The limits Federal Law 353-FZ "On consumer credit (loans)" sets on a loan, as they stood on
//! the day the contract was concluded. Rules that changed over time are kept as editions, each
//! in force from a date; a contract follows the edition of its own date for its whole life.
//! The defaults below are the law's; a deployment may configure others (for a newer edition).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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
        Self(vec![
            (NaiveDate::MIN, before_2024_07),
            (date(2024, 7, 1), from_2024_07),
            (date(2026, 4, 1), from_2026_04),
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
