//! Rate limits on the routes anyone can call to make the service work (logging in, asking for a
//! code, applying, writing to support): per client address and over all clients, answered 429
//! with `Retry-After`. The login's own failure counter (commands) decides about a password; this
//! keeps one address, or a crowd, from trying logins or flooding queues at machine speed.
//!
//! The client address is the socket's peer; `X-Forwarded-For` is believed only from a proxy
//! listed in `K911_TRUSTED_PROXIES` (the address the nearest untrusted hop gave). Limits are kept
//! in memory per instance (`governor`'s GCRA): behind a balancer each instance limits its share.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

use crate::error::ApiError;
use crate::AppState;

/// The routes that are limited, by what they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Login,
    Otp,
    Application,
    Ticket,
}

impl Action {
    const ALL: [Action; 4] = [
        Action::Login,
        Action::Otp,
        Action::Application,
        Action::Ticket,
    ];

    /// What a request to `path` (the route's template) with `method` does, if it is limited.
    fn of(method: &Method, path: &str) -> Option<Self> {
        if method != Method::POST {
            return None;
        }
        match path {
            "/api/v1/auth/login" | "/api/v1/auth/social/{provider}/callback" | "/login" => {
                Some(Self::Login)
            }
            "/api/v1/auth/otp" | "/login/code" => Some(Self::Otp),
            "/api/v1/applications" | "/api/v1/me/applications" => Some(Self::Application),
            "/api/v1/support/tickets" | "/api/v1/me/support/tickets" | "/support" => {
                Some(Self::Ticket)
            }
            _ => None,
        }
    }

    /// The limits when nothing is configured: generous for people, tight for scripts.
    fn default_limit(self) -> Limit {
        let (per_address_per_minute, global_per_minute) = match self {
            Action::Login => (10, 600),
            Action::Otp => (3, 120),
            Action::Application => (5, 300),
            Action::Ticket => (5, 600),
        };
        Limit {
            per_address_per_minute,
            global_per_minute,
        }
    }
}

/// Requests a minute (bursts up to as many at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub per_address_per_minute: u32,
    pub global_per_minute: u32,
}

/// How requests are limited (`K911_RATE_LIMITS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitConfig {
    /// No limits: development and load tests from one address only.
    Off,
    /// The defaults, with these overridden.
    On(BTreeMap<Action, Limit>),
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self::On(BTreeMap::new())
    }
}

impl std::str::FromStr for RateLimitConfig {
    type Err = String;

    /// `off`, or JSON such as `{"login": {"per_address_per_minute": 10, "global_per_minute": 600}}`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "off" => Ok(Self::Off),
            "" | "on" => Ok(Self::default()),
            json => serde_json::from_str(json).map(Self::On).map_err(|e| {
                format!("K911_RATE_LIMITS must be off or JSON of {{action: {{per_address_per_minute, global_per_minute}}}}: {e}")
            }),
        }
    }
}

struct Limiter {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    global: DefaultDirectRateLimiter,
}

/// The limiters of this instance.
pub(crate) struct RateLimits {
    limiters: BTreeMap<Action, Limiter>,
    trusted_proxies: Vec<IpAddr>,
}

impl RateLimits {
    pub(crate) fn new(config: &RateLimitConfig, trusted_proxies: &[IpAddr]) -> Self {
        let limiters = match config {
            RateLimitConfig::Off => BTreeMap::new(),
            RateLimitConfig::On(overrides) => Action::ALL
                .into_iter()
                .map(|action| {
                    let limit = overrides
                        .get(&action)
                        .copied()
                        .unwrap_or_else(|| action.default_limit());
                    let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("≥ 1"));
                    let limiter = Limiter {
                        per_address: RateLimiter::keyed(quota(limit.per_address_per_minute)),
                        global: RateLimiter::direct(quota(limit.global_per_minute)),
                    };
                    (action, limiter)
                })
                .collect(),
        };
        Self {
            limiters,
            trusted_proxies: trusted_proxies.to_vec(),
        }
    }

    /// Whether `client` may do `action` now; else how many seconds until it may. An IPv6 client
    /// counts by its /64: one subscriber holds a whole /64 and could walk through it.
    fn check(&self, action: Action, client: IpAddr) -> Result<(), u64> {
        let client = match client {
            IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
            v4 => v4,
        };
        let Some(limiter) = self.limiters.get(&action) else {
            return Ok(());
        };
        // Forget addresses that are within their limits again, so the map stays small.
        if limiter.per_address.len() > 100_000 {
            limiter.per_address.retain_recent();
        }
        let now = DefaultClock::default().now();
        let refused = limiter
            .per_address
            .check_key(&client)
            .and_then(|()| limiter.global.check());
        refused.map_err(|until| until.wait_time_from(now).as_secs().max(1))
    }

    /// Counts one `action` of `client` done outside the limited routes (the website's application
    /// form, limited on its final step only): 429 once over the limit.
    pub(crate) fn admit(&self, action: Action, client: IpAddr) -> Result<(), ApiError> {
        self.check(action, client)
            .map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })
    }

    /// The client's address: the peer, or what a trusted proxy says the client was.
    fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let unknown = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let Some(peer) = peer else {
            return unknown;
        };
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        // Each proxy appends the address it heard from: the last one not ours is the client.
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        forwarded
            .into_iter()
            .rev()
            .find(|a| !self.trusted_proxies.contains(a))
            .unwrap_or(peer)
    }
}

/// Answers 429 with `Retry-After` when the caller's address, or everyone together, is over the
/// route's limit. Tells the handlers who the client is ([`ClientAddr`]).
pub(crate) async fn rate_limit(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client = state.limits.client(peer, request.headers());
    let action = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|path| Action::of(request.method(), path.as_str()));
    if let Some(action) = action {
        if let Err(retry_after_secs) = state.limits.check(action, client) {
            return ApiError::TooManyRequests { retry_after_secs }.into_response();
        }
    }
    request.extensions_mut().insert(ClientAddr(client));
    next.run(request).await
}

/// The client's address as the rate limits counted it: the peer, or what a trusted proxy said.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_address_is_believed_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let limits = RateLimits::new(&RateLimitConfig::default(), &[proxy]);
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7".parse().unwrap());
        // The proxy appended the client it heard from; what the client wrote before is its own.
        assert_eq!(
            limits.client(Some(proxy), &headers),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        let stranger: IpAddr = "198.51.100.9".parse().unwrap();
        assert_eq!(limits.client(Some(stranger), &headers), stranger);
    }

    #[test]
    fn one_address_over_its_limit_waits_and_others_go_on() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            Action::Otp,
            Limit {
                per_address_per_minute: 2,
                global_per_minute: 100,
            },
        );
        let limits = RateLimits::new(&RateLimitConfig::On(overrides), &[]);
        let (one, other): (IpAddr, IpAddr) = (
            "203.0.113.1".parse().unwrap(),
            "203.0.113.2".parse().unwrap(),
        );
        assert!(limits.check(Action::Otp, one).is_ok());
        assert!(limits.check(Action::Otp, one).is_ok());
        let wait = limits.check(Action::Otp, one).unwrap_err();
        assert!((1..=30).contains(&wait), "{wait}");
        assert!(limits.check(Action::Otp, other).is_ok());
        // Two addresses of one IPv6 /64 are one client.
        let (a, b): (IpAddr, IpAddr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        assert!(limits.check(Action::Otp, a).is_ok());
        assert!(limits.check(Action::Otp, b).is_ok());
        assert!(limits.check(Action::Otp, a).is_err());
    }

    #[test]
    fn the_setting_is_off_or_json() {
        assert_eq!("off".parse::<RateLimitConfig>(), Ok(RateLimitConfig::Off));
        let parsed: RateLimitConfig =
            r#"{"ticket": {"per_address_per_minute": 1, "global_per_minute": 2}}"#
                .parse()
                .unwrap();
        let RateLimitConfig::On(limits) = parsed else {
            panic!("on")
        };
        assert_eq!(limits[&Action::Ticket].global_per_minute, 2);
        assert!("{\"nope\": 1}".parse::<RateLimitConfig>().is_err());
    }
}
