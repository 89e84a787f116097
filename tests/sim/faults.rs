//! Faults a test injects into the API: server errors, slow answers, rate limits and
//! permission refusals, each for the next `times` requests that match.

use std::time::Duration;

use http::Method;
use serde_json::json;

use super::state::now;

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// A 5xx (or any) status with a JSON message; nothing happens.
    Status(u16),
    /// The request is carried out as usual but answered only after the delay (a slow
    /// GitHub: a client that times out first does not know that it happened).
    Delay(Duration),
    /// Nothing happens; after the delay GitHub gives up with its 502 "We couldn't respond to
    /// your request in time".
    Timeout(Duration),
    /// 429 with `retry-after`.
    TooManyRequests { retry_after_secs: u64 },
    /// 403 "You have exceeded a secondary rate limit" with `retry-after`.
    SecondaryRateLimit { retry_after_secs: u64 },
    /// 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`.
    PrimaryRateLimit { reset_in_secs: u64 },
    /// 403 "Resource not accessible by integration".
    Forbidden,
}

/// A fault for the next `times` requests whose method matches (any when `None`) and whose
/// path contains `path_contains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub method: Option<Method>,
    pub path_contains: String,
    pub times: u32,
    pub kind: FaultKind,
}

impl Fault {
    pub fn new(method: Option<Method>, path_contains: &str, times: u32, kind: FaultKind) -> Self {
        Fault {
            method,
            path_contains: path_contains.to_owned(),
            times,
            kind,
        }
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        self.times > 0
            && self.method.as_ref().is_none_or(|m| m == method)
            && path.contains(&self.path_contains)
    }
}

/// Takes one use of the first fault matching the request.
pub fn take(faults: &mut Vec<Fault>, method: &Method, path: &str) -> Option<FaultKind> {
    let i = faults.iter().position(|f| f.matches(method, path))?;
    let kind = faults[i].kind.clone();
    faults[i].times -= 1;
    if faults[i].times == 0 {
        faults.remove(i);
    }
    Some(kind)
}

/// An answer made up by a fault: status, JSON body, extra headers.
pub type Answer = (u16, serde_json::Value, Vec<(String, String)>);

/// An injected answer. `None` for `Delay` (answered normally).
pub fn answer(kind: &FaultKind, installation_id: u64) -> Option<Answer> {
    let docs = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api";
    let secondary = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.";
    match kind {
        FaultKind::Delay(_) => None,
        FaultKind::Timeout(_) => Some((
            502,
            json!({
                "message": "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request and contact us if the problem persists.",
                "documentation_url": "https://docs.github.com/rest",
                "status": "502",
            }),
            Vec::new(),
        )),
        FaultKind::Status(code) => {
            let reason = http::StatusCode::from_u16(*code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Server Error");
            Some((
                *code,
                json!({ "message": reason, "documentation_url": "https://docs.github.com/rest", "status": code.to_string() }),
                Vec::new(),
            ))
        }
        FaultKind::TooManyRequests { retry_after_secs } => Some((
            429,
            json!({ "message": secondary, "documentation_url": docs, "status": "429" }),
            vec![("retry-after".to_owned(), retry_after_secs.to_string())],
        )),
        FaultKind::SecondaryRateLimit { retry_after_secs } => Some((
            403,
            json!({ "message": secondary, "documentation_url": docs, "status": "403" }),
            vec![("retry-after".to_owned(), retry_after_secs.to_string())],
        )),
        FaultKind::PrimaryRateLimit { reset_in_secs } => {
            let reset = now().unix_timestamp() + i64::try_from(*reset_in_secs).unwrap_or(0);
            Some((
                403,
                json!({
                    "message": format!("API rate limit exceeded for installation ID {installation_id}. If you reach out to GitHub Support for help, please include the request ID."),
                    "documentation_url": docs,
                    "status": "403",
                }),
                vec![
                    ("x-ratelimit-remaining".to_owned(), "0".to_owned()),
                    ("x-ratelimit-used".to_owned(), "5000".to_owned()),
                    ("x-ratelimit-reset".to_owned(), reset.to_string()),
                ],
            ))
        }
        FaultKind::Forbidden => Some((
            403,
            json!({
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest",
                "status": "403",
            }),
            Vec::new(),
        )),
    }
}

/// How long the answer waits.
pub fn delay(kind: &FaultKind) -> Option<Duration> {
    match kind {
        FaultKind::Delay(d) | FaultKind::Timeout(d) => Some(*d),
        _ => None,
    }
}
