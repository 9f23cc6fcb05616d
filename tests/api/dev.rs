use axum::http::StatusCode;
use k911_commands::clock::Clock;
use k911_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn the_development_clock_moves_forward_only() {
    let app = TestApp::spawn().await;
    let moved = app
        .post("/dev/clock", &json!({"now": "2026-12-01T10:00:00+03:00"}))
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{:#}", moved.body);
    assert_eq!(moved.body["now"], "2026-12-01T07:00:00Z");
    assert_eq!(app.clock.now().to_rfc3339(), "2026-12-01T07:00:00+00:00");
    let back = app
        .post("/dev/clock", &json!({"now": "2026-11-30T10:00:00+03:00"}))
        .await;
    assert_eq!(back.problem(StatusCode::UNPROCESSABLE_ENTITY), ["now"]);
    let garbage = app.post("/dev/clock", &json!({"now": "tomorrow"})).await;
    assert_eq!(garbage.problem(StatusCode::UNPROCESSABLE_ENTITY), ["now"]);
}
