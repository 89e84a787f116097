//! The GitHub REST client keyroll's executor uses: requests as the App (JWT) or as one of its
//! installations (cached installation token), with a whole-request timeout, retries of
//! server errors and timeouts, rate limits waited out, typed errors and call metrics.
//!
//! octocrab is only the transport: requests are built and their responses read here, so the
//! status of every response is classified by this module and not turned into octocrab errors.
//! Tokens and JWTs travel in the Authorization header only; no error, log line or Debug
//! output carries them, nor a request body.
//!
//! Retries: a 5xx, a timeout or a transport error is tried again up to `retries` times after
//! `backoff`, doubling, with a little jitter, when sending the request twice does no more than
//! sending it once (see `repeatable`). A POST that makes a comment, an issue, a pull request or
//! a check run may have been carried out when it timed out or got a 5xx: it is not sent again
//! here but fails as transient, and the effect that asked for it is tried again later by the
//! outbox, which finds what the first request made before it creates. A rate limit (429; a 403 with `retry-after`, with
//! `x-ratelimit-remaining: 0`, or naming a secondary rate limit) is waited out when the wait
//! is at most `max_rate_limit_wait`, and fails as `RateLimited` otherwise. Other refusals
//! (401, 403, 404, 409, 422) are returned at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, USER_AGENT};
use http::{HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use octocrab::{OctoBody, Octocrab};
use serde_json::Value;
use zeroize::Zeroizing;

use super::app_auth::{AppKey, AuthError, InstallationToken, TokenCache};
use crate::runtime::Clock;

const API_VERSION: &str = "2022-11-28";
const MEDIA_TYPE: &str = "application/vnd.github+json";
/// GitHub's advice for a secondary rate limit that names no wait: at least a minute.
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// Rate-limit waits per request, whatever their length: a server that keeps answering
/// "retry after 0" must not hold a request forever.
const MAX_RATE_LIMIT_WAITS: u32 = 5;
/// Longest connect before the transport gives up (the whole-request timeout may be longer).
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// One attempt, from sending the request to the end of the response body.
    pub timeout: Duration,
    /// Further attempts after a 5xx, a timeout or a transport error.
    pub retries: u32,
    /// The wait before the first retry; it doubles for each further one.
    pub backoff: Duration,
    /// The longest rate-limit wait honoured; a longer one fails with `RateLimited`.
    pub max_rate_limit_wait: Duration,
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(500),
            max_rate_limit_wait: Duration::from_secs(15 * 60),
            user_agent: format!("keyroll/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiMetrics {
    /// Requests sent, by outcome label: "2xx", "3xx", "4xx", "5xx", "rate_limited", "timeout",
    /// "transport".
    pub calls: BTreeMap<String, u64>,
    /// The last `x-ratelimit-remaining` seen, and its `x-ratelimit-reset` (unix seconds).
    pub rate_limit_remaining: Option<u64>,
    pub rate_limit_reset: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "GitHub {method} {path}: not found (404): it does not exist, or the App's installation cannot see it"
    )]
    NotFound { method: Method, path: String },
    #[error(
        "GitHub {method} {path}: forbidden (403): {message}; the App lacks a permission or access to this resource"
    )]
    Forbidden {
        method: Method,
        path: String,
        message: String,
    },
    #[error("GitHub {method} {path}: unauthorized (401): GitHub refused the App's credentials")]
    Unauthorized { method: Method, path: String },
    #[error("GitHub {method} {path}: unprocessable (422): {message}")]
    Unprocessable {
        method: Method,
        path: String,
        message: String,
    },
    #[error("GitHub {method} {path}: conflict (409): {message}")]
    Conflict {
        method: Method,
        path: String,
        message: String,
    },
    #[error("GitHub {method} {path}: unexpected status {status}: {message}")]
    OtherStatus {
        method: Method,
        path: String,
        status: u16,
        message: String,
    },
    #[error(
        "GitHub {method} {path}: rate limited; GitHub asks for a wait of {wait_secs} s, more than keyroll waits for one request"
    )]
    RateLimited {
        method: Method,
        path: String,
        wait_secs: u64,
    },
    #[error("GitHub {method} {path}: server error {status}, on every attempt")]
    Server {
        method: Method,
        path: String,
        status: u16,
    },
    #[error("GitHub {method} {path}: timed out, on every attempt")]
    Timeout { method: Method, path: String },
    #[error("GitHub {method} {path}: could not reach GitHub: {message}")]
    Transport {
        method: Method,
        path: String,
        message: String,
    },
    #[error("GitHub {method} {path}: the response is not the expected JSON: {message}")]
    Decode {
        method: Method,
        path: String,
        message: String,
    },
    /// A `Link: rel="next"` that points outside the API base URL: it is not followed, since
    /// the installation token would go with it.
    #[error("GitHub {method} {path}: the next page's link leaves the API URL")]
    ForeignLink { method: Method, path: String },
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("bad GitHub API URL {url:?}: {reason}")]
    BadUrl { url: String, reason: &'static str },
    /// The HTTP client could not be built (no Tokio runtime, no TLS roots).
    #[error("cannot set up the GitHub client: {reason}")]
    Setup { reason: String },
}

impl ApiError {
    /// Whether a later attempt (a tick from now) could succeed: server errors, timeouts,
    /// transport failures and rate limits pass; a refusal (401, 403, 404, 409, 422) or a
    /// broken configuration stays until someone changes something.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ApiError::Server { .. }
                | ApiError::Timeout { .. }
                | ApiError::Transport { .. }
                | ApiError::RateLimited { .. }
        )
    }

    /// The HTTP status GitHub answered with, where the error is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::NotFound { .. } => Some(404),
            ApiError::Forbidden { .. } => Some(403),
            ApiError::Unauthorized { .. } => Some(401),
            ApiError::Unprocessable { .. } => Some(422),
            ApiError::Conflict { .. } => Some(409),
            ApiError::OtherStatus { status, .. } | ApiError::Server { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The GitHub API client of one App. Cloning is cheap and shares the token cache and the
/// metrics.
#[derive(Clone)]
pub struct GitHub {
    inner: Arc<Inner>,
}

struct Inner {
    app: AppKey,
    crab: Octocrab,
    /// Scheme, authority and path prefix, without a trailing '/'.
    base: String,
    options: ClientOptions,
    clock: Arc<dyn Clock>,
    tokens: TokenCache,
    metrics: Mutex<ApiMetrics>,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.inner.base)
            .field("app", &self.inner.app)
            .field("options", &self.inner.options)
            .field("tokens", &self.inner.tokens)
            .finish_non_exhaustive()
    }
}

/// What a request is authenticated with.
enum Credential<'a> {
    /// A JWT signed for each attempt, so a long rate-limit wait cannot outlive it.
    AppJwt,
    Token(&'a str),
}

/// A response as read off the wire.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// One page of a list: its JSON body and the request path of the next page (from GitHub's
/// `Link` header), if there is one.
#[derive(Debug)]
pub struct Page {
    pub body: Value,
    pub next: Option<String>,
}

/// What one attempt came to.
enum Attempt {
    Reply(Reply),
    TimedOut,
    Transport(String),
}

impl GitHub {
    /// A client for the API at `api_url` (`https://api.github.com`, or a GitHub Enterprise
    /// Server's `https://host/api/v3`). Must be called inside a Tokio runtime: the transport
    /// starts a background task.
    pub fn new(
        app: AppKey,
        api_url: &str,
        options: ClientOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<GitHub, ApiError> {
        let base = parse_base_url(api_url)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ApiError::Setup {
                reason: "GitHub::new must be called inside a Tokio runtime".into(),
            });
        }
        // The attempt timeout (tokio) is what bounds a request; the transport's own read and
        // write timeouts are a backstop set a little later, so a slow reply is reported as a
        // timeout and not as a transport error.
        let backstop = options.timeout.saturating_add(Duration::from_secs(1));
        let crab = Octocrab::builder()
            .base_uri(base.as_str())
            .map_err(|e| ApiError::Setup {
                reason: e.to_string(),
            })?
            .set_connect_timeout(Some(options.timeout.min(MAX_CONNECT_TIMEOUT)))
            .set_read_timeout(Some(backstop))
            .set_write_timeout(Some(backstop))
            .build()
            .map_err(|e| ApiError::Setup {
                reason: error_chain(&e),
            })?;
        Ok(GitHub {
            inner: Arc::new(Inner {
                app,
                crab,
                base,
                options,
                clock,
                tokens: TokenCache::new(),
                metrics: Mutex::new(ApiMetrics::default()),
            }),
        })
    }

    /// A handle for requests as installation `installation_id`; its token is fetched on first
    /// use.
    pub fn installation(&self, installation_id: u64) -> Installation {
        Installation {
            github: self.clone(),
            id: installation_id,
        }
    }

    /// JWT-authenticated request as the App itself (GET /app, GET /app/installations...).
    pub async fn app_request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        self.send(method, path, body, Credential::AppJwt).await
    }

    /// One page of a list as the App itself; follow `Page::next` for the rest.
    pub async fn app_page(&self, path: &str) -> Result<Page, ApiError> {
        self.send_page(Method::GET, path, None, Credential::AppJwt)
            .await
    }

    /// A snapshot of the call counts and the last rate-limit headers.
    pub fn metrics(&self) -> ApiMetrics {
        self.lock_metrics().clone()
    }

    fn lock_metrics(&self) -> std::sync::MutexGuard<'_, ApiMetrics> {
        // Every update is a counter bump or a field store, so a poisoned lock holds
        // consistent numbers.
        self.inner
            .metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, outcome: &str, headers: Option<&HeaderMap>) {
        let mut metrics = self.lock_metrics();
        *metrics.calls.entry(outcome.to_owned()).or_insert(0) += 1;
        if let Some(headers) = headers
            && let Some(remaining) = header_num::<u64>(headers, "x-ratelimit-remaining")
        {
            metrics.rate_limit_remaining = Some(remaining);
            metrics.rate_limit_reset = header_num::<i64>(headers, "x-ratelimit-reset");
        }
    }

    /// A fresh installation token from GitHub.
    async fn fetch_installation_token(
        &self,
        installation_id: u64,
    ) -> Result<InstallationToken, ApiError> {
        let path = format!("/app/installations/{installation_id}/access_tokens");
        let body = self
            .send(Method::POST, &path, None, Credential::AppJwt)
            .await?;
        Ok(InstallationToken::from_response(&body)?)
    }

    async fn installation_token(
        &self,
        installation_id: u64,
    ) -> Result<Zeroizing<String>, ApiError> {
        self.inner
            .tokens
            .token(installation_id, self.inner.clock.as_ref(), || {
                self.fetch_installation_token(installation_id)
            })
            .await
    }

    /// Sends a request, retrying and waiting out rate limits (see the module documentation),
    /// and reads the JSON answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        credential: Credential<'_>,
    ) -> Result<Value, ApiError> {
        Ok(self.send_page(method, path, body, credential).await?.body)
    }

    /// [`Self::send`], keeping where the next page of a list is.
    async fn send_page(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        credential: Credential<'_>,
    ) -> Result<Page, ApiError> {
        let uri = self.request_uri(path)?;
        // Serialized once: every attempt sends the same bytes.
        let body = match body {
            Some(value) => Some(Zeroizing::new(serde_json::to_string(value).map_err(
                |e| ApiError::Decode {
                    method: method.clone(),
                    path: path.to_owned(),
                    message: format!("the request body cannot be serialized: {e}"),
                },
            )?)),
            None => None,
        };
        let options = &self.inner.options;
        let mut failures = 0u32;
        let mut rate_limit_waits = 0u32;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let bearer = match &credential {
                Credential::AppJwt => self.inner.app.jwt(self.inner.clock.now())?,
                Credential::Token(token) => Zeroizing::new((*token).to_owned()),
            };
            let outcome = self
                .attempt(&method, &uri, body.as_deref().map(String::as_str), &bearer)
                .await;
            let retryable = match outcome {
                Attempt::TimedOut => {
                    self.record("timeout", None);
                    tracing::debug!(%method, path, attempt, "GitHub API call timed out");
                    ApiError::Timeout {
                        method: method.clone(),
                        path: path.to_owned(),
                    }
                }
                Attempt::Transport(message) => {
                    self.record("transport", None);
                    tracing::debug!(%method, path, attempt, "GitHub API call failed to send");
                    ApiError::Transport {
                        method: method.clone(),
                        path: path.to_owned(),
                        message,
                    }
                }
                Attempt::Reply(reply) => {
                    let status = reply.status.as_u16();
                    tracing::debug!(%method, path, status, attempt, "GitHub API call");
                    if let Some(wait) = self.rate_limit_wait(&reply) {
                        self.record("rate_limited", Some(&reply.headers));
                        rate_limit_waits += 1;
                        if wait > options.max_rate_limit_wait
                            || rate_limit_waits > MAX_RATE_LIMIT_WAITS
                        {
                            return Err(ApiError::RateLimited {
                                method,
                                path: path.to_owned(),
                                wait_secs: wait.as_secs_f64().ceil() as u64,
                            });
                        }
                        tracing::debug!(
                            %method,
                            path,
                            wait_ms = wait.as_millis() as u64,
                            "GitHub rate limit: waiting"
                        );
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    self.record(status_class(reply.status), Some(&reply.headers));
                    if reply.status.is_server_error() {
                        ApiError::Server {
                            method: method.clone(),
                            path: path.to_owned(),
                            status,
                        }
                    } else {
                        let next = link_next(&reply.headers, &self.inner.base).map_err(|()| {
                            ApiError::ForeignLink {
                                method: method.clone(),
                                path: path.to_owned(),
                            }
                        })?;
                        let body = interpret(method, path, reply)?;
                        return Ok(Page { body, next });
                    }
                }
            };
            // A request that may have been carried out is not sent again here when a second
            // one would make a second thing: the effect that asked is tried again later by the
            // outbox, and it finds what the first request made before it creates.
            if failures >= options.retries || !repeatable(&method, path) {
                return Err(retryable);
            }
            tokio::time::sleep(backoff(options.backoff, failures)).await;
            failures += 1;
        }
    }

    /// One request and its whole response, within the attempt timeout.
    async fn attempt(
        &self,
        method: &Method,
        uri: &Uri,
        body: Option<&str>,
        bearer: &str,
    ) -> Attempt {
        let request = match self.build_request(method, uri, body, bearer) {
            Ok(request) => request,
            Err(message) => return Attempt::Transport(message),
        };
        let exchange = async {
            let response = self
                .inner
                .crab
                .execute(request)
                .await
                .map_err(|e| error_chain(&e))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| error_chain(&e))?
                .to_bytes();
            Ok::<_, String>(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(self.inner.options.timeout, exchange).await {
            Err(_) => Attempt::TimedOut,
            Ok(Err(message)) => Attempt::Transport(message),
            Ok(Ok(reply)) => Attempt::Reply(reply),
        }
    }

    fn build_request(
        &self,
        method: &Method,
        uri: &Uri,
        body: Option<&str>,
        bearer: &str,
    ) -> Result<http::Request<OctoBody>, String> {
        let header = Zeroizing::new(format!("Bearer {bearer}"));
        let mut authorization = HeaderValue::from_str(&header)
            // The value itself is not shown: it holds the credential.
            .map_err(|_| "the credential is not a valid header value".to_owned())?;
        authorization.set_sensitive(true);
        let builder = http::Request::builder()
            .method(method.clone())
            .uri(uri.clone())
            .header(AUTHORIZATION, authorization)
            .header(ACCEPT, MEDIA_TYPE)
            .header("x-github-api-version", API_VERSION)
            .header(USER_AGENT, self.inner.options.user_agent.as_str());
        let request = match body {
            Some(body) => builder
                .header(CONTENT_TYPE, "application/json")
                .body(OctoBody::from(body.to_owned())),
            None => builder.header(CONTENT_LENGTH, "0").body(OctoBody::empty()),
        };
        request.map_err(|e| format!("cannot build the request: {e}"))
    }

    /// The absolute URI of `path` under the base URL. Giving the transport an absolute URI
    /// whose path already carries the base's prefix keeps it from adding the prefix again.
    fn request_uri(&self, path: &str) -> Result<Uri, ApiError> {
        if !path.starts_with('/') {
            return Err(ApiError::BadUrl {
                url: path.to_owned(),
                reason: "a request path must start with '/'",
            });
        }
        Uri::try_from(format!("{}{path}", self.inner.base)).map_err(|_| ApiError::BadUrl {
            url: path.to_owned(),
            reason: "not a valid request path",
        })
    }

    /// How long to wait before trying again, if the reply is a rate limit.
    fn rate_limit_wait(&self, reply: &Reply) -> Option<Duration> {
        let status = reply.status;
        if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::FORBIDDEN {
            return None;
        }
        if let Some(seconds) = header_num::<u64>(&reply.headers, "retry-after") {
            return Some(Duration::from_secs(seconds));
        }
        if header_num::<u64>(&reply.headers, "x-ratelimit-remaining") == Some(0) {
            // The primary limit: used up until the reset time, measured on our clock.
            let reset = header_num::<i64>(&reply.headers, "x-ratelimit-reset")
                .and_then(|r| time::OffsetDateTime::from_unix_timestamp(r).ok());
            let Some(reset) = reset else {
                return Some(SECONDARY_LIMIT_WAIT);
            };
            let wait = reset - self.inner.clock.now();
            return Some(if wait.is_positive() {
                wait.unsigned_abs()
            } else {
                Duration::ZERO
            });
        }
        if status == StatusCode::TOO_MANY_REQUESTS
            || github_message(&reply.body)
                .is_some_and(|m| m.to_lowercase().contains("secondary rate limit"))
        {
            return Some(SECONDARY_LIMIT_WAIT);
        }
        None
    }
}

/// Requests as one installation of the App. Cheap to clone; shares the client's token cache.
#[derive(Debug, Clone)]
pub struct Installation {
    github: GitHub,
    id: u64,
}

impl Installation {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// `path` starts with '/' and may carry a query string; it is appended to the API base URL
    /// (which may have a path prefix, as GitHub Enterprise Server's `https://host/api/v3` does).
    /// Returns the parsed JSON body, or `Value::Null` for 204 / empty bodies.
    ///
    /// A 401 means GitHub no longer takes the token (revoked, or a new token not yet known
    /// everywhere): the token is dropped, a new one fetched, and the request sent once more.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        Ok(self.request_page(method, path, body).await?.body)
    }

    /// [`Self::request`], keeping where the next page of a list is (`Page::next`, a path to
    /// pass back here).
    pub async fn request_page(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Page, ApiError> {
        let token = self.github.installation_token(self.id).await?;
        match self
            .github
            .send_page(method.clone(), path, body, Credential::Token(&token))
            .await
        {
            Err(ApiError::Unauthorized { .. }) => {
                self.github.inner.tokens.invalidate(self.id, &token).await;
                let token = self.github.installation_token(self.id).await?;
                self.github
                    .send_page(method, path, body, Credential::Token(&token))
                    .await
            }
            other => other,
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.request(Method::GET, path, None).await
    }
}

/// Whether sending `method path` twice does no more than sending it once, so a request that
/// timed out or got a 5xx (and may have been carried out) can simply be sent again. Every
/// method but POST is (GET reads; PUT, PATCH and DELETE set a state). A POST is when it makes
/// a git object (named by its content: the same one again), a token, a reaction (GitHub keeps
/// one of a kind per account) or is keyroll's one GraphQL call (marking a draft ready). A
/// POST that makes a comment, an issue, a pull request, a check run or a status is not.
fn repeatable(method: &Method, path: &str) -> bool {
    if method != Method::POST {
        return true;
    }
    let path = path.split('?').next().unwrap_or(path);
    path == "/graphql"
        || path.ends_with("/access_tokens")
        || path.ends_with("/reactions")
        || ["/git/blobs", "/git/trees", "/git/commits"]
            .iter()
            .any(|kind| path.ends_with(kind))
}

/// The wait before retry number `failures + 1`: `first`, doubled per earlier retry, plus up to
/// a tenth more at random so clients that failed together do not retry together.
fn backoff(first: Duration, failures: u32) -> Duration {
    let base = first.saturating_mul(2u32.saturating_pow(failures));
    let mut raw = [0u8; 4];
    let jitter = getrandom::getrandom(&mut raw).map_or(0.0, |()| {
        f64::from(u32::from_le_bytes(raw)) / f64::from(u32::MAX)
    });
    let extra = Duration::try_from_secs_f64(base.as_secs_f64() * jitter / 10.0).unwrap_or_default();
    base.saturating_add(extra)
}

/// A final (non-retried) reply as a value or an error.
fn interpret(method: Method, path: &str, reply: Reply) -> Result<Value, ApiError> {
    let path = path.to_owned();
    let status = reply.status;
    if status.is_success() {
        if status == StatusCode::NO_CONTENT || reply.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(&reply.body).map_err(|e| ApiError::Decode {
            method,
            path,
            message: e.to_string(),
        });
    }
    let message = error_message(&reply.body);
    Err(match status {
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized { method, path },
        StatusCode::FORBIDDEN => ApiError::Forbidden {
            method,
            path,
            message,
        },
        StatusCode::NOT_FOUND => ApiError::NotFound { method, path },
        StatusCode::CONFLICT => ApiError::Conflict {
            method,
            path,
            message,
        },
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable {
            method,
            path,
            message,
        },
        _ => ApiError::OtherStatus {
            method,
            path,
            status: status.as_u16(),
            message,
        },
    })
}

/// The request path of the `rel="next"` link in a `Link` header, relative to the API base
/// URL `base` (GitHub sends absolute URLs). `Err` when the link points anywhere else.
fn link_next(headers: &HeaderMap, base: &str) -> Result<Option<String>, ()> {
    let Some(link) = headers
        .get(http::header::LINK)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    next_of(link)
        .map(|url| match url.strip_prefix(base) {
            Some(path) if path.starts_with('/') => Ok(path.to_owned()),
            _ => Err(()),
        })
        .transpose()
}

/// The URL of the `rel="next"` entry of a `Link` header value
/// (`<url>; rel="prev", <url>; rel="next"`).
fn next_of(link: &str) -> Option<&str> {
    link.split(',').find_map(|entry| {
        let (url, params) = entry.trim().split_once(';')?;
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("rel="))
            .flat_map(|rels| rels.trim_matches('"').split_whitespace())
            .any(|rel| rel == "next")
            .then_some(url)
    })
}

/// GitHub's `message` in an error body.
fn github_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("message")?.as_str().map(str::to_owned)
}

/// An error body as one line: GitHub's `message`, then each of its `errors` (a string, or an
/// object with a `message` and/or `code` and the `field` it concerns).
fn error_message(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return "(no JSON error message)".to_owned();
    };
    let mut text = value
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("(no message)")
        .to_owned();
    let details: Vec<String> = value
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| errors.iter().filter_map(error_detail).collect())
        .unwrap_or_default();
    if !details.is_empty() {
        text.push_str(" (");
        text.push_str(&details.join("; "));
        text.push(')');
    }
    text
}

fn error_detail(error: &Value) -> Option<String> {
    if let Some(s) = error.as_str() {
        return Some(s.to_owned());
    }
    let field = |name: &str| error.get(name).and_then(Value::as_str);
    let what = match (field("message"), field("code")) {
        (Some(message), Some(code)) => format!("{message} [{code}]"),
        (Some(message), None) => message.to_owned(),
        (None, Some(code)) => code.to_owned(),
        (None, None) => return None,
    };
    Some(match (field("resource"), field("field")) {
        (Some(resource), Some(name)) => format!("{resource}.{name}: {what}"),
        (None, Some(name)) => format!("{name}: {what}"),
        _ => what,
    })
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

fn header_num<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// An error and its causes on one line (transport errors wrap the useful part).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// The API base URL checked and normalised: http or https, a host, an optional path prefix,
/// no query; returned without a trailing '/'.
fn parse_base_url(url: &str) -> Result<String, ApiError> {
    let url = url.trim();
    let bad = |reason| ApiError::BadUrl {
        // A URL with user info may hold a password; it is not repeated.
        url: if url.contains('@') {
            "<redacted>".to_owned()
        } else {
            url.to_owned()
        },
        reason,
    };
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let scheme = match uri.scheme_str() {
        Some(scheme @ ("https" | "http")) => scheme,
        _ => return Err(bad("it must start with https:// or http://")),
    };
    let authority = uri.authority().ok_or_else(|| bad("it has no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("it must not carry credentials"));
    }
    if uri.query().is_some() {
        return Err(bad("it must not have a query string"));
    }
    let prefix = uri.path().trim_end_matches('/');
    Ok(format!("{scheme}://{authority}{prefix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(http::header::LINK, v);
        }
        h
    }

    #[test]
    fn the_next_link_becomes_a_path_under_the_base() {
        let base = "https://ghe.example/api/v3";
        let h = link(
            "<https://ghe.example/api/v3/repos/o/r/issues/1/comments?per_page=100&page=1>; rel=\"prev\", \
             <https://ghe.example/api/v3/repos/o/r/issues/1/comments?per_page=100&page=3>; rel=\"next\", \
             <https://ghe.example/api/v3/repos/o/r/issues/1/comments?per_page=100&page=9>; rel=\"last\"",
        );
        assert_eq!(
            link_next(&h, base),
            Ok(Some(
                "/repos/o/r/issues/1/comments?per_page=100&page=3".to_owned()
            ))
        );
    }

    #[test]
    fn the_last_page_has_no_next() {
        let h = link("<https://api.github.com/x?page=1>; rel=\"first\"");
        assert_eq!(link_next(&h, "https://api.github.com"), Ok(None));
        assert_eq!(
            link_next(&HeaderMap::new(), "https://api.github.com"),
            Ok(None)
        );
    }

    #[test]
    fn a_next_link_elsewhere_is_not_followed() {
        for url in [
            "https://evil.example/repos/o/r/pulls?page=2",
            "https://api.github.com.evil.example/repos?page=2",
            "http://api.github.com/repos?page=2",
        ] {
            let h = link(&format!("<{url}>; rel=\"next\""));
            assert_eq!(link_next(&h, "https://api.github.com"), Err(()), "{url}");
        }
    }
}
