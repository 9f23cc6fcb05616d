//! The sessions this instance has checked lately. Every authenticated request asks who holds its
//! bearer token; asked of PostgreSQL each time, that was a second statement and round trip beside
//! the request's own read, and on the cabinet's loan page it cost as much as the read (issue #15:
//! 5 000 → 8 100–9 200 reads/s on the loan book with it cached).
//!
//! A session ends in one statement that also sends NOTIFY [`CHANNEL`] with the account's id
//! (the statements below), delivered to every instance when that statement's transaction commits; each
//! instance's listener then forgets the account's sessions, and the instance that ended it has
//! already forgotten them. So another instance may accept a token for the moment the notification
//! takes to arrive (milliseconds, as it takes for any write to be read there) while its listener
//! is connected. Without a listener (before it connects, after it fails) nothing is cached and
//! every check asks PostgreSQL; once it listens again the cache starts empty and no check begun
//! before may keep what it read, as notifications sent meanwhile are lost. The listener's
//! connection sends TCP keepalives, so a silently dead one is noticed within
//! [`KEEPALIVE_IDLE`] + [`KEEPALIVE_INTERVAL`] × [`KEEPALIVE_RETRIES`]. Expiry is checked on every
//! use against the service's clock, and an entry is asked again after [`RECHECK_AFTER`] whatever
//! happens: the most a lost notification could cost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use k911_event_store::connect::Database;
use k911_event_store::listen::listen;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::auth::Principal;

/// The channel sessions' ends are announced on; the payload is the account's id.
pub const CHANNEL: &str = "k911_sessions";

// Every statement that ends sessions announces it on `CHANNEL` (a data-modifying `WITH` runs
// whether or not it is read).

/// Logout: ends the session of token hash `$1` at `$2`; returns its account.
pub(crate) const END_ONE: &str = "
WITH ended AS (
    UPDATE auth_sessions SET revoked_at = $2
     WHERE token_hash = $1 AND revoked_at IS NULL
    RETURNING account_id)
SELECT account_id, pg_notify('k911_sessions', account_id::text) FROM ended";

/// A password changed: ends at `$3` every session of account `$1` but the one of token hash `$2`.
pub(crate) const END_OTHERS: &str = "
WITH ended AS (
    UPDATE auth_sessions SET revoked_at = $3
     WHERE account_id = $1 AND token_hash <> $2 AND revoked_at IS NULL)
SELECT pg_notify('k911_sessions', $1::uuid::text)";

/// An erasure: deletes every session of account `$1`.
pub(crate) const DELETE_ALL: &str = "
WITH ended AS (DELETE FROM auth_sessions WHERE account_id = $1)
SELECT pg_notify('k911_sessions', $1::uuid::text)";

/// An entry is asked of PostgreSQL again after this long, should a notification ever be missed.
const RECHECK_AFTER: Duration = Duration::from_secs(60);
/// At most so many sessions are kept; past that the cache starts empty again.
const CAPACITY: usize = 50_000;
/// Between two connection attempts of the listener.
const RETRY: Duration = Duration::from_secs(1);
/// The listener's keepalives: a connection that died without a word (a failover, a cut cable)
/// is noticed within 10 + 3 × 5 s, and the cache stops keeping sessions.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;

/// How a session's token is stored and looked up: its SHA-256 (the token itself is never kept).
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

struct Cached {
    principal: Principal,
    expires_at: DateTime<Utc>,
    checked: Instant,
}

#[derive(Default)]
struct Inner {
    /// By the token's hash (the token itself is never kept).
    entries: Mutex<HashMap<Vec<u8>, Cached>>,
    /// The listener is connected and LISTENing: only then may entries be kept.
    listening: AtomicBool,
    /// Moved by every forgetting: a check that began before it must not keep what it read.
    generation: AtomicU64,
}

/// Cheap to clone; every clone shares the one cache.
#[derive(Clone, Default)]
pub struct SessionCache(Arc<Inner>);

/// Taken before a check asks PostgreSQL, handed back with what it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

impl SessionCache {
    /// The session of `token_hash` if kept and still valid at `now`.
    pub fn get(&self, token_hash: &[u8], now: DateTime<Utc>) -> Option<Principal> {
        let entries = self.0.entries.lock().expect("session cache");
        entries
            .get(token_hash)
            .filter(|c| c.expires_at > now && c.checked.elapsed() < RECHECK_AFTER)
            .map(|c| c.principal.clone())
    }

    /// To be taken before reading a session from PostgreSQL.
    pub fn generation(&self) -> Generation {
        Generation(self.0.generation.load(Ordering::Acquire))
    }

    /// Keeps a valid session read from PostgreSQL, unless something was forgotten since the
    /// read began (`read_at`), or no listener would hear of its end.
    pub fn keep(
        &self,
        token_hash: Vec<u8>,
        principal: Principal,
        expires_at: DateTime<Utc>,
        read_at: Generation,
    ) {
        if !self.0.listening.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.0.entries.lock().expect("session cache");
        // Under the lock: forgetting moves the generation under it too.
        if self.generation() != read_at {
            return;
        }
        if entries.len() >= CAPACITY {
            // Rarely: emptied at once rather than searched for old entries on every miss.
            entries.clear();
        }
        entries.insert(
            token_hash,
            Cached {
                principal,
                expires_at,
                checked: Instant::now(),
            },
        );
    }

    /// Forgets every session of `account_id` (their end was committed, or is being committed).
    pub fn forget_account(&self, account_id: Uuid) {
        let mut entries = self.0.entries.lock().expect("session cache");
        self.0.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, c| c.principal.account_id != account_id);
    }

    fn forget_all(&self) {
        let mut entries = self.0.entries.lock().expect("session cache");
        self.0.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    fn on_notice(&self, payload: &str) {
        match payload.parse() {
            Ok(account_id) => self.forget_account(account_id),
            // Not ours to read: forget everything rather than keep what may have ended.
            Err(_) => self.forget_all(),
        }
    }

    /// Whether the listener is connected and entries are kept.
    pub fn is_listening(&self) -> bool {
        self.0.listening.load(Ordering::Acquire)
    }

    /// LISTENs for ended sessions on a connection of its own, reconnecting after a failure,
    /// until the task is aborted. The cache keeps entries only while it listens.
    pub fn listen(&self, db: &Database) -> JoinHandle<()> {
        let (cache, url) = (self.clone(), db.url().to_string());
        tokio::spawn(async move {
            loop {
                if let Err(error) = cache.listen_once(&url).await {
                    tracing::warn!(%error, "session listener failed; reconnecting");
                }
                cache.0.listening.store(false, Ordering::Release);
                cache.forget_all();
                tokio::time::sleep(RETRY).await;
            }
        })
    }

    async fn listen_once(&self, url: &str) -> Result<(), tokio_postgres::Error> {
        let mut config: tokio_postgres::Config = url.parse()?;
        config
            .application_name("k911 session listener")
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES);
        let listening = || {
            // A check that read a session before this moment may have missed its end.
            self.forget_all();
            self.0.listening.store(true, Ordering::Release);
        };
        listen(&config, CHANNEL, listening, |payload| {
            self.on_notice(payload)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use k911_aggregates::values::Role;

    use super::*;

    fn listening() -> SessionCache {
        let cache = SessionCache::default();
        cache.0.listening.store(true, Ordering::Release);
        cache
    }

    fn borrower(account_id: Uuid) -> Principal {
        Principal {
            account_id,
            role: Role::Borrower,
        }
    }

    fn at(hour: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 12, 7, hour, 0, 0).unwrap()
    }

    #[test]
    fn a_kept_session_is_valid_until_it_expires() {
        let cache = listening();
        let id = Uuid::new_v4();
        cache.keep(b"t".to_vec(), borrower(id), at(12), cache.generation());
        assert_eq!(cache.get(b"t", at(11)), Some(borrower(id)));
        assert_eq!(cache.get(b"t", at(12)), None);
        assert_eq!(cache.get(b"other", at(11)), None);
    }

    #[test]
    fn an_ended_account_loses_every_session_and_no_other() {
        let cache = listening();
        let (ended, other) = (Uuid::new_v4(), Uuid::new_v4());
        cache.keep(b"a".to_vec(), borrower(ended), at(12), cache.generation());
        cache.keep(b"b".to_vec(), borrower(ended), at(12), cache.generation());
        cache.keep(b"c".to_vec(), borrower(other), at(12), cache.generation());
        cache.on_notice(&ended.to_string());
        assert_eq!(cache.get(b"a", at(11)), None);
        assert_eq!(cache.get(b"b", at(11)), None);
        assert_eq!(cache.get(b"c", at(11)), Some(borrower(other)));
    }

    /// A check that read the session before its end was announced must not keep it after.
    #[test]
    fn a_read_older_than_a_forgetting_is_not_kept() {
        let cache = listening();
        let id = Uuid::new_v4();
        let read_at = cache.generation();
        cache.forget_account(id);
        cache.keep(b"t".to_vec(), borrower(id), at(12), read_at);
        assert_eq!(cache.get(b"t", at(11)), None);
    }

    /// A check begun while the listener was away (its session's end may have been announced
    /// then, unheard) keeps nothing once the listener is back.
    #[test]
    fn a_read_begun_before_the_listener_connected_is_not_kept() {
        let cache = SessionCache::default();
        let read_at = cache.generation();
        // What `listen_once` does once LISTEN is in place.
        cache.forget_all();
        cache.0.listening.store(true, Ordering::Release);
        cache.keep(b"t".to_vec(), borrower(Uuid::new_v4()), at(12), read_at);
        assert_eq!(cache.get(b"t", at(11)), None);
    }

    #[test]
    fn every_statement_that_ends_sessions_announces_it_on_the_channel() {
        for statement in [END_ONE, END_OTHERS, DELETE_ALL] {
            assert!(
                statement.contains(&format!("pg_notify('{CHANNEL}'")),
                "{statement}"
            );
        }
    }

    #[test]
    fn nothing_is_kept_without_a_listener() {
        let cache = SessionCache::default();
        cache.keep(
            b"t".to_vec(),
            borrower(Uuid::new_v4()),
            at(12),
            cache.generation(),
        );
        assert_eq!(cache.get(b"t", at(11)), None);
    }
}
