//! A test of the `k911` binary itself (a target of the root package, so cargo builds the binary
//! for it): the real `k911 serve` is killed with SIGKILL after the payout provider moved the money
//! and before the service recorded the answer; started again, it takes the effect again, learns
//! from the provider that the payout was made, and the money moves once. On the book it leaves,
//! `k911 audit export` writes the borrower's audit trail and `k911 bureau export` the reports
//! owed to the credit bureau.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const MASTER_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const UNDERWRITER_PASSWORD: &str = "underwriter password";

/// A `k911` command on the test's database.
fn k911(url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_k911"));
    command
        .env("DATABASE_URL", url)
        .env("K911_MASTER_KEY", MASTER_KEY)
        .env("K911_RATE_LIMITS", "off")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    command
}

/// Everything a service printed, both streams.
type Printed = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Starts `k911 serve` logging at `info`; returns the process, its base URL and what it prints
/// (kept to search for personal data).
async fn serve(url: &str, answer_delay_ms: u64, printed: &Printed) -> (Child, String) {
    let mut child = k911(url)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("K911_SANDBOX_ANSWER_DELAY_MS", answer_delay_ms.to_string())
        .env("K911_EFFECT_LEASE_SECS", "2")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("k911 serve");
    let keep = |printed: Printed, stream| async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            printed.lock().unwrap().push(line);
        }
    };
    tokio::spawn(keep(printed.clone(), child.stderr.take().unwrap()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the service exited before listening");
        printed.lock().unwrap().push(line.clone());
        if let Some(rest) = line.strip_prefix("k911 listening on ") {
            let base = rest.split_whitespace().next().unwrap().to_string();
            let printed = printed.clone();
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    printed.lock().unwrap().push(line);
                }
            });
            return (child, base);
        }
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> Value {
        let (status, answer) = self
            .send(reqwest::Method::POST, path, Some(body), token)
            .await;
        assert!((200..300).contains(&status), "{path}: {status} {answer:#}");
        answer
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Value {
        let (status, answer) = self.send(reqwest::Method::GET, path, None, token).await;
        assert_eq!(status, 200, "{path}: {answer:#}");
        answer
    }

    /// The newest SMS to `phone` that says `needle`, once it has come.
    async fn sms(&self, phone: &str, needle: &str) -> String {
        let path = format!("/dev/sms?phone={}", phone.replace('+', "%2B"));
        eventually(|| async {
            let sent = self.get(&path, None).await;
            sent.as_array()?
                .iter()
                .rev()
                .filter_map(|m| m["text"].as_str())
                .find(|text| text.contains(needle))
                .map(str::to_string)
        })
        .await
    }

    async fn payouts(&self) -> Vec<Value> {
        self.get("/sandbox/payouts", None)
            .await
            .as_array()
            .unwrap()
            .clone()
    }
}

/// Polls `check` until it has an answer (at most 60 s).
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    mut check: impl FnMut() -> F,
) -> T {
    for _ in 0..600 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within 60 s");
}

/// `k911 bureau export`: the approval's and the payout's reports, once; the next export has none.
async fn bureau_export(url: &str) {
    let dir = std::env::temp_dir().join(format!("k911-bureau-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let export = |file: &std::path::Path| {
        let mut command = k911(url);
        command
            .args(["bureau", "export", "--date", "2099-12-31"])
            .arg(file)
            .stdout(Stdio::piped());
        command
    };
    let first = dir.join("first.jsonl");
    let done = export(&first).output().await.unwrap();
    assert!(done.status.success(), "{done:?}");
    let lines: Vec<Value> = std::fs::read_to_string(&first)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["1.2", "2.2"], "{lines:#?}");
    assert!(lines
        .iter()
        .all(|l| l["subject"]["C1_NAME"]["last_name"] == "Иванов"));
    let second = dir.join("second.jsonl");
    let done = export(&second).output().await.unwrap();
    assert!(done.status.success(), "{done:?}");
    assert!(String::from_utf8_lossy(&done.stdout).starts_with("0 reports"));
    assert_eq!(std::fs::read_to_string(&second).unwrap(), "");
    std::fs::remove_dir_all(&dir).ok();
}

/// `k911 audit export` of the borrower's trail, on the book the service left: JSON lines and CSV,
/// every event that concerns them once, in log order, each export recorded on the log.
async fn audit_export(url: &str) {
    let db = sqlx::PgPool::connect(url).await.unwrap();
    let customer: uuid::Uuid = sqlx::query_scalar("SELECT customer_id FROM read.loans")
        .fetch_one(&db)
        .await
        .unwrap();
    let theirs: Vec<i64> = sqlx::query_scalar(
        "SELECT position FROM read.audit_log WHERE subject_id = $1 ORDER BY position",
    )
    .bind(customer)
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(theirs.len() > 10, "{theirs:?}");
    let dir = std::env::temp_dir().join(format!("k911-export-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let export = |format: &'static str, file: std::path::PathBuf| {
        let mut command = k911(url);
        command
            .args(["audit", "export", "--subject", &customer.to_string()])
            .args(["--format", format])
            .arg(file)
            .stdout(Stdio::piped());
        command
    };
    let jsonl = dir.join("trail.jsonl");
    let done = export("jsonl", jsonl.clone()).output().await.unwrap();
    assert!(done.status.success(), "{done:?}");
    assert_eq!(
        String::from_utf8_lossy(&done.stdout).trim(),
        format!("{} events written to {}", theirs.len(), jsonl.display())
    );
    let lines: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let positions: Vec<i64> = lines
        .iter()
        .map(|l| l["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, theirs);
    assert!(lines.iter().all(|l| l["subject_id"] == json!(customer)));

    let csv = dir.join("trail.csv");
    let done = export("csv", csv.clone()).output().await.unwrap();
    assert!(done.status.success(), "{done:?}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut rows = text.lines();
    assert!(rows
        .next()
        .unwrap()
        .starts_with("position,recorded_at,aggregate_type"));
    assert_eq!(rows.count(), theirs.len());
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "nothing partial is left: {names:?}");

    let recorded: Vec<Value> = sqlx::query_scalar(
        "SELECT payload FROM events WHERE event_type = 'AuditTrailRead' ORDER BY global_position",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(recorded.len(), 2);
    for record in &recorded {
        assert_eq!(record["AuditTrailRead"]["kind"], "export");
        assert_eq!(record["AuditTrailRead"]["entries"], theirs.len());
        assert_eq!(
            record["AuditTrailRead"]["query"]["subject_id"],
            json!(customer)
        );
    }
    db.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_service_killed_between_the_payout_and_its_answer_pays_once_after_restart() {
    // The server the other tests use: DATABASE_URL's, else the local one or a private cluster.
    let server = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => k911_event_store::connect::with_database(&url, "postgres"),
        _ => {
            let state = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".k911");
            k911_event_store::connect::local_or_private_server(&state)
                .await
                .expect("a PostgreSQL server")
        }
    };
    let name = format!("k911_kill_{}", uuid::Uuid::new_v4().simple());
    k911_event_store::connect::ensure_database(&server, &name)
        .await
        .unwrap();
    let url = k911_event_store::connect::with_database(&server, &name);
    let added = k911(&url)
        .args([
            "staff",
            "add",
            "--login",
            "olga@k911.ru",
            "--role",
            "underwriter",
        ])
        .args(["--password", UNDERWRITER_PASSWORD])
        .stdout(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(added.success());

    // The sandbox will take a minute to answer the payout it executes.
    let printed = Printed::default();
    let (mut first, base) = serve(&url, 60_000, &printed).await;
    let client = Client {
        http: reqwest::Client::new(),
        base: format!("http://{}", base.trim_start_matches("http://")),
    };
    let card = client
        .post(
            "/sandbox/cards",
            &json!({"pan": "2200 0000 0000 0004", "exp_month": 12, "exp_year": 2030}),
            None,
        )
        .await;
    let application = json!({
        "applicant": {
            "last_name": "Иванов", "first_name": "Иван", "middle_name": "Иванович",
            "birth_date": "1990-05-14", "birth_place": "г. Москва",
            "passport": {"series": "4510", "number": "123456", "issued_on": "2010-06-01",
                         "issued_by": "ОВД Тверского района г. Москвы", "division_code": "770-001"},
            "registration_address": "г. Москва, ул. Тверская, д. 1, кв. 1",
            "residence_address": null,
            "phone": "+79161234567", "email": "ivan@example.ru",
            "employment": {"status": "employed", "employer": "ООО Ромашка", "position": "инженер"},
            "monthly_income_kopecks": 8000000
        },
        "loan": {"amount_kopecks": 1500000, "term_days": 21},
        "payout": {"method": "card", "card_token": card["card_token"], "masked_pan": card["masked_pan"]},
        "consents": {"personal_data": true, "credit_history_check": true, "terms": true},
        "referral_code": null
    });
    let applied = client
        .post("/api/v1/applications", &application, None)
        .await;
    let application_id = applied["application_id"].as_str().unwrap();
    let underwriter = client
        .post(
            "/api/v1/auth/login",
            &json!({"login": "olga@k911.ru", "password": UNDERWRITER_PASSWORD}),
            None,
        )
        .await;
    let underwriter = underwriter["token"].as_str().unwrap();
    client
        .post(
            &format!("/api/v1/staff/applications/{application_id}/approve"),
            &json!({}),
            Some(underwriter),
        )
        .await;
    let password = client.sms("+79161234567", "пароль").await;
    let password = password.rsplit("пароль ").next().unwrap().trim();
    let borrower = client
        .post(
            "/api/v1/auth/login",
            &json!({"login": "ivan@example.ru", "password": password}),
            None,
        )
        .await;
    let borrower = borrower["token"].as_str().unwrap().to_string();
    let loan_id = eventually(|| async {
        let loans = client.get("/api/v1/me/loans", Some(&borrower)).await;
        loans[0]["loan_id"].as_str().map(str::to_string)
    })
    .await;
    let code = client.sms("+79161234567", "код для подписания").await;
    let code: String = code
        .split(": ")
        .nth(2)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    client
        .post(
            &format!("/api/v1/me/loans/{loan_id}/sign"),
            &json!({"code": code}),
            Some(&borrower),
        )
        .await;

    // The money moved; the answer has not come back: kill the service now.
    eventually(|| async { (client.payouts().await.len() == 1).then_some(()) }).await;
    first.start_kill().unwrap();
    first.wait().await.unwrap();

    let (mut second, base) = serve(&url, 0, &printed).await;
    let client = Client {
        http: reqwest::Client::new(),
        base: format!("http://{}", base.trim_start_matches("http://")),
    };
    // Its lease ran out: the effect is taken again; the provider is asked first, tells the payout
    // was made, and nothing is sent again.
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    let attempts: i32 = eventually(|| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i32>(
                "SELECT attempts FROM effects WHERE kind = 'payout' AND status = 'done'",
            )
            .fetch_optional(&db)
            .await
            .unwrap()
        }
    })
    .await;
    db.close().await;
    assert_eq!(attempts, 2);
    let payouts = client.payouts().await;
    assert_eq!(payouts.len(), 1, "{payouts:#?}");
    assert_eq!(payouts[0]["requests"], 1);
    assert_eq!(payouts[0]["executions"], 1);
    assert_eq!(payouts[0]["kind"], "loan");
    // And the loan is issued on the provider's answer.
    eventually(|| async {
        let loans = client.get("/api/v1/me/loans", Some(&borrower)).await;
        (loans[0]["status"] == "active").then_some(())
    })
    .await;
    second.start_kill().unwrap();
    second.wait().await.unwrap();

    audit_export(&url).await;
    bureau_export(&url).await;

    // Nothing the service printed, at `info`, holds the borrower's data.
    let printed = printed.lock().unwrap().join("\n");
    assert!(printed.contains("k911 listening on"), "the logs were kept");
    for theirs in [
        "Иванов",
        "79161234567",
        "ivan@example.ru",
        "123456",
        "Тверская",
    ] {
        assert!(
            !printed.contains(theirs),
            "{theirs} in the service's logs:\n{printed}"
        );
    }

    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&server)
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}
