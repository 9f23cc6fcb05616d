//! One-time SMS codes: how a phone-only customer logs in (and, with the loans, how a contract is
//! signed). A code has 6 digits, lives 5 minutes, works once, and dies after 5 wrong tries; a
//! phone gets at most one code a minute and five an hour. Requests for unknown phones are
//! recorded and limited the same way, so the answer never tells who is a customer.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k911_aggregates::account::AccountKind;
use k911_aggregates::loan::ContractNumber;
use k911_aggregates::values::Phone;
use k911_aggregates::Sealed;
use k911_event_store::outbox::{self, Channel, Effect};
use uuid::Uuid;

use std::sync::Arc;

use k911_event_store::keys::KeyStore;
use k911_event_store::Database;

use crate::auth::Access;
use crate::clock::Clock;
use crate::ids::IdGenerator;
use crate::Error;

/// The limits of one-time codes.
#[derive(Debug, Clone)]
pub struct OtpRules {
    /// How long a code works.
    pub ttl: Duration,
    /// Wrong tries after which a code no longer works, even with the right digits.
    pub max_attempts: i32,
    /// The least time between two codes for one phone.
    pub min_interval: Duration,
    /// At most this many codes per phone in any hour.
    pub per_hour: usize,
}

impl Default for OtpRules {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(5 * 60),
            max_attempts: 5,
            min_interval: Duration::from_secs(60),
            per_hour: 5,
        }
    }
}

impl OtpRules {
    /// When the next code may be sent, given the codes sent in the last hour (newest first).
    pub fn next_allowed(&self, recent: &[DateTime<Utc>], now: DateTime<Utc>) -> DateTime<Utc> {
        let hour = chrono::Duration::hours(1);
        let mut next = now;
        if let Some(latest) = recent.first() {
            next = next.max(*latest + chrono_duration(self.min_interval));
        }
        if recent.len() >= self.per_hour {
            // The window frees up when the oldest of the last `per_hour` codes is an hour old.
            next = next.max(recent[self.per_hour - 1] + hour);
        }
        next
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).expect("OTP durations fit chrono")
}

/// What a one-time code is for; a code for one purpose never works for another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtpPurpose {
    Login,
    /// The borrower's simple electronic signature of one loan contract.
    Sign {
        loan_id: Uuid,
        contract_number: ContractNumber,
        /// Said before the code when the debt-to-income ratio is high.
        warning: Option<String>,
    },
}

impl OtpPurpose {
    fn key(&self) -> String {
        match self {
            Self::Login => "login".to_string(),
            Self::Sign { loan_id, .. } => format!("sign:{loan_id}"),
        }
    }

    fn text(&self, code: &OneTimeCode) -> String {
        match self {
            Self::Login => {
                format!("k911: код для входа в личный кабинет: {code}. Никому его не сообщайте.")
            }
            Self::Sign {
                contract_number,
                warning,
                ..
            } => format!(
                "{}k911: код для подписания договора займа № {contract_number}: {code}. \
                 Вводя его, вы подписываете договор. Никому его не сообщайте.",
                warning
                    .as_deref()
                    .map(|w| format!("{w} "))
                    .unwrap_or_default()
            ),
        }
    }
}

/// Sends and checks one-time codes; shared by the use cases and the process managers.
#[derive(Clone)]
pub struct Codes {
    pub(crate) db: Database,
    pub(crate) keys: KeyStore,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGenerator>,
    pub(crate) rules: OtpRules,
}

/// Six decimal digits from 32 random bytes; rejection sampling keeps all codes equally likely.
pub fn code_from(secret: [u8; 32]) -> OneTimeCode {
    const LIMIT: u32 = 4_294_000_000; // the largest multiple of 10^6 that fits a u32
    let value = secret
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .find(|v| *v < LIMIT)
        // Eight draws above the limit in a row: p ≈ 10^-29. Any value is then good enough.
        .unwrap_or(0);
    OneTimeCode(format!("{:06}", value % 1_000_000))
}

/// A one-time code as the SMS carries it: six digits. Never printed by `Debug`, so no log shows
/// one.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

impl OneTimeCode {
    /// What a person typed, if it can be a code at all (spaces around it are forgiven).
    pub fn parse(typed: &str) -> Option<Self> {
        let typed = typed.trim();
        (typed.len() == 6 && typed.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(typed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OneTimeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneTimeCode(******)")
    }
}

/// Byte-wise equality that takes the same time wherever the first difference is.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A code that was checked and accepted: whose it is.
pub(crate) struct AcceptedCode {
    pub account_id: Uuid,
}

impl Codes {
    /// Records a code request for `phone` and, when within the limits and there is a
    /// recipient, sends a fresh code (its SMS under `message_id` if given, so that a process
    /// manager sends it once). Returns when the next code may be asked for.
    pub(crate) async fn send(
        &self,
        phone: &Phone,
        purpose: &OtpPurpose,
        recipient: Option<(Uuid, Sealed<Phone>)>,
        message_id: Option<Uuid>,
    ) -> Result<DateTime<Utc>, Error> {
        let rules = &self.rules;
        let now = self.clock.now();
        let phone_hash = self.keys.lookup_hash(phone.as_str());
        let id = self.ids.new_id();
        let code = code_from(self.ids.secret());
        let message = match &recipient {
            Some((account_id, sealed_phone)) => {
                let text = purpose.text(&code);
                Some(Effect::Sms {
                    phone: sealed_phone.clone(),
                    text: self.keys.seal(*account_id, &text).await?,
                    secret: true,
                })
            }
            None => None,
        };

        let mut client = self.db.pg.get().await?;
        let tx = client.transaction().await?;
        // One request per phone at a time, so two at once cannot both slip under a limit.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(encode($1, 'hex'), 911))",
            &[&phone_hash],
        )
        .await?;
        let recent: Vec<DateTime<Utc>> = tx
            .query(
                "SELECT created_at FROM otp_codes
                  WHERE phone_hash = $1 AND purpose = $2 AND created_at > $3
                  ORDER BY created_at DESC",
                &[
                    &phone_hash,
                    &purpose.key(),
                    &(now - chrono::Duration::hours(1)),
                ],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let allowed = rules.next_allowed(&recent, now);
        if allowed > now {
            // Over a limit: nothing is sent, and the answer looks like any other.
            return Ok(allowed);
        }
        let account_id = recipient.as_ref().map(|(account_id, _)| *account_id);
        let code_hash = recipient
            .as_ref()
            .map(|_| self.keys.lookup_hash(&format!("otp:{id}:{code}")));
        tx.execute(
            "INSERT INTO otp_codes (id, phone_hash, purpose, account_id, code_hash, created_at,
                                    expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &id,
                &phone_hash,
                &purpose.key(),
                &account_id,
                &code_hash,
                &now,
                &(now + chrono_duration(rules.ttl)),
            ],
        )
        .await?;
        if let Some(message) = message {
            outbox::enqueue(&*tx, message_id.unwrap_or(id), Channel::Sms, &message).await?;
        }
        tx.commit().await?;
        Ok(rules.next_allowed(&[now], now))
    }

    /// Checks `code` against the newest code sent to `phone` for `purpose`. A wrong code counts
    /// against that code's tries; the right one works once.
    pub(crate) async fn accept(
        &self,
        phone: &Phone,
        purpose: &OtpPurpose,
        code: &OneTimeCode,
    ) -> Result<Option<AcceptedCode>, Error> {
        let rules = &self.rules;
        let now = self.clock.now();
        let phone_hash = self.keys.lookup_hash(phone.as_str());
        let mut client = self.db.pg.get().await?;
        let tx = client.transaction().await?;
        // Only the newest code counts: asking for a new one retires the old.
        let Some(row) = tx
            .query_opt(
                "SELECT id, account_id, code_hash, expires_at, attempts, used_at FROM otp_codes
                  WHERE phone_hash = $1 AND purpose = $2 AND code_hash IS NOT NULL
                  ORDER BY created_at DESC LIMIT 1
                    FOR UPDATE",
                &[&phone_hash, &purpose.key()],
            )
            .await?
        else {
            return Ok(None);
        };
        let id: Uuid = row.get("id");
        let expires_at: DateTime<Utc> = row.get("expires_at");
        let attempts: i32 = row.get("attempts");
        let used_at: Option<DateTime<Utc>> = row.get("used_at");
        if used_at.is_some() || expires_at <= now || attempts >= rules.max_attempts {
            return Ok(None);
        }
        let expected: Vec<u8> = row.get("code_hash");
        let given = self.keys.lookup_hash(&format!("otp:{id}:{code}"));
        if !same_bytes(&expected, &given) {
            tx.execute(
                "UPDATE otp_codes SET attempts = attempts + 1 WHERE id = $1",
                &[&id],
            )
            .await?;
            tx.commit().await?;
            return Ok(None);
        }
        tx.execute(
            "UPDATE otp_codes SET used_at = $2 WHERE id = $1",
            &[&id, &now],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(AcceptedCode {
            account_id: row.get("account_id"),
        }))
    }
}

impl Access {
    /// `POST /api/v1/auth/otp`: an opened phone-only customer gets a login code by SMS. Returns
    /// when the next code may be asked for; the same for a known or an unknown phone.
    pub async fn request_login_code(&self, phone: &Phone) -> Result<DateTime<Utc>, Error> {
        let recipient = self.phone_only_customer(phone).await?;
        self.codes
            .send(phone, &OtpPurpose::Login, recipient, None)
            .await
    }

    /// The opened account of a customer who logs in by phone only (gave no e-mail), with the
    /// phone sealed as the account keeps it.
    pub(crate) async fn phone_only_customer(
        &self,
        phone: &Phone,
    ) -> Result<Option<(Uuid, Sealed<Phone>)>, Error> {
        let Some(account_id) = self.customer_by_identity("phone", phone.as_str()).await? else {
            return Ok(None);
        };
        let account = self.core.load(&self.account_store, account_id).await?;
        Ok(match account.kind() {
            AccountKind::Customer {
                phone,
                email: None,
                opened_by: Some(_),
                ..
            } => Some((account_id, phone.clone())),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(minute: u32, second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, minute, second)
            .unwrap()
    }

    #[test]
    fn codes_are_six_digits_and_depend_on_the_secret() {
        let a = code_from([1u8; 32]);
        let b = code_from([2u8; 32]);
        assert_eq!(OneTimeCode::parse(a.as_str()), Some(a.clone()));
        assert_ne!(a, b);
        // A draw above the limit is skipped, not folded onto small codes.
        let mut secret = [0xffu8; 32];
        secret[4..8].copy_from_slice(&123_456u32.to_le_bytes());
        assert_eq!(code_from(secret).as_str(), "123456");
        assert_eq!(format!("{:?}", code_from(secret)), "OneTimeCode(******)");
    }

    #[test]
    fn only_six_digits_can_be_a_code() {
        assert_eq!(OneTimeCode::parse(" 012345 ").unwrap().as_str(), "012345");
        for typed in ["12345", "1234567", "12345a", "", "１２３４５６"] {
            assert_eq!(OneTimeCode::parse(typed), None, "{typed}");
        }
    }

    #[test]
    fn one_code_a_minute_and_five_an_hour() {
        let rules = OtpRules::default();
        assert_eq!(rules.next_allowed(&[], at(10, 0)), at(10, 0));
        assert_eq!(rules.next_allowed(&[at(9, 30)], at(10, 0)), at(10, 30));
        let five = [at(50, 0), at(40, 0), at(30, 0), at(20, 0), at(10, 0)];
        assert_eq!(
            rules.next_allowed(&five, at(55, 0)),
            Utc.with_ymd_and_hms(2026, 11, 27, 10, 10, 0).unwrap()
        );
    }

    #[test]
    fn comparison_needs_every_byte() {
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"ab"));
    }
}
