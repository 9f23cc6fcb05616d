use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::ledger::{Allocation, Debt};
use super::*;
use crate::incoming_payment::PaymentChannel;
use crate::loan::law::{LawEditions, Unlawful};
use crate::money::DailyRate;
use crate::Sealed;

fn k(kopecks: i64) -> Kopecks {
    Kopecks::new(kopecks).unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
}

fn at(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, d, 9, 0, 0).unwrap()
}

const PAYOUT: Uuid = Uuid::from_u128(77);

/// 15 000 ₽ for 21 days at 0.8 %: 120 ₽ a day, 2 520 ₽ for the term.
fn terms(rate: &str) -> OfferTerms {
    let contract_date = day(1);
    OfferTerms {
        application_id: Uuid::from_u128(1),
        customer_id: Uuid::from_u128(2),
        contract_number: ContractNumber::new(
            chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            1,
        ),
        principal: k(1_500_000),
        term_days: 21,
        daily_rate: DailyRate::parse(rate).unwrap(),
        payout: Sealed::new(Uuid::from_u128(2), "n".into(), "c".into()),
        contract_date,
        rules: LawEditions::default().for_contract(contract_date).clone(),
        expires_at: at(3),
        time_zone: LocalTimeZone::MOSCOW,
        pdn_percent: Some("21.9".parse().unwrap()),
    }
}

fn offered() -> LoanEvent {
    LoanEvent::LoanOffered {
        terms: terms("0.8"),
        interest_for_term: k(252_000),
        total_to_repay: k(1_752_000),
        psk_percent: "292.000".parse().unwrap(),
        offered_at: at(1),
    }
}

fn signed() -> LoanEvent {
    LoanEvent::ContractSigned {
        signed_at: at(2),
        contract_date: Some(day(2)),
        rules: Some(LawEditions::default().for_contract(day(2)).clone()),
    }
}

fn requested() -> LoanEvent {
    LoanEvent::PayoutRequested {
        payout_id: PAYOUT,
        requested_at: at(2),
    }
}

/// Issued on 1 December; due on 22 December.
fn issued() -> LoanEvent {
    LoanEvent::LoanIssued {
        payout_id: PAYOUT,
        issued_on: day(1),
        due_on: day(22),
        issued_at: at(1),
    }
}

fn active() -> Vec<LoanEvent> {
    vec![offered(), signed(), requested(), issued()]
}

fn accrued(from: u32, through: u32, interest: i64, penalty: i64, overdue: bool) -> LoanEvent {
    LoanEvent::InterestAccrued {
        from: day(from),
        through: day(through),
        interest: k(interest),
        penalty: k(penalty),
        overdue,
    }
}

fn pay(id: &str, amount: i64, on: u32) -> LoanCommand {
    LoanCommand::ApplyPayment {
        channel: PaymentChannel::SberbankOnline,
        external_id: id.into(),
        amount: k(amount),
        paid_at: at(on),
        paid_on: day(on),
    }
}

fn received(id: &str, amount: i64, on: u32, applied: Debt, held: i64) -> LoanEvent {
    LoanEvent::PaymentReceived {
        channel: PaymentChannel::SberbankOnline,
        external_id: id.into(),
        amount: k(amount),
        paid_at: at(on),
        paid_on: day(on),
        allocation: Allocation {
            applied,
            held: k(held),
        },
    }
}

fn loans() -> TestFramework<Loan> {
    TestFramework::with(LawEditions::default())
}

#[test]
fn an_offer_states_its_cost_and_full_cost_of_credit() {
    loans()
        .given_no_previous_events()
        .when(LoanCommand::Offer {
            terms: Box::new(terms("0.8")),
            at: at(1),
        })
        .then_expect_events(vec![offered()]);
    loans()
        .given(vec![offered()])
        .when(LoanCommand::Offer {
            terms: Box::new(terms("0.8")),
            at: at(1),
        })
        .then_expect_error(LoanError::AlreadyOffered);
}

#[test]
fn terms_the_law_forbids_are_refused_and_the_refusal_recorded() {
    let refused = |terms: OfferTerms, reason: Unlawful| {
        loans()
            .given_no_previous_events()
            .when(LoanCommand::Offer {
                terms: Box::new(terms.clone()),
                at: at(1),
            })
            .then_expect_events(vec![LoanEvent::OfferRefused {
                terms,
                reason,
                refused_at: at(1),
            }]);
    };
    refused(
        terms("0.81"),
        Unlawful::RateAboveCap {
            rate: "0.81".parse().unwrap(),
            cap: Decimal::new(8, 1),
        },
    );
    // A stricter edition (a ПСК cap of 200 %) refuses what the rate cap allows.
    let mut strict = terms("0.8");
    strict.rules.max_psk_percent = Decimal::from(200);
    refused(
        strict,
        Unlawful::PskAboveCap {
            psk: "292.000".parse().unwrap(),
            cap: Decimal::from(200),
        },
    );
    // A refused offer is not signed.
    loans()
        .given(vec![LoanEvent::OfferRefused {
            terms: terms("0.81"),
            reason: Unlawful::RateAboveCap {
                rate: "0.81".parse().unwrap(),
                cap: Decimal::new(8, 1),
            },
            refused_at: at(1),
        }])
        .when(LoanCommand::Sign { at: at(2) })
        .then_expect_error(LoanError::NotSignable);
}

/// 353-FZ art. 7 part 6: the contract is concluded when signed. An offer approved on
/// 2026-03-31 at 23:30 Moscow time and signed on 2026-04-01 follows the edition of 1 April
/// (total cost cap 100 %, not 130 %), and is dated that day.
#[test]
fn the_contract_follows_the_edition_of_the_day_it_is_signed() {
    let msk = |d: u32, h: u32, m: u32| {
        chrono::FixedOffset::east_opt(3 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, if d == 31 { 3 } else { 4 }, d, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    };
    let law = LawEditions::default();
    let march_31 = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
    let april_1 = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    let offer = LoanEvent::LoanOffered {
        terms: OfferTerms {
            contract_date: march_31,
            rules: law.for_contract(march_31).clone(),
            expires_at: msk(3, 23, 30),
            ..terms("0.8")
        },
        interest_for_term: k(252_000),
        total_to_repay: k(1_752_000),
        psk_percent: "292.000".parse().unwrap(),
        offered_at: msk(31, 23, 30),
    };
    assert_eq!(
        law.for_contract(march_31).total_cost_cap_percent,
        Decimal::from(130)
    );
    let signed = LoanEvent::ContractSigned {
        signed_at: msk(1, 0, 10),
        contract_date: Some(april_1),
        rules: Some(law.for_contract(april_1).clone()),
    };
    loans()
        .given(vec![offer.clone()])
        .when(LoanCommand::Sign { at: msk(1, 0, 10) })
        .then_expect_events(vec![signed.clone()]);
    let mut loan = Loan::default();
    loan.apply(offer);
    loan.apply(signed);
    let terms = loan.terms().unwrap();
    assert_eq!(terms.contract_date, april_1);
    assert_eq!(terms.rules.total_cost_cap_percent, Decimal::from(100));
}

/// Terms lawful on the offer's day but not on the signing day: signing is refused, with the
/// reason, and the offer lapses.
#[test]
fn signing_terms_unlawful_on_the_signing_day_is_refused() {
    let mut rules = LawEditions::default().for_contract(day(1)).clone();
    let before = (day(1), rules.clone());
    rules.max_daily_rate_percent = Decimal::new(5, 1);
    let law = LawEditions::new(vec![before, (day(2), rules)]).unwrap();
    let refused = LoanEvent::SigningRefused {
        reason: Unlawful::RateAboveCap {
            rate: Decimal::new(8, 1),
            cap: Decimal::new(5, 1),
        },
        refused_at: at(2),
    };
    TestFramework::<Loan>::with(law)
        .given(vec![offered()])
        .when(LoanCommand::Sign { at: at(2) })
        .then_expect_events(vec![refused.clone()]);
    let mut loan = Loan::default();
    loan.apply(offered());
    loan.apply(refused);
    assert_eq!(loan.status(), LoanStatus::Expired);
}

#[test]
fn the_borrower_signs_before_the_offer_lapses() {
    loans()
        .given(vec![offered()])
        .when(LoanCommand::Sign { at: at(2) })
        .then_expect_events(vec![signed()]);
    loans()
        .given(vec![offered()])
        .when(LoanCommand::Sign { at: at(3) })
        .then_expect_error(LoanError::OfferExpired);
    loans()
        .given(vec![offered(), signed()])
        .when(LoanCommand::Sign { at: at(2) })
        .then_expect_error(LoanError::NotSignable);
    loans()
        .given_no_previous_events()
        .when(LoanCommand::Sign { at: at(2) })
        .then_expect_error(LoanError::NotOffered);
}

#[test]
fn an_unsigned_offer_lapses_once_its_time_is_up() {
    loans()
        .given(vec![offered()])
        .when(LoanCommand::Expire { at: at(3) })
        .then_expect_events(vec![LoanEvent::OfferExpired { expired_at: at(3) }]);
    for given in [vec![offered()], vec![offered(), signed()]] {
        loans()
            .given(given)
            .when(LoanCommand::Expire { at: at(2) })
            .then_expect_events(vec![]);
    }
}

#[test]
fn the_payout_is_requested_once_and_confirmed_or_failed_once() {
    let request = || LoanCommand::RequestPayout {
        payout_id: PAYOUT,
        at: at(2),
    };
    loans()
        .given(vec![offered(), signed()])
        .when(request())
        .then_expect_events(vec![requested()]);
    loans()
        .given(vec![offered(), signed(), requested()])
        .when(request())
        .then_expect_events(vec![]);
    loans()
        .given(vec![offered()])
        .when(request())
        .then_expect_error(LoanError::NotSigned);

    let confirm = |id| LoanCommand::ConfirmPayout {
        payout_id: id,
        on: day(1),
        at: at(1),
    };
    loans()
        .given(vec![offered(), signed(), requested()])
        .when(confirm(PAYOUT))
        .then_expect_events(vec![issued()]);
    loans()
        .given(active())
        .when(confirm(PAYOUT))
        .then_expect_events(vec![]);
    loans()
        .given(vec![offered(), signed(), requested()])
        .when(confirm(Uuid::from_u128(5)))
        .then_expect_error(LoanError::UnknownPayout(Uuid::from_u128(5)));

    let fail = LoanCommand::FailPayout {
        payout_id: PAYOUT,
        reason: "card blocked".into(),
        at: at(2),
    };
    loans()
        .given(vec![offered(), signed(), requested()])
        .when(fail.clone())
        .then_expect_events(vec![LoanEvent::PayoutFailed {
            payout_id: PAYOUT,
            reason: "card blocked".into(),
            failed_at: at(2),
        }]);
    loans()
        .given(active())
        .when(fail)
        .then_expect_events(vec![]);
}

#[test]
fn interest_accrues_from_the_day_after_issue_once_per_day() {
    loans()
        .given(active())
        .when(LoanCommand::Accrue { through: day(1) })
        .then_expect_events(vec![]);
    loans()
        .given(active())
        .when(LoanCommand::Accrue { through: day(5) })
        .then_expect_events(vec![accrued(2, 5, 48_000, 0, false)]);
    // Catching up after downtime, and the same day again changes nothing.
    let mut given = active();
    given.push(accrued(2, 5, 48_000, 0, false));
    loans()
        .given(given.clone())
        .when(LoanCommand::Accrue { through: day(5) })
        .then_expect_events(vec![]);
    loans()
        .given(given)
        .when(LoanCommand::Accrue { through: day(7) })
        .then_expect_events(vec![accrued(6, 7, 24_000, 0, false)]);
}

#[test]
fn after_the_due_date_the_loan_is_overdue_and_a_penalty_accrues() {
    let mut given = active();
    given.push(accrued(2, 22, 252_000, 0, false));
    // 15 000 ₽ × 20 % / 365 = 8.219… ₽, 8.21 ₽ a day (rounded down) on the overdue principal.
    loans()
        .given(given)
        .when(LoanCommand::Accrue { through: day(24) })
        .then_expect_events(vec![
            LoanEvent::LoanFellOverdue { on: day(23) },
            accrued(23, 24, 24_000, 1_642, true),
        ]);
}

#[test]
fn nothing_accrues_beyond_the_total_cost_cap() {
    // A contract of December 2026: at most 100 % of 15 000 ₽ in interest and penalties.
    let mut given = active();
    given.push(accrued(2, 22, 252_000, 0, false));
    given.push(LoanEvent::LoanFellOverdue { on: day(23) });
    given.push(LoanEvent::InterestAccrued {
        from: day(23),
        through: day(23),
        interest: k(1_200_000),
        penalty: k(47_000),
        overdue: true,
    });
    // 2 520 + 12 000 + 470 = 14 990 ₽ charged: 10 ₽ of room, all of it interest.
    loans()
        .given(given.clone())
        .when(LoanCommand::Accrue { through: day(25) })
        .then_expect_events(vec![accrued(24, 25, 1_000, 0, true)]);
    given.push(accrued(24, 25, 1_000, 0, true));
    loans()
        .given(given)
        .when(LoanCommand::Accrue { through: day(31) })
        .then_expect_events(vec![]);
}

#[test]
fn early_repayment_pays_interest_for_the_days_used_and_closes_the_loan() {
    // Repaid on day 5 after issue: 4 days of interest (2nd to 5th), 480 ₽.
    let applied = Debt {
        current_interest: k(48_000),
        current_principal: k(1_500_000),
        ..Debt::default()
    };
    loans()
        .given(active())
        .when(pay("p1", 1_548_000, 5))
        .then_expect_events(vec![
            accrued(2, 5, 48_000, 0, false),
            received("p1", 1_548_000, 5, applied, 0),
            LoanEvent::LoanRepaid { closed_on: day(5) },
        ]);
}

#[test]
fn a_partial_payment_goes_to_interest_first_and_a_duplicate_is_ignored() {
    let mut given = active();
    given.push(accrued(2, 5, 48_000, 0, false));
    let applied = Debt {
        current_interest: k(48_000),
        current_principal: k(2_000),
        ..Debt::default()
    };
    loans()
        .given(given.clone())
        .when(pay("p1", 50_000, 5))
        .then_expect_events(vec![received("p1", 50_000, 5, applied, 0)]);
    given.push(received("p1", 50_000, 5, applied, 0));
    loans()
        .given(given)
        .when(pay("p1", 50_000, 5))
        .then_expect_events(vec![]);
}

#[test]
fn an_overpayment_is_held_and_payments_before_issue_are_refused() {
    let applied = Debt {
        current_interest: k(12_000),
        current_principal: k(1_500_000),
        ..Debt::default()
    };
    loans()
        .given(active())
        .when(pay("p1", 1_600_000, 2))
        .then_expect_events(vec![
            accrued(2, 2, 12_000, 0, false),
            received("p1", 1_600_000, 2, applied, 88_000),
            LoanEvent::LoanRepaid { closed_on: day(2) },
        ]);
    loans()
        .given(vec![offered(), signed()])
        .when(pay("p1", 100, 2))
        .then_expect_error(LoanError::NotIssued);
}

#[test]
fn an_overdue_payment_settles_overdue_interest_then_overdue_principal() {
    let mut given = active();
    given.push(accrued(2, 22, 252_000, 0, false));
    given.push(LoanEvent::LoanFellOverdue { on: day(23) });
    given.push(accrued(23, 23, 12_000, 821, true));
    // Paid on day 23: 2 640 ₽ overdue interest first, then 1 000 ₽ of principal; the penalty
    // waits (a contract from 2024-07-01).
    let applied = Debt {
        overdue_interest: k(264_000),
        overdue_principal: k(100_000),
        ..Debt::default()
    };
    loans()
        .given(given)
        .when(pay("p2", 364_000, 23))
        .then_expect_events(vec![received("p2", 364_000, 23, applied, 0)]);
}

#[test]
fn an_overdue_debtor_is_reminded_within_the_laws_limits() {
    use super::reminders::ReminderRules;
    let mut given = active();
    given.push(accrued(2, 22, 252_000, 0, false));
    given.push(LoanEvent::LoanFellOverdue { on: day(23) });
    let remind = |d: u32, h: u32| LoanCommand::Remind {
        at: Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).unwrap(),
        rules: ReminderRules::default(),
    };
    // Thursday 24 December, 12:00 in Moscow (09:00 UTC): two days overdue, 17 520 ₽ charged
    // through the due date and the two overdue days not recorded yet: 2 × 120 ₽ interest and
    // 2 × 8.21 ₽ penalty (20 % a year of 15 000 ₽, per day, rounded down).
    let sent = LoanEvent::OverdueReminderSent {
        days_overdue: 2,
        owed: k(1_752_000 + 2 * 12_000 + 2 * 821),
        sent_at: Utc.with_ymd_and_hms(2026, 12, 24, 9, 0, 0).unwrap(),
    };
    loans()
        .given(given.clone())
        .when(remind(24, 9))
        .then_expect_events(vec![sent.clone()]);
    // Not at night (23:00 in Moscow), not again too soon.
    loans()
        .given(given.clone())
        .when(remind(24, 20))
        .then_expect_events(vec![]);
    given.push(sent);
    loans()
        .given(given)
        .when(remind(24, 10))
        .then_expect_events(vec![]);
    // A loan in its term is not reminded.
    loans()
        .given(active())
        .when(remind(10, 9))
        .then_expect_events(vec![]);
    // Past its due date with nothing charged since issue recorded, it is: the figures are the
    // loan's own, derived to the day.
    loans()
        .given(active())
        .when(remind(24, 9))
        .then_expect_events(vec![LoanEvent::OverdueReminderSent {
            days_overdue: 2,
            owed: k(1_752_000 + 2 * 12_000 + 2 * 821),
            sent_at: Utc.with_ymd_and_hms(2026, 12, 24, 9, 0, 0).unwrap(),
        }]);
}

#[test]
fn an_overpayment_is_refunded_on_request_once_and_held_again_if_the_refund_fails() {
    let applied = Debt {
        current_interest: k(12_000),
        current_principal: k(1_500_000),
        ..Debt::default()
    };
    let mut given = active();
    given.push(accrued(2, 2, 12_000, 0, false));
    given.push(received("p1", 1_600_000, 2, applied, 88_000));
    given.push(LoanEvent::LoanRepaid { closed_on: day(2) });
    let refund = Uuid::from_u128(9);
    let request = LoanCommand::RequestRefund {
        refund_id: refund,
        at: at(3),
    };
    let requested = LoanEvent::RefundRequested {
        refund_id: refund,
        amount: k(88_000),
        requested_at: at(3),
    };
    loans()
        .given(given.clone())
        .when(request.clone())
        .then_expect_events(vec![requested.clone()]);
    given.push(requested);
    // The same request again does nothing; another while one is under way is refused.
    loans()
        .given(given.clone())
        .when(request)
        .then_expect_events(vec![]);
    loans()
        .given(given.clone())
        .when(LoanCommand::RequestRefund {
            refund_id: Uuid::from_u128(10),
            at: at(3),
        })
        .then_expect_error(LoanError::RefundPending);
    let settle = |failure: Option<&str>| LoanCommand::SettleRefund {
        refund_id: refund,
        failure: failure.map(str::to_string),
        at: at(4),
    };
    loans()
        .given(given.clone())
        .when(settle(None))
        .then_expect_events(vec![LoanEvent::OverpaymentRefunded {
            refund_id: refund,
            refunded_at: at(4),
        }]);
    let failed = LoanEvent::RefundFailed {
        refund_id: refund,
        reason: "card closed".into(),
        failed_at: at(4),
    };
    loans()
        .given(given.clone())
        .when(settle(Some("card closed")))
        .then_expect_events(vec![failed.clone()]);
    // Failed: the money is held again and may be asked for anew.
    given.push(failed);
    loans()
        .given(given)
        .when(LoanCommand::RequestRefund {
            refund_id: Uuid::from_u128(10),
            at: at(5),
        })
        .then_expect_events(vec![LoanEvent::RefundRequested {
            refund_id: Uuid::from_u128(10),
            amount: k(88_000),
            requested_at: at(5),
        }]);
    loans()
        .given(active())
        .when(LoanCommand::RequestRefund {
            refund_id: refund,
            at: at(3),
        })
        .then_expect_error(LoanError::NothingToRefund);
}

#[test]
fn a_payment_reported_late_is_booked_on_its_own_day_and_the_days_after_recharged() {
    // Charged through the 5th on 15 000 ₽; then a payment of 10 000 ₽ made on the 3rd arrives.
    let mut given = active();
    given.push(accrued(2, 5, 48_000, 0, false));
    let applied = Debt {
        current_interest: k(24_000),
        current_principal: k(976_000),
        ..Debt::default()
    };
    // From the 4th the principal was 5 240 ₽: 41.92 ₽ a day, not 120 ₽.
    let corrected = Debt {
        current_interest: k(8_384),
        current_principal: k(524_000),
        ..Debt::default()
    };
    loans()
        .given(given)
        .when(pay("late", 1_000_000, 3))
        .then_expect_events(vec![
            received("late", 1_000_000, 3, applied, 0),
            LoanEvent::LedgerCorrected {
                debt: corrected,
                charged: k(32_384),
                held: Kopecks::ZERO,
                overdue: false,
                allocations: vec![(
                    PaymentChannel::SberbankOnline,
                    "late".into(),
                    Allocation {
                        applied,
                        held: Kopecks::ZERO,
                    },
                )],
                corrected_at: at(3),
            },
        ]);
}

#[test]
fn a_late_payment_that_settles_everything_closes_the_loan_on_its_own_day() {
    let mut given = active();
    given.push(accrued(2, 5, 48_000, 0, false));
    // Paid on the 2nd: 15 000 ₽ and one day of interest; the 3rd to 5th charged nothing.
    let applied = Debt {
        current_interest: k(12_000),
        current_principal: k(1_500_000),
        ..Debt::default()
    };
    loans()
        .given(given)
        .when(pay("late", 1_512_000, 2))
        .then_expect_events(vec![
            received("late", 1_512_000, 2, applied, 0),
            LoanEvent::LedgerCorrected {
                debt: Debt::default(),
                charged: k(12_000),
                held: Kopecks::ZERO,
                overdue: false,
                allocations: vec![(
                    PaymentChannel::SberbankOnline,
                    "late".into(),
                    Allocation {
                        applied,
                        held: Kopecks::ZERO,
                    },
                )],
                corrected_at: at(2),
            },
            LoanEvent::LoanRepaid { closed_on: day(2) },
        ]);
}

mod replay_agrees {
    use cqrs_es::event_sink::EventSink;
    use cqrs_es::Aggregate;
    use proptest::prelude::*;

    use super::*;

    /// Runs `command` on `loan` as the framework would, returning nothing but the new state.
    fn run(loan: &mut Loan, command: LoanCommand) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let sink = EventSink::default();
            loan.handle(command, &LawEditions::default(), &sink)
                .await
                .unwrap();
        });
    }

    proptest! {
        /// The figures derived for a day from whatever was recorded before are the ones the
        /// charges recorded through that day give: the read side and the aggregate agree.
        #[test]
        fn the_figures_derived_for_a_day_are_the_recorded_ones(
            steps in proptest::collection::vec((1u32..200, 0i64..2_000_000, any::<bool>()), 1..8),
            asked in 1u64..400,
        ) {
            let later = |days: u64| day(1) + chrono::Days::new(days);
            let mut loan = Loan::default();
            for event in active() {
                loan.apply(event);
            }
            let mut horizon = 0;
            for (n, (d, kopecks, is_payment)) in steps.into_iter().enumerate() {
                if is_payment && kopecks > 0 {
                    // Payments in December, some of them after later days were charged.
                    run(&mut loan, pay(&format!("p{n}"), kopecks, d % 31 + 1));
                } else {
                    horizon = horizon.max(u64::from(d));
                    run(&mut loan, LoanCommand::Accrue { through: later(horizon) });
                }
            }
            let asked = later(horizon.max(asked).max(31));
            let derived = loan.course().unwrap().on(asked);
            if loan.status() == LoanStatus::Active {
                run(&mut loan, LoanCommand::Accrue { through: asked });
                prop_assert_eq!(&derived, loan.course().unwrap());
            } else {
                // Repaid: nothing more is charged.
                prop_assert_eq!(derived.debt, Debt::default());
                prop_assert_eq!(derived.charged, loan.course().unwrap().charged);
            }
        }

        /// Whatever order payments arrive in and whenever interest is charged, the loan keeps
        /// exactly what replaying its ledger with every payment on its own day gives.
        #[test]
        fn the_kept_state_is_the_replayed_one(
            steps in proptest::collection::vec((1u32..30, 0i64..1_000_000, any::<bool>()), 1..12),
        ) {
            let mut loan = Loan::default();
            for event in active() {
                loan.apply(event);
            }
            let mut horizon = 1;
            for (n, (d, kopecks, is_payment)) in steps.into_iter().enumerate() {
                if is_payment && kopecks > 0 {
                    run(&mut loan, pay(&format!("p{n}"), kopecks, d));
                } else {
                    horizon = horizon.max(d);
                    run(&mut loan, LoanCommand::Accrue { through: day(horizon) });
                }
                let last_paid = loan.history.iter().map(|(_, _, d, _)| *d).max();
                let through = [loan.accrued_through(), last_paid, Some(day(1))]
                    .into_iter()
                    .flatten()
                    .max()
                    .unwrap();
                let replay = loan.replay(&loan.history.clone(), through);
                let (kept, replayed) = (loan.course().unwrap(), replay.course.unwrap());
                prop_assert_eq!(kept.debt, replayed.debt);
                prop_assert_eq!(kept.charged, replayed.charged);
                prop_assert_eq!(loan.held, replay.held);
            }
        }
    }
}

#[test]
fn a_contract_number_is_its_date_and_serial_and_is_found_by_its_digits() {
    let number = ContractNumber::new(chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(), 42);
    assert_eq!(number.as_str(), "911-261127-000042");
    assert_eq!(contract_digits(" 911 261127-000042 "), number.digits());
}

#[test]
fn a_loan_is_overdue_from_the_day_after_its_due_date() {
    let due = chrono::NaiveDate::from_ymd_opt(2026, 12, 18).unwrap();
    assert_eq!(days_overdue(due, due), 0);
    assert_eq!(days_overdue(due, due - chrono::Days::new(3)), 0);
    assert_eq!(days_overdue(due, due + chrono::Days::new(2)), 2);
}

/// A loan is opened only by its offer, made or refused, and that first event names the borrower:
/// the audit trail's subjects read no later loan event (`projections/src/audit.rs`).
#[test]
fn a_loan_is_opened_only_by_its_offer_which_names_the_borrower() {
    use super::reminders::ReminderRules;
    let customer = terms("0.8").customer_id;
    for rate in ["0.8", "0.81"] {
        let opened = loans()
            .given_no_previous_events()
            .when(LoanCommand::Offer {
                terms: Box::new(terms(rate)),
                at: at(1),
            })
            .inspect_result()
            .unwrap();
        let first = serde_json::to_value(&opened[0]).unwrap();
        assert!(matches!(
            opened[0],
            LoanEvent::LoanOffered { .. } | LoanEvent::OfferRefused { .. }
        ));
        assert_eq!(crate::replay::named_subject(&first), Some(customer));
    }
    let id = Uuid::from_u128(7);
    let others = [
        LoanCommand::Sign { at: at(1) },
        LoanCommand::Expire { at: at(1) },
        LoanCommand::RequestPayout {
            payout_id: id,
            at: at(1),
        },
        LoanCommand::ConfirmPayout {
            payout_id: id,
            on: day(1),
            at: at(1),
        },
        LoanCommand::FailPayout {
            payout_id: id,
            reason: "нет".into(),
            at: at(1),
        },
        LoanCommand::Accrue { through: day(5) },
        LoanCommand::Remind {
            at: at(5),
            rules: ReminderRules::default(),
        },
        LoanCommand::ChangeTimeZone {
            time_zone: LocalTimeZone::MOSCOW,
            at: at(1),
        },
        LoanCommand::RequestRefund {
            refund_id: id,
            at: at(1),
        },
        LoanCommand::SettleRefund {
            refund_id: id,
            failure: None,
            at: at(1),
        },
        LoanCommand::ApplyPayment {
            channel: PaymentChannel::SberbankOnline,
            external_id: "sb-1".into(),
            amount: Kopecks::new(100).unwrap(),
            paid_at: at(1),
            paid_on: day(1),
        },
    ];
    for command in others {
        let recorded = loans()
            .given_no_previous_events()
            .when(command.clone())
            .inspect_result();
        assert!(
            recorded.as_ref().map_or(true, Vec::is_empty),
            "{command:?} recorded {recorded:?} on a loan never offered"
        );
    }
}
