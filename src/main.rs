//! `k911`: the service and its administration commands.

mod config;

use anyhow::Context;
use clap::{Parser, Subcommand};
use k911_aggregates::incoming_payment::PaymentChannel;
use k911_aggregates::values::{Email, Role};
use k911_commands::clock::ManualClock;
use k911_commands::{App, CommandMeta};
use k911_event_store::Database;
use k911_projections::Reader;

use crate::config::{Config, ServeArgs};

/// Measured under the benchmark's load: glibc's malloc took about a fifth of the service's CPU,
/// most of it consolidating freed buffers.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "k911",
    version,
    about = "k911: event-sourced backend of an online microfinance lender"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database, start the projectors and serve the HTTP API.
    Serve(ServeArgs),
    /// Apply the database migrations and exit.
    Migrate,
    /// Read-model maintenance.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Staff accounts.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Repayments from outside channels.
    Payments {
        #[command(subcommand)]
        command: PaymentsCommand,
    },
    /// The scheduled jobs.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Credit bureau reporting (218-FZ).
    Bureau {
        #[command(subcommand)]
        command: BureauCommand,
    },
}

#[derive(Subcommand)]
enum BureauCommand {
    /// Write every unsent report of an event on or before DATE (Moscow day, default today) to
    /// FILE (JSON lines, the README's layout), then mark them sent. The file is written as
    /// `FILE.partial` and named once complete; a report is marked only after that.
    Export {
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute every link of the log's hash chain from the events table and name the first
    /// position whose link differs (exit status 1); prints the head when every link holds.
    Verify,
    /// Write the audit trail's events matching the filters to FILE (CSV with a header, or JSON
    /// lines), in log order. The export is recorded on the log (`AuditTrailRead`) before the
    /// file takes its name.
    Export {
        /// The person the events concern.
        #[arg(long)]
        subject: Option<uuid::Uuid>,
        /// The account that caused them.
        #[arg(long)]
        actor: Option<uuid::Uuid>,
        #[arg(long)]
        aggregate_type: Option<String>,
        #[arg(long)]
        aggregate_id: Option<String>,
        #[arg(long)]
        event_type: Option<String>,
        /// From this time on (RFC 3339, inclusive).
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Before this time (RFC 3339, exclusive).
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        /// `csv` or `jsonl`.
        #[arg(long, default_value = "csv")]
        format: ExportFormat,
        file: std::path::PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Csv,
    Jsonl,
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Run the jobs once, as `serve` does every few seconds (payout answers, the daily close of
    /// every loan: interest, falling due, penalties, reminders; lapsed offers, commission
    /// payouts, housekeeping), and print what was visited and how long it took. With
    /// K911_CLOCK=manual and K911_CLOCK_START, as of that time (development).
    Run,
}

#[derive(Subcommand)]
enum PaymentsCommand {
    /// Apply a channel's payment registry (CSV: external_id,contract_number,amount_kopecks,paid_at).
    Import {
        /// `sberbank_online` or `terminal`.
        #[arg(long)]
        channel: PaymentChannel,
        /// `standard` (API.md's CSV) or a channel's own layout (`sberbank`).
        #[arg(long, default_value = "standard")]
        layout: String,
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Drop and replay a read model (all of them without NAME) from the event log.
    Rebuild { name: Option<String> },
    /// After importing a loan book with its history (the service stopped): process managers
    /// begin at the end of the log, since the system the book came from acted on it already;
    /// read models still replay it. With NAME, only that process manager: one a new release
    /// adds to a running book, which is not to act on the history before it.
    CutOver { name: Option<String> },
    /// Write the data dictionary of the read models (from their `COMMENT ON`s) to FILE, or to
    /// stdout.
    Dictionary { file: Option<std::path::PathBuf> },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Create a staff account.
    Add {
        #[arg(long)]
        login: String,
        #[arg(long)]
        role: String,
        #[arg(long, env = "K911_STAFF_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr; stdout carries only the command's own output ("listening on ...").
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()),
        )
        .init();
    let cli = Cli::parse();
    let db = connect(&cli.config).await?;
    match cli.command {
        Command::Serve(args) => config::serve(db, &cli.config, args).await,
        Command::Migrate => {
            println!("migrations applied to {}", config::redacted(db.url()));
            Ok(())
        }
        Command::Projections {
            command: ProjectionsCommand::Rebuild { name },
        } => {
            let (app, _, _) = one_off(&cli.config, &db)?;
            let started = std::time::Instant::now();
            let log: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(&db.sqlx)
                .await?;
            for (projection, events, took) in app.followers.rebuild(name.as_deref()).await? {
                println!(
                    "rebuilt {projection}: {events} events replayed in {:.1} s",
                    took.as_secs_f64()
                );
            }
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "the log's {log} events in {seconds:.1} s ({:.0} events/s)",
                log as f64 / seconds
            );
            Ok(())
        }
        Command::Projections {
            command: ProjectionsCommand::CutOver { name },
        } => {
            let (app, _, _) = one_off(&cli.config, &db)?;
            let position = app.followers.cut_over(name.as_deref()).await?;
            match name {
                Some(name) => println!("{name} starts after position {position}"),
                None => println!("process managers start after position {position}"),
            }
            Ok(())
        }
        Command::Jobs {
            command: JobsCommand::Run,
        } => {
            let (app, reader, _) = one_off(&cli.config, &db)?;
            // The book the close covers: counted before it closes any.
            let active = usize::try_from(reader.active_loans().await?).unwrap_or_default();
            let started = std::time::Instant::now();
            let mut visited = k911_http::jobs::loan_jobs(&app, &reader).await;
            let seconds = started.elapsed().as_secs_f64();
            visited.active = active;
            println!(
                "{visited} in {seconds:.1} s ({:.0} loans/s)",
                visited.active as f64 / seconds.max(f64::EPSILON)
            );
            let started = std::time::Instant::now();
            app.tidy_up().await;
            println!("housekeeping in {:.1} s", started.elapsed().as_secs_f64());
            app.followers.announce_pending().await;
            Ok(())
        }
        Command::Projections {
            command: ProjectionsCommand::Dictionary { file },
        } => {
            let client = db.pg.get().await?;
            k911_projections::dictionary::create_read_models(&client).await?;
            let text = k911_projections::dictionary::markdown(&client).await?;
            match file {
                Some(file) => std::fs::write(&file, text)?,
                None => print!("{text}"),
            }
            Ok(())
        }
        Command::Staff {
            command:
                StaffCommand::Add {
                    login,
                    role,
                    password,
                },
        } => {
            let login = Email::parse(&login).map_err(|e| anyhow::anyhow!("--login {e}"))?;
            let role: Role = role.parse().map_err(|e| anyhow::anyhow!("--role {e}"))?;
            if password.chars().count() < k911_commands::auth::MIN_PASSWORD_CHARS {
                anyhow::bail!(
                    "--password must be at least {} characters",
                    k911_commands::auth::MIN_PASSWORD_CHARS
                );
            }
            let (app, _, _) = one_off(&cli.config, &db)?;
            let meta = CommandMeta {
                channel: "cli",
                ..CommandMeta::default()
            };
            let written = app
                .access
                .create_staff(login, role, &password, &meta)
                .await?;
            println!(
                "staff account {} created ({role}), position {}",
                written.id, written.position
            );
            app.followers.announce_pending().await;
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => verify_chain(&db).await,
        Command::Audit {
            command:
                AuditCommand::Export {
                    subject,
                    actor,
                    aggregate_type,
                    aggregate_id,
                    event_type,
                    from,
                    to,
                    format,
                    file,
                },
        } => {
            let query = k911_aggregates::compliance_read::AuditQuery {
                subject_id: subject,
                actor_id: actor,
                aggregate_type,
                aggregate_id,
                event_type,
                from,
                to,
            };
            let (app, reader, _) = one_off(&cli.config, &db)?;
            let exported = export_audit(&app, &reader, query, format, &file).await;
            app.followers.announce_pending().await;
            exported
        }
        Command::Bureau {
            command: BureauCommand::Export { date, file },
        } => {
            let (app, _, _) = one_off(&cli.config, &db)?;
            let exported = export_bureau_reports(&app, date, &file).await;
            app.followers.announce_pending().await;
            exported
        }
        Command::Payments {
            command:
                PaymentsCommand::Import {
                    channel,
                    layout,
                    file,
                },
        } => {
            let layout = layout.parse().map_err(anyhow::Error::msg)?;
            let (app, _, _) = one_off(&cli.config, &db)?;
            let imported = import_payments(&app, channel, layout, &file).await;
            app.followers.announce_pending().await;
            imported
        }
    }
}

/// The application for a one-off command. Its commits are announced to the running services as
/// their own are, so they apply them at once rather than at their next look at the log (up to a
/// second); a command that commits announces what is left before it exits
/// (`Followers::announce_pending`).
fn one_off(
    config: &config::Config,
    db: &Database,
) -> anyhow::Result<(App, Reader, Option<ManualClock>)> {
    let built = config.app_and_clock(db)?;
    built.0.followers.start_announcer();
    Ok(built)
}

/// `k911 audit verify`, with a progress bar over the chain's links.
async fn verify_chain(db: &Database) -> anyhow::Result<()> {
    use k911_event_store::chain::{verify, Verdict};
    let client = db.pg.get().await?;
    let links: i64 = client
        .query_one("SELECT count(*) FROM audit_chain", &[])
        .await?
        .get(0);
    let bar = indicatif::ProgressBar::new(links.max(0) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} links {msg}")
            .expect("progress template"),
    );
    let verdict = verify(&**client, |checked| bar.set_position(checked as u64)).await?;
    bar.finish_and_clear();
    match verdict {
        Verdict::Intact(head) => {
            println!(
                "the chain holds: {} links, the last at position {}, head {}",
                head.links,
                head.position.map_or("-".to_string(), |p| p.to_string()),
                hex::encode(head.link)
            );
            Ok(())
        }
        Verdict::Broken { position, reason } => {
            println!("the chain breaks at position {position}: {reason}");
            std::process::exit(1)
        }
    }
}

/// `k911 audit export`: pages through the trail into `FILE.partial` with a progress bar over the
/// log's positions, records the export, then renames the file.
async fn export_audit(
    app: &k911_commands::App,
    reader: &k911_projections::Reader,
    query: k911_aggregates::compliance_read::AuditQuery,
    format: ExportFormat,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    use std::io::Write;
    const PAGE: i64 = 10_000;
    let end: Option<i64> = app
        .core
        .db
        .pg
        .get()
        .await?
        .query_one("SELECT max(global_position) FROM events", &[])
        .await?
        .get(0);
    let bar = indicatif::ProgressBar::new(end.unwrap_or(0).max(0) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} position {pos}/{len} {msg}")
            .expect("progress template"),
    );
    let (partial, file) = private_partial(path)?;
    let mut csv = matches!(format, ExportFormat::Csv).then(|| csv::Writer::from_writer(&file));
    let mut jsonl = std::io::BufWriter::new(&file);
    let (mut after, mut written) = (0, 0u64);
    loop {
        let page = reader.audit_page(&query, after, PAGE).await?;
        for entry in &page {
            match csv.as_mut() {
                Some(csv) => csv.serialize(entry)?,
                None => {
                    serde_json::to_writer(&mut jsonl, entry)?;
                    jsonl.write_all(b"\n")?;
                }
            }
        }
        written += page.len() as u64;
        bar.set_message(format!("{written} events"));
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => {
                after = last.position;
                bar.set_position(after as u64);
            }
            _ => break,
        }
    }
    if let Some(mut csv) = csv {
        csv.flush()?;
    }
    jsonl.flush()?;
    drop(jsonl);
    file.sync_all()?;
    bar.finish_and_clear();
    let meta = CommandMeta {
        channel: "cli",
        ..CommandMeta::default()
    };
    app.compliance
        .record_audit_read(
            query,
            k911_aggregates::compliance_read::AuditReadKind::Export,
            written,
            &meta,
        )
        .await?;
    std::fs::rename(&partial, path).with_context(|| format!("naming {}", path.display()))?;
    println!("{written} events written to {}", path.display());
    Ok(())
}

/// `FILE.partial`, created readable by its owner only (exports hold personal data).
fn private_partial(path: &std::path::Path) -> anyhow::Result<(std::path::PathBuf, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("writing {}", partial.display()))?;
    Ok((partial, file))
}

/// `k911 bureau export`: the reports due into `FILE.partial`, named `FILE` once complete, then
/// marked sent. Should the marking fail, the next export writes them again under the same
/// `uid`, which the bureau takes once.
async fn export_bureau_reports(
    app: &k911_commands::App,
    date: Option<chrono::NaiveDate>,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    use std::io::Write;
    let through =
        date.unwrap_or_else(|| k911_aggregates::calendar::moscow_date(app.core.clock.now()));
    let (partial, file) = private_partial(path)?;
    let mut out = std::io::BufWriter::new(&file);
    let exported = match app.bureau.export(through, &mut out).await {
        Ok(exported) => exported,
        Err(error) => {
            drop(out);
            std::fs::remove_file(&partial).ok();
            return Err(error.into());
        }
    };
    out.flush()?;
    drop(out);
    file.sync_all()?;
    std::fs::rename(&partial, path).with_context(|| format!("naming {}", path.display()))?;
    app.bureau
        .mark_sent(&exported, &path.display().to_string())
        .await?;
    println!(
        "{} reports of events through {through} written to {}{}",
        exported.written.len(),
        path.display(),
        match exported.erased.len() {
            0 => String::new(),
            n => format!(" ({n} of erased people marked without sending)"),
        }
    );
    Ok(())
}

/// `k911 payments import`: prints the totals and every rejected row; fails only when the file
/// cannot be read.
async fn import_payments(
    app: &k911_commands::App,
    channel: PaymentChannel,
    layout: k911_commands::registry::RegistryLayout,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let bytes = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    // The bar follows the bytes read (the whole file is read first, so it needs no pass to count
    // the rows), then its message the rows done.
    let bar = indicatif::ProgressBar::new(bytes);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
            .expect("a valid template"),
    );
    let reader = bar.wrap_read(file);
    let report = app
        .payments
        .import_payments(channel, layout, reader, |done| {
            bar.set_message(format!("{done} rows done"))
        })
        .await?;
    bar.finish_and_clear();
    for (line, why) in &report.errors {
        println!("line {line}: {why}");
    }
    println!(
        "applied {}, duplicate {}, unmatched {}, rejected {}",
        report.applied, report.duplicate, report.unmatched, report.rejected
    );
    Ok(())
}

async fn connect(args: &Config) -> anyhow::Result<Database> {
    let url = args.resolve_url().await?;
    let db = Database::connect(&url, args.pool_sizes())
        .await
        .with_context(|| format!("connecting to {}", config::redacted(&url)))?;
    db.migrate().await?;
    Ok(db)
}
