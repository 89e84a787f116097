//! Reading a request body before anyone can know whether it is signed: within a size cap per
//! request, a budget of bytes shared by all requests, and a time limit.
//!
//! - A request that declares (`Content-Length`) more than the cap is refused before a byte
//!   of its body is read.
//! - Buffered bytes are counted as the memory reserved for them, taken from the shared
//!   budget as the body grows; when the budget is spent the request is refused at once
//!   rather than waiting, so the budget bounds the memory unverified bodies can hold
//!   however many clients send them. A body's bytes go back to the budget when its request
//!   has been answered (a verified delivery's once it is stored).
//! - The whole body must arrive within the body timeout: a client trickling bytes cannot hold
//!   its share of the budget, or its connection, for longer.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody as _};
use http_body_util::BodyExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The first reservation for a body of unknown length.
const FIRST_CHUNK: usize = 16 * 1024;

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Over the per-request cap (declared or sent).
    TooLarge,
    /// The shared budget is spent: other bodies are being read.
    Busy,
    /// Not all of it arrived within the body timeout.
    TooSlow,
    /// The client broke off or sent something that is not HTTP.
    Unreadable,
}

/// The limits on reading bodies and the budget they share.
#[derive(Debug, Clone)]
pub struct BodyReader {
    max_body: usize,
    timeout: Duration,
    budget: Arc<Semaphore>,
}

/// A body in memory, holding its share of the budget until dropped.
#[derive(Debug)]
pub struct Buffered {
    pub bytes: Bytes,
    _held: Option<OwnedSemaphorePermit>,
}

impl BodyReader {
    /// `budget` is in bytes; values beyond what a semaphore can count are clamped.
    pub fn new(max_body: usize, budget: usize, timeout: Duration) -> Self {
        Self {
            max_body,
            timeout,
            budget: Arc::new(Semaphore::new(budget.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// Reads the whole body, or says why not.
    pub async fn read(&self, body: Body) -> Result<Buffered, Refused> {
        let hint = body.size_hint();
        if usize::try_from(hint.lower()).map_or(true, |n| n > self.max_body) {
            return Err(Refused::TooLarge);
        }
        // What the client declared bounds the buffer (never above the cap).
        let limit = hint
            .upper()
            .and_then(|n| usize::try_from(n).ok())
            .map_or(self.max_body, |n| n.min(self.max_body));
        tokio::time::timeout(self.timeout, self.collect(body, limit))
            .await
            .unwrap_or(Err(Refused::TooSlow))
    }

    async fn collect(&self, mut body: Body, limit: usize) -> Result<Buffered, Refused> {
        let mut buf: Vec<u8> = Vec::new();
        let mut held: Option<OwnedSemaphorePermit> = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| Refused::Unreadable)?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers: nothing keyroll reads
            };
            let needed = buf
                .len()
                .checked_add(data.len())
                .filter(|n| *n <= self.max_body)
                .ok_or(Refused::TooLarge)?;
            if needed > buf.capacity() {
                let target = grown(buf.capacity(), needed, limit);
                let reserved = held.as_ref().map_or(0, OwnedSemaphorePermit::num_permits);
                let more = target.saturating_sub(reserved);
                let more = u32::try_from(more).map_err(|_| Refused::TooLarge)?;
                let permit = self
                    .budget
                    .clone()
                    .try_acquire_many_owned(more)
                    .map_err(|_| Refused::Busy)?;
                match held.as_mut() {
                    Some(h) => h.merge(permit),
                    None => held = Some(permit),
                }
                buf.reserve_exact(target.saturating_sub(buf.len()));
            }
            buf.extend_from_slice(&data);
        }
        Ok(Buffered {
            bytes: Bytes::from(buf),
            _held: held,
        })
    }
}

/// The next capacity of a body's buffer: doubling (so copies stay linear), never above what
/// the client declared or the cap (`limit`), never below what is `needed`.
fn grown(capacity: usize, needed: usize, limit: usize) -> usize {
    let doubled = if capacity == 0 {
        FIRST_CHUNK
    } else {
        capacity.saturating_mul(2)
    };
    doubled.min(limit).max(needed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_grows_by_doubling_within_what_was_declared() {
        assert_eq!(grown(0, 10, 1000), 1000.min(FIRST_CHUNK));
        assert_eq!(grown(0, 10, 1 << 20), FIRST_CHUNK);
        assert_eq!(
            grown(FIRST_CHUNK, FIRST_CHUNK + 1, 1 << 20),
            2 * FIRST_CHUNK
        );
        assert_eq!(grown(1 << 19, (1 << 19) + 1, 600_000), 600_000);
        // A client sending more than it declared still gets what the cap allows.
        assert_eq!(grown(100, 150, 100), 150);
    }

    /// A body that yields `chunks` one frame each.
    struct Chunks(std::collections::VecDeque<Bytes>);

    impl hyper::body::Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(hyper::body::Frame::data(b))))
        }
    }

    fn body_of(chunks: &[&'static [u8]]) -> Body {
        Body::new(Chunks(
            chunks.iter().map(|c| Bytes::from_static(c)).collect(),
        ))
    }

    #[tokio::test]
    async fn the_budget_is_shared_and_given_back() {
        let reader = BodyReader::new(100, 150, Duration::from_secs(5));
        let a = reader.read(body_of(&[&[1; 60], &[2; 40]])).await.unwrap();
        assert_eq!(a.bytes.len(), 100);
        // 100 of 150 are held by `a`: another 100 do not fit.
        assert_eq!(
            reader.read(body_of(&[&[3; 100]])).await.unwrap_err(),
            Refused::Busy
        );
        drop(a);
        assert_eq!(
            reader
                .read(body_of(&[&[3; 100]]))
                .await
                .unwrap()
                .bytes
                .len(),
            100
        );
        assert_eq!(
            reader
                .read(body_of(&[&[4; 70], &[5; 70]]))
                .await
                .unwrap_err(),
            Refused::TooLarge
        );
        assert_eq!(reader.budget.available_permits(), 150);
    }
}
