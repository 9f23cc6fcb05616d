//! The credit-history port: what the borrower owes at other lenders, as a credit bureau reports
//! it. The law's limits on high-cost loans count those loans too (545-FZ of 29.12.2025: a lender
//! asks every qualified bureau). Production needs a qualified bureau's API behind this port;
//! development answers from the local table `credit_history`.

use async_trait::async_trait;
use k911_aggregates::loan::law::CreditRecord;
use k911_aggregates::loan_application::applicant::Passport;
use k911_event_store::keys::KeyStore;
use rust_decimal::Decimal;
use sqlx::PgPool;

#[async_trait]
pub trait CreditHistory: Send + Sync {
    /// The loans of the passport's holder at other lenders, in force or repaid.
    async fn loans(&self, passport: &Passport) -> Result<Vec<CreditRecord>, String>;
}

/// The development driver: records in the `credit_history` table, keyed by the passport's
/// keyed hash.
pub struct LocalCreditHistory {
    pool: PgPool,
    keys: KeyStore,
}

impl LocalCreditHistory {
    pub fn new(pool: PgPool, keys: KeyStore) -> Self {
        Self { pool, keys }
    }

    /// The key a passport's records are kept under.
    pub fn subject_hash(keys: &KeyStore, passport: &Passport) -> Vec<u8> {
        keys.lookup_hash(&format!("credit-history:{}", passport.identity()))
    }
}

#[async_trait]
impl CreditHistory for LocalCreditHistory {
    async fn loans(&self, passport: &Passport) -> Result<Vec<CreditRecord>, String> {
        let rows: Vec<(String, Option<chrono::NaiveDate>)> = sqlx::query_as(
            "SELECT psk_percent::text, repaid_on FROM credit_history WHERE subject_hash = $1
             ORDER BY opened_on, record_id",
        )
        .bind(Self::subject_hash(&self.keys, passport))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        rows.into_iter()
            .map(|(psk, repaid_on)| {
                let psk_percent: Decimal = psk.parse().map_err(|e| format!("ПСК {psk}: {e}"))?;
                Ok(CreditRecord {
                    psk_percent,
                    repaid_on,
                })
            })
            .collect()
    }
}
