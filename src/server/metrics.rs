//! `/metrics` in Prometheus text: deliveries by event and outcome, rotations by phase,
//! stalled and overdue counts, the intake backlog, GitHub API calls and the rate limit left.
//! Labels come from fixed sets, so no sender can grow the series without bound.

use std::collections::BTreeMap;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::github::client::ApiMetrics;
use crate::store::Store;

/// The events keyroll reads; any other is labelled `other`.
pub const HANDLED_EVENTS: &[&str] = &[
    "pull_request",
    "pull_request_review",
    "issue_comment",
    "check_run",
    "check_suite",
    "status",
    "deployment_status",
    "push",
    "installation",
    "installation_repositories",
    "ping",
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UnitLabels {
    unit: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    rotations: Family<PhaseLabels, Gauge>,
    stalled: Gauge,
    overdue: Gauge,
    backlog: Gauge,
    api_calls: Family<OutcomeLabels, Counter>,
    rate_limit_remaining: Gauge,
    /// The API counts at the last scrape: the client keeps totals, the registry increments.
    api_seen: Mutex<BTreeMap<String, u64>>,
    /// Overdue credentials per repository, at its last schedule tick.
    overdue_now: Mutex<BTreeMap<String, i64>>,
    oldest_waiting: Gauge,
    parked: Gauge,
    panics: Family<UnitLabels, Counter>,
    failed_attempts: Family<UnitLabels, Counter>,
    restarts: Counter,
}

/// What a worker was doing when it panicked or failed: a fixed set of labels.
pub const UNITS: &[&str] = &["delivery", "tick", "rotations", "lane"];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("keyroll");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries received, by event and outcome",
            deliveries.clone(),
        );
        let rotations = Family::<PhaseLabels, Gauge>::default();
        registry.register(
            "rotations",
            "Unfinished rotations, by phase",
            rotations.clone(),
        );
        let stalled = Gauge::default();
        registry.register(
            "rotations_stalled",
            "Rotations stalled or blocked, waiting for a person",
            stalled.clone(),
        );
        let overdue = Gauge::default();
        registry.register(
            "credentials_overdue",
            "Credentials past their maximum age at the last schedule tick",
            overdue.clone(),
        );
        let backlog = Gauge::default();
        registry.register(
            "webhook_backlog",
            "Stored deliveries not read yet",
            backlog.clone(),
        );
        let api_calls = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "github_api_calls",
            "GitHub API requests, by outcome",
            api_calls.clone(),
        );
        let rate_limit_remaining = Gauge::default();
        registry.register(
            "github_rate_limit_remaining",
            "Requests left in GitHub's rate limit window, as last reported",
            rate_limit_remaining.clone(),
        );
        let oldest_waiting = Gauge::default();
        registry.register(
            "webhook_oldest_waiting_seconds",
            "Age of the oldest stored delivery not handled yet (parked ones aside)",
            oldest_waiting.clone(),
        );
        let parked = Gauge::default();
        registry.register(
            "webhooks_parked",
            "Deliveries that failed every attempt, kept until an operator retries them",
            parked.clone(),
        );
        let panics = Family::<UnitLabels, Counter>::default();
        registry.register(
            "worker_panics",
            "Panics caught while handling a unit of work, by unit",
            panics.clone(),
        );
        let failed_attempts = Family::<UnitLabels, Counter>::default();
        registry.register(
            "worker_failed_attempts",
            "Attempts that failed for a passing reason and will be retried, by unit",
            failed_attempts.clone(),
        );
        let restarts = Counter::default();
        registry.register(
            "worker_restarts",
            "Repository workers the supervisor found dead and started again",
            restarts.clone(),
        );
        Self {
            registry,
            oldest_waiting,
            parked,
            panics,
            failed_attempts,
            restarts,
            deliveries,
            rotations,
            stalled,
            overdue,
            backlog,
            api_calls,
            rate_limit_remaining,
            api_seen: Mutex::new(BTreeMap::new()),
            overdue_now: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts a delivery. `event` is mapped onto the fixed set first.
    pub fn delivery(&self, event: &str, outcome: &'static str) {
        let event = HANDLED_EVENTS
            .iter()
            .find(|e| **e == event)
            .copied()
            .unwrap_or("other");
        self.deliveries
            .get_or_create(&DeliveryLabels { event, outcome })
            .inc();
    }

    pub fn set_overdue(&self, repository: &str, n: i64) {
        if let Ok(mut m) = self.overdue_now.lock() {
            m.insert(repository.to_owned(), n);
        }
    }

    fn unit(unit: &str) -> UnitLabels {
        UnitLabels {
            unit: UNITS
                .iter()
                .find(|u| **u == unit)
                .copied()
                .unwrap_or("lane"),
        }
    }

    /// Counts a panic caught in a unit of work (`delivery`, `tick`, `rotations`, `lane`).
    pub fn panicked(&self, unit: &str) {
        self.panics.get_or_create(&Self::unit(unit)).inc();
    }

    /// Counts an attempt that failed and will be tried again.
    pub fn failed_attempt(&self, unit: &str) {
        self.failed_attempts.get_or_create(&Self::unit(unit)).inc();
    }

    /// Counts a repository worker started again after it died.
    pub fn restarted(&self) {
        self.restarts.inc();
    }

    /// The text for `/metrics`, with gauges read from the store now.
    pub async fn render(
        &self,
        store: &Store,
        api: Option<ApiMetrics>,
        now: time::OffsetDateTime,
    ) -> String {
        if let Ok(phases) = store.rotations_by_phase().await {
            self.rotations.clear();
            let mut stalled = 0;
            for (phase, n) in phases {
                // Labels are phase names without their step numbers: a fixed set.
                let name = phase
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                if name == "stalled" || name == "blocked" {
                    stalled += n;
                }
                self.rotations
                    .get_or_create(&PhaseLabels { phase: name })
                    .inc_by(n);
            }
            self.stalled.set(stalled);
        }
        if let Ok(n) = store.webhook_backlog().await {
            self.backlog.set(n);
        }
        if let Ok(Some(oldest)) = store.oldest_waiting_webhook().await {
            self.oldest_waiting
                .set((now - oldest).whole_seconds().max(0));
        } else {
            self.oldest_waiting.set(0);
        }
        if let Ok(n) = store.parked_webhooks().await {
            self.parked.set(n);
        }
        if let Ok(m) = self.overdue_now.lock() {
            self.overdue
                .set(m.values().fold(0i64, |a, n| a.saturating_add(*n)));
        }
        if let Some(api) = api {
            if let Ok(mut seen) = self.api_seen.lock() {
                for (outcome, total) in &api.calls {
                    let before = seen.insert(outcome.clone(), *total).unwrap_or(0);
                    self.api_calls
                        .get_or_create(&OutcomeLabels {
                            outcome: outcome.clone(),
                        })
                        .inc_by(total.saturating_sub(before));
                }
            }
            if let Some(left) = api.rate_limit_remaining {
                self.rate_limit_remaining
                    .set(i64::try_from(left).unwrap_or(i64::MAX));
            }
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
