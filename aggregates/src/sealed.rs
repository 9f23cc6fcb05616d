//! Personal data inside events is encrypted per subject (a customer, or an anonymous ticket's
//! author). Destroying the subject's key erases the data while the events stay intact, so the
//! domain only ever sees an opaque [`Sealed`] value and never the key.

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A value of type `T`, encrypted with the data key of `subject_id`.
///
/// The type parameter records what is inside, so a sealed phone can never be opened as a
/// question; the ciphertext format belongs to the `event-store` crate.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Sealed<T> {
    /// Whose key encrypts this value.
    pub subject_id: Uuid,
    /// Nonce and ciphertext, base64; only the key store can read them.
    pub nonce: String,
    pub ciphertext: String,
    #[serde(skip)]
    contents: PhantomData<fn() -> T>,
}

impl<T> Sealed<T> {
    pub fn new(subject_id: Uuid, nonce: String, ciphertext: String) -> Self {
        Self {
            subject_id,
            nonce,
            ciphertext,
            contents: PhantomData,
        }
    }
}

impl<T> Clone for Sealed<T> {
    fn clone(&self) -> Self {
        Self::new(self.subject_id, self.nonce.clone(), self.ciphertext.clone())
    }
}

impl<T> PartialEq for Sealed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.subject_id == other.subject_id
            && self.nonce == other.nonce
            && self.ciphertext == other.ciphertext
    }
}

impl<T> Eq for Sealed<T> {}

// Never print ciphertext either: logs carry the subject only.
impl<T> fmt::Debug for Sealed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({})", self.subject_id)
    }
}
