//! PostgreSQL for k911: connecting (with zero configuration), embedded migrations, the postgres-es
//! event store, the ordered global log that projectors read, per-subject keys for personal data,
//! password credentials and HTTP idempotency keys.

pub mod append;
pub mod batch;
pub mod chain;
pub mod cluster;
pub mod connect;
pub mod credentials;
pub mod follower;
pub mod idempotency;
pub mod keys;
pub mod listen;
pub mod log;
pub mod outbox;
pub mod snapshot;
pub mod store;
pub mod text_enum;

pub use connect::Database;

/// The migrations, embedded in the binary and run at start-up.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
