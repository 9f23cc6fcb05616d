//! Prometheus metrics of the service: requests, latency, events appended, projector lag.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route template (`/api/v1/staff/support/tickets/{id}`), never the raw path.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AggregateLabels {
    pub aggregate_type: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub commands: Family<AggregateLabels, Counter>,
    pub projection_lag: Gauge,
    /// Events the followers set aside (`projection_failures`), measured at scrape time.
    pub events_set_aside: Gauge,
    /// Scheduled jobs that failed on one loan (skipped; the rest went on).
    pub job_failures: Family<JobLabels, Counter>,
    /// Effects performed, failed and parked, by kind.
    pub effects: Family<EffectLabels, Counter>,
    /// Credit bureau reports unsent, by where they stand against their deadline, measured at
    /// scrape time.
    pub bureau_reports: Family<DeadlineLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeadlineLabels {
    /// `pending` (all unsent) | `due_soon` (due today or tomorrow) | `overdue` (past it)
    pub standing: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EffectLabels {
    /// `sms` | `email` | `payout`
    pub kind: String,
    /// `done` | `failed` (will retry) | `dead` (parked for a person)
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// `payout_poll` | `refund_poll` | `accrual` | `reminder` | `offer_expiry`
    pub job: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("k911");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 0.5 ms to ~4 s.
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.0005, 2.0, 14,
            ))
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        let commands = Family::<AggregateLabels, Counter>::default();
        registry.register(
            "commands_committed",
            "Commands whose events were appended",
            commands.clone(),
        );
        let projection_lag = Gauge::default();
        registry.register(
            "projection_lag_events",
            "Visible events the slowest read model has not applied yet",
            projection_lag.clone(),
        );
        let events_set_aside = Gauge::default();
        registry.register(
            "events_set_aside",
            "Events a read model or process manager could not handle, set aside for a person",
            events_set_aside.clone(),
        );
        let job_failures = Family::<JobLabels, Counter>::default();
        registry.register(
            "scheduled_job_failures",
            "Scheduled jobs that failed on one loan and were skipped",
            job_failures.clone(),
        );
        let effects = Family::<EffectLabels, Counter>::default();
        registry.register(
            "effects",
            "Effects of the outbox performed (done), failed (retried later) and parked as dead",
            effects.clone(),
        );
        let bureau_reports = Family::<DeadlineLabels, Gauge>::default();
        registry.register(
            "bureau_reports",
            "Credit bureau reports not sent yet (218-FZ), all, due today or tomorrow, and past their deadline",
            bureau_reports.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            requests,
            latency,
            commands,
            projection_lag,
            events_set_aside,
            job_failures,
            effects,
            bureau_reports,
        }
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        let registry = self.registry.lock().expect("metrics registry");
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .expect("writing to a String");
        text
    }
}
