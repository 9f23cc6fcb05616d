//! The read side's entry point: queries over the read models for the HTTP layer, with sealed
//! personal data opened where the reader may see it. Each read model's queries live beside its
//! tables (`impl Reader` in its module); this holds what they share.

use std::time::Duration;

use k911_aggregates::Sealed;
use k911_event_store::follower::{FollowerError, Followers};
use k911_event_store::keys::{KeyError, KeyStore};
use k911_event_store::Database;

use crate::support::Receipts;

/// Reads the read models. Cheap to clone.
#[derive(Clone)]
pub struct Reader {
    pub(crate) db: Database,
    pub(crate) keys: KeyStore,
    /// The followers of this process: reads that must see a write wait on them.
    pub(crate) followers: Followers,
    /// New tickets' queue positions, handed over by the support read model.
    pub(crate) receipts: Receipts,
    /// How long a read waits for the read models to show a write.
    pub(crate) wait: Duration,
}

impl Reader {
    /// `receipts` must be those the support read model among `followers` was built with; a
    /// read that must see a write waits up to `wait` for it.
    pub fn new(
        db: Database,
        keys: KeyStore,
        followers: Followers,
        receipts: Receipts,
        wait: Duration,
    ) -> Self {
        Self {
            db,
            keys,
            followers,
            receipts,
            wait,
        }
    }

    /// The log's last position (`None`: an empty log).
    pub(crate) async fn head(&self) -> Result<Option<i64>, ReadError> {
        Ok(self
            .client()
            .await?
            .query_one("SELECT max(global_position) FROM events", &[])
            .await?
            .get(0))
    }

    /// Waits until the read models show everything committed so far.
    pub async fn catch_up(&self) -> Result<(), ReadError> {
        if let Some(head) = self.head().await? {
            self.followers.wait_for(head, self.wait).await?;
        }
        Ok(())
    }

    /// The last link of the log's hash chain (see `k911_event_store::chain`).
    pub async fn log_head(&self) -> Result<k911_event_store::chain::Head, ReadError> {
        Ok(k911_event_store::chain::head(&**self.client().await?).await?)
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, ReadError> {
        Ok(self.db.pg.get().await.map_err(FollowerError::from)?)
    }

    /// Opens a sealed value as a read model stores it; erased personal data reads as `None`.
    pub(crate) async fn open<T: serde::de::DeserializeOwned>(
        &self,
        stored: &serde_json::Value,
    ) -> Result<Option<T>, ReadError> {
        let sealed: Sealed<T> = serde_json::from_value(stored.clone())
            .map_err(|e| ReadError::Corrupt(e.to_string()))?;
        match self.keys.open(&sealed).await {
            Ok(value) => Ok(Some(value)),
            Err(KeyError::Erased(_)) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not found")]
    NotFound,
    /// The database, or a read model not caught up in time.
    #[error(transparent)]
    Follower(#[from] FollowerError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("a stored value cannot be read: {0}")]
    Corrupt(String),
}

impl From<tokio_postgres::Error> for ReadError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Follower(e.into())
    }
}
