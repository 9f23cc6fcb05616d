//! Configuration (environment variables, each also a flag) and the `serve` command.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use k911_commands::clock::SystemClock;
use k911_commands::ids::RandomIds;
use k911_commands::{App, Settings};
use k911_event_store::keys::MasterKey;
use k911_event_store::Database;
use k911_http::HttpConfig;

/// Where local state lives when nothing is configured (development master key).
const STATE_DIR: &str = ".k911";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Development,
    Production,
}

#[derive(Args)]
pub struct DatabaseArgs {
    /// PostgreSQL to use; by default the local server (database `k911`, created if missing).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// `production` refuses development drivers and requires K911_MASTER_KEY.
    #[arg(
        long,
        env = "K911_MODE",
        value_enum,
        default_value = "development",
        global = true
    )]
    pub mode: Mode,
    /// Base64 of 32 bytes wrapping the per-subject keys of personal data.
    #[arg(long, env = "K911_MASTER_KEY", global = true, hide_env_values = true)]
    pub master_key: Option<String>,
}

impl DatabaseArgs {
    pub async fn resolve_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        k911_event_store::connect::discover_local().await.context(
            "no DATABASE_URL and no local PostgreSQL on port 5432 or its socket; \
             install PostgreSQL or set DATABASE_URL",
        )
    }

    /// The configured master key; in development one generated once and kept under `./.k911/`.
    pub fn master_key(&self) -> anyhow::Result<MasterKey> {
        if let Some(text) = &self.master_key {
            return Ok(MasterKey::from_base64(text)?);
        }
        if self.mode == Mode::Production {
            bail!("K911_MASTER_KEY is required in production mode");
        }
        let path = PathBuf::from(STATE_DIR).join("master.key");
        if let Ok(text) = std::fs::read_to_string(&path) {
            return Ok(MasterKey::from_base64(&text)?);
        }
        let key = MasterKey::generate();
        std::fs::create_dir_all(STATE_DIR)?;
        std::fs::write(&path, key.to_base64())
            .with_context(|| format!("writing the development master key to {}", path.display()))?;
        restrict(&path)?;
        Ok(key)
    }
}

#[cfg(unix)]
fn restrict(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[derive(Args)]
pub struct ServeArgs {
    /// Listen address.
    #[arg(long, env = "K911_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Origins allowed by CORS, comma-separated.
    #[arg(long, env = "K911_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
}

pub async fn serve(db: Database, db_args: &DatabaseArgs, args: ServeArgs) -> anyhow::Result<()> {
    let app = App::new(
        db.clone(),
        &db_args.master_key()?,
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        Settings::default(),
    );
    let projector_tasks = app.projectors.start();
    let router = k911_http::router(
        app.clone(),
        &HttpConfig {
            cors_origins: args.cors_origins,
        },
    );
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("binding {}", args.addr))?;
    let local = listener.local_addr()?;
    println!(
        "k911 listening on http://{local} (database {})",
        redacted(db.url())
    );
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    app.projectors.shutdown();
    for task in projector_tasks {
        let _ = task.await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// A database URL without its password, for messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
