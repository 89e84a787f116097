//! `keyroll serve`: the GitHub App.
//!
//! ```text
//! webhook   POST /webhook --> front_door, body, intake (verify, store, 202) --> store.webhooks
//!              |
//! event     lanes (one per repository, supervised) --> worker: parse (github::webhook),
//!              |    dispatch by event to a handler:
//!              |      push / config pull request --> repos (config check)
//!              |      comment, review body, button --> commands --> store (log, result, answers)
//!              |      anything a rotation waits for --> route (github::route) --> store inbox
//!              |    ticks (worker::Tick): schedule, reconcile, dashboard
//! engine    runtime: inbox --> engine::step --> store (state, effects, audit; one transaction)
//!              |
//! effects   effects::github carries out the rotation's effects, runtime::answers a command's
//!              |    answers; each find-or-create, receipts written after
//! store     store (state, outboxes, receipts, audit)
//! ```
//!
//! The worker is a supervisor and one lane per repository (see [`lanes`]): a repository's
//! deliveries are handled one at a time, in the order they arrived; repositories go on side
//! by side. A delivery that fails for a passing reason is kept and tried again ([`retry`]).
//!
//! Imports go one way: [`lanes`] drives [`worker`], the worker calls the handlers
//! ([`commands`], [`dashboard`], [`reconcile`], [`schedule`]), the handlers use what they are
//! given ([`repos`] for what keyroll knows of a repository, [`rotated`] for when credentials
//! were last rotated, the store and the clock). No handler imports the worker.

mod body;
mod commands;
mod dashboard;
mod error;
mod front_door;
mod intake;
mod lanes;
mod later;
pub mod metrics;
mod reconcile;
mod repos;
pub mod retry;
mod rotated;
mod schedule;
mod scrubber;
mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, StatusCode, header};
use axum::routing::{get, post};
use tokio::sync::{Notify, watch};

use crate::github::app_auth::AppKey;
use crate::github::client::{ClientOptions, GitHub};
use crate::github::signature::Secrets;
use crate::runtime::Clock;
use crate::sops::Identities;
use crate::store::{Store, StoreError};

pub use commands::People;
pub use error::StartError;
pub use front_door::FrontDoor;
pub use retry::RetryPolicy;

/// How deliveries are retried, and when the server stops calling itself ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryOptions {
    pub retry: RetryPolicy,
    /// `/readyz` fails when a delivery has waited longer than this (parked ones aside).
    pub max_waiting_age: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            max_waiting_age: Duration::from_secs(600),
        }
    }
}

/// Everything `keyroll serve` needs, checked at start.
#[derive(Debug)]
pub struct Settings {
    pub app_key: AppKey,
    pub webhook_secrets: Secrets,
    pub github_api_url: String,
    pub identities: Identities,
    pub database_url: String,
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub reconcile_every: Duration,
    pub schedule_every: Duration,
    /// How many rotations may run at once in one repository.
    pub concurrent_rotations: usize,
    pub client: ClientOptions,
    /// Operators and admins named by the server (the floor no repository can lower).
    pub people: People,
    /// Retries of deliveries and the readiness threshold.
    pub delivery: DeliveryOptions,
    /// Where the settings came from, for the start-up log line.
    pub identity_file: PathBuf,
    /// Timeouts and limits for clients not yet known to hold the webhook secret.
    pub front_door: FrontDoor,
    /// How often webhook bodies erased from the database are scrubbed out of its files.
    pub scrub_every: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("database {url}: {source}")]
    Store { url: String, source: StoreError },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("GitHub client: {0}")]
    Client(#[from] crate::github::client::ApiError),
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// What the request handlers share.
#[derive(Debug, Clone)]
struct AppState {
    secrets: Arc<Secrets>,
    intake: intake::Intake,
    store: Store,
    metrics: Arc<metrics::Metrics>,
    github: GitHub,
    clock: Arc<dyn Clock>,
    rejections: Arc<intake::RejectionLog>,
    health: Arc<lanes::Health>,
    max_waiting_age: Duration,
    /// Reads webhook bodies within the size cap, the shared budget and the body timeout.
    bodies: body::BodyReader,
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhook", post(intake::webhook))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

/// Ready when the database answers, every worker runs, and no delivery has waited longer
/// than the threshold (parked deliveries aside: they have their own gauge). The answer says
/// why not.
async fn readyz(State(app): State<AppState>) -> (StatusCode, String) {
    let unready = |why: String| (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n"));
    if !app.store.ready().await {
        return unready("database not reachable or not migrated".into());
    }
    if let Some(why) = app.health.problem() {
        return unready(why);
    }
    match app.store.oldest_waiting_webhook().await {
        Ok(Some(oldest)) => {
            let age = app.clock.now() - oldest;
            if age > app.max_waiting_age {
                return unready(format!(
                    "a delivery has waited {} s to be handled (more than {} s)",
                    age.whole_seconds(),
                    app.max_waiting_age.as_secs()
                ));
            }
        }
        Ok(None) => {}
        Err(e) => return unready(format!("database: {e}")),
    }
    (StatusCode::OK, "ready\n".into())
}

async fn metrics_text(State(app): State<AppState>) -> ([(HeaderName, &'static str); 1], String) {
    let text = app
        .metrics
        .render(&app.store, Some(app.github.metrics()), app.clock.now())
        .await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// A running server: its address, a handle to nudge its worker, and its stop switch.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    commands: lanes::Commands,
    served: tokio::task::JoinHandle<Result<(), ServerError>>,
    worked: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Runs the reconcile and schedule ticks now (tests; an operator's nudge).
    pub async fn tick_now(&self) {
        self.commands.tick().await;
    }

    /// Waits until the worker has nothing left to do that it can do now (deliveries waiting
    /// for their retry time wait on).
    pub async fn settle(&self) {
        self.commands.settle().await;
    }

    /// Puts every parked delivery back to be tried again (with its attempts renewed); how
    /// many. The same happens at every start, and on SIGHUP.
    pub async fn retry_parked(&self) -> u64 {
        self.commands.retry_parked().await
    }

    /// Stops taking requests, lets the ones in flight finish, and stops the worker after
    /// its current step.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let _ = self.stop.send(true);
        let served = self.served.await.unwrap_or(Ok(()));
        let _ = self.worked.await;
        served
    }

    /// Runs until SIGTERM or Ctrl-C, then shuts down gracefully. SIGHUP retries the parked
    /// deliveries.
    pub async fn until_signal(self) -> Result<(), ServerError> {
        #[cfg(unix)]
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            let stop = shutdown_signal();
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    _ = hup.recv() => {
                        let n = self.retry_parked().await;
                        tracing::info!(deliveries = n, "SIGHUP: parked deliveries put back");
                    }
                }
            }
            tracing::info!("shutting down: finishing requests in flight and the current step");
            return self.shutdown().await;
        }
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight and the current step");
        self.shutdown().await
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Opens the store, binds the address and starts the server and its worker.
pub async fn start(settings: Settings, clock: Arc<dyn Clock>) -> Result<Running, ServerError> {
    let store = Store::open(&settings.database_url)
        .await
        .map_err(|source| ServerError::Store {
            url: settings.database_url.clone(),
            source,
        })?;
    let github = GitHub::new(
        settings.app_key,
        &settings.github_api_url,
        settings.client,
        clock.clone(),
    )?;
    let metrics = Arc::new(metrics::Metrics::new());
    let stored = Arc::new(Notify::new());
    let intake = intake::Intake::start(store.clone(), clock.clone(), stored.clone());
    let (stop, stopped) = watch::channel(false);
    let health = Arc::new(lanes::Health::default());
    let (commands, worked) = lanes::spawn(
        worker::WorkerSettings {
            store: store.clone(),
            github: github.clone(),
            identities: Arc::new(settings.identities),
            clock: clock.clone(),
            metrics: metrics.clone(),
            stored,
            stopped: stopped.clone(),
            reconcile_every: settings.reconcile_every,
            schedule_every: settings.schedule_every,
            concurrent_rotations: settings.concurrent_rotations,
            people: settings.people,
            retry: settings.delivery.retry,
            installed: None,
        },
        health.clone(),
    );
    let state = AppState {
        secrets: Arc::new(settings.webhook_secrets),
        intake,
        store: store.clone(),
        metrics,
        github,
        clock,
        rejections: Arc::new(intake::RejectionLog::default()),
        health,
        max_waiting_age: settings.delivery.max_waiting_age,
        bodies: body::BodyReader::new(
            settings.max_body_bytes,
            settings.front_door.body_budget_bytes,
            settings.front_door.body_timeout,
        ),
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| ServerError::Listen {
            addr: settings.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServerError::Serve)?;
    let app = router(state);
    let scrubbing = tokio::spawn(scrubber::run(store, settings.scrub_every, stopped.clone()));
    let served = tokio::spawn(async move {
        front_door::serve(listener, app, settings.front_door, stopped).await;
        let _ = scrubbing.await;
        Ok(())
    });
    tracing::info!(%addr, api = %settings.github_api_url, identity = %settings.identity_file.display(), "keyroll is serving");
    Ok(Running {
        addr,
        stop,
        commands,
        served,
        worked,
    })
}
