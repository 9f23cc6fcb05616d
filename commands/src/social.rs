//! Social login: an OpenID Connect account (VK ID, or any provider with discovery) is linked in
//! the cabinet and then logs the customer in. Authorization code flow with PKCE and a nonce; the
//! ID token is verified against the provider's published keys, by the injected clock.

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use chrono::{DateTime, Utc};
use k911_aggregates::account::{AccountCommand, AccountKind};
use k911_aggregates::values::Role;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, TokenResponse,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Access;
use crate::auth::{Principal, Session};
use crate::{CommandMeta, Error, Written};

/// How long a started login or link waits for the provider's answer.
const FLOW_TTL_MINUTES: i64 = 10;

/// A configured provider (`K911_OIDC_PROVIDERS`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    /// The short name clients use in paths: `vk`, `yandex`, ...
    pub name: String,
    /// The issuer URL; its `/.well-known/openid-configuration` describes the rest.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

/// The providers and what was learnt of them.
pub struct Oidc {
    providers: Vec<OidcProvider>,
    redirect_url: String,
    http: reqwest::Client,
    /// Discovery documents, fetched once per provider.
    metadata: tokio::sync::Mutex<HashMap<String, CoreProviderMetadata>>,
}

/// What a flow was started for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocialPurpose {
    Login,
    /// Linking to this account.
    Link(Uuid),
}

/// Where to send the customer's browser, and the state the provider will hand back.
#[derive(Debug, Clone)]
pub struct SocialRedirect {
    pub authorization_url: String,
    pub state: String,
}

impl Oidc {
    pub fn new(providers: Vec<OidcProvider>, redirect_url: String) -> Self {
        // No redirects: a provider's endpoints must answer themselves (SSRF protection).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .expect("an HTTP client without TLS options builds");
        Self {
            providers,
            redirect_url,
            http,
            metadata: Default::default(),
        }
    }

    /// The configured providers' names.
    pub fn names(&self) -> Vec<String> {
        self.providers.iter().map(|p| p.name.clone()).collect()
    }

    async fn client(
        &self,
        name: &str,
    ) -> Result<
        openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        Error,
    > {
        let provider = self
            .providers
            .iter()
            .find(|p| p.name == name)
            .ok_or(Error::UnknownProvider)?;
        let mut cache = self.metadata.lock().await;
        let metadata = match cache.get(name) {
            Some(metadata) => metadata.clone(),
            None => {
                let issuer = IssuerUrl::new(provider.issuer.clone())
                    .map_err(|e| Error::ProviderUnavailable(e.to_string()))?;
                let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
                    .await
                    .map_err(|e| Error::ProviderUnavailable(format!("{name}: {e}")))?;
                cache.insert(name.to_string(), metadata.clone());
                metadata
            }
        };
        drop(cache);
        let redirect = RedirectUrl::new(self.redirect_url.clone())
            .map_err(|e| Error::ProviderUnavailable(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(provider.client_id.clone()),
            Some(ClientSecret::new(provider.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }
}

fn state_hash(state: &str) -> Vec<u8> {
    Sha256::digest(state.as_bytes()).to_vec()
}

impl Access {
    /// Starts a login or a link with `provider`: the URL of the provider's login page.
    pub async fn begin_social(
        &self,
        provider: &str,
        purpose: SocialPurpose,
    ) -> Result<SocialRedirect, Error> {
        let client = self.oidc.client(provider).await?;
        let state = B64URL.encode(self.core.ids.secret());
        let nonce = B64URL.encode(self.core.ids.secret());
        let verifier = B64URL.encode(self.core.ids.secret());
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()));
        let (url, _, _) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                {
                    let state = state.clone();
                    move || CsrfToken::new(state)
                },
                {
                    let nonce = nonce.clone();
                    move || Nonce::new(nonce)
                },
            )
            .set_pkce_challenge(challenge)
            .url();
        let (purpose, account_id) = match purpose {
            SocialPurpose::Login => ("login", None),
            SocialPurpose::Link(account_id) => ("link", Some(account_id)),
        };
        let now = self.core.clock.now();
        sqlx::query(
            "INSERT INTO oidc_flows (state_hash, provider, purpose, account_id, nonce,
                                     pkce_verifier, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(state_hash(&state))
        .bind(provider)
        .bind(purpose)
        .bind(account_id)
        .bind(&nonce)
        .bind(&verifier)
        .bind(now)
        .bind(now + chrono::Duration::minutes(FLOW_TTL_MINUTES))
        .execute(&self.core.db.sqlx)
        .await?;
        Ok(SocialRedirect {
            authorization_url: url.to_string(),
            state,
        })
    }

    /// Finishes a flow: the provider's code is exchanged and its ID token verified. Returns the
    /// subject the provider vouches for.
    async fn finish_social(
        &self,
        provider: &str,
        purpose: SocialPurpose,
        code: &str,
        state: &str,
    ) -> Result<String, Error> {
        let client = self.oidc.client(provider).await?;
        let now = self.core.clock.now();
        // Used once, whatever comes of it.
        let flow: Option<(String, Option<Uuid>, String, String)> = sqlx::query_as(
            "UPDATE oidc_flows SET used_at = $3
              WHERE state_hash = $1 AND provider = $2 AND used_at IS NULL AND expires_at > $3
             RETURNING purpose, account_id, nonce, pkce_verifier",
        )
        .bind(state_hash(state))
        .bind(provider)
        .bind(now)
        .fetch_optional(&self.core.db.sqlx)
        .await?;
        let expected = match purpose {
            SocialPurpose::Login => ("login".to_string(), None),
            SocialPurpose::Link(account_id) => ("link".to_string(), Some(account_id)),
        };
        let Some((_, _, nonce, verifier)) =
            flow.filter(|(p, account, _, _)| (p.clone(), *account) == expected)
        else {
            return Err(Error::BadSocialState);
        };
        let refused = |e: String| Error::SocialRefused(e);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| refused(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.oidc.http)
            .await
            .map_err(|e| refused(format!("token endpoint: {e}")))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| refused("no ID token".into()))?;
        let clock = self.core.clock.clone();
        let verifier = client
            .id_token_verifier()
            .set_time_fn(move || -> DateTime<Utc> { clock.now() });
        let claims = id_token
            .claims(&verifier, &Nonce::new(nonce))
            .map_err(|e| refused(format!("ID token: {e}")))?;
        Ok(claims.subject().as_str().to_string())
    }

    fn social_identity(&self, provider: &str, subject: &str) -> Vec<u8> {
        self.core
            .keys
            .lookup_hash(&format!("social:{provider}:{subject}"))
    }

    /// Logs in with a linked social account.
    pub async fn social_login(
        &self,
        provider: &str,
        code: &str,
        state: &str,
    ) -> Result<Session, Error> {
        let subject = match self
            .finish_social(provider, SocialPurpose::Login, code, state)
            .await
        {
            Ok(subject) => subject,
            Err(Error::BadSocialState | Error::SocialRefused(_)) => {
                return Err(Error::BadCredentials)
            }
            Err(other) => return Err(other),
        };
        let account_id: Option<Uuid> = sqlx::query_scalar(
            "SELECT account_id FROM social_identities WHERE provider = $1 AND subject_hash = $2",
        )
        .bind(provider)
        .bind(self.social_identity(provider, &subject))
        .fetch_optional(&self.core.db.sqlx)
        .await?;
        let Some(account_id) = account_id else {
            return Err(Error::BadCredentials);
        };
        // The account's own events decide: linked now, and the cabinet open.
        let account = self.core.load(&self.account_store, account_id).await?;
        match account.kind() {
            AccountKind::Customer {
                opened_by: Some(_),
                social_providers,
                ..
            } if social_providers.iter().any(|p| p == provider) => {
                let principal = Principal {
                    account_id,
                    role: Role::Borrower,
                };
                self.open_session(principal, self.core.clock.now()).await
            }
            _ => Err(Error::BadCredentials),
        }
    }

    /// Links the social account the provider vouches for to the customer's account.
    pub async fn link_social(
        &self,
        account_id: Uuid,
        provider: &str,
        code: &str,
        state: &str,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let subject = self
            .finish_social(provider, SocialPurpose::Link(account_id), code, state)
            .await?;
        let hash = self.social_identity(provider, &subject);
        let reserved = sqlx::query(
            "INSERT INTO social_identities (provider, subject_hash, account_id)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(provider)
        .bind(&hash)
        .bind(account_id)
        .execute(&self.core.db.sqlx)
        .await?;
        if reserved.rows_affected() == 0 {
            let holder: Option<Uuid> = sqlx::query_scalar(
                "SELECT account_id FROM social_identities WHERE provider = $1 AND subject_hash = $2",
            )
            .bind(provider)
            .bind(&hash)
            .fetch_optional(&self.core.db.sqlx)
            .await?;
            if holder != Some(account_id) {
                return Err(Error::SocialAccountTaken);
            }
        }
        let command = AccountCommand::LinkSocial {
            provider: provider.to_string(),
            subject: self.core.keys.seal(account_id, &subject).await?,
            at: self.core.clock.now(),
        };
        let written = self
            .core
            .execute(&self.accounts, account_id, command, meta)
            .await;
        if written.is_err() && reserved.rows_affected() == 1 {
            self.release_social(account_id, provider).await?;
        }
        written
    }

    pub async fn unlink_social(
        &self,
        account_id: Uuid,
        provider: &str,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let command = AccountCommand::UnlinkSocial {
            provider: provider.to_string(),
            at: self.core.clock.now(),
        };
        let written = self
            .core
            .execute(&self.accounts, account_id, command, meta)
            .await?;
        self.release_social(account_id, provider).await?;
        Ok(written)
    }

    async fn release_social(&self, account_id: Uuid, provider: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM social_identities WHERE provider = $1 AND account_id = $2")
            .bind(provider)
            .bind(account_id)
            .execute(&self.core.db.sqlx)
            .await?;
        Ok(())
    }
}
