use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use proptest::prelude::*;
use uuid::Uuid;

use super::plan::CommissionPlan;
use super::values::{AgentKind, Month, ReferralCode};
use super::*;
use crate::Sealed;

const ACCOUNT: Uuid = Uuid::from_u128(1);
const CLIENT: Uuid = Uuid::from_u128(2);
const LOAN: Uuid = Uuid::from_u128(3);
const FINANCE: Uuid = Uuid::from_u128(4);
const PAYOUT: Uuid = Uuid::from_u128(5);

/// Moscow noon of 2026-`month`-`day`.
fn at(month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, 9, 0, 0).unwrap()
}

fn day(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, day).unwrap()
}

fn month(raw: &str) -> Month {
    Month::parse(raw).unwrap()
}

fn rub(roubles: i64) -> Kopecks {
    Kopecks::from_roubles(roubles)
}

/// 5 % of the principal, 300 ₽ for a client's first loan, at most 1 000 ₽ a loan.
fn plan() -> CommissionPlan {
    CommissionPlan {
        percent_of_principal: "5".parse().unwrap(),
        first_loan_bonus: rub(300),
        cap_per_loan: Some(rub(1_000)),
    }
}

fn register() -> AgentCommand {
    AgentCommand::Register {
        kind: AgentKind::SoleTrader,
        profile: Sealed::new(ACCOUNT, "n".into(), "c".into()),
        payout: Sealed::new(ACCOUNT, "n2".into(), "c2".into()),
        account_id: ACCOUNT,
        code: ReferralCode::parse("IVAN2026").unwrap(),
        plan: plan(),
        plan_from: day(11, 1),
        at: at(11, 1),
    }
}

fn registered() -> Vec<AgentEvent> {
    vec![
        AgentEvent::AgentRegistered {
            kind: AgentKind::SoleTrader,
            profile: Sealed::new(ACCOUNT, "n".into(), "c".into()),
            payout: Sealed::new(ACCOUNT, "n2".into(), "c2".into()),
            account_id: ACCOUNT,
            code: ReferralCode::parse("IVAN2026").unwrap(),
            plan: plan(),
            plan_from: day(11, 1),
            registered_at: at(11, 1),
        },
        AgentEvent::CommissionPlanChanged {
            version: 1,
            plan: plan(),
            effective_from: day(11, 1),
            changed_at: at(11, 1),
        },
    ]
}

fn attributed() -> AgentEvent {
    AgentEvent::ClientAttributed {
        customer_id: CLIENT,
        application_id: Uuid::from_u128(10),
        attributed_at: at(11, 2),
    }
}

fn with(events: Vec<AgentEvent>) -> Vec<AgentEvent> {
    registered().into_iter().chain(events).collect()
}

fn accrue(loan: Uuid, principal: Kopecks, on: (u32, u32)) -> AgentCommand {
    AgentCommand::Accrue {
        loan_id: loan,
        customer_id: CLIENT,
        principal,
        issued_on: day(on.0, on.1),
        at: at(on.0, on.1),
    }
}

fn accrued(
    loan: Uuid,
    principal: Kopecks,
    first: bool,
    amount: Kopecks,
    on: (u32, u32),
) -> AgentEvent {
    AgentEvent::CommissionAccrued {
        loan_id: loan,
        customer_id: CLIENT,
        principal,
        plan_version: 1,
        first_loan: first,
        amount,
        month: Month::of(day(on.0, on.1)),
        accrued_at: at(on.0, on.1),
    }
}

#[test]
fn an_admin_registers_an_agent_with_a_first_plan() {
    TestFramework::<Agent>::with(())
        .given_no_previous_events()
        .when(register())
        .then_expect_events(registered());
    TestFramework::<Agent>::with(())
        .given(registered())
        .when(register())
        .then_expect_error(AgentError::AlreadyRegistered);
}

#[test]
fn a_plan_outside_0_to_100_percent_is_refused() {
    let mut command = register();
    if let AgentCommand::Register { plan, .. } = &mut command {
        plan.percent_of_principal = "101".parse().unwrap();
    }
    TestFramework::<Agent>::with(())
        .given_no_previous_events()
        .when(command)
        .then_expect_error(AgentError::InvalidPlan);
}

#[test]
fn nothing_happens_to_an_agent_never_registered() {
    TestFramework::<Agent>::with(())
        .given_no_previous_events()
        .when(AgentCommand::Suspend { at: at(11, 2) })
        .then_expect_error(AgentError::NotRegistered);
}

#[test]
fn an_agent_is_suspended_and_resumed() {
    TestFramework::<Agent>::with(())
        .given(registered())
        .when(AgentCommand::Suspend { at: at(11, 5) })
        .then_expect_events(vec![AgentEvent::AgentSuspended {
            suspended_at: at(11, 5),
        }]);
    TestFramework::<Agent>::with(())
        .given(with(vec![AgentEvent::AgentSuspended {
            suspended_at: at(11, 5),
        }]))
        .when(AgentCommand::Suspend { at: at(11, 6) })
        .then_expect_error(AgentError::Suspended);
    TestFramework::<Agent>::with(())
        .given(registered())
        .when(AgentCommand::Resume { at: at(11, 6) })
        .then_expect_error(AgentError::NotSuspended);
    TestFramework::<Agent>::with(())
        .given(with(vec![AgentEvent::AgentSuspended {
            suspended_at: at(11, 5),
        }]))
        .when(AgentCommand::Resume { at: at(11, 6) })
        .then_expect_events(vec![AgentEvent::AgentResumed {
            resumed_at: at(11, 6),
        }]);
}

#[test]
fn a_new_plan_takes_effect_from_a_later_date_and_never_rewrites() {
    let change = |from: NaiveDate| AgentCommand::ChangePlan {
        plan: plan(),
        effective_from: from,
        at: at(11, 10),
    };
    TestFramework::<Agent>::with(())
        .given(registered())
        .when(change(day(12, 1)))
        .then_expect_events(vec![AgentEvent::CommissionPlanChanged {
            version: 2,
            plan: plan(),
            effective_from: day(12, 1),
            changed_at: at(11, 10),
        }]);
    TestFramework::<Agent>::with(())
        .given(registered())
        .when(change(day(11, 9)))
        .then_expect_error(AgentError::PlanInThePast);
    TestFramework::<Agent>::with(())
        .given(with(vec![AgentEvent::CommissionPlanChanged {
            version: 2,
            plan: plan(),
            effective_from: day(12, 1),
            changed_at: at(11, 10),
        }]))
        .when(change(day(11, 20)))
        .then_expect_error(AgentError::PlanWouldRewrite);
}

#[test]
fn a_live_agent_gets_a_new_client_once_and_a_suspended_one_none() {
    let attribute = AgentCommand::AttributeClient {
        customer_id: CLIENT,
        application_id: Uuid::from_u128(10),
        at: at(11, 2),
    };
    TestFramework::<Agent>::with(())
        .given(registered())
        .when(attribute.clone())
        .then_expect_events(vec![attributed()]);
    TestFramework::<Agent>::with(())
        .given(with(vec![attributed()]))
        .when(attribute.clone())
        .then_expect_error(AgentError::AlreadyAttributed);
    TestFramework::<Agent>::with(())
        .given(with(vec![AgentEvent::AgentSuspended {
            suspended_at: at(11, 1),
        }]))
        .when(attribute)
        .then_expect_error(AgentError::Suspended);
}

#[test]
fn a_referred_first_loan_earns_the_share_and_the_bonus_within_the_cap() {
    // 5 % of 15 000 ₽ is 750 ₽; with the 300 ₽ bonus 1 050 ₽, held to the 1 000 ₽ cap.
    TestFramework::<Agent>::with(())
        .given(with(vec![attributed()]))
        .when(accrue(LOAN, rub(15_000), (11, 5)))
        .then_expect_events(vec![accrued(LOAN, rub(15_000), true, rub(1_000), (11, 5))]);
    // The next loan is not the first: 5 % of 10 000 ₽.
    let second = Uuid::from_u128(30);
    TestFramework::<Agent>::with(())
        .given(with(vec![
            attributed(),
            accrued(LOAN, rub(15_000), true, rub(1_000), (11, 5)),
        ]))
        .when(accrue(second, rub(10_000), (11, 20)))
        .then_expect_events(vec![accrued(
            second,
            rub(10_000),
            false,
            rub(500),
            (11, 20),
        )]);
}

#[test]
fn a_loan_earns_by_the_plan_in_effect_on_its_issue_day() {
    let richer = CommissionPlan {
        percent_of_principal: "10".parse().unwrap(),
        first_loan_bonus: Kopecks::ZERO,
        cap_per_loan: None,
    };
    let changed = AgentEvent::CommissionPlanChanged {
        version: 2,
        plan: richer,
        effective_from: day(12, 1),
        changed_at: at(11, 10),
    };
    let mut expected = accrued(LOAN, rub(10_000), true, rub(1_000), (12, 3));
    if let AgentEvent::CommissionAccrued { plan_version, .. } = &mut expected {
        *plan_version = 2;
    }
    TestFramework::<Agent>::with(())
        .given(with(vec![attributed(), changed]))
        .when(accrue(LOAN, rub(10_000), (12, 3)))
        .then_expect_events(vec![expected]);
}

#[test]
fn a_loan_of_a_suspended_agent_or_a_stranger_earns_nothing_and_says_why() {
    TestFramework::<Agent>::with(())
        .given(with(vec![
            attributed(),
            AgentEvent::AgentSuspended {
                suspended_at: at(11, 3),
            },
        ]))
        .when(accrue(LOAN, rub(15_000), (11, 5)))
        .then_expect_events(vec![AgentEvent::CommissionNotEarned {
            loan_id: LOAN,
            customer_id: CLIENT,
            reason: NotEarned::Suspended,
            recorded_at: at(11, 5),
        }]);
    TestFramework::<Agent>::with(())
        .given(registered())
        .when(accrue(LOAN, rub(15_000), (11, 5)))
        .then_expect_events(vec![AgentEvent::CommissionNotEarned {
            loan_id: LOAN,
            customer_id: CLIENT,
            reason: NotEarned::NotAClient,
            recorded_at: at(11, 5),
        }]);
}

#[test]
fn a_loan_accrued_once_is_not_accrued_again() {
    TestFramework::<Agent>::with(())
        .given(with(vec![
            attributed(),
            accrued(LOAN, rub(15_000), true, rub(1_000), (11, 5)),
        ]))
        .when(accrue(LOAN, rub(15_000), (11, 5)))
        .then_expect_events(vec![]);
}

#[test]
fn a_loan_returned_early_takes_its_commission_back_in_the_month_it_happens() {
    let given = with(vec![
        attributed(),
        accrued(LOAN, rub(15_000), true, rub(1_000), (11, 28)),
    ]);
    TestFramework::<Agent>::with(())
        .given(given.clone())
        .when(AgentCommand::Reverse {
            loan_id: LOAN,
            returned_on: day(12, 3),
            at: at(12, 3),
        })
        .then_expect_events(vec![AgentEvent::CommissionReversed {
            loan_id: LOAN,
            amount: rub(1_000),
            month: month("2026-12"),
            reversed_at: at(12, 3),
        }]);
    let mut twice = given;
    twice.push(AgentEvent::CommissionReversed {
        loan_id: LOAN,
        amount: rub(1_000),
        month: month("2026-12"),
        reversed_at: at(12, 3),
    });
    TestFramework::<Agent>::with(())
        .given(twice)
        .when(AgentCommand::Reverse {
            loan_id: LOAN,
            returned_on: day(12, 4),
            at: at(12, 4),
        })
        .then_expect_error(AgentError::NothingToReverse);
}

fn closed(
    raw: &str,
    accrued: i64,
    reversed: i64,
    carried_in: i64,
    on: DateTime<Utc>,
) -> AgentEvent {
    let net = accrued - reversed + carried_in;
    AgentEvent::StatementClosed {
        month: month(raw),
        accrued: Kopecks::new(accrued).unwrap(),
        reversed: Kopecks::new(reversed).unwrap(),
        carried_in,
        net,
        payable: Kopecks::new(net.max(0)).unwrap(),
        carried_out: net.min(0),
        closed_at: on,
    }
}

/// A line heard of after its month closed (the process manager behind the tidy-up at midnight)
/// counts in the first month still open: no statement ever leaves it out.
#[test]
fn what_happened_in_a_closed_month_counts_in_the_next_open_one() {
    let november_closed = with(vec![attributed(), closed("2026-11", 0, 0, 0, at(12, 1))]);
    TestFramework::<Agent>::with(())
        .given(november_closed.clone())
        .when(accrue(LOAN, rub(15_000), (11, 30)))
        .then_expect_events(vec![AgentEvent::CommissionAccrued {
            loan_id: LOAN,
            customer_id: CLIENT,
            principal: rub(15_000),
            plan_version: 1,
            first_loan: true,
            amount: rub(1_000),
            month: month("2026-12"),
            accrued_at: at(11, 30),
        }]);
    let mut returned = november_closed;
    returned.push(accrued(LOAN, rub(15_000), true, rub(1_000), (11, 20)));
    TestFramework::<Agent>::with(())
        .given(returned)
        .when(AgentCommand::Reverse {
            loan_id: LOAN,
            returned_on: day(11, 30),
            at: at(12, 1),
        })
        .then_expect_events(vec![AgentEvent::CommissionReversed {
            loan_id: LOAN,
            amount: rub(1_000),
            month: month("2026-12"),
            reversed_at: at(12, 1),
        }]);
}

#[test]
fn a_month_closes_once_it_has_ended_and_a_negative_one_carries_on() {
    let november = with(vec![
        attributed(),
        accrued(LOAN, rub(15_000), true, rub(1_000), (11, 28)),
    ]);
    TestFramework::<Agent>::with(())
        .given(november.clone())
        .when(AgentCommand::CloseMonth {
            month: month("2026-11"),
            at: at(11, 30),
        })
        .then_expect_error(AgentError::MonthNotOver(month("2026-11")));
    TestFramework::<Agent>::with(())
        .given(november.clone())
        .when(AgentCommand::CloseMonth {
            month: month("2026-11"),
            at: at(12, 1),
        })
        .then_expect_events(vec![closed("2026-11", 100_000, 0, 0, at(12, 1))]);
    // November's loan is returned in December: December nets −1 000 ₽, carried into January.
    let mut december = november;
    december.push(closed("2026-11", 100_000, 0, 0, at(12, 1)));
    december.push(AgentEvent::CommissionReversed {
        loan_id: LOAN,
        amount: rub(1_000),
        month: month("2026-12"),
        reversed_at: at(12, 3),
    });
    let january = Utc.with_ymd_and_hms(2027, 1, 1, 9, 0, 0).unwrap();
    TestFramework::<Agent>::with(())
        .given(december.clone())
        .when(AgentCommand::CloseMonth {
            month: month("2026-12"),
            at: january,
        })
        .then_expect_events(vec![closed("2026-12", 0, 100_000, 0, january)]);
    december.push(closed("2026-12", 0, 100_000, 0, january));
    TestFramework::<Agent>::with(())
        .given(december)
        .when(AgentCommand::CloseMonth {
            month: month("2026-11"),
            at: january,
        })
        .then_expect_error(AgentError::MonthClosed(month("2026-11")));
}

#[test]
fn finance_approves_a_closed_statement_once_and_the_payout_settles_it() {
    let statement = with(vec![
        attributed(),
        accrued(LOAN, rub(15_000), true, rub(1_000), (11, 28)),
        closed("2026-11", 100_000, 0, 0, at(12, 1)),
    ]);
    let approve = AgentCommand::ApprovePayment {
        month: month("2026-11"),
        payout_id: PAYOUT,
        approved_by: FINANCE,
        at: at(12, 2),
    };
    let approved = AgentEvent::StatementPaymentApproved {
        month: month("2026-11"),
        payout_id: PAYOUT,
        amount: rub(1_000),
        approved_by: FINANCE,
        approved_at: at(12, 2),
    };
    TestFramework::<Agent>::with(())
        .given(statement.clone())
        .when(approve.clone())
        .then_expect_events(vec![approved.clone()]);
    let mut awaiting = statement;
    awaiting.push(approved);
    TestFramework::<Agent>::with(())
        .given(awaiting.clone())
        .when(approve)
        .then_expect_error(AgentError::PaymentApprovedAlready(month("2026-11")));
    TestFramework::<Agent>::with(())
        .given(awaiting)
        .when(AgentCommand::RecordPayout {
            month: month("2026-11"),
            paid: true,
            at: at(12, 2),
        })
        .then_expect_events(vec![AgentEvent::StatementPaid {
            month: month("2026-11"),
            paid_at: at(12, 2),
        }]);
    TestFramework::<Agent>::with(())
        .given(registered())
        .when(AgentCommand::ApprovePayment {
            month: month("2026-11"),
            payout_id: PAYOUT,
            approved_by: FINANCE,
            at: at(12, 2),
        })
        .then_expect_error(AgentError::StatementNotClosed(month("2026-11")));
    // The provider's answer for a month no payment was approved for is not taken.
    TestFramework::<Agent>::with(())
        .given(registered())
        .when(AgentCommand::RecordPayout {
            month: month("2026-11"),
            paid: true,
            at: at(12, 2),
        })
        .then_expect_error(AgentError::NoPaymentAwaited(month("2026-11")));
}

#[test]
fn a_statement_with_nothing_payable_is_not_paid() {
    TestFramework::<Agent>::with(())
        .given(with(vec![closed("2026-11", 0, 0, 0, at(12, 1))]))
        .when(AgentCommand::ApprovePayment {
            month: month("2026-11"),
            payout_id: PAYOUT,
            approved_by: FINANCE,
            at: at(12, 2),
        })
        .then_expect_error(AgentError::NothingPayable(month("2026-11")));
}

/// What happens to one referred loan in the property test.
#[derive(Debug, Clone, Copy)]
enum Fate {
    /// Issued and kept.
    Kept,
    /// Issued, then returned within 14 days.
    Returned,
    /// The payout failed: never issued, never accrued.
    Failed,
}

fn fates() -> impl Strategy<Value = Vec<(Fate, i64, u32)>> {
    let fate = prop_oneof![Just(Fate::Kept), Just(Fate::Returned), Just(Fate::Failed)];
    // (fate, principal in roubles, issue day in November)
    proptest::collection::vec((fate, 1_000i64..=30_000, 1u32..=28), 0..12)
}

/// Runs a command on an agent as the commands layer does (the sink applies what it writes).
fn run(agent: &mut Agent, command: AgentCommand) -> Vec<AgentEvent> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let sink = cqrs_es::event_sink::EventSink::default();
    let result = runtime.block_on(agent.handle(command, &(), &sink));
    assert!(result.is_ok(), "{result:?}");
    runtime.block_on(sink.collect())
}

proptest! {
    /// For any mix of kept, returned and failed loans: the net is the plan applied to the loans
    /// that stayed issued, and the statements add up to the ledger.
    #[test]
    fn net_commission_is_the_plan_on_the_loans_that_stayed(loans in fates()) {
        let mut agent = Agent::default();
        run(&mut agent, register());
        run(&mut agent, AgentCommand::AttributeClient {
            customer_id: CLIENT,
            application_id: Uuid::from_u128(10),
            at: at(11, 1),
        });
        let mut ledger: i64 = 0;
        let mut expected: i64 = 0;
        let mut first = true;
        for (n, (fate, roubles, issued)) in loans.iter().enumerate() {
            let loan = Uuid::from_u128(1_000 + n as u128);
            if let Fate::Failed = fate {
                continue;
            }
            let earned = plan().commission(rub(*roubles), first).get();
            first = false;
            for event in run(&mut agent, accrue(loan, rub(*roubles), (11, *issued))) {
                if let AgentEvent::CommissionAccrued { amount, .. } = event {
                    ledger += amount.get();
                }
            }
            match fate {
                Fate::Returned => {
                    for event in run(&mut agent, AgentCommand::Reverse { loan_id: loan, returned_on: day(12, 2), at: at(12, 2) }) {
                        if let AgentEvent::CommissionReversed { amount, .. } = event {
                            ledger -= amount.get();
                        }
                    }
                }
                _ => expected += earned,
            }
        }
        prop_assert_eq!(ledger, expected);
        let mut paid_and_carried = 0;
        let january = Utc.with_ymd_and_hms(2027, 1, 1, 9, 0, 0).unwrap();
        for month_name in ["2026-11", "2026-12"] {
            for event in run(&mut agent, AgentCommand::CloseMonth { month: month(month_name), at: january }) {
                if let AgentEvent::StatementClosed { payable, carried_out, .. } = event {
                    paid_and_carried += payable.get();
                    if month_name == "2026-12" {
                        paid_and_carried += carried_out;
                    }
                }
            }
        }
        prop_assert_eq!(paid_and_carried, ledger);
    }
}

#[test]
fn the_months_to_close_run_from_the_last_statement_to_the_last_ended_month() {
    let mut agent = Agent::default();
    for event in registered() {
        agent.apply(event);
    }
    // Registered in November: on 15 January, November and December wait for their statements.
    let january = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
    assert_eq!(
        agent.months_to_close(january),
        [month("2026-11"), month("2026-12")]
    );
    assert!(agent.months_to_close(day(11, 30)).is_empty());
    agent.apply(closed("2026-11", 0, 0, 0, at(12, 1)));
    assert_eq!(agent.months_to_close(january), [month("2026-12")]);
}
