//! The listener: what any client on the network can make the server hold, bounded.
//!
//! - connections: at most [`FrontDoor::max_connections`] at once. At the cap the server stops accepting;
//!   new clients wait in the kernel's accept queue (costing the process nothing) until a
//!   connection ends, which the timeouts below guarantee happens.
//! - headers: a request's headers must arrive within `header_timeout`, counted from when the
//!   server starts waiting for them ([`FrontDoor::header_timeout`]), so a keep-alive connection idle that long is closed too.
//! - headers' size: at most [`READ_BUFFER`] bytes (a bigger request head is refused).
//! - bodies: read by the handlers that want one, within the body timeout and the body budget
//!   (see [`super::body`]).
//!
//! Stopping: the listener is closed, idle connections are closed, requests in flight are
//! answered, then `serve` returns.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// The largest read buffer of a connection, and so the largest request head. GitHub's
/// headers take about 2 KiB.
pub const READ_BUFFER: usize = 64 * 1024;

/// What a client that has not shown it knows the webhook secret can make the server hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontDoor {
    /// Time for a request's headers to arrive (and for an idle connection to send the next).
    pub header_timeout: Duration,
    /// Time for a webhook body to arrive in full, once its headers have.
    pub body_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Bytes of webhook bodies buffered at once, across all requests, before their
    /// signatures are checked.
    pub body_budget_bytes: usize,
}

impl Default for FrontDoor {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            max_connections: 512,
            body_budget_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Serves `app` on `listener` until `stopped` turns true (or its sender is gone).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: FrontDoor,
    mut stopped: watch::Receiver<bool>,
) {
    // The semaphore's permits are the connections that may still be opened; it is also how
    // shutdown waits for the open ones to end.
    let max = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(max as usize));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(READ_BUFFER);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = until_stopped(&mut stopped) => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            _ = until_stopped(&mut stopped) => break,
        };
        // Answers are small and written at once: do not hold them back for more.
        let _ = stream.set_nodelay(true);
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let mut stop = stopped.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = until_stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            // A client going away or timing out is not the server's problem.
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    // Every connection gives its slot back when it ends.
    let _ = slots.acquire_many(max).await;
}

/// Returns once the stop switch is on (or gone).
pub(super) async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// Accepting fails when a client gave up before being accepted (harmless) or when the process
/// is out of file descriptors: then wait a little rather than spin.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted => {
            tracing::debug!(error = %e, "a client left before it was accepted");
        }
        _ => {
            tracing::warn!(error = %e, "cannot accept connections; trying again in a second");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
