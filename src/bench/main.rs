//! `k911-bench`: load on the real service over HTTP, against a bare cqrs-es baseline.
//!
//! It creates a fresh database, starts `k911 serve` on it as a child process, and drives it with
//! concurrent keep-alive clients for a fixed time: anonymous ticket submissions (with a staff
//! queue read after every few, if asked). It prints commands/s, p50/p99 latency, projection lag
//! (commit to read model, from the database's own clock), the CPU it and the service spent, and
//! the service's peak resident memory. Then, on the same database and concurrency, the same
//! submissions to the cqrs-es demo's shape (`demo`), and one-event commands of a trivial
//! aggregate through postgres-es with no HTTP; and both ratios.

mod book;
mod demo;
mod pages;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use k911_event_store::connect::{discover_local_server, ensure_database, with_database, PoolSizes};
use k911_event_store::Database;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Parser)]
#[command(
    name = "k911-bench",
    about = "Load test of the k911 HTTP API against a bare cqrs-es baseline"
)]
struct Args {
    /// Seconds of load for each of the two runs.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Concurrent clients (and baseline tasks).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Instances of `k911 serve` on the one database, the clients spread over them.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// A staff queue read after every this many submissions (0: submissions only, as the
    /// baselines do).
    #[arg(long, default_value_t = 0)]
    queue_every: u64,
    /// Time the website's pages instead (each this many times, a new connection per request).
    #[arg(long)]
    pages: Option<usize>,
    /// A PostgreSQL server to create the benchmark database on; by default the local one.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    database_url: Option<String>,
    /// Leave the benchmark's database behind (its name is printed), to look into it.
    #[arg(long, global = true)]
    keep: bool,
    #[command(subcommand)]
    command: Option<BenchCommand>,
}

#[derive(clap::Subcommand)]
enum BenchCommand {
    /// A loan book at scale (made by the real aggregates), then each job over it measured.
    Book(book::BookArgs),
    /// The second baseline's server (the cqrs-es demo's shape), started by the benchmark itself.
    #[command(hide = true)]
    DemoServe {
        #[arg(long)]
        addr: String,
        #[arg(long)]
        pool: u32,
    },
}

/// The service's master key for the benchmark's throwaway database.
const MASTER_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(BenchCommand::DemoServe { addr, pool }) = &args.command {
        let url = args.database_url.as_deref().context("DATABASE_URL")?;
        return demo::serve(url, addr, *pool).await;
    }
    let server = match &args.database_url {
        Some(url) => with_database(url, "postgres"),
        None => discover_local_server()
            .await
            .context("no local PostgreSQL; set DATABASE_URL")?,
    };
    let name = format!("k911_bench_{}", std::process::id());
    ensure_database(&server, &name).await?;
    let url = with_database(&server, &name);
    let result = run(&args, &url).await;
    if args.keep {
        println!("database kept: {name}");
        return result;
    }
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&server).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    result
}

/// `k911 serve` on the benchmark's database, as a child process.
struct Service {
    child: tokio::process::Child,
    pid: u32,
    addr: String,
}

impl Service {
    async fn start(
        k911: &std::path::Path,
        url: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut command = tokio::process::Command::new(k911);
        command
            .args(["serve", "--addr", "127.0.0.1:0"])
            .env("DATABASE_URL", url)
            // The load comes from one address, far faster than people: limits would measure
            // themselves.
            .env("K911_RATE_LIMITS", "off")
            .env("K911_MASTER_KEY", MASTER_KEY)
            .env(
                "RUST_LOG",
                std::env::var("K911_BENCH_SERVICE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(env.iter().copied());
        Self::spawn(command, "k911 listening on http://").await
    }

    /// The cqrs-es demo's shape (`demo`), this binary in another process, with `pool`
    /// connections.
    async fn demo(url: &str, pool: usize) -> anyhow::Result<Self> {
        let mut command = tokio::process::Command::new(std::env::current_exe()?);
        command
            .args(["demo-serve", "--addr", "127.0.0.1:0", "--pool"])
            .arg(pool.to_string())
            .env("DATABASE_URL", url);
        Self::spawn(command, "demo listening on http://").await
    }

    /// Runs `command` and waits for the line that starts with `banner` and the address.
    async fn spawn(mut command: tokio::process::Command, banner: &str) -> anyhow::Result<Self> {
        let mut child = command.stdout(Stdio::piped()).kill_on_drop(true).spawn()?;
        let pid = child.id().context("service pid")?;
        let mut lines = BufReader::new(child.stdout.take().context("service stdout")?).lines();
        let addr = loop {
            let line = lines
                .next_line()
                .await?
                .context("the service exited before listening")?;
            if let Some(rest) = line.strip_prefix(banner) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        };
        Ok(Self { child, pid, addr })
    }

    /// The most memory the service has held so far, for the report.
    fn peak_memory(&self) -> String {
        match peak_rss_kib(self.pid) {
            Some(kib) => format!("{:.1} MB", kib as f64 / 1024.0),
            None => "unavailable (no /proc)".to_string(),
        }
    }

    async fn stop(mut self) {
        self.child.kill().await.ok();
    }
}

async fn run(args: &Args, url: &str) -> anyhow::Result<()> {
    let k911 = std::env::current_exe()?.with_file_name("k911");
    if let Some(BenchCommand::Book(book)) = &args.command {
        return book::run(book, &k911, url).await;
    }
    let password = "benchmark password";
    staff_add(&k911, url, "bench@k911.ru", "support", password).await?;
    if args.pages.is_some() {
        staff_add(&k911, url, "underwriter@k911.ru", "underwriter", password).await?;
    }
    let mut services = vec![];
    for _ in 0..args.instances.max(1) {
        services.push(Service::start(&k911, url, &[]).await?);
    }
    let service = &services[0];
    let addr = service.addr.clone();
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.clients)
        .build_http();
    let token = log_in(&client, &addr, "bench@k911.ru", password).await?;

    if let Some(rounds) = args.pages {
        let underwriter = log_in(&client, &addr, "underwriter@k911.ru", password).await?;
        let result = pages::run(&client, &addr, &token, &underwriter, rounds).await;
        println!("service peak resident memory: {}", service.peak_memory());
        return result;
    }

    // The baseline gets the pool size the service uses.
    let db = Database::connect(url, PoolSizes::both(args.clients as u32)).await?;
    let watcher = LagWatcher::start(db.clone());
    let duration = Duration::from_secs(args.duration);
    let addrs: Vec<String> = services.iter().map(|s| s.addr.clone()).collect();
    println!(
        "k911-bench: {} clients, {} s per run, k911 at {}",
        args.clients,
        args.duration,
        addrs.join(" and ")
    );
    let load = Load {
        client: &client,
        clients: args.clients,
        duration,
    };
    let queue = (args.queue_every > 0).then_some((token.as_str(), args.queue_every));
    let cpu = CpuShares::start(services.iter().map(|s| s.pid).collect());
    let http = load.run(&addrs, queue).await;
    let submitted = http.get("submit").map_or(0, |s| s.ok);
    let cpu = format!("{cpu}\n  {}", cpu.per_thousand(submitted));
    let samples = watcher.stop().await;
    let lag = projection_lags(&db, &samples).await?;
    let peak_memory: Vec<String> = services.iter().map(Service::peak_memory).collect();
    for service in services {
        service.stop().await;
    }

    let demo = Service::demo(url, args.clients).await?;
    let demo_cpu = CpuShares::start(vec![demo.pid]);
    let demo_load = load.run(std::slice::from_ref(&demo.addr), None).await;
    let demo_submitted = demo_load.get("submit").map_or(0, |s| s.ok);
    let demo_cpu = format!("{demo_cpu}\n  {}", demo_cpu.per_thousand(demo_submitted));
    demo.stop().await;

    let baseline = baseline_load(&db, args.clients, duration).await;
    let per_s = |series: &Series| series.ok as f64 / duration.as_secs_f64();
    let submit = http.get("submit").cloned().unwrap_or_default();
    let queue = http.get("queue").cloned().unwrap_or_default();
    let demo = demo_load.get("submit").cloned().unwrap_or_default();
    println!();
    println!(
        "k911 over HTTP, ticket submissions: {:.0} commands/s ({} ok, {} failed), p50 {:.2} ms, p99 {:.2} ms",
        per_s(&submit),
        submit.ok,
        submit.failed,
        submit.percentile(50.0),
        submit.percentile(99.0)
    );
    if queue.ok + queue.failed > 0 {
        println!(
            "  queue reads: {:.0} reads/s, p50 {:.2} ms, p99 {:.2} ms",
            per_s(&queue),
            queue.percentile(50.0),
            queue.percentile(99.0)
        );
    }
    println!(
        "  projection lag (commit to read model): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lag.percentile(50.0),
        lag.percentile(99.0),
        lag.percentile(100.0)
    );
    println!("  {cpu}");
    println!("  service peak resident memory: {}", peak_memory.join(", "));
    println!(
        "the cqrs-es demo's shape over HTTP (axum, postgres-es, GenericQuery view): {:.0} commands/s ({} failed), p50 {:.2} ms, p99 {:.2} ms",
        per_s(&demo),
        demo.failed,
        demo.percentile(50.0),
        demo.percentile(99.0)
    );
    println!("  {demo_cpu}");
    println!(
        "bare cqrs-es + postgres-es, no HTTP: {:.0} commands/s, p50 {:.2} ms, p99 {:.2} ms",
        per_s(&baseline),
        baseline.percentile(50.0),
        baseline.percentile(99.0)
    );
    println!(
        "ratios: k911 / bare {:.2}, k911 / demo shape {:.2}",
        per_s(&submit) / per_s(&baseline).max(1.0),
        per_s(&submit) / per_s(&demo).max(1.0)
    );
    Ok(())
}

/// `k911 staff add` on the benchmark's database.
async fn staff_add(
    k911: &std::path::Path,
    url: &str,
    login: &str,
    role: &str,
    password: &str,
) -> anyhow::Result<()> {
    let args = [
        "staff",
        "add",
        "--login",
        login,
        "--role",
        role,
        "--password",
        password,
    ];
    k911_command(k911, url, &args, &[]).await.map(drop)
}

/// Runs `k911 ARGS` on the benchmark's database and returns what it printed.
async fn k911_command(
    k911: &std::path::Path,
    url: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<String> {
    let output = tokio::process::Command::new(k911)
        .args(args)
        .env("DATABASE_URL", url)
        .env("K911_MASTER_KEY", MASTER_KEY)
        .envs(env.iter().copied())
        .stderr(Stdio::inherit())
        .output()
        .await
        .with_context(|| format!("running {}", k911.display()))?;
    if !output.status.success() {
        // The subcommand only: its flags may carry a password.
        let command: Vec<&str> = args
            .iter()
            .copied()
            .take_while(|a| !a.starts_with('-'))
            .collect();
        // What it printed is a report (never a secret): its last lines say why.
        let stdout = String::from_utf8_lossy(&output.stdout);
        let tail: Vec<&str> = stdout.lines().rev().take(5).collect();
        bail!(
            "k911 {} failed: {}",
            command.join(" "),
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A bearer token for `login`.
async fn log_in(
    client: &HttpClient,
    addr: &str,
    login: &str,
    password: &str,
) -> anyhow::Result<String> {
    let body = serde_json::json!({"login": login, "password": password}).to_string();
    let (_, answer) = request(client, addr, "POST", "/api/v1/auth/login", None, Some(body)).await?;
    Ok(
        serde_json::from_slice::<serde_json::Value>(&answer)?["token"]
            .as_str()
            .with_context(|| format!("a token for {login}"))?
            .to_string(),
    )
}

/// Latencies of one kind of request, in milliseconds.
#[derive(Default, Clone)]
struct Series {
    ok: u64,
    failed: u64,
    millis: Vec<f64>,
}

impl Series {
    fn record(&mut self, ok: bool, started: Instant) {
        if ok {
            self.ok += 1;
            self.millis.push(started.elapsed().as_secs_f64() * 1000.0);
        } else {
            self.failed += 1;
        }
    }

    fn merge(&mut self, other: Series) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.millis.extend(other.millis);
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.millis.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.millis.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank.min(sorted.len() - 1)]
    }
}

async fn request(
    client: &HttpClient,
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> anyhow::Result<(u16, Bytes)> {
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let response = client
        .request(builder.body(Full::new(Bytes::from(body.unwrap_or_default())))?)
        .await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

/// Closed-loop HTTP load: `clients` keep-alive clients for `duration`.
struct Load<'a> {
    client: &'a HttpClient,
    clients: usize,
    duration: Duration,
}

impl Load<'_> {
    /// Anonymous ticket submissions, each client to one of `addrs` in turn; with `queue`, a
    /// staff queue read (with that token) after every so many of them.
    async fn run(
        &self,
        addrs: &[String],
        queue: Option<(&str, u64)>,
    ) -> HashMap<&'static str, Series> {
        let deadline = Instant::now() + self.duration;
        let tasks: Vec<_> = (0..self.clients)
            .map(|c| {
                let (client, addr) = (self.client.clone(), addrs[c % addrs.len()].clone());
                let queue = queue.map(|(token, every)| (token.to_string(), every));
                tokio::spawn(async move {
                    let (mut submit, mut reads) = (Series::default(), Series::default());
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        n += 1;
                        let form = serde_json::json!({
                            "name": "Иван Петров",
                            "phone": "+79161234567",
                            "question": format!("Нагрузочный вопрос {c}-{n}"),
                        });
                        let started = Instant::now();
                        let result = request(
                            &client,
                            &addr,
                            "POST",
                            "/api/v1/support/tickets",
                            None,
                            Some(form.to_string()),
                        )
                        .await;
                        submit.record(matches!(result, Ok((201, _))), started);
                        let Some((token, every)) = &queue else {
                            continue;
                        };
                        if n.is_multiple_of(*every) {
                            let started = Instant::now();
                            let result = request(
                                &client,
                                &addr,
                                "GET",
                                "/api/v1/staff/support/queue?limit=20",
                                Some(token),
                                None,
                            )
                            .await;
                            reads.record(matches!(result, Ok((200, _))), started);
                        }
                    }
                    (submit, reads)
                })
            })
            .collect();
        let mut totals: HashMap<&'static str, Series> = HashMap::new();
        for task in tasks {
            if let Ok((submit, reads)) = task.await {
                totals.entry("submit").or_default().merge(submit);
                totals.entry("queue").or_default().merge(reads);
            }
        }
        totals
    }
}

/// How often the lag watcher samples: its queries load the same two cores as the service, so
/// the resolution of the lag figures (±5 ms) is traded for less disturbance.
const WATCH_EVERY: Duration = Duration::from_millis(10);

/// A checkpoint `(transaction id, position)` and when the database's clock saw it.
type Sample = ((i64, i64), chrono::DateTime<chrono::Utc>);

/// Samples the support read model's checkpoint with the database's clock every [`WATCH_EVERY`].
struct LagWatcher {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<Sample>>,
}

impl LagWatcher {
    fn start(db: Database) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut samples = vec![];
            while !flag.load(Ordering::Relaxed) {
                let row: Result<(i64, i64, chrono::DateTime<chrono::Utc>), _> = sqlx::query_as(
                    "SELECT transaction_id::text::bigint, global_position, clock_timestamp()
                       FROM projection_checkpoints WHERE projection = 'support_tickets'",
                )
                .fetch_one(&db.sqlx)
                .await;
                if let Ok((xid, position, at)) = row {
                    if samples
                        .last()
                        .is_none_or(|(seen, _): &Sample| *seen != (xid, position))
                    {
                        samples.push(((xid, position), at));
                    }
                }
                tokio::time::sleep(WATCH_EVERY).await;
            }
            samples
        });
        Self { stop, task }
    }

    async fn stop(self) -> Vec<Sample> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or_default()
    }
}

/// For each ticket event: from its commit (`recorded_at`) to the first sample whose checkpoint
/// had passed it, in log order `(transaction id, position)`.
async fn projection_lags(db: &Database, samples: &[Sample]) -> anyhow::Result<Series> {
    let events: Vec<(i64, i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, global_position, recorded_at FROM events
          WHERE aggregate_type = 'SupportTicket' ORDER BY transaction_id, global_position",
    )
    .fetch_all(&db.sqlx)
    .await?;
    let mut lag = Series::default();
    let mut i = 0;
    for (xid, position, recorded_at) in events {
        while i < samples.len() && samples[i].0 < (xid, position) {
            i += 1;
        }
        if let Some((_, seen_at)) = samples.get(i) {
            lag.ok += 1;
            lag.millis.push(
                ((*seen_at - recorded_at).num_microseconds().unwrap_or(0) as f64 / 1000.0).max(0.0),
            );
        }
    }
    Ok(lag)
}

/// CPU time (user and system) process `pid` has used so far, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command's name, which is in parentheses and may hold spaces: utime
    // and stime are the 12th and 13th of them, in clock ticks (USER_HZ, 100 on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// The machine's CPU spent over a measured phase by the benchmark itself (its load costs CPU
/// the service then lacks: on two cores a load generator can measure itself), by the service, and
/// by PostgreSQL when it runs on this machine.
pub(crate) struct CpuShares {
    started: Instant,
    bench: Option<f64>,
    service: Option<f64>,
    /// The service's processes (several instances count as one service).
    service_pids: Vec<u32>,
    /// CPU seconds of each PostgreSQL process at the start.
    database: HashMap<u32, f64>,
}

/// CPU seconds of `pids` together so far.
fn cpu_seconds_of(pids: &[u32]) -> Option<f64> {
    pids.iter().map(|pid| cpu_seconds(*pid)).sum()
}

/// CPU seconds so far of every PostgreSQL process on this machine (none: it runs elsewhere).
fn postgres_cpu() -> HashMap<u32, f64> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .filter_map(|pid| Some((pid, cpu_seconds(pid)?)))
        .collect()
}

impl CpuShares {
    pub(crate) fn start(service_pids: Vec<u32>) -> Self {
        Self {
            started: Instant::now(),
            bench: cpu_seconds(std::process::id()),
            service: cpu_seconds_of(&service_pids),
            service_pids,
            database: postgres_cpu(),
        }
    }

    /// CPU seconds PostgreSQL spent since the start: the processes there now (connections
    /// opened meanwhile count whole; one closed meanwhile is missed).
    fn database_seconds(&self) -> Option<f64> {
        if self.database.is_empty() {
            return None;
        }
        Some(
            postgres_cpu()
                .iter()
                .map(|(pid, now)| now - self.database.get(pid).copied().unwrap_or(0.0))
                .sum(),
        )
    }

    /// The CPU the service and PostgreSQL spent per 1 000 of the phase's `commands`: what a
    /// change costs, whatever the machine's speed that day (throughput on this machine varied by
    /// half between runs of one binary; CPU per command far less).
    pub(crate) fn per_thousand(&self, commands: u64) -> String {
        let per = |seconds: Option<f64>| match seconds {
            Some(seconds) if commands > 0 => format!("{:.2} s", seconds / commands as f64 * 1000.0),
            _ => "unknown".to_string(),
        };
        let service = match (self.service, cpu_seconds_of(&self.service_pids)) {
            (Some(before), Some(now)) => Some(now - before),
            _ => None,
        };
        format!(
            "CPU per 1 000 commands: the service {}, PostgreSQL {}",
            per(service),
            per(self.database_seconds())
        )
    }
}

impl std::fmt::Display for CpuShares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let machine = self.started.elapsed().as_secs_f64()
            * std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let share = |before: Option<f64>, pids: &[u32]| match (before, cpu_seconds_of(pids)) {
            (Some(before), Some(now)) => format!("{:.0} %", (now - before) / machine * 100.0),
            _ => "unknown".to_string(),
        };
        let database = match self.database_seconds() {
            Some(seconds) => format!("{:.0} %", seconds / machine * 100.0),
            None => "unknown (not on this machine)".to_string(),
        };
        write!(
            f,
            "CPU of the machine: the benchmark's own {}, the service's {}, PostgreSQL's {}",
            share(self.bench, &[std::process::id()]),
            share(self.service, &self.service_pids),
            database
        )
    }
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The baseline: a trivial aggregate, one event per command, through postgres-es.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Counter {
    count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Counted;

impl DomainEvent for Counted {
    fn event_type(&self) -> String {
        "Counted".into()
    }
    fn event_version(&self) -> String {
        "1.0".into()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl Aggregate for Counter {
    const TYPE: &'static str = "BenchCounter";
    type Command = ();
    type Event = Counted;
    type Error = Never;
    type Services = ();

    async fn handle(&mut self, _: (), _: &(), sink: &EventSink<Self>) -> Result<(), Never> {
        sink.write(Counted, self).await;
        Ok(())
    }

    fn apply(&mut self, _: Counted) {
        self.count += 1;
    }
}

async fn baseline_load(db: &Database, tasks: usize, duration: Duration) -> Series {
    // postgres-es as it comes: its own repository, one transaction per command.
    let store = cqrs_es::persist::PersistedEventStore::<_, Counter>::new_event_store(
        postgres_es::PostgresEventRepository::new(db.sqlx.clone()),
    );
    let cqrs = Arc::new(cqrs_es::CqrsFramework::new(store, vec![], ()));
    let deadline = Instant::now() + duration;
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let cqrs = cqrs.clone();
            tokio::spawn(async move {
                let mut series = Series::default();
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let ok = cqrs
                        .execute(&uuid::Uuid::now_v7().to_string(), ())
                        .await
                        .is_ok();
                    series.record(ok, started);
                }
                series
            })
        })
        .collect();
    let mut total = Series::default();
    for handle in handles {
        if let Ok(series) = handle.await {
            total.merge(series);
        }
    }
    total
}
