//! `POST /webhook`: read, verify, store, answer. The body is read within the front door's
//! limits (size cap, shared budget, body timeout: see [`super::body`]); the signature is
//! checked before anything parses the body; the delivery is stored durably before the
//! answer; nothing else happens on the request path (the worker reads stored deliveries
//! later), so GitHub gets its answer in well under its ten-second limit however busy keyroll
//! is.
//!
//! Storing batches concurrent deliveries into one transaction: under load, one sync to disk
//! covers many deliveries instead of one each.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::CONNECTION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use tokio::sync::{Notify, mpsc, oneshot};

use super::AppState;
use super::body::Refused;
use super::metrics::HANDLED_EVENTS;
use crate::runtime::Clock;
use crate::store::{NewWebhook, Store};

/// The most deliveries written in one transaction.
const BATCH: usize = 256;

struct Job {
    webhook: NewWebhook,
    stored: oneshot::Sender<Result<bool, ()>>,
}

/// Hands deliveries to the writer task.
#[derive(Debug, Clone)]
pub struct Intake {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.webhook.fmt(f)
    }
}

impl Intake {
    /// Starts the writer; `stored` is notified after each batch so the worker reads it.
    pub fn start(store: Store, clock: Arc<dyn Clock>, stored: Arc<Notify>) -> Self {
        let (jobs, rx) = mpsc::channel(4 * BATCH);
        tokio::spawn(writer(store, clock, rx, stored));
        Self { jobs }
    }

    /// Stores one delivery; whether it was new (a duplicate id is dropped).
    async fn submit(&self, webhook: NewWebhook) -> Result<bool, ()> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job {
                webhook,
                stored: tx,
            })
            .await
            .map_err(|_| ())?;
        rx.await.map_err(|_| ())?
    }
}

async fn writer(
    store: Store,
    clock: Arc<dyn Clock>,
    mut rx: mpsc::Receiver<Job>,
    stored: Arc<Notify>,
) {
    let mut jobs = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut jobs, BATCH).await > 0 {
        let batch: Vec<NewWebhook> = jobs.iter().map(|j| j.webhook.clone()).collect();
        match store.insert_webhooks(&batch, clock.now()).await {
            Ok(fresh) => {
                for (job, new) in jobs.drain(..).zip(fresh) {
                    let _ = job.stored.send(Ok(new));
                }
                stored.notify_one();
            }
            Err(e) => {
                tracing::error!(error = %e, deliveries = jobs.len(), "could not store deliveries");
                for job in jobs.drain(..) {
                    let _ = job.stored.send(Err(()));
                }
            }
        }
    }
}

/// At most one log line a second about rejected deliveries, with how many there were: a
/// flood of forged requests cannot flood the log.
#[derive(Debug, Default)]
pub struct RejectionLog {
    second: AtomicI64,
    count: AtomicU64,
}

impl RejectionLog {
    fn record(&self, now: i64, why: &str) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let last = self.second.load(Ordering::Relaxed);
        if now != last
            && self
                .second
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.count.store(0, Ordering::Relaxed);
            tracing::warn!(rejected = n, reason = why, "rejected webhook deliveries");
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A delivery id as GitHub sends it (a GUID); anything else is refused rather than stored.
fn plausible_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// An answer that also closes the connection: after a refused body the connection may hold
/// the rest of it, and a client refused for being slow or for the budget should not keep it.
fn refuse(status: StatusCode, text: &'static str) -> Response {
    (status, [(CONNECTION, "close")], text).into_response()
}

pub async fn webhook(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let now = app.clock.now().unix_timestamp();
    // Held until the delivery is answered: its bytes count against the body budget until then.
    let buffered = match app.bodies.read(body).await {
        Ok(b) => b,
        Err(refused) => {
            let (status, outcome, text) = match refused {
                Refused::TooLarge => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "the body is over the size limit\n",
                ),
                Refused::Busy => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "too many bodies are being read; try again\n",
                ),
                Refused::TooSlow => (
                    StatusCode::REQUEST_TIMEOUT,
                    "too_slow",
                    "the body did not arrive in time\n",
                ),
                Refused::Unreadable => (
                    StatusCode::BAD_REQUEST,
                    "unreadable",
                    "the body could not be read\n",
                ),
            };
            app.metrics.delivery("", outcome);
            app.rejections.record(now, outcome);
            return refuse(status, text);
        }
    };
    let answered = answer(&app, &headers, now, buffered.bytes.clone()).await;
    drop(buffered);
    answered.into_response()
}

/// What is done with a body read in full.
async fn answer(
    app: &AppState,
    headers: &HeaderMap,
    now: i64,
    body: Bytes,
) -> (StatusCode, &'static str) {
    // Before anything else looks at the body.
    if app
        .secrets
        .verify(header(headers, "x-hub-signature-256"), &body)
        .is_err()
    {
        app.metrics.delivery("", "bad_signature");
        app.rejections.record(now, "bad_signature");
        return (StatusCode::UNAUTHORIZED, "signature does not match\n");
    }
    let (Some(event), Some(id)) = (
        header(headers, "x-github-event"),
        header(headers, "x-github-delivery"),
    ) else {
        app.metrics.delivery("", "bad_request");
        return (
            StatusCode::BAD_REQUEST,
            "X-GitHub-Event and X-GitHub-Delivery are required\n",
        );
    };
    if !plausible_id(id) {
        app.metrics.delivery(event, "bad_request");
        return (StatusCode::BAD_REQUEST, "X-GitHub-Delivery is not an id\n");
    }
    if !HANDLED_EVENTS.contains(&event) {
        app.metrics.delivery(event, "ignored");
        return (StatusCode::ACCEPTED, "event not used by keyroll; ignored\n");
    }
    let webhook = NewWebhook {
        delivery_id: id.to_owned(),
        event: event.to_owned(),
        body,
    };
    match app.intake.submit(webhook).await {
        Ok(true) => {
            app.metrics.delivery(event, "accepted");
            (StatusCode::ACCEPTED, "accepted\n")
        }
        Ok(false) => {
            app.metrics.delivery(event, "duplicate");
            (StatusCode::ACCEPTED, "duplicate delivery; dropped\n")
        }
        Err(()) => {
            app.metrics.delivery(event, "store_failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "could not store the delivery; GitHub may redeliver it\n",
            )
        }
    }
}
