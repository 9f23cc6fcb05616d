use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::consents::{ConsentTexts, TextVersion};
use super::*;
use crate::loan::law::{CreditRecord, LawRules, Unlawful};
use crate::values::MessageText;
use crate::Sealed;

type Framework = TestFramework<LoanApplication>;

const CUSTOMER: Uuid = Uuid::from_u128(1);
const UNDERWRITER: Uuid = Uuid::from_u128(2);

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()
}

fn rate(text: &str) -> DailyRate {
    DailyRate::parse(text).unwrap()
}

fn rub(roubles: i64) -> Kopecks {
    Kopecks::from_roubles(roubles)
}

fn asked(amount: Kopecks, term_days: u16) -> LoanRequest {
    LoanRequest { amount, term_days }
}

fn submit(loan: LoanRequest) -> LoanApplicationCommand {
    LoanApplicationCommand::Submit {
        customer_id: CUSTOMER,
        applicant: Sealed::new(CUSTOMER, "n".into(), "c".into()),
        loan,
        payout: Sealed::new(CUSTOMER, "n2".into(), "c2".into()),
        referral_code: None,
        repeat: false,
        consents: Some(Box::new(texts())),
        at: at(),
    }
}

/// The consent texts an applicant accepted.
fn texts() -> ConsentTexts {
    let version = |n: u128, sha: &str| TextVersion {
        document_id: Uuid::from_u128(n),
        sha256: sha.to_string(),
    };
    ConsentTexts {
        personal_data: version(1, "aa"),
        credit_history_check: version(2, "bb"),
        terms: version(3, "cc"),
    }
}

fn submitted() -> LoanApplicationEvent {
    submitted_with(asked(rub(15_000), 21))
}

fn submitted_with(loan: LoanRequest) -> LoanApplicationEvent {
    LoanApplicationEvent::ApplicationSubmitted {
        customer_id: CUSTOMER,
        applicant: Sealed::new(CUSTOMER, "n".into(), "c".into()),
        loan,
        payout: Sealed::new(CUSTOMER, "n2".into(), "c2".into()),
        consents_given_at: at(),
        consents: Some(Box::new(texts())),
        referral_code: None,
        repeat: false,
        submitted_at: at(),
    }
}

/// 80 000 ₽ a month, no other loans.
fn assessment() -> Assessment {
    Assessment {
        monthly_income: rub(80_000),
        monthly_payments: Kopecks::ZERO,
        credit_history: vec![],
        declared: declared(80_000, 0),
    }
}

/// The declared figures as the command layer would seal them (here: a stand-in naming them).
fn declared(income: i64, payments: i64) -> Sealed<DeclaredFinances> {
    Sealed::new(CUSTOMER, format!("{income}+{payments}"), "sealed".into())
}

fn approve(amount: Option<i64>, term: Option<u16>, daily: Option<&str>) -> LoanApplicationCommand {
    approve_with(amount, term, daily, assessment())
}

fn approve_with(
    amount: Option<i64>,
    term: Option<u16>,
    daily: Option<&str>,
    assessment: Assessment,
) -> LoanApplicationCommand {
    LoanApplicationCommand::Approve {
        underwriter_id: UNDERWRITER,
        amount: amount.map(rub),
        term_days: term,
        daily_rate: daily.map(rate),
        assessment,
        at: at(),
    }
}

/// The assessment of an applicant who declared `income` ₽ a month and pays `payments` ₽ a month
/// on other loans.
fn assessed(income: i64, payments: i64, pdn: Option<&str>) -> LoanApplicationEvent {
    LoanApplicationEvent::DebtToIncomeAssessed {
        declared: Some(declared(income, payments)),
        pdn_percent: pdn.map(|p| p.parse().unwrap()),
        assessed_at: at(),
    }
}

fn approved(amount: i64, term_days: u16, daily: &str) -> LoanApplicationEvent {
    LoanApplicationEvent::ApplicationApproved {
        underwriter_id: UNDERWRITER,
        amount: rub(amount),
        term_days,
        daily_rate: rate(daily),
        approved_at: at(),
    }
}

fn reject() -> LoanApplicationCommand {
    LoanApplicationCommand::Reject {
        underwriter_id: UNDERWRITER,
        reason: reason(),
        at: at(),
    }
}

/// "ПДН выше допустимого", sealed (a stand-in).
fn reason() -> Sealed<MessageText> {
    Sealed::new(CUSTOMER, "n3".into(), "c3".into())
}

fn rejected() -> LoanApplicationEvent {
    LoanApplicationEvent::ApplicationRejected {
        underwriter_id: UNDERWRITER,
        reason: Some(reason()),
        rejected_at: at(),
    }
}

fn framework() -> Framework {
    Framework::with(LendingPolicy::default())
}

/// A loan held at any lender, costing `psk` % a year.
fn in_force(psk: &str) -> CreditRecord {
    CreditRecord {
        psk_percent: psk.parse().unwrap(),
        repaid_on: None,
    }
}

#[test]
fn a_customer_submits_an_application_within_the_product_limits() {
    framework()
        .given_no_previous_events()
        .when(submit(asked(rub(15_000), 21)))
        .then_expect_events(vec![submitted()]);
}

#[test]
fn the_limits_are_inclusive() {
    for loan in [asked(rub(1_000), 5), asked(rub(30_000), 30)] {
        framework()
            .given_no_previous_events()
            .when(submit(loan))
            .then_expect_events(vec![submitted_with(loan)]);
    }
}

#[test]
fn an_amount_outside_the_product_limits_is_refused() {
    for amount in [
        Kopecks::new(99_999).unwrap(),
        Kopecks::new(3_000_001).unwrap(),
    ] {
        framework()
            .given_no_previous_events()
            .when(submit(asked(amount, 21)))
            .then_expect_error(LoanApplicationError::AmountOutOfLimits {
                min: rub(1_000),
                max: rub(30_000),
            });
    }
}

#[test]
fn a_term_outside_the_product_limits_is_refused() {
    for term in [4, 31] {
        framework()
            .given_no_previous_events()
            .when(submit(asked(rub(15_000), term)))
            .then_expect_error(LoanApplicationError::TermOutOfLimits { min: 5, max: 30 });
    }
}

#[test]
fn an_application_is_submitted_once() {
    framework()
        .given(vec![submitted()])
        .when(submit(asked(rub(15_000), 21)))
        .then_expect_error(LoanApplicationError::AlreadySubmitted);
}

#[test]
fn approval_keeps_what_was_asked_at_the_product_rate_by_default() {
    framework()
        .given(vec![submitted()])
        .when(approve(None, None, None))
        .then_expect_events(vec![
            // 17 520 ₽ due against 80 000 ₽ a month: 21.9 %.
            assessed(80_000, 0, Some("21.9")),
            approved(15_000, 21, "0.8"),
        ]);
}

#[test]
fn an_underwriter_may_approve_less_for_shorter_at_a_lower_rate() {
    framework()
        .given(vec![submitted()])
        .when(approve(Some(10_000), Some(14), Some("0.5")))
        .then_expect_events(vec![
            // 10 000 ₽ + 14 × 50 ₽ = 10 700 ₽: 13.4 % (13.375 rounded half up).
            assessed(80_000, 0, Some("13.4")),
            approved(10_000, 14, "0.5"),
        ]);
}

#[test]
fn the_debt_to_income_ratio_counts_existing_loans_and_needs_an_income() {
    let heavy = Assessment {
        monthly_income: rub(30_000),
        monthly_payments: rub(20_000),
        credit_history: vec![in_force("292")],
        declared: declared(30_000, 20_000),
    };
    framework()
        .given(vec![submitted()])
        .when(approve_with(None, None, None, heavy))
        .then_expect_events(vec![
            // (20 000 + 17 520) / 30 000 = 125.1 %: recorded (the borrower is warned).
            assessed(30_000, 20_000, Some("125.1")),
            approved(15_000, 21, "0.8"),
        ]);
    let no_income = Assessment {
        monthly_income: Kopecks::ZERO,
        declared: declared(0, 0),
        ..assessment()
    };
    framework()
        .given(vec![submitted()])
        .when(approve_with(None, None, None, no_income))
        .then_expect_events(vec![assessed(0, 0, None), approved(15_000, 21, "0.8")]);
}

#[test]
fn no_third_loan_above_200_percent_a_year() {
    let two_expensive = Assessment {
        credit_history: vec![in_force("292"), in_force("250"), in_force("150")],
        ..assessment()
    };
    framework()
        .given(vec![submitted()])
        .when(approve_with(None, None, None, two_expensive.clone()))
        .then_expect_error(LoanApplicationError::Unlawful(
            Unlawful::HighCostLoansHeld {
                held: 2,
                above: Decimal::from(200),
            },
        ));
    // At 0.5 % a day the loan costs 182.5 % a year: not high-cost, so allowed.
    framework()
        .given(vec![submitted()])
        .when(approve_with(None, None, Some("0.5"), two_expensive))
        .then_expect_events(vec![
            assessed(80_000, 0, Some("20.7")),
            approved(15_000, 21, "0.5"),
        ]);
}

#[test]
fn approval_never_grants_more_or_longer_than_asked() {
    framework()
        .given(vec![submitted()])
        .when(approve(Some(20_000), None, None))
        .then_expect_error(LoanApplicationError::AmountAboveRequest { asked: rub(15_000) });
    framework()
        .given(vec![submitted()])
        .when(approve(None, Some(30), None))
        .then_expect_error(LoanApplicationError::TermAboveRequest { asked: 21 });
}

#[test]
fn approval_stays_within_the_product_limits_and_rate_cap() {
    framework()
        .given(vec![submitted()])
        .when(approve(Some(500), None, None))
        .then_expect_error(LoanApplicationError::AmountOutOfLimits {
            min: rub(1_000),
            max: rub(30_000),
        });
    framework()
        .given(vec![submitted()])
        .when(approve(None, None, Some("0.801")))
        .then_expect_error(LoanApplicationError::RateAboveCap { cap: rate("0.8") });
}

#[test]
fn an_underwriter_rejects_with_a_reason() {
    framework()
        .given(vec![submitted()])
        .when(reject())
        .then_expect_events(vec![rejected()]);
}

#[test]
fn decisions_are_final() {
    for history in [
        vec![submitted(), approved(15_000, 21, "0.8")],
        vec![submitted(), rejected()],
    ] {
        framework()
            .given(history.clone())
            .when(approve(None, None, None))
            .then_expect_error(LoanApplicationError::AlreadyDecided);
        framework()
            .given(history)
            .when(reject())
            .then_expect_error(LoanApplicationError::AlreadyDecided);
    }
}

#[test]
fn nothing_is_decided_on_an_application_never_submitted() {
    framework()
        .given_no_previous_events()
        .when(approve(None, None, None))
        .then_expect_error(LoanApplicationError::NotSubmitted);
    framework()
        .given_no_previous_events()
        .when(reject())
        .then_expect_error(LoanApplicationError::NotSubmitted);
}

/// 7 777 ₽ for 21 days at 0.8 %: rounded half up, 62.22 ₽ a day made the ПСК 292.019 % and the
/// approval could never become an offer. Rounded down it is 62.21 ₽, and the ПСК within 292 %.
#[test]
fn an_approval_at_the_caps_is_one_the_loan_can_offer() {
    framework()
        .given(vec![submitted_with(asked(rub(7_777), 21))])
        .when(approve(None, None, None))
        .then_expect_events(vec![
            // 7 777 ₽ + 21 × 62.21 ₽ = 9 083.41 ₽ of 80 000 ₽.
            assessed(80_000, 0, Some("11.4")),
            approved(7_777, 21, "0.8"),
        ]);
    let cost = LoanCost::of(rub(7_777), 21, rate("0.8"));
    assert_eq!(cost.interest, Kopecks::new(21 * 6_221).unwrap());
    assert!(
        cost.psk_percent <= Decimal::from(292),
        "{}",
        cost.psk_percent
    );
}

/// Every figure of the offer is checked against the edition of the approval's day: an
/// approval that could not be offered is refused, naming what to change.
#[test]
fn an_approval_the_law_would_not_let_be_offered_is_refused() {
    let strict = |change: fn(&mut LawRules)| {
        let mut rules = LawEditions::default()
            .for_contract(moscow_date(at()))
            .clone();
        change(&mut rules);
        LendingPolicy {
            law: LawEditions::new(vec![(moscow_date(at()), rules)]).unwrap(),
            ..LendingPolicy::default()
        }
    };
    let lower_rate = strict(|r| r.max_daily_rate_percent = Decimal::new(5, 1));
    Framework::with(lower_rate)
        .given(vec![submitted()])
        .when(approve(None, None, None))
        .then_expect_error(LoanApplicationError::Unlawful(Unlawful::RateAboveCap {
            rate: Decimal::new(8, 1),
            cap: Decimal::new(5, 1),
        }));
    let lower_psk = strict(|r| r.max_psk_percent = Decimal::from(200));
    Framework::with(lower_psk)
        .given(vec![submitted()])
        .when(approve(None, None, None))
        .then_expect_error(LoanApplicationError::Unlawful(Unlawful::PskAboveCap {
            psk: "292.000".parse().unwrap(),
            cap: Decimal::from(200),
        }));
    let lower_cap = strict(|r| r.total_cost_cap_percent = Decimal::from(10));
    Framework::with(lower_cap)
        .given(vec![submitted()])
        .when(approve(None, None, None))
        .then_expect_error(LoanApplicationError::Unlawful(Unlawful::CostAboveCap {
            interest: rub(2_520),
            cap: Decimal::from(10),
        }));
}

/// From 2027-04-01 (545-FZ, second stage): one loan above 100 % a year at most, and four whole
/// days after repaying one before the next.
#[test]
fn the_second_stage_allows_one_loan_above_100_percent_and_a_wait_after_it() {
    let april = Utc.with_ymd_and_hms(2027, 4, 1, 9, 0, 0).unwrap();
    let approve_on =
        |when: DateTime<Utc>, history: Vec<CreditRecord>| LoanApplicationCommand::Approve {
            underwriter_id: UNDERWRITER,
            amount: None,
            term_days: None,
            daily_rate: None,
            assessment: Assessment {
                credit_history: history,
                ..assessment()
            },
            at: when,
        };
    framework()
        .given(vec![submitted()])
        .when(approve_on(april, vec![in_force("120")]))
        .then_expect_error(LoanApplicationError::Unlawful(
            Unlawful::HighCostLoansHeld {
                held: 1,
                above: Decimal::from(100),
            },
        ));
    // The day before, the first stage counted only loans above 200 %.
    let march = april - chrono::Duration::days(1);
    let allowed = framework()
        .given(vec![submitted()])
        .when(approve_on(march, vec![in_force("120")]));
    assert!(allowed.inspect_result().is_ok());
    let repaid = |y, m, d| CreditRecord {
        psk_percent: "292".parse().unwrap(),
        repaid_on: chrono::NaiveDate::from_ymd_opt(y, m, d),
    };
    framework()
        .given(vec![submitted()])
        .when(approve_on(april, vec![repaid(2027, 3, 28)]))
        .then_expect_error(LoanApplicationError::Unlawful(
            Unlawful::HighCostWaitingPeriod {
                above: Decimal::from(100),
                repaid_on: chrono::NaiveDate::from_ymd_opt(2027, 3, 28).unwrap(),
                allowed_from: chrono::NaiveDate::from_ymd_opt(2027, 4, 2).unwrap(),
            },
        ));
    let waited = framework()
        .given(vec![submitted()])
        .when(approve_on(april, vec![repaid(2027, 3, 27)]));
    assert!(waited.inspect_result().is_ok());
}

#[test]
fn a_returned_approval_waits_for_a_new_decision() {
    let returned = LoanApplicationEvent::ApplicationReturned {
        reason: "ПСК выше предела".into(),
        returned_at: at(),
    };
    framework()
        .given(vec![submitted(), approved(15_000, 21, "0.8")])
        .when(LoanApplicationCommand::Return {
            reason: "ПСК выше предела".into(),
            at: at(),
        })
        .then_expect_events(vec![returned.clone()]);
    framework()
        .given(vec![
            submitted(),
            approved(15_000, 21, "0.8"),
            returned.clone(),
        ])
        .when(approve(Some(10_000), None, None))
        .then_expect_events(vec![
            assessed(80_000, 0, Some("14.6")),
            approved(10_000, 21, "0.8"),
        ]);
    // Returned once is enough: a repeat changes nothing.
    framework()
        .given(vec![submitted(), approved(15_000, 21, "0.8"), returned])
        .when(LoanApplicationCommand::Return {
            reason: "ПСК выше предела".into(),
            at: at(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn a_borrower_is_warned_above_half_their_income_or_without_one() {
    assert_eq!(pdn_warning(Some(rust_decimal::Decimal::new(500, 1))), None);
    let above = pdn_warning(Some(rust_decimal::Decimal::new(876, 1))).unwrap();
    assert!(above.contains("87.6 % дохода, больше 50 %"), "{above}");
    assert!(pdn_warning(None).unwrap().contains("доход не указан"));
}
