//! The application: every aggregate's framework and the services they share.

use std::sync::Arc;
use std::time::Duration;

use k911_aggregates::account::ErasureRules;
use k911_aggregates::credit_report::ReportingRules;
use k911_aggregates::loan::law::LawEditions;
use k911_aggregates::loan::reminders::ReminderRules;
use k911_aggregates::loan_application::{LendingPolicy, Product};
use k911_event_store::follower::{Follower, Followers, Waker};
use k911_event_store::keys::{KeyStore, MasterKey};
use k911_event_store::store;
use k911_event_store::Database;

use crate::agents::{AgentAttribution, AgentCommissions, Agents, CommissionPayouts};
use crate::auth::Access;
use crate::bureau::{Bureau, BureauReports};
use crate::clock::Clock;
use crate::compliance::Compliance;
use crate::content::Content;
use crate::credit_history::LocalCreditHistory;
use crate::effects::{EffectRules, Effects};
use crate::erasure::ErasureProcess;
use crate::ids::IdGenerator;
use crate::lending::{Lending, LendingProcess};
use crate::metrics::Metrics;
use crate::notify::Ports;
use crate::onboarding::{Onboarding, OnboardingProcess};
use crate::otp::{Codes, OtpRules};
use crate::payments::{ChannelSecrets, PaymentAssignment, Payments};
use crate::profile::Profiles;
use crate::sessions::SessionCache;
use crate::social::{Oidc, OidcProvider};
use crate::support::Support;

/// Tunables of the use cases.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a bearer token of a staff member stays valid.
    pub staff_session_ttl: Duration,
    /// How long a borrower's bearer token stays valid: shorter, as a cabinet is often opened on
    /// a shared or lost phone.
    pub customer_session_ttl: Duration,
    /// Limits of one-time SMS codes.
    pub otp: OtpRules,
    /// How long an offer waits for the borrower's signature.
    pub offer_ttl: Duration,
    /// The editions of 353-FZ's limits (rates, caps, the order payments are applied in).
    pub law: LawEditions,
    /// When overdue debtors may be reminded (230-FZ art. 7).
    pub reminders: ReminderRules,
    /// HMAC secrets of the payment channels; a channel without one is closed.
    pub payment_secrets: ChannelSecrets,
    /// OpenID Connect providers customers may link and log in with.
    pub oidc_providers: Vec<OidcProvider>,
    /// Where providers send the customer's browser back (the web client's callback page).
    pub oidc_redirect_url: String,
    /// How long a read that must show a write waits for the read models (a new ticket's
    /// `queue_position`, the support queue served in order).
    pub read_your_writes_timeout: Duration,
    /// The loan product's limits and rate.
    pub product: Product,
    /// How the effects worker retries and parks effects.
    pub effects: EffectRules,
    pub erasure: ErasureRules,
    pub bureau: ReportingRules,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            staff_session_ttl: Duration::from_secs(8 * 3600),
            customer_session_ttl: Duration::from_secs(30 * 60),
            otp: OtpRules::default(),
            offer_ttl: Duration::from_secs(3 * 24 * 3600),
            law: LawEditions::default(),
            reminders: ReminderRules::default(),
            payment_secrets: ChannelSecrets::new(),
            oidc_providers: vec![],
            oidc_redirect_url: "http://127.0.0.1:8080/cabinet/social/callback".to_string(),
            read_your_writes_timeout: Duration::from_secs(5),
            product: Product::default(),
            effects: EffectRules::default(),
            erasure: ErasureRules::default(),
            bureau: ReportingRules::default(),
        }
    }
}

/// What every service shares: the database and the personal-data keys, the time and ids, the
/// settings and metrics; it runs a command and loads an aggregate (`execute.rs`). Cheap to clone.
#[derive(Clone)]
pub struct Core {
    pub db: Database,
    pub keys: KeyStore,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    /// Behind an `Arc`: every service holds the core, and handlers take services by value.
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    /// Sessions checked lately; [`SessionCache::listen`] must run for it to keep any.
    pub sessions: SessionCache,
}

/// The write side: the services, named after what they do, and what they share, with the log's
/// followers (read models and process managers), the ports to the outside world, the effects
/// worker and the development outboxes. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub core: Core,
    pub followers: Followers,
    pub ports: Ports,
    /// The FAQ and the "Documents" section.
    pub content: Content,
    /// Support tickets.
    pub support: Support,
    /// Repayments from outside channels.
    pub payments: Payments,
    /// Loan applications and their decisions.
    pub onboarding: Onboarding,
    /// Loans as their borrowers act on them, and the scheduled jobs' steps.
    pub lending: Lending,
    /// Customers' profiles.
    pub profiles: Profiles,
    /// Logins, codes, sessions, social accounts and passwords.
    pub access: Access,
    /// Agents, their codes, plans and commission.
    pub agents: Agents,
    /// The effects outbox as admins see it.
    pub effects: Effects,
    /// Compliance officers' reads, recorded.
    pub compliance: Compliance,
    pub bureau: Bureau,
}

impl App {
    /// The jobs that visit no loan: registrations never submitted are released, expired
    /// idempotency keys forgotten, agents' ended months closed. A failure is logged; the next
    /// run tries again.
    pub async fn tidy_up(&self) {
        if let Err(error) = self.onboarding.release_unsubmitted_applications().await {
            tracing::warn!(%error, "releasing unsubmitted applications failed");
        }
        if let Err(error) = k911_event_store::idempotency::forget_expired(&self.core.db.sqlx).await
        {
            tracing::warn!(%error, "forgetting expired idempotency keys failed");
        }
        if let Err(error) = self.agents.close_ended_months().await {
            tracing::warn!(%error, "closing agents' months failed");
        }
    }

    /// The application over `db`, following the log with `read_models` (the read side's) and its
    /// own process managers (not started yet: see [`Followers::start`]).
    pub fn new(
        db: Database,
        master_key: &MasterKey,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        ports: Ports,
        settings: Settings,
        read_models: Vec<Arc<dyn Follower>>,
    ) -> Self {
        let keys = KeyStore::new(db.sqlx.clone(), master_key);
        let sessions = SessionCache::default();
        let waker = Waker::default();
        let hook = waker.clone();
        db.appends
            .when_committed(Arc::new(move |types| hook.committed(types)));
        let accounts = Arc::new(store::cqrs(&db, ()));
        let mut projections = read_models;
        // The log's hash chain: every event, from the first, whatever kind of follower reads it.
        projections.push(Arc::new(k911_event_store::chain::AuditChain));
        projections.push(Arc::new(crate::support_notifications::SupportNotifications));
        projections.push(Arc::new(OnboardingProcess {
            accounts: accounts.clone(),
            keys: keys.clone(),
            db: db.sqlx.clone(),
            clock: clock.clone(),
            ids: ids.clone(),
        }));
        let codes = Codes {
            db: db.clone(),
            keys: keys.clone(),
            clock: clock.clone(),
            ids: ids.clone(),
            rules: settings.otp.clone(),
        };
        let loans = Arc::new(store::cqrs(&db, settings.law.clone()));
        let loan_store = Arc::new(store::store(&db));
        let applications = Arc::new(store::cqrs(
            &db,
            LendingPolicy {
                product: settings.product.clone(),
                law: settings.law.clone(),
            },
        ));
        let application_store = Arc::new(store::store(&db));
        let account_store = Arc::new(store::store(&db));
        projections.push(Arc::new(LendingProcess {
            loans: loans.clone(),
            applications: applications.clone(),
            application_store: application_store.clone(),
            accounts: accounts.clone(),
            account_store: account_store.clone(),
            loan_store: loan_store.clone(),
            codes: codes.clone(),
            offer_ttl: settings.offer_ttl,
            law: settings.law.clone(),
        }));
        let agents = Arc::new(store::cqrs(&db, ()));
        let agent_store = Arc::new(store::store(&db));
        projections.push(Arc::new(AgentAttribution {
            agents: agents.clone(),
            db: db.sqlx.clone(),
        }));
        projections.push(Arc::new(AgentCommissions {
            agents: agents.clone(),
            clock: clock.clone(),
        }));
        projections.push(Arc::new(CommissionPayouts));
        let incoming_store = Arc::new(store::store(&db));
        projections.push(Arc::new(PaymentAssignment {
            loans: loans.clone(),
            incoming_store: incoming_store.clone(),
        }));
        projections.push(Arc::new(BureauReports {
            rules: settings.bureau.clone(),
        }));
        projections.push(Arc::new(ErasureProcess {
            accounts: accounts.clone(),
            keys: keys.clone(),
            sessions: sessions.clone(),
            rules: settings.erasure,
        }));
        let followers = Followers::new(db.clone(), projections);
        let oidc = Arc::new(Oidc::new(
            settings.oidc_providers.clone(),
            settings.oidc_redirect_url.clone(),
        ));
        waker.attach(&followers);
        let core = Core {
            db: db.clone(),
            keys: keys.clone(),
            clock,
            ids,
            settings: Arc::new(settings),
            metrics: Arc::default(),
            sessions,
        };
        let access = Access {
            core: core.clone(),
            accounts: accounts.clone(),
            account_store: account_store.clone(),
            codes: codes.clone(),
            oidc,
            hashing: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, usize::from),
            )),
        };
        let profiles = Profiles {
            core: core.clone(),
            accounts: account_store.clone(),
            applications: application_store.clone(),
        };
        Self {
            content: Content {
                core: core.clone(),
                faq: Arc::new(store::cqrs(&db, ())),
                documents: Arc::new(store::cqrs(&db, ())),
            },
            support: Support {
                core: core.clone(),
                tickets: Arc::new(store::cqrs(&db, ())),
                ticket_store: Arc::new(store::store(&db)),
                profiles: profiles.clone(),
            },
            payments: Payments {
                core: core.clone(),
                incoming: Arc::new(store::cqrs(&db, ())),
                incoming_store,
                loans: loans.clone(),
                loan_store: loan_store.clone(),
            },
            lending: Lending {
                core: core.clone(),
                codes: codes.clone(),
                loans: loans.clone(),
                loan_store: loan_store.clone(),
                application_store: application_store.clone(),
                account_store: account_store.clone(),
                payout: ports.payout.clone(),
            },
            onboarding: Onboarding {
                core: core.clone(),
                accounts: accounts.clone(),
                applications,
                account_store: account_store.clone(),
                application_store: application_store.clone(),
                credit_history: Arc::new(LocalCreditHistory::new(db.sqlx.clone(), keys)),
                payout: ports.payout.clone(),
                documents: Arc::new(store::store(&db)),
                agent_store: agent_store.clone(),
            },
            profiles,
            followers: followers.clone(),
            agents: Agents {
                core: core.clone(),
                agents,
                agent_store: agent_store.clone(),
                access: access.clone(),
                payout: ports.payout.clone(),
            },
            access,
            ports,
            effects: Effects { core: core.clone() },
            bureau: Bureau {
                core: core.clone(),
                application_store: application_store.clone(),
            },
            compliance: Compliance {
                core: core.clone(),
                reads: Arc::new(store::cqrs(&db, ())),
                disclosures: Arc::new(store::cqrs(&db, ())),
                disclosure_store: Arc::new(store::store(&db)),
                accounts: accounts.clone(),
                account_store: account_store.clone(),
                application_store: application_store.clone(),
                followers,
            },
            core,
        }
    }
}
