//! Accounts and sessions: creating staff members, logging in with a password (argon2id), bearer
//! tokens with expiry, logout, and failed-login throttling.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use k911_aggregates::account::{Account, AccountCommand, AccountKind};
use k911_aggregates::values::{Email, Phone, Role};
use k911_event_store::credentials;
use uuid::Uuid;

use crate::onboarding::email_key;
use crate::otp::{OneTimeCode, OtpPurpose};
use std::sync::Arc;

use k911_event_store::store::{Cqrs, Store};

use crate::app::Core;
use crate::otp::Codes;
use crate::sessions::token_hash;
use crate::social::Oidc;
use crate::{CommandMeta, Error, Written};

/// Failures allowed before a login is locked.
const FREE_FAILURES: i32 = 5;
/// The first lock; each further failure doubles it, up to [`MAX_LOCK_SECS`].
const FIRST_LOCK_SECS: i64 = 30;
const MAX_LOCK_SECS: i64 = 15 * 60;
/// Failures older than this are forgotten (while no lock runs): a login is not held against its
/// owner's typos of last week, and nobody keeps it locked without trying again and again. Longer
/// than the longest lock, or the end of that lock would give the free attempts back.
const FAILURES_FORGOTTEN_AFTER_SECS: f64 = 60.0 * 60.0;
/// How long a password check waits for a free core before the answer is 503.
const HASHING_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// Minimum password length for accounts k911 creates.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// A logged-in caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: Uuid,
    pub role: Role,
}

/// What a successful login hands out.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub principal: Principal,
}

/// Hashes a password with argon2id (the crate's defaults follow OWASP's recommendation).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password")
        .to_string()
}

/// A password for a new cabinet, from 32 random bytes: 12 characters of an alphabet without the
/// look-alikes (0/O, 1/l/I) a person misreads from an SMS. 56 symbols, ~70 bits.
pub fn generate_password(secret: [u8; 32]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    // Rejection sampling keeps every symbol equally likely.
    let limit = 256 - 256 % ALPHABET.len();
    secret
        .iter()
        .filter(|b| (**b as usize) < limit)
        .take(12)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

pub(crate) fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends the same time as a real check, so an unknown login cannot be told by the clock.
fn verify_against_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("k911 timing equaliser"));
    let _ = verify_password(password, hash);
}

/// Who may do what: staff and customer logins, one-time codes, sessions, linked social
/// accounts and passwords.
#[derive(Clone)]
pub struct Access {
    pub(crate) core: Core,
    pub(crate) accounts: Arc<Cqrs<Account>>,
    pub(crate) account_store: Arc<Store<Account>>,
    pub(crate) codes: Codes,
    pub oidc: Arc<Oidc>,
    /// One permit per core for argon2 (see [`Access::hashing`]).
    pub(crate) hashing: Arc<tokio::sync::Semaphore>,
}

impl Access {
    /// `k911 staff add`: a staff account with a unique login.
    pub async fn create_staff(
        &self,
        login: Email,
        role: Role,
        password: &str,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let account_id = self.core.ids.new_id();
        let key = login.as_str().to_lowercase();
        let reserved = sqlx::query(
            "INSERT INTO account_logins (login, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&key)
        .bind(account_id)
        .execute(&self.core.db.sqlx)
        .await?;
        if reserved.rows_affected() == 0 {
            return Err(Error::LoginTaken);
        }
        let password = password.to_string();
        let password_hash = self.hashing(move || hash_password(&password)).await?;
        let password = credentials::store(&self.core.db.sqlx, account_id, &password_hash).await?;
        let command = AccountCommand::CreateStaff {
            login,
            role,
            password,
            at: self.core.clock.now(),
        };
        let written = self
            .core
            .create(&self.accounts, account_id, command, meta)
            .await;
        if written.is_err() {
            // The account was not created: free its login again.
            sqlx::query("DELETE FROM account_logins WHERE login = $1 AND account_id = $2")
                .bind(&key)
                .bind(account_id)
                .execute(&self.core.db.sqlx)
                .await?;
        }
        written
    }

    /// Logs in with a login and password. Unknown logins and wrong passwords look the same.
    pub async fn login(&self, login: &str, password: &str) -> Result<Session, Error> {
        let key = login.trim().to_lowercase();
        let throttle = self.throttle_key(&key);
        let now = self.core.clock.now();
        let attempt = self.take_attempt(&throttle, now).await?;
        let account = self.account_by_login(&key).await?;
        let password = password.to_string();
        let checked = self
            .hashing(move || match account {
                Some((id, role, hash)) if verify_password(&password, &hash) => Some(Principal {
                    account_id: id,
                    role,
                }),
                Some(_) => None,
                None => {
                    verify_against_nothing(&password);
                    None
                }
            })
            .await?;
        self.finish_login(&throttle, attempt, checked, now).await
    }

    /// Logs in a phone-only customer with the one-time code sent to the phone. An unknown
    /// phone, a wrong, used or expired code all look the same.
    pub async fn login_with_code(&self, login: &str, code: &str) -> Result<Session, Error> {
        let phone = Phone::parse(login);
        let throttle = self.throttle_key(&match &phone {
            Ok(phone) => phone.as_str().to_string(),
            Err(_) => login.trim().to_string(),
        });
        let now = self.core.clock.now();
        let attempt = self.take_attempt(&throttle, now).await?;
        let principal = match (&phone, OneTimeCode::parse(code)) {
            (Ok(phone), Some(code)) => {
                match self.codes.accept(phone, &OtpPurpose::Login, &code).await? {
                    // The account is checked again: the code was sent while it could log in.
                    Some(accepted) => self
                        .phone_only_customer(phone)
                        .await?
                        .filter(|(id, _)| *id == accepted.account_id)
                        .map(|(account_id, _)| Principal {
                            account_id,
                            role: Role::Borrower,
                        }),
                    None => None,
                }
            }
            _ => None,
        };
        self.finish_login(&throttle, attempt, principal, now).await
    }

    /// Failed-login counters are kept per keyed hash of the login: customers' logins are
    /// personal data.
    pub(crate) fn throttle_key(&self, login: &str) -> String {
        throttle_key(&self.core.keys, login)
    }

    /// Counts an attempt on `throttle` before it is checked, in one statement: of any number of
    /// attempts at once, only as many as the rule lets through are checked at all, and the rest
    /// are refused at once. From the last free attempt on, the lock its failure would bring is
    /// taken at once (lifted by a success), so attempts arriving while it is checked wait too.
    /// Returns the attempt's number; [`Error::Throttled`] while locked, or while the free
    /// attempts are all being checked.
    pub(crate) async fn take_attempt(
        &self,
        throttle: &str,
        now: DateTime<Utc>,
    ) -> Result<i32, Error> {
        let taken: Option<i32> = sqlx::query_scalar(
            "INSERT INTO login_failures AS f (login, failures, last_failure) VALUES ($1, 1, $2)
             ON CONFLICT (login) DO UPDATE
                SET failures = CASE WHEN f.last_failure < $2 - make_interval(secs => $4)
                                    THEN 1 ELSE f.failures + 1 END,
                    locked_until = CASE
                        WHEN f.last_failure < $2 - make_interval(secs => $4) THEN NULL
                        WHEN f.failures + 1 >= $3
                        THEN $2 + make_interval(
                            secs => LEAST($5 * power(2, f.failures + 1 - $3), $6))
                        ELSE f.locked_until END,
                    last_failure = $2
              WHERE (f.locked_until IS NULL OR f.locked_until <= $2)
                AND (f.failures < $3 OR f.locked_until IS NOT NULL
                     OR f.last_failure < $2 - make_interval(secs => $4))
             RETURNING failures",
        )
        .bind(throttle)
        .bind(now)
        .bind(FREE_FAILURES)
        .bind(FAILURES_FORGOTTEN_AFTER_SECS)
        .bind(FIRST_LOCK_SECS as f64)
        .bind(MAX_LOCK_SECS as f64)
        .fetch_optional(&self.core.db.sqlx)
        .await?;
        if let Some(attempt) = taken {
            return Ok(attempt);
        }
        let locked_until: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT locked_until FROM login_failures WHERE login = $1")
                .bind(throttle)
                .fetch_optional(&self.core.db.sqlx)
                .await?
                .flatten();
        let retry_after_secs = match locked_until.filter(|until| *until > now) {
            Some(until) => (until - now).num_seconds().max(1) as u64,
            // The free attempts are being checked right now.
            None => FIRST_LOCK_SECS as u64,
        };
        Err(Error::Throttled { retry_after_secs })
    }

    /// Opens a session for a checked caller (forgetting the failures), or locks the login when
    /// this failed attempt used up the free ones.
    async fn finish_login(
        &self,
        throttle: &str,
        attempt: i32,
        checked: Option<Principal>,
        now: DateTime<Utc>,
    ) -> Result<Session, Error> {
        let Some(principal) = checked else {
            self.failed_attempt(throttle, attempt, now).await?;
            return Err(Error::BadCredentials);
        };
        self.forget_attempts(throttle).await?;
        self.open_session(principal, now).await
    }

    pub(crate) async fn forget_attempts(&self, throttle: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM login_failures WHERE login = $1")
            .bind(throttle)
            .execute(&self.core.db.sqlx)
            .await?;
        Ok(())
    }

    /// The attempt numbered `attempt` failed: from the last free one on, the login is locked for
    /// 30 s, doubling with every further failure (at most 15 min).
    pub(crate) async fn failed_attempt(
        &self,
        throttle: &str,
        attempt: i32,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        if attempt >= FREE_FAILURES {
            let doublings = (attempt - FREE_FAILURES).min(16) as u32;
            let secs = (FIRST_LOCK_SECS << doublings).min(MAX_LOCK_SECS);
            sqlx::query("UPDATE login_failures SET locked_until = $2 WHERE login = $1")
                .bind(throttle)
                .bind(now + ChronoDuration::seconds(secs))
                .execute(&self.core.db.sqlx)
                .await?;
        }
        Ok(())
    }

    /// Runs argon2 work off the async threads, at most one per core at a time: a burst of
    /// logins queues here instead of growing the blocking pool without bound, and a request that
    /// cannot get a core in time is answered 503.
    pub(crate) async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = tokio::time::timeout(HASHING_WAIT, self.hashing.acquire())
            .await
            .map_err(|_| Error::Unavailable("every core is checking a password".into()))?
            .map_err(|e| Error::Storage(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::Storage(e.to_string()))
    }

    /// A staff login, else a customer's e-mail (found by its keyed hash: customers' e-mails are
    /// personal data and stored nowhere in clear).
    async fn account_by_login(&self, key: &str) -> Result<Option<(Uuid, Role, String)>, Error> {
        let staff: Option<Uuid> =
            sqlx::query_scalar("SELECT account_id FROM account_logins WHERE login = $1")
                .bind(key)
                .fetch_optional(&self.core.db.sqlx)
                .await?;
        let account_id = match staff {
            Some(id) => Some(id),
            None => match Email::parse(key) {
                Ok(email) => {
                    self.customer_by_identity("email", &email_key(&email))
                        .await?
                }
                Err(_) => None,
            },
        };
        let Some(account_id) = account_id else {
            return Ok(None);
        };
        // The account's own events are the truth: no read model to lag behind a new account.
        let account = self.core.load(&self.account_store, account_id).await?;
        let (role, credential) = match account.kind() {
            AccountKind::Staff { role, password, .. } => (*role, *password),
            // No credential works before the first application is approved.
            AccountKind::Customer {
                opened_by: Some(_),
                password: Some(password),
                ..
            } => (Role::Borrower, *password),
            AccountKind::Customer { .. } | AccountKind::None => return Ok(None),
        };
        let hash = credentials::password_hash(&self.core.db.sqlx, account_id, credential).await?;
        Ok(hash.map(|hash| (account_id, role, hash)))
    }

    /// The customer holding this identity (`phone` in E.164, `email` as [`email_key`] gives),
    /// found by its keyed hash.
    pub(crate) async fn customer_by_identity(
        &self,
        kind: &str,
        value: &str,
    ) -> Result<Option<Uuid>, Error> {
        Ok(sqlx::query_scalar(
            "SELECT customer_id FROM customer_identities WHERE kind = $1 AND hash = $2",
        )
        .bind(kind)
        .bind(self.core.keys.lookup_hash(value))
        .fetch_optional(&self.core.db.sqlx)
        .await?)
    }

    pub(crate) async fn open_session(
        &self,
        principal: Principal,
        now: DateTime<Utc>,
    ) -> Result<Session, Error> {
        let token = B64URL.encode(self.core.ids.secret());
        let ttl = if principal.role == Role::Borrower {
            self.core.settings.customer_session_ttl
        } else {
            self.core.settings.staff_session_ttl
        };
        let ttl = ChronoDuration::from_std(ttl).expect("session ttl fits chrono");
        let expires_at = now + ttl;
        sqlx::query(
            "INSERT INTO auth_sessions (token_hash, account_id, role, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash(&token))
        .bind(principal.account_id)
        .bind(principal.role.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(&self.core.db.sqlx)
        .await?;
        Ok(Session {
            token,
            expires_at,
            principal,
        })
    }

    /// Who holds this bearer token, if it is valid now: from the sessions this instance checked
    /// lately (see [`crate::sessions`]), else from PostgreSQL.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>, Error> {
        #[derive(sqlx::FromRow)]
        struct SessionRow {
            account_id: Uuid,
            role: String,
            expires_at: DateTime<Utc>,
            revoked_at: Option<DateTime<Utc>>,
        }
        let hash = token_hash(token);
        let now = self.core.clock.now();
        let cache = &self.core.sessions;
        if let Some(principal) = cache.get(&hash, now) {
            return Ok(Some(principal));
        }
        let read_at = cache.generation();
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT account_id, role, expires_at, revoked_at FROM auth_sessions WHERE token_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&self.core.db.sqlx)
        .await?;
        let Some(s) = row.filter(|s| s.revoked_at.is_none() && s.expires_at > now) else {
            return Ok(None);
        };
        let Ok(role) = s.role.parse() else {
            return Ok(None);
        };
        let principal = Principal {
            account_id: s.account_id,
            role,
        };
        cache.keep(hash, principal.clone(), s.expires_at, read_at);
        Ok(Some(principal))
    }

    /// Ends every session of the account but the one holding `token` (after a password change).
    pub(crate) async fn end_other_sessions(
        &self,
        account_id: Uuid,
        token: &str,
    ) -> Result<(), Error> {
        sqlx::query(crate::sessions::END_OTHERS)
            .bind(account_id)
            .bind(token_hash(token))
            .bind(self.core.clock.now())
            .execute(&self.core.db.sqlx)
            .await?;
        self.core.sessions.forget_account(account_id);
        Ok(())
    }

    /// Ends the session of this token.
    pub async fn logout(&self, token: &str) -> Result<(), Error> {
        let ended: Option<Uuid> = sqlx::query_scalar(crate::sessions::END_ONE)
            .bind(token_hash(token))
            .bind(self.core.clock.now())
            .fetch_optional(&self.core.db.sqlx)
            .await?;
        if let Some(account_id) = ended {
            self.core.sessions.forget_account(account_id);
        }
        Ok(())
    }
}

/// The key failed logins of `login` are counted under: a keyed hash (a customer's login is
/// personal data).
pub(crate) fn throttle_key(keys: &k911_event_store::keys::KeyStore, login: &str) -> String {
    hex::encode(keys.lookup_hash(&format!("login:{login}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_only_against_its_own_argon2id_hash() {
        let hash = hash_password("correct horse battery");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn generated_passwords_are_twelve_unambiguous_characters() {
        let password = generate_password([7u8; 32]);
        assert_eq!(password.chars().count(), 12);
        assert!(!password.contains(['0', 'O', '1', 'l', 'I']));
        let mixed: Vec<u8> = (0..32).map(|i| (i * 37 + 11) as u8).collect();
        let other = generate_password(mixed.try_into().unwrap());
        assert_ne!(password, other);
    }
}
