//! A private PostgreSQL cluster under a directory of the project (`./.k911/`), started from the
//! machine's own PostgreSQL binaries when no server answers. Nothing is downloaded: the binaries
//! come from the system's packages (Debian keeps them in `/usr/lib/postgresql/<version>/bin`).
//!
//! The cluster listens on a Unix socket in that directory only (no TCP) and trusts local
//! connections. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
//! It keeps running after the service stops; `pg_ctl -D .k911/pgdata stop` stops it.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::connect::ConnectError;

/// The superuser of a private cluster.
const SUPERUSER: &str = "k911";
/// The port, which for a socket-only server just names the socket file.
const PORT: u16 = 5432;

/// The directory holding `initdb`, `pg_ctl` and `postgres`.
pub async fn postgres_bindir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output().await {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    // Highest major version last ("9.6" < "15" numerically).
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.split('.').next())
            .and_then(|major| major.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

/// Starts the private cluster under `dir` (initialising it on first use) and returns the URL of
/// its `postgres` database.
pub async fn start_private_cluster(dir: &Path) -> Result<String, ConnectError> {
    let bin = postgres_bindir().await.ok_or_else(|| {
        ConnectError::Cluster("no PostgreSQL binaries (initdb) on this machine".into())
    })?;
    std::fs::create_dir_all(dir).map_err(|e| ConnectError::Cluster(e.to_string()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| ConnectError::Cluster(e.to_string()))?;
    let data = dir.join("pgdata");
    let as_root = is_root();
    if as_root {
        // The server must not run as root: hand the directory to the postgres user.
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir))
        .await?;
    }
    if !data.join("PG_VERSION").exists() {
        let mut initdb = server_command(&bin.join("initdb"), as_root);
        initdb.arg("-D").arg(&data).args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-instructions",
        ]);
        run(&mut initdb).await?;
    }
    let mut status = server_command(&bin.join("pg_ctl"), as_root);
    status.arg("status").arg("-D").arg(&data);
    let running = status
        .output()
        .await
        .map(|out| out.status.success())
        .unwrap_or(false);
    if !running {
        let options = format!("-k {} -c listen_addresses='' -p {PORT}", dir.display());
        let mut start = server_command(&bin.join("pg_ctl"), as_root);
        start
            .arg("start")
            .arg("-w")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("postgres.log"))
            .arg("-o")
            .arg(options);
        run(&mut start).await?;
    }
    let socket = dir.display().to_string().replace('/', "%2F");
    Ok(format!("postgres://{SUPERUSER}@{socket}:{PORT}/postgres"))
}

fn is_root() -> bool {
    std::env::var("USER").is_ok_and(|u| u == "root")
        || std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
        })
}

fn server_command(program: &Path, as_root: bool) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

async fn run(command: &mut Command) -> Result<(), ConnectError> {
    let out = command
        .output()
        .await
        .map_err(|e| ConnectError::Cluster(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ConnectError::Cluster(format!(
            "{:?} failed: {}",
            command.as_std().get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Stops the private cluster under `dir`, if it runs.
pub async fn stop_private_cluster(dir: &Path) -> Result<(), ConnectError> {
    let bin = postgres_bindir().await.ok_or_else(|| {
        ConnectError::Cluster("no PostgreSQL binaries (pg_ctl) on this machine".into())
    })?;
    let mut stop = server_command(&bin.join("pg_ctl"), is_root());
    stop.arg("stop")
        .arg("-D")
        .arg(dir.join("pgdata"))
        .args(["-m", "fast"]);
    run(&mut stop).await
}
