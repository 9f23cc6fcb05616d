use std::time::Duration;

use axum::http::{Method, StatusCode};
use k911_aggregates::values::{Email, Role};
use k911_commands::notify::{EmailSender, SmtpMailer};
use k911_tests::{TestApp, TestResponse};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Polls a development outbox route until it lists `count` messages.
pub(crate) async fn outbox(app: &TestApp, path: &str, count: usize) -> TestResponse {
    for _ in 0..100 {
        let response = app.request(Method::GET, path, None, &[]).await;
        assert_eq!(response.status, StatusCode::OK, "{:#}", response.body);
        if response.body.as_array().unwrap().len() >= count {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} did not reach {count} messages");
}

/// The texts of the SMS sent to `phone` (E.164), oldest first.
pub(crate) async fn sms_texts(app: &TestApp, phone: &str) -> Vec<String> {
    let path = format!("/dev/sms?phone={}", phone.replace('+', "%2B"));
    let response = app.request(Method::GET, &path, None, &[]).await;
    assert_eq!(response.status, StatusCode::OK, "{:#}", response.body);
    response
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until `count` SMS to `phone` contain `needle`; returns those texts, oldest first.
pub(crate) async fn sms_with_n(
    app: &TestApp,
    phone: &str,
    needle: &str,
    count: usize,
) -> Vec<String> {
    for _ in 0..100 {
        let found: Vec<String> = sms_texts(app, phone)
            .await
            .into_iter()
            .filter(|text| text.contains(needle))
            .collect();
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{phone} did not get {count} SMS with {needle:?}");
}

/// The newest SMS to `phone` that contains `needle`, once it was sent.
pub(crate) async fn sms_with(app: &TestApp, phone: &str, needle: &str) -> String {
    sms_with_n(app, phone, needle, 1).await.pop().unwrap()
}

#[tokio::test]
async fn the_answer_reaches_the_requester_by_sms_and_email_exactly_once() {
    let app = TestApp::spawn().await;
    let form = json!({"name": "Иван", "phone": "8 916 123-45-67", "email": "ivan@example.ru", "question": "Когда?"});
    app.post("/api/v1/support/tickets", &form).await;
    let support = app.staff("anna@k911.ru", Role::Support).await;
    let taken = app
        .post_as(&support, "/api/v1/staff/support/queue/next", None)
        .await;
    let id = taken.body["ticket_id"].as_str().unwrap();
    app.post_as(
        &support,
        &format!("/api/v1/staff/support/tickets/{id}/reply"),
        Some(&json!({"text": "Сегодня до 18:00."})),
    )
    .await;

    let sms = outbox(&app, "/dev/sms?phone=%2B79161234567", 1).await;
    assert_eq!(sms.body[0]["phone"], "+79161234567");
    assert_eq!(
        sms.body[0]["text"],
        "k911: ответ на ваше обращение: Сегодня до 18:00."
    );
    let mail = outbox(&app, "/dev/mail?email=ivan@example.ru", 1).await;
    assert!(mail.body[0]["text"]
        .as_str()
        .unwrap()
        .contains("Сегодня до 18:00."));

    // Rebuilding every read model, and replaying the process manager, sends nothing again.
    app.app.followers.rebuild(None).await.unwrap();
    app.replay_process_manager("support_notifications").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        outbox(&app, "/dev/sms?phone=%2B79161234567", 1)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        outbox(&app, "/dev/mail?email=ivan@example.ru", 1)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_phone_only_requester_gets_no_email() {
    let app = TestApp::spawn().await;
    app.post(
        "/api/v1/support/tickets",
        &json!({"name": "Иван", "phone": "+79161234567", "question": "Когда?"}),
    )
    .await;
    let support = app.staff("anna@k911.ru", Role::Support).await;
    let taken = app
        .post_as(&support, "/api/v1/staff/support/queue/next", None)
        .await;
    let id = taken.body["ticket_id"].as_str().unwrap();
    app.post_as(
        &support,
        &format!("/api/v1/staff/support/tickets/{id}/close"),
        Some(&json!({"text": "Готово"})),
    )
    .await;
    outbox(&app, "/dev/sms?phone=%2B79161234567", 1).await;
    // The dispatcher settles the e-mail row on its own pass, maybe after the SMS.
    let mut skipped: Vec<Option<String>> = vec![];
    for _ in 0..100 {
        skipped =
            sqlx::query_scalar("SELECT note FROM effects WHERE kind = 'email' AND status = 'done'")
                .fetch_all(&app.db.sqlx)
                .await
                .unwrap();
        if !skipped.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        skipped,
        vec![Some("no contact for this channel".to_string())]
    );
}

#[tokio::test]
async fn the_dev_outbox_names_a_bad_phone() {
    let app = TestApp::spawn().await;
    let fields = app
        .request(Method::GET, "/dev/sms?phone=123", None, &[])
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["phone"]);
}

/// A minimal SMTP server on loopback that accepts one message and returns what it received.
async fn smtp_server() -> (u16, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 test ESMTP\r\n").await.unwrap();
        let mut received = String::new();
        let mut in_data = false;
        while let Some(line) = lines.next_line().await.unwrap() {
            if in_data {
                if line == "." {
                    in_data = false;
                    write.write_all(b"250 queued\r\n").await.unwrap();
                } else {
                    received.push_str(&line);
                    received.push('\n');
                }
                continue;
            }
            let verb = line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" | "HELO" => b"250 test\r\n",
                "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 ok\r\n",
                "DATA" => {
                    in_data = true;
                    b"354 go on\r\n"
                }
                "QUIT" => {
                    write.write_all(b"221 bye\r\n").await.unwrap();
                    break;
                }
                _ => b"502 unknown\r\n",
            };
            write.write_all(reply).await.unwrap();
        }
        received
    });
    (port, task)
}

#[tokio::test]
async fn the_smtp_driver_delivers_to_a_real_smtp_server() {
    let (port, server) = smtp_server().await;
    let mailer = SmtpMailer::new(
        &format!("smtp://127.0.0.1:{port}"),
        "k911 <support@k911.ru>",
    )
    .unwrap();
    mailer
        .send_email(
            &Email::parse("ivan@example.ru").unwrap(),
            "Ответ",
            "Деньги придут сегодня.",
        )
        .await
        .unwrap();
    let received = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(received.contains("To: ivan@example.ru"), "{received}");
    assert!(
        received.contains("From: k911 <support@k911.ru>"),
        "{received}"
    );
}
