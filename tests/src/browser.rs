//! A real headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`,
//! which `.ci/run` installs), against the service listening on a real socket. A test fails,
//! never skips, when either is missing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::TestApp;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// One browser session on one served app. Dropping it ends the driver.
pub struct Browser {
    pub client: Client,
    /// Where the app listens: `http://127.0.0.1:port`.
    pub base: String,
    driver: Child,
}

impl TestApp {
    /// Serves the router on a free local port, as `k911 serve` does (with the peer address).
    pub async fn listen(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.listen_on(listener)
    }

    /// Serves the router on `listener` (bound before the app, when its settings must name the
    /// address, as a social provider's callback does).
    pub fn listen_on(&self, listener: tokio::net::TcpListener) -> String {
        let addr = listener.local_addr().unwrap();
        let service = self
            .router
            .clone()
            .into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            axum::serve(listener, service).await.unwrap();
        });
        format!("http://{addr}")
    }

    /// The newest SMS to `phone` (E.164) that contains `needle`, waiting for the effects worker
    /// to send it (the development outbox, `GET /dev/sms`).
    pub async fn sms_containing(&self, phone: &str, needle: &str) -> String {
        let path = format!("/dev/sms?phone={}", phone.replace('+', "%2B"));
        for _ in 0..200 {
            let response = self
                .request(axum::http::Method::GET, &path, None, &[])
                .await;
            let found = response.body.as_array().and_then(|messages| {
                messages
                    .iter()
                    .rev()
                    .filter_map(|m| m["text"].as_str())
                    .find(|text| text.contains(needle))
                    .map(str::to_string)
            });
            if let Some(text) = found {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no SMS to {phone} with {needle:?}");
    }

    /// A fresh browser on this app, `width` pixels wide.
    pub async fn browser(&self, width: u32) -> Browser {
        let base = self.listen().await;
        Browser::start(base, width).await
    }
}

impl Browser {
    /// A fresh browser on the app served at `base`, `width` pixels wide.
    pub async fn start(base: String, width: u32) -> Self {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(program).exists(),
                "{program} is missing: install Debian's chromium and chromium-driver (.ci/run does)"
            );
        }
        let port = free_port().await;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_string(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--lang=ru-RU",
                    format!("--window-size={width},900"),
                ],
                // A phone's viewport, whatever the smallest window the platform allows.
                "mobileEmulation": {
                    "deviceMetrics": {"width": width, "height": 900, "pixelRatio": 1.0}
                },
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..100 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        base,
                        driver,
                    }
                }
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer: {last_error:?}");
    }

    /// Opens `path` of the app.
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// Types `text` into the field with id `id`, replacing what was there.
    pub async fn fill(&self, id: &str, text: &str) {
        let field = self.client.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Types `text` into the first field `css` selects.
    pub async fn fill_first(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Sets the field with id `id` to `value` as a script would (date pickers, selects, which
    /// typing fills by the browser's locale).
    pub async fn set(&self, id: &str, value: &str) {
        self.client
            .execute(
                "const f = document.getElementById(arguments[0]); f.value = arguments[1];
                 f.dispatchEvent(new Event('change'));",
                vec![json!(id), json!(value)],
            )
            .await
            .unwrap();
    }

    /// Ticks the checkbox with id `id`.
    pub async fn check(&self, id: &str) {
        let boxed = self.client.find(Locator::Id(id)).await.unwrap();
        if !boxed.is_selected().await.unwrap() {
            boxed.click().await.unwrap();
        }
    }

    /// Clicks what `css` selects.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Clicks what `css` selects (a form's button, a link) and waits for the next page to load.
    pub async fn submit(&self, css: &str) {
        // A mark on the current document: gone once the browser has moved to the next one.
        self.client
            .execute("window.k911PageMark = true", vec![])
            .await
            .unwrap();
        self.click(css).await;
        for _ in 0..200 {
            let moved = self
                .client
                .execute(
                    "return window.k911PageMark !== true && document.readyState === 'complete'",
                    vec![],
                )
                .await;
            if matches!(moved, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("clicking {css} loaded no page");
    }

    /// What the page's own session gets from `path` (a download a link points at): the status,
    /// the content type and the body as text.
    pub async fn download(&self, path: &str) -> (u16, String, String) {
        let answer = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch(arguments[0]).then(r => r.text().then(body =>
                     done([r.status, r.headers.get('content-type') || '', body])));",
                vec![json!(path)],
            )
            .await
            .unwrap();
        (
            answer[0].as_u64().unwrap() as u16,
            answer[1].as_str().unwrap().to_string(),
            answer[2].as_str().unwrap().to_string(),
        )
    }

    /// The visible text of what `css` selects.
    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// Saves a screenshot beside the test binaries (`target/debug/screenshots/NAME.png`).
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let exe = std::env::current_exe().unwrap();
        // target/debug/deps/web-… → target/debug/screenshots
        let dir = exe.parent().unwrap().parent().unwrap().join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

async fn free_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}
