//! Finding and connecting to PostgreSQL.
//!
//! Two pools on purpose: postgres-es speaks sqlx, while the projectors use tokio-postgres (the
//! product owner's choice for read models). They never share a transaction.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool as PgPool, RecyclingMethod};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool as SqlxPool};
use tokio_postgres::NoTls;

use crate::append::GroupCommit;

/// Connection pools of one database.
#[derive(Clone)]
pub struct Database {
    /// For postgres-es and the write side (sqlx).
    pub sqlx: SqlxPool,
    /// For projectors and read-model queries (tokio-postgres).
    pub pg: PgPool,
    /// The writers that append events (group commit).
    pub appends: GroupCommit,
    url: Arc<str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to PostgreSQL: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("invalid database URL: {0}")]
    Url(String),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot start a private PostgreSQL cluster: {0}")]
    Cluster(String),
}

/// How many connections each pool may open. Beside them an instance holds one connection per
/// log follower (read models and process managers, each on its own for its batches' locks and
/// settings) and one for LISTEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSizes {
    /// Commands: appends to the log, outboxes, credentials (sqlx, as postgres-es speaks it).
    pub write: u32,
    /// Read-model queries (tokio-postgres).
    pub read: u32,
}

impl PoolSizes {
    /// Each pool the same size.
    pub fn both(size: u32) -> Self {
        Self {
            write: size,
            read: size,
        }
    }
}

/// Default pool sizes: enough to keep two cores busy (group commit batches appends, so a
/// command needs its connection briefly), and few enough that several instances fit in
/// PostgreSQL's default 100 connections.
pub const DEFAULT_POOL_SIZES: PoolSizes = PoolSizes {
    write: 12,
    read: 12,
};

impl Database {
    /// Connects both pools. Nothing panics when the database is down: the error is returned.
    pub async fn connect(url: &str, pools: PoolSizes) -> Result<Self, ConnectError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| ConnectError::Url(e.to_string()))?;
        let options = options.log_statements(tracing::log::LevelFilter::Trace);
        // A ping on every checkout doubles the round-trips of a command; broken connections are
        // noticed by the query that uses them instead.
        let sqlx = PgPoolOptions::new()
            .max_connections(pools.write)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        // Read-model queries keep PostgreSQL's default plan caching: a read that only follows
        // keys through their indexes, as the cabinet's loan page does, is prepared once
        // (`prepare_cached`) and reuses one generic plan, which halves its cost (planning took
        // as long as running it). A read whose best plan depends on its values or on how large
        // a table has grown (a page's LIMIT and OFFSET, the support queue's counts) is sent with
        // `query_typed` and planned on every run: generic plans made the queue listing sort
        // every waiting ticket, and the queue position scan the whole table as it grew.
        let pg_config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| ConnectError::Url(e.to_string()))?;
        let manager = Manager::from_config(
            pg_config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pg = PgPool::builder(manager)
            .max_size(pools.read as usize)
            .wait_timeout(Some(Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| ConnectError::Url(e.to_string()))?;
        Ok(Self {
            appends: GroupCommit::start(sqlx.clone()),
            sqlx,
            pg,
            url: url.into(),
        })
    }

    /// Applies the embedded migrations that have not run yet, then moves what older events held
    /// in clear to where it belongs now (see `credentials::adopt_legacy_hashes`).
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        crate::MIGRATOR.run(&self.sqlx).await?;
        crate::credentials::adopt_legacy_hashes(&self.sqlx).await?;
        self.grant_analysts().await?;
        Ok(())
    }

    /// Lets `k911_analyst` read every table of `read`: those there now, and those this role's
    /// projectors create or rebuild later (default privileges hold for the role that creates
    /// the tables, which is the one running k911, not necessarily the one that first migrated).
    /// Instances starting together take turns: catalogue rows updated at once would collide.
    async fn grant_analysts(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.sqlx.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('k911.analyst_grants'))")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA read GRANT SELECT ON TABLES TO k911_analyst",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("GRANT SELECT ON ALL TABLES IN SCHEMA read TO k911_analyst")
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the database answers, for `/readyz`.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.sqlx).await.is_ok()
    }
}

/// Adds server settings (`-c name=value ...`) to those the URL may already carry.
pub fn add_options(config: &mut tokio_postgres::Config, options: &str) {
    let options = match config.get_options() {
        Some(given) => format!("{given} {options}"),
        None => options.to_string(),
    };
    config.options(options);
}

/// The name of the database k911 uses on a server it found by itself.
pub const DEFAULT_DATABASE: &str = "k911";

/// The database to use when `DATABASE_URL` is not given: the local PostgreSQL on the default port
/// or socket, else a private cluster under `state_dir`, with database `k911` created on first use.
pub async fn discover_local(state_dir: &std::path::Path) -> Result<String, ConnectError> {
    let server = local_or_private_server(state_dir).await?;
    ensure_database(&server, DEFAULT_DATABASE).await?;
    Ok(with_database(&server, DEFAULT_DATABASE))
}

/// A server URL (database `postgres`): the local PostgreSQL if one accepts us, else the private
/// cluster under `state_dir/postgres`, started from the machine's binaries. (A directory of its
/// own: as root it is handed to the `postgres` user, which must not read the rest of the state.)
pub async fn local_or_private_server(state_dir: &std::path::Path) -> Result<String, ConnectError> {
    match discover_local_server().await {
        Some(server) => Ok(server),
        None => crate::cluster::start_private_cluster(&state_dir.join("postgres")).await,
    }
}

/// A server URL (database `postgres`) of the first local PostgreSQL that accepts us.
pub async fn discover_local_server() -> Option<String> {
    let mut users = vec![];
    for var in ["PGUSER", "USER"] {
        if let Ok(user) = std::env::var(var) {
            if !user.is_empty() && !users.contains(&user) {
                users.push(user);
            }
        }
    }
    users.push("postgres".to_string());
    for user in &users {
        // A Unix socket directory goes percent-encoded in the host part, which both sqlx and
        // tokio-postgres understand.
        for host in ["%2Fvar%2Frun%2Fpostgresql", "%2Ftmp", "127.0.0.1"] {
            let url = format!("postgres://{user}@{host}:5432/postgres");
            let attempt = tokio::time::timeout(Duration::from_secs(2), async {
                let options: PgConnectOptions = url.parse().ok()?;
                options.connect().await.ok()
            });
            if let Ok(Some(conn)) = attempt.await {
                drop(conn);
                return Some(url);
            }
        }
    }
    None
}

/// Creates `name` on the server unless it exists. Safe to race: a concurrent creation is fine.
pub async fn ensure_database(server_url: &str, name: &str) -> Result<(), ConnectError> {
    let options: PgConnectOptions = server_url
        .parse()
        .map_err(|e: sqlx::Error| ConnectError::Url(e.to_string()))?;
    let mut conn = options.connect().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT exists(SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let created = sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await;
        match created {
            Ok(_) => {}
            // 42P04 duplicate_database, 23505 a concurrent CREATE won the race.
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("42P04") | Some("23505")) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The same server URL pointing at another database.
pub fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server_url, String::new()),
    };
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    format!("{base}/{name}{query}")
}

/// SQLSTATE classes of a server that cannot serve now: connection exceptions (08), insufficient
/// resources (53: too many connections), operator intervention (57: shutting down, restarting).
pub fn unavailable_state(code: &str) -> bool {
    ["08", "53", "57"]
        .iter()
        .any(|class| code.starts_with(class))
}

/// Whether `e` says the database is out of reach rather than that the request or the code is
/// wrong.
pub fn sqlx_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| unavailable_state(&code)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_replaces_only_the_database_name() {
        assert_eq!(
            with_database("postgres://u@%2Ftmp:5432/postgres?sslmode=disable", "k911"),
            "postgres://u@%2Ftmp:5432/k911?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5432/postgres", "x"),
            "postgres://u@127.0.0.1:5432/x"
        );
    }
}
