//! HTTP `Idempotency-Key`: the key is reserved before the command runs and the answer stored after
//! it (sealed: it may carry a token or personal data), so a retry (concurrent or later) gets the
//! first answer and writes nothing new. Keys live [`KEPT_FOR_HOURS`]; after that the same key is new.

use sqlx::PgPool;
use uuid::Uuid;

/// What a request with an idempotency key may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Reservation {
    /// First time: run the command, then [`complete`] or [`release`].
    Reserved,
    /// Seen before with the same request: answer this.
    Replay { status: u16, body: Vec<u8> },
    /// The first request with this key is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// How long a key and its answer are kept.
pub const KEPT_FOR_HOURS: i32 = 24;

pub async fn reserve(
    pool: &PgPool,
    scope: &str,
    key: Uuid,
    request_hash: &[u8],
) -> Result<Reservation, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys AS k (scope, key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT (scope, key) DO UPDATE
            SET request_hash = EXCLUDED.request_hash, status_code = NULL, response_body = NULL,
                created_at = now()
          WHERE k.created_at < now() - make_interval(hours => $4)",
    )
    .bind(scope)
    .bind(key)
    .bind(request_hash)
    .bind(KEPT_FOR_HOURS)
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Reservation::Reserved);
    }
    let (hash, status, body): (Vec<u8>, Option<i16>, Option<Vec<u8>>) = sqlx::query_as(
        "SELECT request_hash, status_code, response_body FROM idempotency_keys
          WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_one(pool)
    .await?;
    Ok(if hash != request_hash {
        Reservation::Mismatch
    } else {
        match (status, body) {
            (Some(status), Some(body)) => Reservation::Replay {
                status: status as u16,
                body,
            },
            _ => Reservation::InProgress,
        }
    })
}

/// Stores the answer of a reserved request.
pub async fn complete(
    pool: &PgPool,
    scope: &str,
    key: Uuid,
    status: u16,
    body: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET status_code = $3, response_body = $4
          WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .bind(status as i16)
    .bind(body)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets the keys older than [`KEPT_FOR_HOURS`]; returns how many.
pub async fn forget_expired(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)",
    )
    .bind(KEPT_FOR_HOURS)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Frees a reserved key whose request failed on our side, so the client may retry it.
pub async fn release(pool: &PgPool, scope: &str, key: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status_code IS NULL",
    )
    .bind(scope)
    .bind(key)
    .execute(pool)
    .await?;
    Ok(())
}
