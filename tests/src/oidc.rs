//! A small OpenID Connect issuer for tests: discovery, JWKS, an authorization endpoint that
//! "logs in" whoever the test names (`login_hint`) and redirects back with a code, and a token
//! endpoint that checks the client, the redirect URI and PKCE before issuing an RS256 ID token.
//! Its key is a fixture made for these tests only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    Audience, EmptyAdditionalClaims, IssuerUrl, JsonWebKeyId, Nonce, PrivateSigningKey,
    StandardClaims, SubjectIdentifier,
};
use serde_json::json;
use sha2::{Digest, Sha256};

const KEY: &str = include_str!("../fixtures/oidc-test-issuer-key.pem");

pub const CLIENT_ID: &str = "k911-test-client";
pub const CLIENT_SECRET: &str = "k911-test-secret";

/// What the authorization endpoint remembered for a code.
#[derive(Clone)]
struct Grant {
    subject: String,
    nonce: String,
    redirect_uri: String,
    challenge: String,
}

#[derive(Clone)]
struct Issuer {
    url: String,
    now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    grants: Arc<Mutex<HashMap<String, Grant>>>,
    /// Who is signed in at the provider in "the browser" (used without a `login_hint`).
    signed_in: Arc<Mutex<String>>,
}

/// A running test issuer.
pub struct TestIssuer {
    pub url: String,
    signed_in: Arc<Mutex<String>>,
}

impl TestIssuer {
    /// Starts the issuer; `now` is its clock (the service's manual clock, so tokens are fresh
    /// in the service's time).
    pub async fn start(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let signed_in = Arc::<Mutex<String>>::default();
        let issuer = Issuer {
            url: url.clone(),
            now: Arc::new(now),
            grants: Arc::default(),
            signed_in: signed_in.clone(),
        };
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(issuer);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, signed_in }
    }

    /// Signs `subject` in at the provider, as a person does in their own browser: an
    /// authorization request without a `login_hint` is then theirs.
    pub fn sign_in(&self, subject: &str) {
        *self.signed_in.lock().unwrap() = subject.to_string();
    }

    /// What the customer's browser does: opens the authorization URL, logs in at the provider
    /// as `subject`, and follows the redirect back. Returns the `code` and `state` it carries.
    pub async fn log_in(&self, authorization_url: &str, subject: &str) -> (String, String) {
        let url = format!("{authorization_url}&login_hint={subject}");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let back = reqwest::Url::parse(&location).unwrap();
        let param = |name: &str| {
            back.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap()
        };
        (param("code"), param("state"))
    }
}

fn signing_key() -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(KEY, Some(JsonWebKeyId::new("test-key-1".into()))).unwrap()
}

async fn discovery(State(issuer): State<Issuer>) -> Json<serde_json::Value> {
    let url = &issuer.url;
    Json(json!({
        "issuer": url,
        "authorization_endpoint": format!("{url}/authorize"),
        "token_endpoint": format!("{url}/token"),
        "jwks_uri": format!("{url}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks() -> Json<CoreJsonWebKeySet> {
    Json(CoreJsonWebKeySet::new(vec![
        signing_key().as_verification_key()
    ]))
}

async fn authorize(
    State(issuer): State<Issuer>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let get = |name: &str| params.get(name).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID
        || get("response_type") != "code"
        || !get("scope").split(' ').any(|s| s == "openid")
        || get("code_challenge_method") != "S256"
    {
        return (StatusCode::BAD_REQUEST, "invalid authorization request").into_response();
    }
    let code = B64URL.encode(uuid::Uuid::new_v4().as_bytes());
    let grant = Grant {
        subject: params
            .get("login_hint")
            .cloned()
            .unwrap_or_else(|| issuer.signed_in.lock().unwrap().clone()),
        nonce: get("nonce"),
        redirect_uri: get("redirect_uri"),
        challenge: get("code_challenge"),
    };
    issuer.grants.lock().unwrap().insert(code.clone(), grant);
    let back = format!("{}?code={code}&state={}", get("redirect_uri"), get("state"));
    Redirect::to(&back).into_response()
}

/// The client authenticates with HTTP Basic (`client_secret_basic`) or in the form.
fn client_ok(headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| B64.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok());
    let expected = format!("{CLIENT_ID}:{CLIENT_SECRET}");
    basic.as_deref() == Some(expected.as_str())
        || (form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET))
}

async fn token(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let error =
        |code: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": code}))).into_response();
    if !client_ok(&headers, &form) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let get = |name: &str| form.get(name).cloned().unwrap_or_default();
    if get("grant_type") != "authorization_code" {
        return error("unsupported_grant_type");
    }
    // A code works once.
    let Some(grant) = issuer.grants.lock().unwrap().remove(&get("code")) else {
        return error("invalid_grant");
    };
    let challenge = B64URL.encode(Sha256::digest(get("code_verifier").as_bytes()));
    if grant.redirect_uri != get("redirect_uri") || grant.challenge != challenge {
        return error("invalid_grant");
    }
    let now = (issuer.now)();
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(issuer.url.clone()).unwrap(),
        vec![Audience::new(CLIENT_ID.into())],
        now + Duration::minutes(5),
        now,
        StandardClaims::new(SubjectIdentifier::new(grant.subject)),
        EmptyAdditionalClaims {},
    )
    .set_nonce(Some(Nonce::new(grant.nonce)));
    let id_token = CoreIdToken::new(
        claims,
        &signing_key(),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .unwrap();
    Json(json!({
        "access_token": "test-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token.to_string(),
    }))
    .into_response()
}
