//! `k911-bench --pages`: how long each page of the website takes, as a browser with an empty
//! cache would fetch it: a new connection per request, the session in its cookie. A borrower is
//! made through the API first (applied, approved, password from the development SMS outbox), so
//! the cabinet's pages have a loan to show.

use std::time::Instant;

use anyhow::{bail, Context};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{json, Value};

use super::{request, HttpClient, Series};

/// Fetches `path` on a fresh connection with `cookie`; the status and the time taken.
async fn fetch(addr: &str, path: &str, cookie: Option<&str>) -> anyhow::Result<(u16, f64)> {
    // A client of its own per request: no pooled connection, as a first visit.
    let client: HttpClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http();
    let mut builder = hyper::Request::builder().uri(format!("http://{addr}{path}"));
    if let Some(cookie) = cookie {
        builder = builder.header("cookie", format!("k911_session={cookie}"));
    }
    let started = Instant::now();
    let response = client
        .request(builder.body(Full::new(Bytes::new()))?)
        .await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok((status, started.elapsed().as_secs_f64() * 1000.0))
}

/// A borrower with a loan offered: their session token and the loan's id.
async fn borrower(
    client: &HttpClient,
    addr: &str,
    underwriter: &str,
) -> anyhow::Result<(String, String)> {
    let phone = "+79161234567";
    let application = json!({
        "applicant": {
            "last_name": "Иванов", "first_name": "Иван", "middle_name": "Иванович",
            "birth_date": "1990-05-14", "birth_place": "г. Москва",
            "passport": {"series": "4510", "number": "123456", "issued_on": "2010-06-01",
                         "issued_by": "ОВД Тверского района г. Москвы", "division_code": "770-001"},
            "registration_address": {"text": "г. Москва, ул. Тверская, д. 1", "region_code": "77"},
            "residence_address": null, "phone": phone, "email": "ivan@example.ru",
            "employment": {"status": "employed", "employer": "ООО Ромашка", "position": "инженер"},
            "monthly_income_kopecks": 8000000
        },
        "loan": {"amount_kopecks": 1500000, "term_days": 21},
        "payout": {"method": "ewallet", "provider": "yoomoney", "wallet_id": "410011223344"},
        "consents": {"personal_data": true, "credit_history_check": true, "terms": true}
    });
    let (status, body) = request(
        client,
        addr,
        "POST",
        "/api/v1/applications",
        None,
        Some(application.to_string()),
    )
    .await?;
    if status != 201 {
        bail!("application: {status} {}", String::from_utf8_lossy(&body));
    }
    let id = serde_json::from_slice::<Value>(&body)?["application_id"]
        .as_str()
        .context("application id")?
        .to_string();
    let path = format!("/api/v1/staff/applications/{id}/approve");
    let (status, body) = request(client, addr, "POST", &path, Some(underwriter), None).await?;
    if status != 200 {
        bail!("approval: {status} {}", String::from_utf8_lossy(&body));
    }
    let mut password = None;
    for _ in 0..200 {
        let (_, body) = request(
            client,
            addr,
            "GET",
            "/dev/sms?phone=%2B79161234567",
            None,
            None,
        )
        .await?;
        let messages: Value = serde_json::from_slice(&body)?;
        password = messages.as_array().into_iter().flatten().find_map(|m| {
            let text = m["text"].as_str()?;
            text.contains("пароль").then(|| {
                text.rsplit("пароль ")
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
        });
        if password.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let password = password.context("no password SMS (is the service in development mode?)")?;
    let login = json!({"login": "ivan@example.ru", "password": password});
    let (_, body) = request(
        client,
        addr,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(login.to_string()),
    )
    .await?;
    let token = serde_json::from_slice::<Value>(&body)?["token"]
        .as_str()
        .context("borrower token")?
        .to_string();
    let mut loan = None;
    for _ in 0..200 {
        let (_, body) =
            request(client, addr, "GET", "/api/v1/me/loans", Some(&token), None).await?;
        loan = serde_json::from_slice::<Value>(&body)?[0]["loan_id"]
            .as_str()
            .map(str::to_string);
        if loan.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok((token, loan.context("the offer did not appear")?))
}

/// Times every page `rounds` times and prints p50, p99 and the slowest, each page's status
/// checked (200).
pub(crate) async fn run(
    client: &HttpClient,
    addr: &str,
    staff: &str,
    underwriter: &str,
    rounds: usize,
) -> anyhow::Result<()> {
    let (borrower, loan) = borrower(client, addr, underwriter).await?;
    let loan_page = format!("/cabinet/loans/{loan}");
    let pages: Vec<(&str, Option<&str>)> = vec![
        ("/", None),
        ("/?amount=20000&term=30", None),
        ("/faq", None),
        ("/documents", None),
        ("/contacts", None),
        ("/login", None),
        ("/apply", None),
        ("/static/site.css", None),
        ("/cabinet", Some(&borrower)),
        (&loan_page, Some(&borrower)),
        ("/cabinet/applications", Some(&borrower)),
        ("/cabinet/support", Some(&borrower)),
        ("/cabinet/settings", Some(&borrower)),
        ("/staff", Some(staff)),
        ("/staff/support", Some(staff)),
        ("/staff/payments", Some(staff)),
        ("/staff/content", Some(staff)),
        ("/staff/applications", Some(underwriter)),
    ];
    println!("pages, {rounds} requests each, a new connection per request:");
    let mut worst: f64 = 0.0;
    for (path, cookie) in pages {
        let mut series = Series::default();
        for _ in 0..rounds {
            let started = Instant::now();
            let (status, _) = fetch(addr, path, cookie).await?;
            if status != 200 {
                bail!("{path} answered {status}");
            }
            series.record(true, started);
        }
        let max = series.percentile(100.0);
        worst = worst.max(max);
        println!(
            "  {path:<48} p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
            series.percentile(50.0),
            series.percentile(99.0),
            max
        );
    }
    println!("slowest page answer: {worst:.2} ms (target: every page under 50 ms)");
    Ok(())
}
