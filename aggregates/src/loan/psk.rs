//! The full cost of credit (полная стоимость кредита, ПСК) by the formula of 353-FZ art. 6
//! part 2: ПСК = i × ЧБП × 100, in percent a year to three decimals, where
//! - ЧБП = 365 / the base period in days (the number of base periods in a year),
//! - the base period is the period between payments that occurs most often in the schedule
//!   (the shortest of them on a tie); a loan repaid at once has its term as the base period,
//! - i, the rate of one base period, solves Σ ДП_k / ((1 + e_k·i)(1 + i)^q_k) = 0, where ДП_k
//!   is the k-th cash flow (the payout negative, repayments positive), q_k the number of whole
//!   base periods from the payout to it, and e_k the remaining part of a base period as a
//!   fraction of it.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::money::{DailyRate, Kopecks};

/// What a loan repaid at once at the end of its term costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoanCost {
    pub interest: Kopecks,
    pub total: Kopecks,
    pub psk_percent: Decimal,
}

impl LoanCost {
    /// Every day of the term charges the day's rate on the whole principal.
    pub fn of(principal: Kopecks, term_days: u16, rate: DailyRate) -> Self {
        let daily = principal.percent(rate.percent());
        let interest: Kopecks = std::iter::repeat_n(daily, usize::from(term_days)).sum();
        let total = principal + interest;
        let flows = [
            CashFlow {
                day: 0,
                kopecks: -principal.get(),
            },
            CashFlow {
                day: u32::from(term_days),
                kopecks: total.get(),
            },
        ];
        Self {
            interest,
            total,
            psk_percent: psk_percent(&flows).unwrap_or(Decimal::ZERO),
        }
    }

    /// Its average monthly payment for the debt-to-income ratio: a loan of up to a month is
    /// repaid within one, so the whole amount due counts.
    pub fn monthly_payment(&self) -> Kopecks {
        self.total
    }
}

/// A payment between lender and borrower, `day` days after the payout: negative is money the
/// borrower receives, positive what they pay back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CashFlow {
    pub day: u32,
    pub kopecks: i64,
}

/// The base period in days: the most frequent period between consecutive payments, the shortest
/// one on a tie.
fn base_period(flows: &[CashFlow]) -> Option<u32> {
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for pair in flows.windows(2) {
        let period = pair[1].day.checked_sub(pair[0].day)?;
        if period > 0 {
            *counts.entry(period).or_default() += 1;
        }
    }
    let most = counts.values().copied().max()?;
    // BTreeMap iterates in ascending order: the first with the highest count is the shortest.
    counts
        .into_iter()
        .find(|(_, count)| *count == most)
        .map(|(period, _)| period)
}

/// Σ ДП_k / ((1 + e_k·i)(1 + i)^q_k) at rate `i`. A denominator too large to represent makes its
/// term nothing, which it practically is.
fn discounted(flows: &[CashFlow], base: u32, i: Decimal) -> Decimal {
    flows
        .iter()
        .map(|flow| {
            let q = flow.day / base;
            let e = Decimal::from(flow.day % base) / Decimal::from(base);
            let mut denominator = Decimal::ONE + e * i;
            for _ in 0..q {
                match denominator.checked_mul(Decimal::ONE + i) {
                    Some(d) => denominator = d,
                    None => return Decimal::ZERO,
                }
            }
            Decimal::from(flow.kopecks)
                .checked_div(denominator)
                .unwrap_or(Decimal::ZERO)
        })
        .sum()
}

/// The ПСК of a schedule of cash flows in day order, the payout first, in percent a year to
/// three decimals (half away from zero). `None` for a schedule without a payout and repayments.
pub fn psk_percent(flows: &[CashFlow]) -> Option<Decimal> {
    let first = flows.first()?;
    if first.day != 0 || first.kopecks >= 0 || flows.len() < 2 {
        return None;
    }
    let base = base_period(flows)?;
    // The discounted sum falls as the rate grows; at zero it is what is paid over the payout.
    if discounted(flows, base, Decimal::ZERO) <= Decimal::ZERO {
        return Some(Decimal::ZERO);
    }
    let (mut low, mut high) = (Decimal::ZERO, Decimal::ONE);
    while discounted(flows, base, high) > Decimal::ZERO {
        low = high;
        high *= Decimal::TWO;
        if high > Decimal::from(1_000) {
            return None;
        }
    }
    // Bisection to far below the precision of the result.
    let precision = Decimal::new(1, 18);
    while high - low > precision {
        let middle = (low + high) / Decimal::TWO;
        if discounted(flows, base, middle) > Decimal::ZERO {
            low = middle;
        } else {
            high = middle;
        }
    }
    let i = (low + high) / Decimal::TWO;
    let periods_a_year = Decimal::from(365) / Decimal::from(base);
    Some(
        (i * periods_a_year * Decimal::ONE_HUNDRED)
            .round_dp_with_strategy(3, RoundingStrategy::MidpointAwayFromZero),
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn flows(list: &[(u32, i64)]) -> Vec<CashFlow> {
        list.iter()
            .map(|(day, kopecks)| CashFlow {
                day: *day,
                kopecks: *kopecks,
            })
            .collect()
    }

    fn percent(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn a_loan_repaid_at_once_worked_by_hand() {
        // 15 000 ₽ for 21 days at 0.8 % a day: 2 520 ₽ interest, 17 520 ₽ back on day 21.
        // Base period 21 days, ЧБП = 365 / 21; i = 17 520 / 15 000 − 1 = 0.168;
        // ПСК = 0.168 × 365 / 21 × 100 = 292.000 % — the cap itself.
        let psk = psk_percent(&flows(&[(0, -1_500_000), (21, 1_752_000)]));
        assert_eq!(psk, Some(percent("292.000")));
        // 10 000 ₽ for 30 days at 0.5 %: i = 11 500 / 10 000 − 1 = 0.15;
        // ПСК = 0.15 × 365 / 30 × 100 = 182.5 %.
        let psk = psk_percent(&flows(&[(0, -1_000_000), (30, 1_150_000)]));
        assert_eq!(psk, Some(percent("182.500")));
        // 3 000 ₽ for 7 days at 0.65 %: interest 136.50 ₽; i = 0.0455;
        // ПСК = 0.0455 × 365 / 7 × 100 = 237.25 %.
        let psk = psk_percent(&flows(&[(0, -300_000), (7, 313_650)]));
        assert_eq!(psk, Some(percent("237.250")));
    }

    #[test]
    fn two_equal_instalments_worked_by_hand() {
        // 21 000 ₽ repaid with 12 100 ₽ on days 14 and 28. Base period 14 days (q = 1, 2;
        // e = 0). i = 0.1 solves −21 000 + 12 100 / 1.1 + 12 100 / 1.21 = −21 000 + 11 000 +
        // 10 000 = 0. ПСК = 0.1 × 365 / 14 × 100 = 260.714285… ≈ 260.714 %.
        let psk = psk_percent(&flows(&[(0, -2_100_000), (14, 1_210_000), (28, 1_210_000)]));
        assert_eq!(psk, Some(percent("260.714")));
    }

    #[test]
    fn a_payment_between_base_periods_counts_its_fraction() {
        // Periods 10, 10, 5: base period 10. The last payment, on day 25, has q = 2, e = 0.5.
        // With i = 0.1: 1 100 / 1.1 + 1 210 / 1.21 + 1 260 / (1.05 × 1.21) = 1 000 + 1 000 +
        // 991.73… so a payout of 2 991.73… ₽ gives exactly i = 0.1: ПСК = 0.1 × 36.5 × 100.
        let payout = Decimal::from(126_000) / (Decimal::new(105, 2) * Decimal::new(121, 2));
        let payout = 200_000 + payout.round().mantissa() as i64;
        let psk = psk_percent(&flows(&[
            (0, -payout),
            (10, 110_000),
            (20, 121_000),
            (25, 126_000),
        ]))
        .unwrap();
        assert!((psk - percent("365.000")).abs() < percent("0.01"), "{psk}");
    }

    #[test]
    fn the_base_period_is_the_most_frequent_and_the_shortest_on_a_tie() {
        assert_eq!(base_period(&flows(&[(0, -1), (21, 1)])), Some(21));
        assert_eq!(
            base_period(&flows(&[(0, -1), (14, 1), (28, 1), (35, 1)])),
            Some(14)
        );
        assert_eq!(base_period(&flows(&[(0, -1), (10, 1), (30, 1)])), Some(10));
    }

    #[test]
    fn nonsense_schedules_have_no_psk_and_free_loans_cost_nothing() {
        assert_eq!(psk_percent(&[]), None);
        assert_eq!(psk_percent(&flows(&[(0, 1_000), (10, 1_000)])), None);
        assert_eq!(psk_percent(&flows(&[(0, -1_000)])), None);
        assert_eq!(
            psk_percent(&flows(&[(0, -1_000), (10, 1_000)])),
            Some(Decimal::ZERO)
        );
    }

    proptest! {
        /// For a loan repaid at once the formula reduces to (repaid / principal − 1) × 365 /
        /// term × 100; the solver agrees to the last of the three decimals.
        #[test]
        fn a_single_repayment_matches_the_closed_form(
            principal in 100_000i64..3_000_001,
            term in 1u32..366,
            interest_permille in 0i64..3_000,
        ) {
            let repaid = principal + principal * interest_permille / 1_000;
            let psk = psk_percent(&flows(&[(0, -principal), (term, repaid)])).unwrap();
            let closed = (Decimal::from(repaid) / Decimal::from(principal) - Decimal::ONE)
                * Decimal::from(365) / Decimal::from(term) * Decimal::ONE_HUNDRED;
            let closed = closed.round_dp_with_strategy(3, RoundingStrategy::MidpointAwayFromZero);
            prop_assert!((psk - closed).abs() <= Decimal::new(1, 3), "{psk} vs {closed}");
        }
    }
}
