//! Test harness: the real router over a fresh PostgreSQL database per test, cloned from a
//! migrated template so each test starts in milliseconds.

pub mod browser;
pub mod oidc;
pub mod smsru;
pub mod yookassa;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use chrono::{TimeZone, Utc};
use http_body_util::BodyExt;
use k911_aggregates::values::{Email, Role};
use k911_commands::clock::ManualClock;
use k911_commands::ids::RandomIds;
use k911_commands::notify::{Ports, SmsSender};
use k911_commands::payout::{PayoutProvider, SandboxPayouts};
use k911_commands::{App, CommandMeta, Settings};
use k911_event_store::connect::{local_or_private_server, with_database, PoolSizes};
use k911_event_store::keys::MasterKey;
use k911_event_store::{Database, MIGRATOR};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use tokio::task::JoinHandle;

/// Password of every staff member the tests create.
pub const STAFF_PASSWORD: &str = "correct horse battery staple";

/// Makes the payout driver of a test service from the sandbox over its database.
pub type PayoutDriver = Box<dyn FnOnce(Arc<SandboxPayouts>) -> Arc<dyn PayoutProvider> + Send>;

/// What a test may change about the service it spawns.
pub struct Options {
    /// The service's clock; tests move it.
    pub clock: ManualClock,
    /// SMS driver instead of the development outbox.
    pub sms: Option<Arc<dyn SmsSender>>,
    /// Payout driver instead of the sandbox (given the sandbox, to wrap it).
    pub payout: Option<PayoutDriver>,
    /// Off by default: the tests drive the service from one address, much faster than people.
    pub rate_limits: k911_http::RateLimitConfig,
    pub settings: Settings,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: ManualClock::starting_at(Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()),
            sms: None,
            payout: None,
            rate_limits: k911_http::RateLimitConfig::Off,
            settings: Settings::default(),
        }
    }
}

/// One running service over its own database.
pub struct TestApp {
    pub app: App,
    pub reader: k911_projections::Reader,
    pub router: Router,
    pub clock: ManualClock,
    pub db: Database,
    server_url: String,
    db_name: String,
    master_key: MasterKey,
    /// Whether this instance made the database (and drops it when done).
    owns_database: bool,
    tasks: Vec<JoinHandle<()>>,
    /// Events written at start (the seed documents).
    seeded: i64,
}

/// An HTTP answer, body parsed as JSON (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The raw body, for answers that are not JSON.
    pub bytes: Vec<u8>,
}

impl TestResponse {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem document with `status` and returns the fields it names.
    pub fn problem(&self, status: StatusCode) -> Vec<String> {
        assert_eq!(self.status, status, "unexpected answer: {:#}", self.body);
        assert_eq!(self.content_type(), "application/problem+json");
        assert_eq!(self.body["status"], status.as_u16());
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    /// A service with other drivers or settings than the defaults.
    pub async fn spawn_with(options: Options) -> Self {
        // Warnings of the service (a failing projector, say) show in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        let server_url = server_url().await;
        let template = template(&server_url).await;
        let db_name = format!("k911_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server_url)
            .await
            .expect("admin connection");
        sqlx::query(&format!("CREATE DATABASE {db_name} TEMPLATE {template}"))
            .execute(&mut admin)
            .await
            .expect("test database from template");
        admin.close().await.ok();
        Self::start(options, server_url, db_name, MasterKey::generate(), true).await
    }

    /// Another instance of the service over this one's database, as a second process would be:
    /// the same master key and clock, its own pools, followers and workers. The database is the
    /// first instance's to drop.
    pub async fn another_instance(&self) -> Self {
        let options = Options {
            clock: self.clock.clone(),
            ..Options::default()
        };
        let (server_url, db_name) = (self.server_url.clone(), self.db_name.clone());
        Self::start(options, server_url, db_name, self.master_key.clone(), false).await
    }

    async fn start(
        options: Options,
        server_url: String,
        db_name: String,
        master_key: MasterKey,
        owns_database: bool,
    ) -> Self {
        let Options {
            clock,
            sms,
            payout,
            rate_limits,
            settings,
        } = options;
        let db = Database::connect(&with_database(&server_url, &db_name), PoolSizes::both(8))
            .await
            .expect("test database");
        // As `serve` does at every start (the template holds the migrations already).
        db.migrate().await.expect("migrated");
        let mut ports = Ports::development(db.sqlx.clone(), Arc::new(clock.clone()));
        if let Some(sms) = sms {
            ports.sms = sms;
        }
        if let Some(payout) = payout {
            let sandbox = Arc::new(SandboxPayouts::new(
                db.sqlx.clone(),
                Arc::new(clock.clone()),
            ));
            ports.payout = payout(sandbox);
        }
        let (app, reader) = k911_http::application(|read_models| {
            App::new(
                db.clone(),
                &master_key,
                Arc::new(clock.clone()),
                Arc::new(RandomIds),
                ports,
                settings,
                read_models,
            )
        });
        let mut tasks = app.followers.start();
        app.followers
            .wait_started(Duration::from_secs(60))
            .await
            .expect("projectors start");
        tasks.push(app.start_effects_worker());
        tasks.push(app.core.sessions.listen(&app.core.db));
        // As a running service would be: sessions are kept from the first request on.
        let listening = std::time::Instant::now();
        while !app.core.sessions.is_listening() {
            assert!(
                listening.elapsed() < Duration::from_secs(30),
                "the session listener did not connect"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let config = k911_http::HttpConfig {
            cors_origins: vec!["https://k911.ru".to_string()],
            contacts: k911_http::Contacts {
                hotline: "8 800 100-57-57".to_string(),
                whatsapp: "+7 993 100-57-57".to_string(),
                support_hours: "ежедневно с 8:00 до 20:00".to_string(),
            },
            dev_routes: true,
            manual_clock: Some(clock.clone()),
            rate_limits,
            trusted_proxies: vec![],
            secure_cookies: false,
        };
        let router = k911_http::router(app.clone(), reader.clone(), &config);
        // As `serve` does: the seed documents hold the consents' texts every application needs.
        app.content.seed_documents().await.expect("seed documents");
        let seeded = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&db.sqlx)
            .await
            .expect("events counted");
        Self {
            seeded,
            app,
            reader,
            router,
            clock,
            db,
            server_url,
            db_name,
            master_key,
            owns_database,
            tasks,
        }
    }

    /// Sends a request through the real router.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        self.send(builder.body(body).unwrap()).await
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        use tower::ServiceExt;
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        TestResponse {
            status,
            headers,
            body,
            bytes: bytes.to_vec(),
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> TestResponse {
        self.request(Method::POST, path, Some(body), &[]).await
    }

    pub async fn post_as(&self, token: &str, path: &str, body: Option<&Value>) -> TestResponse {
        let auth = format!("Bearer {token}");
        self.request(Method::POST, path, body, &[("authorization", &auth)])
            .await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> TestResponse {
        let auth = format!("Bearer {token}");
        self.request(Method::GET, path, None, &[("authorization", &auth)])
            .await
    }

    /// Creates a staff member (as `k911 staff add` does) and logs them in; returns the token.
    pub async fn staff(&self, login: &str, role: Role) -> String {
        let meta = CommandMeta {
            channel: "test",
            ..CommandMeta::default()
        };
        self.app
            .access
            .create_staff(Email::parse(login).unwrap(), role, STAFF_PASSWORD, &meta)
            .await
            .expect("staff account");
        let response = self
            .post(
                "/api/v1/auth/login",
                &serde_json::json!({"login": login, "password": STAFF_PASSWORD}),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{:#}", response.body);
        response.body["token"].as_str().unwrap().to_string()
    }

    /// How many events the test wrote (the seed documents' aside).
    pub async fn event_count(&self) -> i64 {
        let all: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.db.sqlx)
            .await
            .unwrap();
        all - self.seeded
    }

    /// Waits until the read models have applied everything committed, including what process
    /// managers write while catching up, and the effects worker has performed every effect due
    /// (or due within a second: a retry coming): until the log stops growing with none due.
    pub async fn settle(&self) {
        loop {
            self.settle_log().await;
            let due: i64 = sqlx::query_scalar(
                // Bureau reports wait for `k911 bureau export`, not for the worker.
                "SELECT count(*) FROM effects
                  WHERE status = 'pending' AND kind <> 'bureau_report'
                    AND next_attempt_at <= now() + interval '1 second'",
            )
            .fetch_one(&self.db.sqlx)
            .await
            .unwrap();
            if due == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn settle_log(&self) {
        let head = || async {
            sqlx::query_scalar::<_, Option<i64>>("SELECT max(global_position) FROM events")
                .fetch_one(&self.db.sqlx)
                .await
                .unwrap()
        };
        let mut seen = head().await;
        loop {
            if let Some(position) = seen {
                self.app
                    .followers
                    .wait_for_all(position, Duration::from_secs(10))
                    .await
                    .expect("read models catch up");
            }
            let now = head().await;
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    /// Makes the process manager `name` handle the whole log again, as if its checkpoint had been
    /// lost: what it does must be harmless to repeat. Returns once it has caught up.
    pub async fn replay_process_manager(&self, name: &str) {
        let reset = sqlx::query(
            "UPDATE projection_checkpoints SET transaction_id = '0', global_position = 0
              WHERE projection = $1",
        )
        .bind(name)
        .execute(&self.db.sqlx)
        .await
        .unwrap();
        assert_eq!(reset.rows_affected(), 1, "no process manager {name}");
        // Its live follower notices the moved checkpoint on its next read.
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let at: i64 = sqlx::query_scalar(
                "SELECT global_position FROM projection_checkpoints WHERE projection = $1",
            )
            .bind(name)
            .fetch_one(&self.db.sqlx)
            .await
            .unwrap();
            if at > 0 {
                break;
            }
        }
        self.settle().await;
    }

    /// Rebuilds every read model and checks that the borrowers' ones hold exactly the rows the
    /// live projectors left. A rebuild applies the log in batches of hundreds of events where a
    /// live projector mostly sees a few, so a read model that folds a batch's events per row
    /// must fold them to the same rows.
    pub async fn assert_a_rebuild_agrees(&self) {
        const TABLES: [(&str, &str); 6] = [
            ("read.customers", "customer_id"),
            ("read.customer_social_links", "customer_id, provider"),
            ("read.loan_applications", "application_id"),
            ("read.loans", "loan_id"),
            ("read.loan_payments", "channel, external_id"),
            ("read.audit_subjects", "aggregate_type, aggregate_id"),
        ];
        self.settle().await;
        let mut live = Vec::new();
        for (table, key) in TABLES {
            live.push(self.dump(table, key).await);
        }
        self.app.followers.rebuild(None).await.unwrap();
        for ((table, key), live) in TABLES.into_iter().zip(live) {
            assert_eq!(self.dump(table, key).await, live, "{table} after a rebuild");
        }
        // Analyzed before they serve: a table never analyzed has reltuples -1.
        let unanalyzed: Vec<String> = sqlx::query_scalar(
            "SELECT relname::text FROM pg_class
              WHERE relnamespace = 'read'::regnamespace AND relkind = 'r' AND reltuples < 0",
        )
        .fetch_all(&self.db.sqlx)
        .await
        .unwrap();
        assert!(
            unanalyzed.is_empty(),
            "rebuilt without planner statistics: {unanalyzed:?}"
        );
    }

    /// Every row of every table and schema, as `pg_dump --data-only` writes them: what a search
    /// for a person's data in clear must search.
    pub fn full_dump(&self) -> String {
        let url = with_database(&self.server_url, &self.db_name);
        let out = std::process::Command::new("pg_dump")
            .args(["--data-only", "--no-owner", "--dbname", &url])
            .output()
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("the dump is UTF-8")
    }

    /// A read model's rows as JSON text, in primary-key order, for comparing two states.
    pub async fn dump(&self, table: &str, order_by: &str) -> Vec<String> {
        sqlx::query_scalar(&format!(
            "SELECT to_jsonb(t)::text FROM {table} t ORDER BY {order_by}"
        ))
        .fetch_all(&self.db.sqlx)
        .await
        .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.app.followers.shutdown();
        for task in &self.tasks {
            task.abort();
        }
        if !self.owns_database {
            return;
        }
        // Drop the database from a thread of its own: Drop cannot await.
        let (server_url, db_name) = (self.server_url.clone(), self.db_name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&server_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

/// The server the tests use: `DATABASE_URL`'s server if set, else the local one, else a private
/// cluster under the workspace's `.k911/` (as `k911 serve` does).
async fn server_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => with_database(&url, "postgres"),
        _ => {
            let state = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.k911");
            local_or_private_server(&state)
                .await
                .expect("no PostgreSQL: install one or set DATABASE_URL")
        }
    }
}

/// A migrated template database named after the migrations' checksums, created once per server.
async fn template(server_url: &str) -> String {
    let mut hasher = Sha256::new();
    for migration in MIGRATOR.iter() {
        hasher.update(migration.version.to_le_bytes());
        hasher.update(&*migration.checksum);
    }
    let name = format!("k911_template_{}", &hex::encode(hasher.finalize())[..16]);
    let mut admin = PgConnection::connect(server_url)
        .await
        .expect("admin connection");
    // Test binaries run in parallel: one of them builds the template, the others wait.
    sqlx::query("SELECT pg_advisory_lock(911911)")
        .execute(&mut admin)
        .await
        .unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT exists(SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    if !exists {
        // Built under another name and renamed when complete, so a crash leaves no half template.
        let building = format!("{name}_building");
        for sql in [
            format!("DROP DATABASE IF EXISTS {building}"),
            format!("CREATE DATABASE {building}"),
        ] {
            sqlx::query(&sql).execute(&mut admin).await.unwrap();
        }
        let mut conn = PgConnection::connect(&with_database(server_url, &building))
            .await
            .unwrap();
        MIGRATOR.run(&mut conn).await.expect("migrations");
        conn.close().await.unwrap();
        sqlx::query(&format!("ALTER DATABASE {building} RENAME TO {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    sqlx::query("SELECT pg_advisory_unlock(911911)")
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.ok();
    name
}
