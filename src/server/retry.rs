//! What to do after an attempt at a delivery failed: the one place that tells a passing
//! failure (try again later) from a lasting one (record it and go on), and the back-off
//! between attempts. Pure: the worker applies what this decides.

use std::time::Duration;

use time::OffsetDateTime;

use super::StartError;

/// How an attempt at a unit of work failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Could succeed later unchanged: GitHub unreachable, a 5xx after the client's own
    /// retries, a rate limit, a busy database.
    Transient(String),
    /// Will fail the same way until someone changes something (a refusal, a broken config,
    /// a repository keyroll is not installed on): recorded as the delivery's outcome.
    Permanent(String),
    /// The code handling it panicked. Counted as an attempt and retried like a transient
    /// failure: the panic may come from a passing state, and if it does not the delivery
    /// is parked, not lost.
    Panic(String),
}

impl Failure {
    pub fn of(error: &StartError) -> Self {
        if error.is_transient() {
            Failure::Transient(error.to_string())
        } else {
            Failure::Permanent(error.to_string())
        }
    }

    /// Text for the store and the logs.
    pub fn message(&self) -> &str {
        match self {
            Failure::Transient(m) | Failure::Permanent(m) | Failure::Panic(m) => m,
        }
    }
}

impl StartError {
    /// Whether trying the same thing again later could succeed.
    pub fn is_transient(&self) -> bool {
        use crate::github::rest::RestError;
        match self {
            StartError::Api(RestError::Api(e)) => e.is_transient(),
            StartError::Api(_) => false,
            StartError::Store(e) => e.is_transient(),
            StartError::Runtime(crate::runtime::RuntimeError::Store(e)) => e.is_transient(),
            // An effect failed: the runtime keeps it in the outbox and backs off on its own.
            StartError::Runtime(_) => true,
            StartError::NotInstalled(_)
            | StartError::Config { .. }
            | StartError::NoCredential(_) => false,
        }
    }
}

/// How often and how far apart deliveries are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; each further one doubles it.
    pub first_wait: Duration,
    pub max_wait: Duration,
    /// Attempts before a delivery is parked.
    pub attempts: u32,
}

impl Default for RetryPolicy {
    /// 10 s, 20 s, ... capped at 10 min: eight attempts cover about 20 minutes of outage.
    fn default() -> Self {
        Self {
            first_wait: Duration::from_secs(10),
            max_wait: Duration::from_secs(600),
            attempts: 8,
        }
    }
}

/// What becomes of a delivery whose attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Tried again, not before then; `attempts` failed so far.
    RetryAt { attempts: u32, at: OffsetDateTime },
    /// Had all its attempts: kept aside until an operator asks or keyroll restarts.
    Park { attempts: u32 },
    /// A lasting failure: recorded as its outcome, done.
    Give { outcome: String },
}

impl RetryPolicy {
    /// The wait after `failed` attempts (1 for the first failure), doubling, capped.
    pub fn wait(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(31);
        self.first_wait
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max_wait)
            .min(self.max_wait)
    }

    /// Decides what comes after an attempt that failed, `before` attempts having failed
    /// earlier.
    pub fn after(&self, failure: &Failure, before: u32, now: OffsetDateTime) -> Next {
        if let Failure::Permanent(m) = failure {
            return Next::Give {
                outcome: format!("failed: {m}"),
            };
        }
        let attempts = before.saturating_add(1);
        if attempts >= self.attempts {
            return Next::Park { attempts };
        }
        let wait = time::Duration::try_from(self.wait(attempts)).unwrap_or(time::Duration::ZERO);
        Next::RetryAt {
            attempts,
            at: now.checked_add(wait).unwrap_or(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_never_overflow() {
        let p = RetryPolicy::default();
        let waits: Vec<u64> = (1..=8).map(|n| p.wait(n).as_secs()).collect();
        assert_eq!(waits, vec![10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(p.wait(u32::MAX), p.max_wait);
        assert_eq!(p.wait(0), p.first_wait);
    }

    #[test]
    fn transient_failures_and_panics_are_retried_then_parked() {
        let p = RetryPolicy::default();
        let now = OffsetDateTime::UNIX_EPOCH;
        let t = Failure::Transient("GitHub is down".into());
        assert_eq!(
            p.after(&t, 0, now),
            Next::RetryAt {
                attempts: 1,
                at: now + time::Duration::seconds(10)
            }
        );
        assert_eq!(
            p.after(&Failure::Panic("boom".into()), 6, now),
            Next::RetryAt {
                attempts: 7,
                at: now + time::Duration::seconds(600)
            }
        );
        assert_eq!(p.after(&t, 7, now), Next::Park { attempts: 8 });
        assert_eq!(
            p.after(&t, u32::MAX, now),
            Next::Park { attempts: u32::MAX }
        );
        // A time at the end of the calendar does not overflow.
        let end = time::PrimitiveDateTime::MAX.assume_utc();
        assert!(matches!(p.after(&t, 0, end), Next::RetryAt { .. }));
    }

    #[test]
    fn lasting_failures_are_recorded_not_retried() {
        let p = RetryPolicy::default();
        let next = p.after(
            &Failure::Permanent("no credential x".into()),
            0,
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(
            next,
            Next::Give {
                outcome: "failed: no credential x".into()
            }
        );
    }
}
