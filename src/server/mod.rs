//! `keyroll serve`: the GitHub App.
//!
//! ```text
//! POST /webhook --> intake (verify, store, 202) --> store.webhooks
//!                                                      |
//! worker: parse (github::webhook) --> route (github::route) --> runtime (engine::step)
//!           --> effects::github (API) --> store (state, receipts, audit)
//! ticks:  reconcile (re-read pull requests and checks) and schedule (start due rotations)
//! ```
//!
//! The worker is one task: rotations of a repository step one at a time, in the order their
//! inputs arrived.

mod body;
mod commands;
mod dashboard;
mod front_door;
mod intake;
pub mod metrics;
mod reconcile;
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
pub use front_door::FrontDoor;
pub use worker::StartError;

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

async fn readyz(State(app): State<AppState>) -> (StatusCode, &'static str) {
    if app.store.ready().await {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "database not reachable or not migrated\n",
        )
    }
}

async fn metrics_text(State(app): State<AppState>) -> ([(HeaderName, &'static str); 1], String) {
    let text = app
        .metrics
        .render(&app.store, Some(app.github.metrics()))
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
    commands: worker::Commands,
    served: tokio::task::JoinHandle<Result<(), ServerError>>,
    worked: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Runs the reconcile and schedule ticks now (tests; an operator's nudge).
    pub async fn tick_now(&self) {
        self.commands.tick().await;
    }

    /// Waits until the worker has nothing left to do that it can do now.
    pub async fn settle(&self) {
        self.commands.settle().await;
    }

    /// Stops taking requests, lets the ones in flight finish, and stops the worker after
    /// its current step.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let _ = self.stop.send(true);
        let served = self.served.await.unwrap_or(Ok(()));
        let _ = self.worked.await;
        served
    }

    /// Runs until SIGTERM or Ctrl-C, then shuts down gracefully.
    pub async fn until_signal(self) -> Result<(), ServerError> {
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
    let (commands, worked) = worker::spawn(worker::WorkerSettings {
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
    });
    let state = AppState {
        secrets: Arc::new(settings.webhook_secrets),
        intake,
        store: store.clone(),
        metrics,
        github,
        clock,
        rejections: Arc::new(intake::RejectionLog::default()),
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
