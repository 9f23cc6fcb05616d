//! Per-subject keys for personal data (crypto-shredding, see ARCHITECTURE.md).
//!
//! Every subject (a customer, an anonymous ticket's author) has a random 256-bit data key, stored
//! wrapped by the master key. Personal fields are sealed with XChaCha20-Poly1305 under the data key,
//! with the subject id as associated data so a ciphertext cannot be moved to another subject.
//! Destroying the wrapped key erases the data for good.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use k911_aggregates::Sealed;
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
/// Decrypted data keys kept in memory; the cache is simply emptied when it grows past this.
const CACHE_LIMIT: usize = 10_000;
/// How long a key opened once is used without reading `subject_keys` again.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// Subject keys created ahead in one commit, for new subjects (see [`KeyStore::new_subject`]).
const KEY_BATCH: usize = 64;

/// What an erased person's data reads as, wherever it is shown.
pub const ERASED: &str = "стёрто";
/// What another person's sealed data reads as in one person's own copy of their data.
pub const ANOTHER_PERSON: &str = "данные другого лица";

/// Every sealed value inside `value` (an object of exactly a sealed value's three fields), with
/// its JSON pointer.
fn sealed_values(
    value: &serde_json::Value,
    pointer: String,
    found: &mut Vec<(String, Sealed<serde_json::Value>)>,
) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if map.len() == 3 {
                if let Ok(sealed) = serde_json::from_value(value.clone()) {
                    found.push((pointer, sealed));
                    return;
                }
            }
            for (key, inner) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                sealed_values(inner, format!("{pointer}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                sealed_values(inner, format!("{pointer}/{index}"), found);
            }
        }
        _ => {}
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the master key must be base64 of exactly 32 bytes")]
    BadMasterKey,
    #[error("the personal data of subject {0} has been erased")]
    Erased(Uuid),
    #[error("a sealed value of subject {0} cannot be opened with its key")]
    Corrupt(Uuid),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The key that wraps every subject key (`K911_MASTER_KEY`). Never logged.
#[derive(Clone)]
pub struct MasterKey([u8; KEY_LEN]);

impl MasterKey {
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| KeyError::BadMasterKey)?;
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| KeyError::BadMasterKey)?;
        Ok(Self(key))
    }

    pub fn generate() -> Self {
        let mut key = [0u8; KEY_LEN];
        rand::thread_rng().fill_bytes(&mut key);
        Self(key)
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// A subject key as the cache keeps it: the key, and when it was read.
type CachedKey = ([u8; KEY_LEN], Instant);

/// Seals and opens personal data, creating subject keys on first use. Cheap to clone (one
/// `Arc`): every request's handlers hold a copy, and its ciphers are a few hundred bytes.
#[derive(Clone)]
pub struct KeyStore(Arc<Keys>);

pub struct Keys {
    pool: PgPool,
    master: XChaCha20Poly1305,
    lookup: Hmac<Sha256>,
    /// Seals the answers kept for `Idempotency-Key` replays (they may carry a token or personal
    /// data, and live a day).
    answers: XChaCha20Poly1305,
    /// Keys opened lately, each with when: another instance's erasure reaches this one's cache
    /// within [`CACHE_TTL`].
    cache: Mutex<HashMap<Uuid, CachedKey>>,
    /// Subjects this instance destroyed the key of: read as erased at once, even before the
    /// destroying transaction commits (a key read in between must not be cached again).
    shredded: Mutex<HashSet<Uuid>>,
    /// Subjects whose keys are stored but not yet handed out.
    fresh: Mutex<Vec<Uuid>>,
    refill: tokio::sync::Mutex<()>,
}

impl std::ops::Deref for KeyStore {
    type Target = Keys;

    fn deref(&self) -> &Keys {
        &self.0
    }
}

impl KeyStore {
    pub fn new(pool: PgPool, master: &MasterKey) -> Self {
        // A separate key for lookup hashes, derived so that the master key is never used twice.
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(&master.0).expect("any key length");
        derive.update(b"k911 lookup hash key v1");
        let lookup_key = derive.finalize().into_bytes();
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(&master.0).expect("any key length");
        derive.update(b"k911 stored answers key v1");
        let answers_key = derive.finalize().into_bytes();
        Self(Arc::new(Keys {
            pool,
            master: XChaCha20Poly1305::new((&master.0).into()),
            lookup: <Hmac<Sha256> as Mac>::new_from_slice(&lookup_key).expect("any key length"),
            answers: XChaCha20Poly1305::new(&answers_key),
            cache: Mutex::default(),
            shredded: Mutex::default(),
            fresh: Mutex::default(),
            refill: tokio::sync::Mutex::default(),
        }))
    }

    /// A new subject whose key is already stored, so sealing its data writes nothing more.
    ///
    /// Keys are created ahead, [`KEY_BATCH`] in one durable commit, instead of one commit per
    /// anonymous ticket. A key handed to no one (the process stopped first) guards no data: it is
    /// an unused row, not a leak.
    pub async fn new_subject(&self) -> Result<Uuid, KeyError> {
        loop {
            if let Some(subject) = self.fresh.lock().expect("fresh subjects").pop() {
                return Ok(subject);
            }
            let _refilling = self.refill.lock().await;
            if !self.fresh.lock().expect("fresh subjects").is_empty() {
                continue;
            }
            let mut subjects = Vec::with_capacity(KEY_BATCH);
            let mut wrapped_keys = Vec::with_capacity(KEY_BATCH);
            let mut keys = Vec::with_capacity(KEY_BATCH);
            for _ in 0..KEY_BATCH {
                let subject = Uuid::now_v7();
                let mut key = [0u8; KEY_LEN];
                rand::thread_rng().fill_bytes(&mut key);
                let (nonce, ciphertext) = encrypt(&self.master, subject, &key);
                subjects.push(subject);
                wrapped_keys.push([nonce.as_slice(), ciphertext.as_slice()].concat());
                keys.push(key);
            }
            sqlx::query("INSERT INTO subject_keys (subject_id, wrapped_key) SELECT * FROM UNNEST($1::uuid[], $2::bytea[])")
                .bind(&subjects)
                .bind(&wrapped_keys)
                .execute(&self.pool)
                .await?;
            let mut cache = self.cache.lock().expect("key cache");
            if cache.len() + KEY_BATCH >= CACHE_LIMIT {
                cache.clear();
            }
            let now = Instant::now();
            cache.extend(
                subjects
                    .iter()
                    .copied()
                    .zip(keys.into_iter().map(|k| (k, now))),
            );
            drop(cache);
            self.fresh.lock().expect("fresh subjects").extend(subjects);
        }
    }

    /// Encrypts `value` for `subject`, creating the subject's key if it has none.
    pub async fn seal<T: Serialize>(
        &self,
        subject: Uuid,
        value: &T,
    ) -> Result<Sealed<T>, KeyError> {
        let key = self.data_key(subject, true).await?;
        let plaintext = serde_json::to_vec(value).expect("domain values serialize");
        let (nonce, ciphertext) =
            encrypt(&XChaCha20Poly1305::new((&key).into()), subject, &plaintext);
        Ok(Sealed::new(
            subject,
            B64.encode(nonce),
            B64.encode(ciphertext),
        ))
    }

    /// Encrypts an answer stored under the idempotency key `key` (nonce, then ciphertext).
    pub fn seal_answer(&self, key: Uuid, body: &[u8]) -> Vec<u8> {
        let (nonce, ciphertext) = encrypt(&self.answers, key, body);
        [nonce.as_slice(), ciphertext.as_slice()].concat()
    }

    /// Decrypts what [`Self::seal_answer`] sealed under `key`; `None` if it was not.
    pub fn open_answer(&self, key: Uuid, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        decrypt(&self.answers, key, nonce, ciphertext)
    }

    /// Decrypts a sealed value; `Err(Erased)` once the subject's key is destroyed.
    pub async fn open<T: DeserializeOwned>(&self, sealed: &Sealed<T>) -> Result<T, KeyError> {
        let subject = sealed.subject_id;
        let key = self.data_key(subject, false).await?;
        let corrupt = || KeyError::Corrupt(subject);
        let nonce = B64.decode(&sealed.nonce).map_err(|_| corrupt())?;
        let ciphertext = B64.decode(&sealed.ciphertext).map_err(|_| corrupt())?;
        let plaintext = decrypt(
            &XChaCha20Poly1305::new((&key).into()),
            subject,
            &nonce,
            &ciphertext,
        )
        .ok_or_else(corrupt)?;
        serde_json::from_slice(&plaintext).map_err(|_| corrupt())
    }

    /// Whether `subject` is a person whose data k911 holds or held (erased ones included).
    pub async fn knows(&self, subject: Uuid) -> Result<bool, KeyError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM subject_keys WHERE subject_id = $1)")
                .bind(subject)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Opens in place every sealed value inside `value` (a stored payload or metadata): all of
    /// them, or with `only`, that person's alone (another's reads [`ANOTHER_PERSON`]). An erased
    /// person's values read [`ERASED`].
    pub async fn open_within(
        &self,
        value: &mut serde_json::Value,
        only: Option<Uuid>,
    ) -> Result<(), KeyError> {
        let mut found = Vec::new();
        sealed_values(value, String::new(), &mut found);
        for (pointer, sealed) in found {
            let opened = if only.is_some_and(|subject| subject != sealed.subject_id) {
                serde_json::Value::from(ANOTHER_PERSON)
            } else {
                match self.open(&sealed).await {
                    Ok(opened) => opened,
                    Err(KeyError::Erased(_)) => serde_json::Value::from(ERASED),
                    Err(other) => return Err(other),
                }
            };
            if let Some(slot) = value.pointer_mut(&pointer) {
                *slot = opened;
            }
        }
        Ok(())
    }

    /// Destroys `subject`'s key in the caller's transaction (crypto-shredding): every value
    /// sealed with it reads as erased from then on, and nothing can be sealed with it again.
    pub async fn destroy(
        client: &impl tokio_postgres::GenericClient,
        subject: Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), tokio_postgres::Error> {
        client
            .execute(
                "INSERT INTO subject_keys (subject_id, wrapped_key, erased_at) VALUES ($1, NULL, $2)
                 ON CONFLICT (subject_id) DO UPDATE SET wrapped_key = NULL,
                        erased_at = coalesce(subject_keys.erased_at, EXCLUDED.erased_at)",
                &[&subject, &at],
            )
            .await?;
        Ok(())
    }

    /// Drops `subject`'s key from this instance's cache and reads them as erased from now on
    /// (with [`Self::destroy`]; other instances lose the key within [`CACHE_TTL`]).
    pub fn forget(&self, subject: Uuid) {
        self.shredded.lock().expect("shredded keys").insert(subject);
        self.cache.lock().expect("key cache").remove(&subject);
    }

    /// A keyed hash of a lookup value (phone, e-mail): equal inputs give equal hashes, and
    /// nothing can be learned from the hash without the master key.
    pub fn lookup_hash(&self, value: &str) -> Vec<u8> {
        let mut mac = self.lookup.clone();
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    async fn data_key(&self, subject: Uuid, create: bool) -> Result<[u8; KEY_LEN], KeyError> {
        if self
            .shredded
            .lock()
            .expect("shredded keys")
            .contains(&subject)
        {
            return Err(KeyError::Erased(subject));
        }
        if let Some((key, at)) = self.cache.lock().expect("key cache").get(&subject) {
            if at.elapsed() < CACHE_TTL {
                return Ok(*key);
            }
        }
        let wrapped: Option<Option<Vec<u8>>> = if create {
            let mut fresh = [0u8; KEY_LEN];
            rand::thread_rng().fill_bytes(&mut fresh);
            let (nonce, ciphertext) = encrypt(&self.master, subject, &fresh);
            let wrapped = [nonce.as_slice(), ciphertext.as_slice()].concat();
            // One round-trip whether or not the key exists; an existing (or erased) key wins.
            sqlx::query_scalar(
                "INSERT INTO subject_keys (subject_id, wrapped_key) VALUES ($1, $2)
                 ON CONFLICT (subject_id) DO UPDATE SET subject_id = EXCLUDED.subject_id
                 RETURNING wrapped_key",
            )
            .bind(subject)
            .bind(wrapped)
            .fetch_optional(&self.pool)
            .await?
        } else {
            sqlx::query_scalar("SELECT wrapped_key FROM subject_keys WHERE subject_id = $1")
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?
        };
        let wrapped = wrapped.flatten().ok_or(KeyError::Erased(subject))?;
        if wrapped.len() < NONCE_LEN {
            return Err(KeyError::Corrupt(subject));
        }
        let (nonce, ciphertext) = wrapped.split_at(NONCE_LEN);
        let key: [u8; KEY_LEN] = decrypt(&self.master, subject, nonce, ciphertext)
            .and_then(|k| k.try_into().ok())
            .ok_or(KeyError::Corrupt(subject))?;
        let mut cache = self.cache.lock().expect("key cache");
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(subject, (key, Instant::now()));
        Ok(key)
    }
}

fn encrypt(
    cipher: &XChaCha20Poly1305,
    subject: Uuid,
    plaintext: &[u8],
) -> ([u8; NONCE_LEN], Vec<u8>) {
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    let payload = Payload {
        msg: plaintext,
        aad: subject.as_bytes(),
    };
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), payload)
        .expect("XChaCha20-Poly1305 encrypts any length that fits in memory");
    (nonce, ciphertext)
}

fn decrypt(
    cipher: &XChaCha20Poly1305,
    subject: Uuid,
    nonce: &[u8],
    ciphertext: &[u8],
) -> Option<Vec<u8>> {
    if nonce.len() != NONCE_LEN {
        return None;
    }
    let payload = Payload {
        msg: ciphertext,
        aad: subject.as_bytes(),
    };
    cipher.decrypt(XNonce::from_slice(nonce), payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_master_key_is_exactly_32_bytes_of_base64() {
        let key = MasterKey::generate();
        assert!(MasterKey::from_base64(&key.to_base64()).is_ok());
        assert!(matches!(
            MasterKey::from_base64("c2hvcnQ="),
            Err(KeyError::BadMasterKey)
        ));
    }

    #[tokio::test]
    async fn lookup_hashes_are_stable_per_master_key_and_reveal_nothing_across_keys() {
        // No query runs: the pool is never used by lookup hashes.
        let pool = sqlx::PgPool::connect_lazy("postgres://localhost/unused").unwrap();
        let (one, other) = (MasterKey::generate(), MasterKey::generate());
        let store = KeyStore::new(pool.clone(), &one);
        let phone = "+79161234567";
        assert_eq!(
            store.lookup_hash(phone),
            KeyStore::new(pool.clone(), &one).lookup_hash(phone)
        );
        assert_ne!(store.lookup_hash(phone), store.lookup_hash("+79161234568"));
        assert_ne!(
            store.lookup_hash(phone),
            KeyStore::new(pool, &other).lookup_hash(phone)
        );
    }

    #[test]
    fn a_ciphertext_opens_only_for_its_own_subject() {
        let cipher = XChaCha20Poly1305::new((&[7u8; KEY_LEN]).into());
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let (nonce, ciphertext) = encrypt(&cipher, a, b"4510 123456");
        assert_eq!(
            decrypt(&cipher, a, &nonce, &ciphertext).unwrap(),
            b"4510 123456"
        );
        assert!(decrypt(&cipher, b, &nonce, &ciphertext).is_none());
    }
}
