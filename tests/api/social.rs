//! Social login against a local OpenID Connect issuer: link in the cabinet, log in, unlink.

use axum::http::{Method, StatusCode};
use chrono::Duration;
use k911_commands::clock::Clock;
use k911_commands::social::OidcProvider;
use k911_tests::oidc::{TestIssuer, CLIENT_ID, CLIENT_SECRET};
use k911_tests::{Options, TestApp};
use serde_json::{json, Value};

use crate::cabinet::{customer, customer_with};

/// A service with the provider `vk` served by a test issuer whose clock is the service's,
/// shifted by `issuer_lag` (to make its tokens stale).
async fn spawn(issuer_lag: Duration) -> (TestApp, TestIssuer) {
    let options = Options::default();
    let clock = options.clock.clone();
    let issuer = TestIssuer::start(move || clock.now() - issuer_lag).await;
    let mut options = options;
    options.settings.oidc_providers = vec![OidcProvider {
        name: "vk".into(),
        issuer: issuer.url.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
    }];
    options.settings.oidc_redirect_url = "https://k911.ru/cabinet/social/callback".into();
    (TestApp::spawn_with(options).await, issuer)
}

/// Starts a link as the customer and logs in at the provider as `subject`: the link body.
async fn link_body(app: &TestApp, issuer: &TestIssuer, token: &str, subject: &str) -> Value {
    let started = app
        .post_as(
            token,
            "/api/v1/me/social-links",
            Some(&json!({"provider": "vk"})),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{:#}", started.body);
    let url = started.body["authorization_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/authorize?", issuer.url)),
        "{url}"
    );
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    let (code, state) = issuer.log_in(url, subject).await;
    assert_eq!(state, started.body["state"].as_str().unwrap());
    json!({"provider": "vk", "code": code, "state": state})
}

/// A whole social login as `subject`: the answer of the callback.
async fn social_login(
    app: &TestApp,
    issuer: &TestIssuer,
    subject: &str,
) -> k911_tests::TestResponse {
    let started = app.post("/api/v1/auth/social/vk", &json!({})).await;
    assert_eq!(started.status, StatusCode::OK, "{:#}", started.body);
    let url = started.body["authorization_url"].as_str().unwrap();
    let (code, state) = issuer.log_in(url, subject).await;
    app.post(
        "/api/v1/auth/social/vk/callback",
        &json!({"code": code, "state": state}),
    )
    .await
}

#[tokio::test]
async fn a_linked_social_account_logs_the_customer_in_until_it_is_unlinked() {
    let (app, issuer) = spawn(Duration::zero()).await;
    let (token, _, _, _) = customer(&app).await;
    let providers = app
        .request(Method::GET, "/api/v1/auth/social", None, &[])
        .await;
    assert_eq!(providers.body, json!([{"provider": "vk"}]));

    // Not linked yet: the provider's word alone logs nobody in.
    social_login(&app, &issuer, "vk-user-42")
        .await
        .problem(StatusCode::UNAUTHORIZED);

    let body = link_body(&app, &issuer, &token, "vk-user-42").await;
    let linked = app
        .post_as(&token, "/api/v1/me/social-links", Some(&body))
        .await;
    assert_eq!(linked.status, StatusCode::CREATED, "{:#}", linked.body);
    // A flow finishes once.
    let fields = app
        .post_as(&token, "/api/v1/me/social-links", Some(&body))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["state"]);

    app.settle().await;
    let me = app.get_as(&token, "/api/v1/me").await.body;
    assert_eq!(me["social_accounts"][0]["provider"], "vk");
    let customer_id = me["customer_id"].clone();

    let login = social_login(&app, &issuer, "vk-user-42").await;
    assert_eq!(login.status, StatusCode::OK, "{:#}", login.body);
    assert_eq!(login.body["role"], "borrower");
    assert_eq!(login.body["user_id"], customer_id);
    let social_token = login.body["token"].as_str().unwrap();
    assert_eq!(
        app.get_as(social_token, "/api/v1/me").await.status,
        StatusCode::OK
    );
    social_login(&app, &issuer, "vk-user-43")
        .await
        .problem(StatusCode::UNAUTHORIZED);

    // The subject identifies a person: sealed in the event.
    let clear: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%vk-user-42%'")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    assert_eq!(clear, 0);

    let auth = format!("Bearer {token}");
    let path = "/api/v1/me/social-links/vk";
    let unlinked = app
        .request(Method::DELETE, path, None, &[("authorization", &auth)])
        .await;
    assert_eq!(unlinked.status, StatusCode::OK, "{:#}", unlinked.body);
    social_login(&app, &issuer, "vk-user-42")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    app.request(Method::DELETE, path, None, &[("authorization", &auth)])
        .await
        .problem(StatusCode::NOT_FOUND);
    app.settle().await;
    let me = app.get_as(&token, "/api/v1/me").await.body;
    assert_eq!(me["social_accounts"], json!([]));
}

#[tokio::test]
async fn one_social_account_belongs_to_one_customer() {
    let (app, issuer) = spawn(Duration::zero()).await;
    let (first, _, _, _) = customer(&app).await;
    let (second, _, _, _) = customer_with(&app, "+79160000002", "petr@example.ru", "000002").await;
    let body = link_body(&app, &issuer, &first, "vk-user-42").await;
    let response = app
        .post_as(&first, "/api/v1/me/social-links", Some(&body))
        .await;
    assert_eq!(response.status, StatusCode::CREATED);
    let before = app.event_count().await;
    let body = link_body(&app, &issuer, &second, "vk-user-42").await;
    app.post_as(&second, "/api/v1/me/social-links", Some(&body))
        .await
        .problem(StatusCode::CONFLICT);
    // The same customer linking a second account of the same provider: unlink first.
    let body = link_body(&app, &issuer, &first, "vk-user-43").await;
    app.post_as(&first, "/api/v1/me/social-links", Some(&body))
        .await
        .problem(StatusCode::CONFLICT);
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn foreign_stale_or_forged_answers_are_refused() {
    let (app, issuer) = spawn(Duration::zero()).await;
    let (token, _, _, _) = customer(&app).await;
    let (other, _, _, _) = customer_with(&app, "+79160000002", "petr@example.ru", "000002").await;
    let before = app.event_count().await;

    // Another customer's flow.
    let body = link_body(&app, &issuer, &other, "vk-user-42").await;
    let fields = app
        .post_as(&token, "/api/v1/me/social-links", Some(&body))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["state"]);
    // A wrong code.
    let mut body = link_body(&app, &issuer, &token, "vk-user-42").await;
    body["code"] = json!("forged");
    let fields = app
        .post_as(&token, "/api/v1/me/social-links", Some(&body))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["code"]);
    // Too late: a flow waits ten minutes.
    let body = link_body(&app, &issuer, &token, "vk-user-42").await;
    app.clock
        .set(app.clock.now() + Duration::minutes(10))
        .unwrap();
    let fields = app
        .post_as(&token, "/api/v1/me/social-links", Some(&body))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["state"]);
    // A login flow does not link, and an unknown provider does not exist.
    let started = app.post("/api/v1/auth/social/vk", &json!({})).await;
    let (code, state) = issuer
        .log_in(
            started.body["authorization_url"].as_str().unwrap(),
            "vk-user-42",
        )
        .await;
    let body = json!({"provider": "vk", "code": code, "state": state});
    app.post_as(&token, "/api/v1/me/social-links", Some(&body))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post("/api/v1/auth/social/facebook", &json!({}))
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn an_expired_id_token_is_refused_by_the_services_clock() {
    // The issuer's tokens expire five minutes after issue; this issuer lives ten minutes behind.
    let (app, issuer) = spawn(Duration::minutes(10)).await;
    let (token, _, _, _) = customer(&app).await;
    let body = link_body(&app, &issuer, &token, "vk-user-42").await;
    let fields = app
        .post_as(&token, "/api/v1/me/social-links", Some(&body))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["code"]);
}
