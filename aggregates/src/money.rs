//! Money and rates. Money is a whole number of kopecks, never a float; a rate is an exact decimal.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::values::ValueError;

/// An amount of roubles in kopecks. Negative amounts are not money a customer can owe or pay, so
/// they cannot be built.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct Kopecks(i64);

impl Kopecks {
    pub const ZERO: Kopecks = Kopecks(0);

    pub fn new(kopecks: i64) -> Result<Self, ValueError> {
        if kopecks < 0 {
            return Err(ValueError::Negative);
        }
        Ok(Self(kopecks))
    }

    pub fn from_roubles(roubles: i64) -> Self {
        Self(roubles * 100)
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// What is left of `self` after taking `other`, never below zero.
    pub fn saturating_sub(self, other: Kopecks) -> Kopecks {
        Self((self.0 - other.0).max(0))
    }

    /// `percent` % of this amount, rounded **down** to the kopeck: every charge of a loan and
    /// every cap uses it, so a charge never exceeds its rate (rounded half up, 0.8 % of
    /// 7 777 ₽ is 62.22 ₽ a day, 0.80005 %: above the legal cap) and a cap never exceeds the law.
    pub fn percent(self, percent: Decimal) -> Kopecks {
        let exact = Decimal::from(self.0) * percent / Decimal::ONE_HUNDRED;
        let rounded = exact.round_dp_with_strategy(0, RoundingStrategy::ToZero);
        Self(i64::try_from(rounded).expect("a share of an amount fits the amount's type"))
    }
}

impl std::ops::Add for Kopecks {
    type Output = Kopecks;
    fn add(self, other: Kopecks) -> Kopecks {
        Self(self.0 + other.0)
    }
}

impl std::ops::AddAssign for Kopecks {
    fn add_assign(&mut self, other: Kopecks) {
        self.0 += other.0;
    }
}

impl std::iter::Sum for Kopecks {
    fn sum<I: Iterator<Item = Kopecks>>(iter: I) -> Kopecks {
        iter.fold(Kopecks::ZERO, |a, b| a + b)
    }
}

impl TryFrom<i64> for Kopecks {
    type Error = ValueError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Kopecks> for i64 {
    fn from(value: Kopecks) -> Self {
        value.0
    }
}

impl fmt::Display for Kopecks {
    /// `15 000,00 ₽`, as a Russian reader writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roubles = self.0 / 100;
        let digits = roubles.to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push('\u{a0}');
            }
            grouped.push(c);
        }
        write!(f, "{grouped},{:02}\u{a0}₽", self.0 % 100)
    }
}

/// A rate in percent per day (`0.8` = 0.8 % a day), exact, with at most three decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DailyRate(Decimal);

impl DailyRate {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let value: Decimal = raw.trim().parse().map_err(|_| ValueError::NotRate)?;
        if value <= Decimal::ZERO || value.scale() > 3 {
            return Err(ValueError::NotRate);
        }
        Ok(Self(value.normalize()))
    }

    pub fn percent(self) -> Decimal {
        self.0
    }
}

impl TryFrom<String> for DailyRate {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DailyRate> for String {
    fn from(value: DailyRate) -> Self {
        value.0.to_string()
    }
}

impl fmt::Display for DailyRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kopecks_are_never_negative_and_print_as_roubles() {
        assert_eq!(Kopecks::new(-1), Err(ValueError::Negative));
        assert_eq!(
            Kopecks::new(1_500_000).unwrap().to_string(),
            "15\u{a0}000,00\u{a0}₽"
        );
        assert_eq!(Kopecks::new(105).unwrap().to_string(), "1,05\u{a0}₽");
        assert_eq!(
            Kopecks::from_roubles(1_000_000).to_string(),
            "1\u{a0}000\u{a0}000,00\u{a0}₽"
        );
    }

    #[test]
    fn a_percentage_of_an_amount_rounds_down_to_the_kopeck() {
        let amount = Kopecks::new(1_500_000).unwrap();
        assert_eq!(
            amount.percent(Decimal::new(8, 1)),
            Kopecks::new(12_000).unwrap()
        );
        // 7 777 ₽ × 0.8 % = 62.216 ₽ → 62.21 ₽ (never 62.22 ₽, above the rate).
        assert_eq!(
            Kopecks::from_roubles(7_777).percent(Decimal::new(8, 1)),
            Kopecks::new(6_221).unwrap()
        );
        // 333.33 ₽ × 0.8 % = 2.66664 ₽ → 2.66 ₽; 0.625 kopecks → 0 kopecks.
        assert_eq!(
            Kopecks::new(33_333).unwrap().percent(Decimal::new(8, 1)),
            Kopecks::new(266).unwrap()
        );
        assert_eq!(
            Kopecks::new(125).unwrap().percent(Decimal::new(5, 1)),
            Kopecks::ZERO
        );
        assert_eq!(
            Kopecks::new(100)
                .unwrap()
                .saturating_sub(Kopecks::new(150).unwrap()),
            Kopecks::ZERO
        );
    }

    proptest::proptest! {
        /// A share of an amount is the largest whole number of kopecks not above the exact
        /// share: never more than the rate allows, never a kopeck less than it could be.
        #[test]
        fn a_share_is_the_exact_one_rounded_down(
            kopecks in 0i64..100_000_000_000,
            thousandths in 1i64..1_000_000,
        ) {
            let percent = Decimal::new(thousandths, 3);
            let share = Decimal::from(Kopecks::new(kopecks).unwrap().percent(percent).get());
            let exact = Decimal::from(kopecks) * percent / Decimal::ONE_HUNDRED;
            proptest::prop_assert!(share <= exact);
            proptest::prop_assert!(exact - share < Decimal::ONE);
        }
    }

    #[test]
    fn daily_rates_are_positive_decimals_with_at_most_three_places() {
        assert_eq!(DailyRate::parse("0.8").unwrap().to_string(), "0.8");
        assert_eq!(
            DailyRate::parse("0.800").unwrap(),
            DailyRate::parse("0.8").unwrap()
        );
        assert!(DailyRate::parse("0.65").unwrap() < DailyRate::parse("0.8").unwrap());
        for bad in ["0", "-0.1", "0.0001", "abc", ""] {
            assert_eq!(DailyRate::parse(bad), Err(ValueError::NotRate), "{bad}");
        }
    }
}
