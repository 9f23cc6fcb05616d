use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::Sealed;

type TicketTest = TestFramework<SupportTicket>;

const AGENT: Uuid = Uuid::from_u128(0xa1);
const OTHER_AGENT: Uuid = Uuid::from_u128(0xa2);
const SUBJECT: Uuid = Uuid::from_u128(0x5);

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 9, minute, 0).unwrap()
}

fn sealed<T>(tag: &str) -> Sealed<T> {
    Sealed::new(SUBJECT, format!("nonce-{tag}"), format!("cipher-{tag}"))
}

fn submit() -> SupportTicketCommand {
    SupportTicketCommand::Submit {
        kind: TicketKind::Question,
        requester: Requester::Anonymous,
        contact: sealed("contact"),
        question: sealed("question"),
        at: at(0),
    }
}

fn submitted() -> SupportTicketEvent {
    SupportTicketEvent::TicketSubmitted {
        kind: TicketKind::Question,
        requester: Requester::Anonymous,
        contact: sealed("contact"),
        question: sealed("question"),
        submitted_at: at(0),
    }
}

fn assigned(agent_id: Uuid) -> SupportTicketEvent {
    SupportTicketEvent::TicketAssigned {
        agent_id,
        assigned_at: at(1),
    }
}

fn answered() -> SupportTicketEvent {
    SupportTicketEvent::TicketAnswered {
        agent_id: AGENT,
        answer: sealed("answer"),
        answered_at: at(2),
    }
}

fn closed() -> SupportTicketEvent {
    SupportTicketEvent::TicketClosed {
        agent_id: AGENT,
        closed_at: at(3),
    }
}

fn reply(agent_id: Uuid) -> SupportTicketCommand {
    SupportTicketCommand::Reply {
        agent_id,
        answer: sealed("answer"),
        at: at(2),
    }
}

fn close(agent_id: Uuid) -> SupportTicketCommand {
    SupportTicketCommand::Close {
        agent_id,
        at: at(3),
    }
}

#[test]
fn a_submitted_form_becomes_a_waiting_ticket() {
    TicketTest::with(())
        .given_no_previous_events()
        .when(submit())
        .then_expect_events(vec![submitted()]);
}

#[test]
fn a_ticket_cannot_be_submitted_twice() {
    TicketTest::with(())
        .given(vec![submitted()])
        .when(submit())
        .then_expect_error(SupportTicketError::AlreadySubmitted);
}

#[test]
fn an_agent_takes_a_waiting_ticket() {
    TicketTest::with(())
        .given(vec![submitted()])
        .when(SupportTicketCommand::Assign {
            agent_id: AGENT,
            at: at(1),
        })
        .then_expect_events(vec![assigned(AGENT)]);
}

#[test]
fn a_ticket_already_taken_cannot_be_taken_again() {
    TicketTest::with(())
        .given(vec![submitted(), assigned(AGENT)])
        .when(SupportTicketCommand::Assign {
            agent_id: OTHER_AGENT,
            at: at(1),
        })
        .then_expect_error(SupportTicketError::NotWaiting);
}

#[test]
fn an_unknown_ticket_cannot_be_taken() {
    TicketTest::with(())
        .given_no_previous_events()
        .when(SupportTicketCommand::Assign {
            agent_id: AGENT,
            at: at(1),
        })
        .then_expect_error(SupportTicketError::NotFound);
}

#[test]
fn the_assigned_agent_answers() {
    TicketTest::with(())
        .given(vec![submitted(), assigned(AGENT)])
        .when(reply(AGENT))
        .then_expect_events(vec![answered()]);
}

#[test]
fn the_assigned_agent_may_answer_again_with_more_details() {
    TicketTest::with(())
        .given(vec![submitted(), assigned(AGENT), answered()])
        .when(reply(AGENT))
        .then_expect_events(vec![answered()]);
}

#[test]
fn a_waiting_ticket_cannot_be_answered_before_it_is_taken() {
    TicketTest::with(())
        .given(vec![submitted()])
        .when(reply(AGENT))
        .then_expect_error(SupportTicketError::NotAssigned);
}

#[test]
fn another_agent_cannot_answer_a_ticket_they_do_not_hold() {
    TicketTest::with(())
        .given(vec![submitted(), assigned(AGENT)])
        .when(reply(OTHER_AGENT))
        .then_expect_error(SupportTicketError::AssignedToAnotherAgent);
}

#[test]
fn an_unknown_ticket_cannot_be_answered() {
    TicketTest::with(())
        .given_no_previous_events()
        .when(reply(AGENT))
        .then_expect_error(SupportTicketError::NotFound);
}

#[test]
fn the_assigned_agent_closes_an_answered_ticket() {
    TicketTest::with(())
        .given(vec![submitted(), assigned(AGENT), answered()])
        .when(close(AGENT))
        .then_expect_events(vec![closed()]);
}

#[test]
fn another_agent_cannot_close_the_ticket() {
    TicketTest::with(())
        .given(vec![submitted(), assigned(AGENT)])
        .when(close(OTHER_AGENT))
        .then_expect_error(SupportTicketError::AssignedToAnotherAgent);
}

#[test]
fn a_closed_ticket_takes_no_more_answers() {
    TicketTest::with(())
        .given(vec![submitted(), assigned(AGENT), answered(), closed()])
        .when(reply(AGENT))
        .then_expect_error(SupportTicketError::Closed);
}

#[test]
fn a_closed_ticket_cannot_be_closed_again() {
    TicketTest::with(())
        .given(vec![submitted(), assigned(AGENT), closed()])
        .when(close(AGENT))
        .then_expect_error(SupportTicketError::Closed);
}

#[test]
fn a_ticket_needs_a_phone_or_an_email() {
    let name = crate::values::PersonName::parse("Иван").unwrap();
    assert!(TicketContact::new(name.clone(), None, None).is_err());
    let phone = crate::values::Phone::parse("+79161234567").unwrap();
    assert!(TicketContact::new(name, Some(phone), None).is_ok());
}
