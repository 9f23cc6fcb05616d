use axum::http::{Method, StatusCode};
use k911_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn liveness_and_readiness_report_the_database_and_projector_lag() {
    let app = TestApp::spawn().await;
    let live = app.request(Method::GET, "/healthz", None, &[]).await;
    assert_eq!(live.status, StatusCode::OK);
    // The followers that trail the log (audit subjects, hash chain) read the seed documents up
    // to 0.5 s after start: the lag is 0 once they have.
    app.settle().await;
    let ready = app.request(Method::GET, "/readyz", None, &[]).await;
    assert_eq!(ready.status, StatusCode::OK, "{:#}", ready.body);
    assert_eq!(ready.body["database"], true);
    assert_eq!(ready.body["projection_lag_events"], 0);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_committed_commands() {
    let app = TestApp::spawn().await;
    let form = json!({"name": "Иван", "phone": "+79161234567", "question": "Вопрос"});
    app.post("/api/v1/support/tickets", &form).await;
    app.post("/api/v1/support/tickets", &json!({})).await;
    // Every read model caught up (the seed documents written at start included): lag 0.
    app.settle().await;
    let response = app.request(Method::GET, "/metrics", None, &[]).await;
    assert_eq!(response.status, StatusCode::OK);
    let text = String::from_utf8(response.bytes).unwrap();
    for line in [
        r#"k911_http_requests_total{method="POST",route="/api/v1/support/tickets",status="201"} 1"#,
        r#"k911_http_requests_total{method="POST",route="/api/v1/support/tickets",status="422"} 1"#,
        r#"k911_commands_committed_total{aggregate_type="SupportTicket"} 1"#,
        "k911_projection_lag_events 0",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = TestApp::spawn().await;
    let doc = app
        .request(Method::GET, "/api/v1/openapi.json", None, &[])
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/support/tickets", "post"),
        ("/api/v1/staff/support/queue", "get"),
        ("/api/v1/staff/support/queue/next", "post"),
        ("/api/v1/staff/support/tickets/{id}/reply", "post"),
        ("/api/v1/staff/support/tickets/{id}/close", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/faq", "get"),
        ("/api/v1/documents", "get"),
        ("/api/v1/contacts", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/dev/sms", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} undocumented"
        );
    }
    let schemas = doc.body["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("Problem"));
    assert!(schemas["TicketRequest"]["properties"]
        .get("question")
        .is_some());
    // Statuses are types: a client sees every value a status can take, spelt as it is sent.
    for (state, values) in [
        (
            "LoanState",
            &[
                "offered",
                "expired",
                "signed",
                "payout_requested",
                "payout_failed",
                "active",
                "closed",
            ][..],
        ),
        ("RefundState", &["pending", "paid", "failed"][..]),
        (
            "ApplicationState",
            &["submitted", "approved", "rejected"][..],
        ),
        ("CustomerState", &["registered", "open"][..]),
        (
            "TicketState",
            &["waiting", "assigned", "answered", "closed"][..],
        ),
    ] {
        assert_eq!(schemas[state]["enum"], serde_json::json!(values), "{state}");
    }
}
