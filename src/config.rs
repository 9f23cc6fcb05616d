//! Configuration (environment variables, each also a flag) and the `serve` command.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use k911_aggregates::account::ErasureRules;
use k911_aggregates::incoming_payment::PaymentChannel;
use k911_aggregates::loan::law::LawEditions;
use k911_commands::clock::{ManualClock, SystemClock};
use k911_commands::ids::RandomIds;
use k911_commands::notify::{EmailSender, Ports, SmsSender, SmtpMailer};
use k911_commands::payout::PayoutProvider;
use k911_commands::smsru::{SmsRu, SMSRU_URL};
use k911_commands::yookassa::{YooKassaPayouts, YOOKASSA_URL};
use k911_commands::{App, Settings};
use k911_event_store::connect::{PoolSizes, DEFAULT_POOL_SIZES};
use k911_event_store::keys::MasterKey;
use k911_event_store::Database;
use k911_http::{Contacts, HttpConfig};
use k911_projections::Reader;

/// The payment channels' secret in development when none is configured.
const DEVELOPMENT_SECRET: &str = "development";

/// Where local state lives when nothing is configured (development master key, private cluster).
const STATE_DIR: &str = ".k911";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClockDriver {
    /// The real time.
    System,
    /// Development: starts at the real time and moves only by `POST /dev/clock`.
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmsDriver {
    /// Development: messages land in the outbox shown at `GET /dev/sms`.
    Outbox,
    /// The SMS.ru gateway (`K911_SMSRU_API_ID`).
    Smsru,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PayoutDriver {
    /// Development: the sandbox provider, which also tokenises cards at `POST /sandbox/cards`.
    Sandbox,
    /// ЮKassa payouts (`K911_YOOKASSA_GATEWAY_ID`, `K911_YOOKASSA_SECRET_KEY`).
    Yookassa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MailDriver {
    /// Development: messages land in the outbox shown at `GET /dev/sms`'s twin, `GET /dev/mail`.
    Outbox,
    /// A real SMTP server (`K911_SMTP_URL`).
    Smtp,
}

/// Settings every command shares.
#[derive(Args)]
pub struct Config {
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
    /// How SMS leave the service.
    #[arg(
        long,
        env = "K911_SMS_DRIVER",
        value_enum,
        default_value = "outbox",
        global = true
    )]
    pub sms_driver: SmsDriver,
    /// API key of the SMS.ru gateway, for `K911_SMS_DRIVER=smsru`.
    #[arg(long, env = "K911_SMSRU_API_ID", global = true, hide_env_values = true)]
    pub smsru_api_id: Option<String>,
    /// Base URL of the SMS.ru API (a stand-in for tests).
    #[arg(long, env = "K911_SMSRU_URL", default_value = SMSRU_URL, global = true)]
    pub smsru_url: String,
    /// Approved sender name of the SMS; the gateway's default if not set.
    #[arg(long, env = "K911_SMS_FROM", global = true)]
    pub sms_from: Option<String>,
    /// Who pays loans out to cards and e-wallets.
    #[arg(
        long,
        env = "K911_PAYOUT_DRIVER",
        value_enum,
        default_value = "sandbox",
        global = true
    )]
    pub payout_driver: PayoutDriver,
    /// OpenID Connect providers for social login, as JSON:
    /// `[{"name": "vk", "issuer": "https://id.vk.com", "client_id": "...", "client_secret": "..."}]`.
    #[arg(
        long,
        env = "K911_OIDC_PROVIDERS",
        global = true,
        hide_env_values = true
    )]
    pub oidc_providers: Option<String>,
    /// The web client's page that providers send the browser back to (registered with them).
    #[arg(long, env = "K911_OIDC_REDIRECT_URL", global = true)]
    pub oidc_redirect_url: Option<String>,
    /// The editions of 353-FZ's limits as JSON, replacing the built-in ones:
    /// `[["0001-01-01", {"max_daily_rate_percent": "0.8", ...}], ["2026-04-01", {...}]]`.
    #[arg(long, env = "K911_LAW_EDITIONS", global = true)]
    pub law_editions: Option<String>,
    /// When overdue debtors may be reminded (230-FZ art. 7) as JSON, replacing the defaults:
    /// `{"per_day": 2, "per_week": 4, "per_month": 16, "working_day_hours": [8, 22], ...}`.
    #[arg(long, env = "K911_REMINDER_RULES", global = true)]
    pub reminder_rules: Option<String>,
    /// How long a loan offer waits for the borrower's signature, in hours.
    #[arg(
        long,
        env = "K911_OFFER_TTL_HOURS",
        default_value_t = 72,
        global = true
    )]
    pub offer_ttl_hours: u64,
    /// Days a deletion request may take (152-FZ art. 21 part 5: 30 days from the request).
    #[arg(
        long,
        env = "K911_ERASURE_DEADLINE_DAYS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u32).range(1..=365),
        global = true
    )]
    pub erasure_deadline_days: u32,
    /// Years a customer's records are kept after their last loan ended, before a deletion
    /// request can be carried out (115-FZ art. 7 part 4: 5 years).
    #[arg(
        long,
        env = "K911_AML_RETENTION_YEARS",
        default_value_t = 5,
        value_parser = clap::value_parser!(u32).range(0..=50),
        global = true
    )]
    pub aml_retention_years: u32,
    /// Working days after an event's day by whose end a credit bureau must have its report
    /// (218-FZ art. 5 part 5: the second).
    #[arg(
        long,
        env = "K911_BUREAU_DEADLINE_WORKING_DAYS",
        default_value_t = 2,
        value_parser = clap::value_parser!(u32).range(1..=30),
        global = true
    )]
    pub bureau_deadline_working_days: u32,
    /// Years of the production calendar given or corrected, JSON:
    /// `[{"year": 2027, "days_off": ["2027-01-01", ...], "working_weekends": [...]}]`.
    #[arg(long, env = "K911_PRODUCTION_CALENDAR", global = true)]
    pub production_calendar: Option<String>,
    /// Tries of an effect (SMS, e-mail, payout) before it is parked as dead for an admin.
    #[arg(
        long,
        env = "K911_EFFECT_MAX_ATTEMPTS",
        default_value_t = 8,
        value_parser = clap::value_parser!(i32).range(1..=100),
        global = true
    )]
    pub effect_max_attempts: i32,
    /// How long the effects worker holds an effect it took (longer than any provider call).
    #[arg(
        long,
        env = "K911_EFFECT_LEASE_SECS",
        default_value_t = 60,
        global = true
    )]
    pub effect_lease_secs: u64,
    /// Development: the payout sandbox answers a payout it executed only after this long.
    #[arg(
        long,
        env = "K911_SANDBOX_ANSWER_DELAY_MS",
        default_value_t = 0,
        global = true
    )]
    pub sandbox_answer_delay_ms: u64,
    /// HMAC secret of Sberbank Online's payment notifications; the channel is closed without.
    #[arg(
        long,
        env = "K911_PAYMENT_SECRET_SBERBANK_ONLINE",
        global = true,
        hide_env_values = true
    )]
    pub payment_secret_sberbank_online: Option<String>,
    /// HMAC secret of the terminal operators' payment notifications.
    #[arg(
        long,
        env = "K911_PAYMENT_SECRET_TERMINAL",
        global = true,
        hide_env_values = true
    )]
    pub payment_secret_terminal: Option<String>,
    /// ЮKassa payout gateway id, for `K911_PAYOUT_DRIVER=yookassa`.
    #[arg(long, env = "K911_YOOKASSA_GATEWAY_ID", global = true)]
    pub yookassa_gateway_id: Option<String>,
    /// ЮKassa secret key.
    #[arg(
        long,
        env = "K911_YOOKASSA_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    pub yookassa_secret_key: Option<String>,
    /// Base URL of ЮKassa's API (a stand-in for tests).
    #[arg(long, env = "K911_YOOKASSA_URL", default_value = YOOKASSA_URL, global = true)]
    pub yookassa_url: String,
    /// How e-mail leaves the service.
    #[arg(
        long,
        env = "K911_MAIL_DRIVER",
        value_enum,
        default_value = "outbox",
        global = true
    )]
    pub mail_driver: MailDriver,
    /// SMTP server for the `smtp` mail driver, e.g. `smtps://user:password@smtp.example.ru`.
    #[arg(long, env = "K911_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Most connections the command pool opens (appends, outboxes, credentials).
    #[arg(long, env = "K911_WRITE_POOL_SIZE", default_value_t = DEFAULT_POOL_SIZES.write, global = true)]
    pub write_pool_size: u32,
    /// Most connections the read-model query pool opens.
    #[arg(long, env = "K911_READ_POOL_SIZE", default_value_t = DEFAULT_POOL_SIZES.read, global = true)]
    pub read_pool_size: u32,
    /// Where "now" comes from.
    #[arg(
        long,
        env = "K911_CLOCK",
        value_enum,
        default_value = "system",
        global = true
    )]
    pub clock: ClockDriver,
    /// Where the manual clock starts (RFC 3339, e.g. `2026-12-01T21:00:00Z`); by default the
    /// real time.
    #[arg(long, env = "K911_CLOCK_START", global = true)]
    pub clock_start: Option<chrono::DateTime<chrono::Utc>>,
    /// Sender of customer e-mail.
    #[arg(
        long,
        env = "K911_MAIL_FROM",
        default_value = "k911 <support@k911.ru>",
        global = true
    )]
    pub mail_from: String,
}

impl Config {
    /// The application with the configured drivers; production refuses development ones.
    pub fn pool_sizes(&self) -> PoolSizes {
        PoolSizes {
            write: self.write_pool_size,
            read: self.read_pool_size,
        }
    }

    /// The application, and the manual clock that drives it if `K911_CLOCK=manual`.
    pub fn app_and_clock(
        &self,
        db: &Database,
    ) -> anyhow::Result<(App, Reader, Option<ManualClock>)> {
        let manual = match self.clock {
            ClockDriver::System if self.clock_start.is_some() => {
                bail!("K911_CLOCK_START sets the manual clock: it needs K911_CLOCK=manual")
            }
            ClockDriver::System => None,
            ClockDriver::Manual if self.mode == Mode::Production => {
                bail!("K911_CLOCK=manual is a development driver and is refused in production mode")
            }
            ClockDriver::Manual => Some(ManualClock::starting_at(
                self.clock_start.unwrap_or_else(chrono::Utc::now),
            )),
        };
        let clock: Arc<dyn k911_commands::clock::Clock> = match &manual {
            Some(manual) => Arc::new(manual.clone()),
            None => Arc::new(SystemClock),
        };
        let development = Ports::development_answering_after(
            db.sqlx.clone(),
            clock.clone(),
            std::time::Duration::from_millis(self.sandbox_answer_delay_ms),
        );
        let sms: Arc<dyn SmsSender> = match self.sms_driver {
            SmsDriver::Outbox if self.mode == Mode::Production => {
                bail!("K911_SMS_DRIVER=outbox is a development driver and is refused in production mode")
            }
            SmsDriver::Outbox => development.sms.clone(),
            SmsDriver::Smsru => {
                let api_id = self
                    .smsru_api_id
                    .as_deref()
                    .context("K911_SMS_DRIVER=smsru needs K911_SMSRU_API_ID")?;
                Arc::new(
                    SmsRu::new(&self.smsru_url, api_id, self.sms_from.clone())
                        .map_err(anyhow::Error::msg)?,
                )
            }
        };
        let email: Arc<dyn EmailSender> = match self.mail_driver {
            MailDriver::Outbox if self.mode == Mode::Production => {
                bail!("K911_MAIL_DRIVER=outbox is a development driver and is refused in production mode")
            }
            MailDriver::Outbox => development.email.clone(),
            MailDriver::Smtp => {
                let url = self
                    .smtp_url
                    .as_deref()
                    .context("K911_MAIL_DRIVER=smtp needs K911_SMTP_URL")?;
                Arc::new(SmtpMailer::new(url, &self.mail_from).map_err(anyhow::Error::msg)?)
            }
        };
        let payout: Arc<dyn PayoutProvider> = match self.payout_driver {
            PayoutDriver::Sandbox if self.mode == Mode::Production => {
                bail!("K911_PAYOUT_DRIVER=sandbox is a development driver and is refused in production mode")
            }
            PayoutDriver::Sandbox => development.payout.clone(),
            PayoutDriver::Yookassa => {
                let (Some(gateway), Some(secret)) =
                    (&self.yookassa_gateway_id, &self.yookassa_secret_key)
                else {
                    bail!("K911_PAYOUT_DRIVER=yookassa needs K911_YOOKASSA_GATEWAY_ID and K911_YOOKASSA_SECRET_KEY");
                };
                Arc::new(
                    YooKassaPayouts::new(&self.yookassa_url, gateway, secret, db.sqlx.clone())
                        .map_err(anyhow::Error::msg)?,
                )
            }
        };
        let ports = Ports { sms, email, payout };
        let mut settings = Settings::default();
        if let Some(json) = &self.oidc_providers {
            settings.oidc_providers = serde_json::from_str(json)
                .context("K911_OIDC_PROVIDERS must be a JSON list of {name, issuer, client_id, client_secret}")?;
        }
        for (channel, secret) in [
            (
                PaymentChannel::SberbankOnline,
                &self.payment_secret_sberbank_online,
            ),
            (PaymentChannel::Terminal, &self.payment_secret_terminal),
        ] {
            // In development an unconfigured channel is open under a known secret, so the back
            // office's test payment page (and a developer's curl) can play it.
            let secret = secret
                .clone()
                .filter(|s| !s.is_empty())
                .or_else(|| (self.mode == Mode::Development).then(|| DEVELOPMENT_SECRET.into()));
            if let Some(secret) = secret {
                settings.payment_secrets.insert(channel, secret);
            }
        }
        if let Some(json) = &self.law_editions {
            let editions = serde_json::from_str(json)
                .context("K911_LAW_EDITIONS must be a JSON list of [from date, rules]")?;
            settings.law = LawEditions::new(editions).map_err(anyhow::Error::msg)?;
        }
        if let Some(json) = &self.reminder_rules {
            settings.reminders = serde_json::from_str(json)
                .context("K911_REMINDER_RULES must be a JSON object of the reminder limits")?;
        }
        settings.offer_ttl = std::time::Duration::from_secs(self.offer_ttl_hours * 3600);
        settings.effects.max_attempts = self.effect_max_attempts;
        settings.effects.lease = std::time::Duration::from_secs(self.effect_lease_secs);
        settings.bureau.working_days = self.bureau_deadline_working_days;
        let mut calendar = k911_aggregates::working_days::ProductionCalendar::default();
        if let Some(json) = &self.production_calendar {
            let years: Vec<k911_aggregates::working_days::CalendarYear> =
                serde_json::from_str(json).context(
                    "K911_PRODUCTION_CALENDAR must be a JSON list of {year, days_off, working_weekends}",
                )?;
            for year in years {
                calendar
                    .set_year(year)
                    .map_err(|e| anyhow::anyhow!("K911_PRODUCTION_CALENDAR: {e}"))?;
            }
        }
        // One calendar: the days reminders keep the weekend's hours are the days not worked.
        let calendar = Arc::new(calendar);
        settings.bureau.calendar = calendar.clone();
        settings.reminders.calendar = calendar;
        settings.erasure = ErasureRules {
            deadline_days: self.erasure_deadline_days,
            retention_years: self.aml_retention_years,
        };
        if let Some(url) = &self.oidc_redirect_url {
            settings.oidc_redirect_url = url.clone();
        }
        let master_key = self.master_key()?;
        let (app, reader) = k911_http::application(|read_models| {
            App::new(
                db.clone(),
                &master_key,
                clock,
                Arc::new(RandomIds),
                ports,
                settings,
                read_models,
            )
        });
        Ok((app, reader, manual))
    }

    pub async fn resolve_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        k911_event_store::connect::discover_local(std::path::Path::new(STATE_DIR))
            .await
            .context(
                "no DATABASE_URL, no local PostgreSQL on port 5432 or its socket, and no private \
                 cluster could be started; install PostgreSQL or set DATABASE_URL",
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
    /// Hotline number shown at /api/v1/contacts.
    #[arg(long, env = "K911_HOTLINE", default_value = "8 800 100-57-57")]
    pub hotline: String,
    /// WhatsApp number shown at /api/v1/contacts.
    #[arg(long, env = "K911_WHATSAPP", default_value = "+7 993 100-57-57")]
    pub whatsapp: String,
    /// Support hours shown at /api/v1/contacts.
    #[arg(
        long,
        env = "K911_SUPPORT_HOURS",
        default_value = "ежедневно с 8:00 до 20:00 по московскому времени"
    )]
    pub support_hours: String,
    /// Limits on logins, codes, applications and tickets per client address and overall: `off`
    /// (development and load tests only) or JSON overriding the defaults, e.g.
    /// `{"login": {"per_address_per_minute": 10, "global_per_minute": 600}}`.
    #[arg(long, env = "K911_RATE_LIMITS", default_value = "on")]
    pub rate_limits: k911_http::RateLimitConfig,
    /// Proxies (comma-separated addresses) whose `X-Forwarded-For` names the client.
    #[arg(long, env = "K911_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

pub async fn serve(db: Database, config: &Config, args: ServeArgs) -> anyhow::Result<()> {
    if config.mode == Mode::Production && args.rate_limits == k911_http::RateLimitConfig::Off {
        bail!("K911_RATE_LIMITS=off is for development and load tests; refused in production mode");
    }
    let (app, reader, manual_clock) = config.app_and_clock(&db)?;
    let projector_tasks = app.followers.start();
    let dispatcher = app.start_effects_worker();
    let session_listener = app.core.sessions.listen(&db);
    // Payout answers are polled every few seconds; a new day's accrual starts within as long.
    let scheduler = k911_http::jobs::start(
        app.clone(),
        reader.clone(),
        std::time::Duration::from_secs(5),
    );
    app.content
        .seed_documents()
        .await
        .context("publishing the seed documents")?;
    let router = k911_http::router(
        app.clone(),
        reader,
        &HttpConfig {
            cors_origins: args.cors_origins,
            contacts: Contacts {
                hotline: args.hotline,
                whatsapp: args.whatsapp,
                support_hours: args.support_hours,
            },
            dev_routes: config.mode == Mode::Development,
            secure_cookies: config.mode == Mode::Production,
            manual_clock,
            rate_limits: args.rate_limits,
            trusted_proxies: args.trusted_proxies,
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
    dispatcher.abort();
    session_listener.abort();
    scheduler.abort();
    app.followers.shutdown();
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
