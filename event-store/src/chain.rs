//! Tamper evidence for the log (issue #16): a hash chain over every event in the followers'
//! order. Link n is SHA-256 of link n-1 and event n's canonical bytes (position, type, version,
//! payload, metadata, aggregate, sequence); link 0 is 32 zero bytes. The `audit_chain` follower
//! appends a link per event and never rewrites one (`projections rebuild` leaves it alone);
//! [`verify`] recomputes every link from the events table and names the first position whose
//! link differs: an edited event, or the one after a deleted one. Gaps in positions (rolled-back
//! appends) are normal: the chain links events, not positions.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio_postgres::GenericClient;

use crate::follower::{BatchTx, Follower, FollowerError, Kind};
use crate::log::RecordedEvent;

/// A link of the chain.
pub type Link = [u8; 32];

/// The link before the first event.
pub const GENESIS: Link = [0; 32];

/// Follower name (its checkpoint key).
pub const NAME: &str = "audit_chain";

/// What [`verify`] reads a page at a time.
const VERIFY_PAGE: i64 = 10_000;

/// The link that follows `previous` for an event with these stored fields. Every field is
/// length-prefixed, so no two different events give the same bytes.
#[allow(clippy::too_many_arguments)]
pub fn link(
    previous: &Link,
    position: i64,
    event_type: &str,
    event_version: &str,
    payload: &serde_json::Value,
    metadata: &serde_json::Value,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
) -> Link {
    let mut hash = Sha256::new();
    hash.update(previous);
    hash.update(position.to_be_bytes());
    for text in [
        event_type.as_bytes(),
        event_version.as_bytes(),
        &serde_json::to_vec(payload).expect("JSON serialises"),
        &serde_json::to_vec(metadata).expect("JSON serialises"),
        aggregate_type.as_bytes(),
        aggregate_id.as_bytes(),
    ] {
        hash.update((text.len() as u64).to_be_bytes());
        hash.update(text);
    }
    hash.update(sequence.to_be_bytes());
    hash.finalize().into()
}

fn link_of(previous: &Link, event: &RecordedEvent) -> Link {
    link(
        previous,
        event.position(),
        &event.event_type,
        &event.event_version,
        &event.payload,
        &event.metadata,
        &event.aggregate_type,
        &event.aggregate_id,
        event.sequence,
    )
}

/// The chain's last link: how many events it covers, the last one's position, and the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub links: i64,
    pub position: Option<i64>,
    pub link: Link,
}

/// The last link appended.
pub async fn head(client: &impl GenericClient) -> Result<Head, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT link_number, global_position, link FROM audit_chain
              ORDER BY link_number DESC LIMIT 1",
            &[],
        )
        .await?;
    Ok(match row {
        Some(row) => Head {
            links: row.get(0),
            position: Some(row.get(1)),
            link: to_link(row.get(2)),
        },
        None => Head {
            links: 0,
            position: None,
            link: GENESIS,
        },
    })
}

fn to_link(stored: Vec<u8>) -> Link {
    stored.try_into().unwrap_or([0xff; 32])
}

/// Appends a link for every event of the log, in the followers' order, from the first.
pub struct AuditChain;

#[async_trait]
impl Follower for AuditChain {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Every event of every type, those of types no aggregate records any more included.
    fn event_types(&self) -> Vec<&'static str> {
        Vec::new()
    }

    fn kind(&self) -> Kind {
        Kind::Ledger
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        self.apply_all(tx, std::slice::from_ref(event)).await
    }

    async fn apply_all(
        &self,
        tx: &BatchTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), FollowerError> {
        let last = tx
            .query_opt(
                "SELECT link_number, link FROM audit_chain ORDER BY link_number DESC LIMIT 1",
                &[],
            )
            .await?;
        let (mut number, mut previous) = match last {
            Some(row) => (row.get::<_, i64>(0), to_link(row.get(1))),
            None => (0, GENESIS),
        };
        let (mut numbers, mut positions, mut links) = (vec![], vec![], vec![]);
        for event in events {
            previous = link_of(&previous, event);
            number += 1;
            numbers.push(number);
            positions.push(event.position());
            links.push(previous.to_vec());
        }
        tx.execute(
            "INSERT INTO audit_chain (link_number, global_position, link)
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bytea[])",
            &[&numbers, &positions, &links],
        )
        .await?;
        Ok(())
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every link recomputed from the events equals the stored one.
    Intact(Head),
    /// The first link that does not hold, at the event of `position`.
    Broken { position: i64, reason: Break },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// The event's stored fields are not those it was chained with (edited), or an event
    /// before it is gone with its link (deleted: its successor's link no longer follows).
    Differs,
    /// The event the link was made for is no longer in the log.
    Deleted,
    /// Links are missing before this one (rows of the chain were deleted).
    LinksMissing,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Break::Differs => "the event differs from the one chained, or one before it is gone",
            Break::Deleted => "the event is gone from the log",
            Break::LinksMissing => "links before it are gone from the chain",
        })
    }
}

/// Recomputes every link from the events table, a page at a time; `progress` hears how many
/// links are checked so far.
pub async fn verify(
    client: &impl GenericClient,
    mut progress: impl FnMut(i64),
) -> Result<Verdict, tokio_postgres::Error> {
    let mut head = Head {
        links: 0,
        position: None,
        link: GENESIS,
    };
    loop {
        let rows = client
            .query(
                "SELECT c.link_number, c.global_position, c.link, e.global_position IS NOT NULL,
                        e.event_type, e.event_version, e.payload, e.metadata, e.aggregate_type,
                        e.aggregate_id, e.sequence
                   FROM audit_chain c
                   LEFT JOIN events e ON e.global_position = c.global_position
                  WHERE c.link_number > $1
                  ORDER BY c.link_number
                  LIMIT $2",
                &[&head.links, &VERIFY_PAGE],
            )
            .await?;
        if rows.is_empty() {
            return Ok(Verdict::Intact(head));
        }
        for row in &rows {
            let (number, position): (i64, i64) = (row.get(0), row.get(1));
            let broken = |reason| Verdict::Broken { position, reason };
            if number != head.links + 1 {
                return Ok(broken(Break::LinksMissing));
            }
            if !row.get::<_, bool>(3) {
                return Ok(broken(Break::Deleted));
            }
            let recomputed = link(
                &head.link,
                position,
                row.get(4),
                row.get(5),
                &row.get(6),
                &row.get(7),
                row.get(8),
                row.get(9),
                row.get(10),
            );
            if recomputed != to_link(row.get(2)) {
                return Ok(broken(Break::Differs));
            }
            head = Head {
                links: number,
                position: Some(position),
                link: recomputed,
            };
        }
        progress(head.links);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(previous: &Link, payload: serde_json::Value) -> Link {
        link(
            previous,
            7,
            "PaymentReceived",
            "1.0",
            &payload,
            &json!({"actor_role": "system"}),
            "Loan",
            "a",
            3,
        )
    }

    #[test]
    fn a_link_depends_on_the_link_before_and_on_every_field() {
        let first = sample(&GENESIS, json!({"amount": 100}));
        assert_eq!(first, sample(&GENESIS, json!({"amount": 100})));
        assert_ne!(first, sample(&GENESIS, json!({"amount": 101})));
        assert_ne!(first, sample(&first, json!({"amount": 100})));
        // Fields are length-prefixed: moving a byte from one field to the next changes the link.
        let split =
            |t: &str, v: &str| link(&GENESIS, 1, t, v, &json!({}), &json!({}), "Loan", "a", 1);
        assert_ne!(split("Paid1", ".0"), split("Paid", "1.0"));
    }
}
