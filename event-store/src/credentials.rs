//! Password hashes, kept out of the events: an account's events name the credential that holds
//! its password, and the hash is stored here, where erasure can delete it.

use k911_aggregates::values::CredentialId;
use sqlx::PgPool;
use uuid::Uuid;

/// Stores `password_hash` for `account_id` under a new credential id, before the command that
/// names it runs: should the command fail, the row is simply never named.
pub async fn store(
    pool: &PgPool,
    account_id: Uuid,
    password_hash: &str,
) -> Result<CredentialId, sqlx::Error> {
    let credential = CredentialId(Uuid::now_v7());
    sqlx::query(
        "INSERT INTO credentials (credential_id, account_id, password_hash) VALUES ($1, $2, $3)",
    )
    .bind(credential.0)
    .bind(account_id)
    .bind(password_hash)
    .execute(pool)
    .await?;
    Ok(credential)
}

/// The hash of `credential`, if it is stored (and belongs to `account_id`).
pub async fn password_hash(
    pool: &PgPool,
    account_id: Uuid,
    credential: CredentialId,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT password_hash FROM credentials WHERE credential_id = $1 AND account_id = $2",
    )
    .bind(credential.0)
    .bind(account_id)
    .fetch_optional(pool)
    .await
}

/// Copies the hashes that 1.0 account events carried into the table, under the credential id
/// the upcaster derives from each (`k911_aggregates::upcast::legacy_credential`). Run with every
/// migration; it adds nothing once done, and reads only the legacy events' partial index
/// (`events_legacy_passwords`), not the log.
pub const ADOPT_LEGACY_HASHES: &str =
    "INSERT INTO credentials (credential_id, account_id, password_hash, created_at)
     SELECT encode(substr(sha256(convert_to(hash, 'UTF8')), 1, 16), 'hex')::uuid,
            aggregate_id::uuid, hash, recorded_at
       FROM (SELECT aggregate_id, recorded_at, payload -> event_type ->> 'password_hash' AS hash
               FROM events
              WHERE aggregate_type = 'Account' AND event_version = '1.0'
                AND event_type IN ('StaffAccountCreated', 'CustomerAccountOpened',
                                   'PasswordIssued', 'PasswordChanged')) legacy
      WHERE hash IS NOT NULL
     ON CONFLICT (credential_id) DO NOTHING";

/// Runs [`ADOPT_LEGACY_HASHES`]; returns the credentials it added.
pub async fn adopt_legacy_hashes(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let adopted = sqlx::query(ADOPT_LEGACY_HASHES).execute(pool).await?;
    Ok(adopted.rows_affected())
}
