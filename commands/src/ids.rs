//! Ids and secrets, injected like the clock so tests can make them predictable.

use rand::RngCore;
use uuid::Uuid;

pub trait IdGenerator: Send + Sync {
    /// A new aggregate id (UUID v7: time-ordered, so indexes stay compact).
    fn new_id(&self) -> Uuid;
    /// 32 random bytes for a bearer token.
    fn secret(&self) -> [u8; 32];
}

/// UUID v7 ids and secrets from the operating system's random generator.
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }

    fn secret(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        bytes
    }
}
