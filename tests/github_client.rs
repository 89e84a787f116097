//! The GitHub API client against a mock GitHub (wiremock): the App JWT and its signature,
//! installation tokens fetched once, shared, refreshed near expiry and after a 401; retries of
//! 5xx and timeouts; rate limits waited out or refused; refusals surfaced without retry;
//! metrics; a base URL with a path prefix; lists read page by page (and where that stops);
//! a truncated tree reported; and no token or JWT in any Debug or error text.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Method;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keyroll::github::app_auth::{AppKey, AuthError, InstallationToken, TokenCache};
use keyroll::github::client::{ApiError, ClientOptions, GitHub};
use keyroll::github::rest::{RepoApi, RestError};
use keyroll::runtime::Clock;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const INSTALLATION: u64 = 42;
const TOKENS_PATH: &str = "/app/installations/42/access_tokens";
const START: OffsetDateTime = datetime!(2026-11-24 09:00:00 UTC);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/github-app/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn app_key() -> AppKey {
    AppKey::from_pem("123456", &fixture("test-app-key.pem")).unwrap()
}

/// A clock that stands still until a test moves it.
#[derive(Debug)]
struct TestClock(Mutex<OffsetDateTime>);

impl TestClock {
    fn at(t: OffsetDateTime) -> Arc<Self> {
        Arc::new(Self(Mutex::new(t)))
    }

    fn advance(&self, by: time::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// Short waits so the file runs in seconds.
fn fast() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(2),
        retries: 2,
        backoff: Duration::from_millis(10),
        max_rate_limit_wait: Duration::from_secs(5),
        user_agent: "keyroll-test".to_owned(),
    }
}

fn client(server: &MockServer, options: ClientOptions, clock: Arc<TestClock>) -> GitHub {
    GitHub::new(app_key(), &server.uri(), options, clock).unwrap()
}

/// GitHub's token endpoint: hands out `ghs_token1`, `ghs_token2`, … each valid for an hour
/// from `START`.
struct TokenMint {
    issued: Arc<AtomicUsize>,
    expires_at: OffsetDateTime,
}

impl Respond for TokenMint {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(201).set_body_json(json!({
            "token": format!("ghs_token{n}"),
            "expires_at": self.expires_at.format(&Rfc3339).unwrap(),
            "permissions": {"contents": "write"},
        }))
    }
}

/// Mounts the token endpoint under `prefix`; returns the count of tokens issued.
async fn mount_tokens(server: &MockServer, prefix: &str) -> Arc<AtomicUsize> {
    let issued = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path(format!("{prefix}{TOKENS_PATH}")))
        .respond_with(TokenMint {
            issued: issued.clone(),
            expires_at: START + time::Duration::hours(1),
        })
        .mount(server)
        .await;
    issued
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn count(github: &GitHub, label: &str) -> u64 {
    github.metrics().calls.get(label).copied().unwrap_or(0)
}

#[test]
fn jwt_claims_and_signature() {
    let key = app_key();
    let now = OffsetDateTime::now_utc();
    let jwt = key.jwt(now).unwrap();

    let public = DecodingKey::from_rsa_pem(&fixture("test-app-key.pub.pem")).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&["123456"]);
    validation.set_required_spec_claims(&["iat", "exp", "iss"]);
    let decoded = jsonwebtoken::decode::<Value>(jwt.as_str(), &public, &validation).unwrap();
    assert_eq!(decoded.header.alg, Algorithm::RS256);

    let iat = decoded.claims["iat"].as_i64().unwrap();
    let exp = decoded.claims["exp"].as_i64().unwrap();
    assert_eq!(iat, now.unix_timestamp() - 60, "iat is back-dated a minute");
    assert_eq!(exp, now.unix_timestamp() + 9 * 60);
    assert!(
        exp - iat <= 600,
        "GitHub refuses JWTs living over 10 minutes"
    );
    assert_eq!(decoded.claims["iss"], "123456");
}

#[test]
fn a_key_that_is_not_an_rsa_private_key_is_refused() {
    let garbage = b"-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END RSA PRIVATE KEY-----\n";
    for pem in [
        &b"not a pem at all"[..],
        &garbage[..],
        &fixture("test-app-key.pub.pem"),
    ] {
        let err = AppKey::from_pem("123456", pem).unwrap_err();
        assert!(matches!(err, AuthError::NotRsaPrivateKey { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("not a usable RSA private key"), "{text}");
        assert!(
            !text.contains("bm90IGEga2V5"),
            "the key bytes are echoed: {text}"
        );
    }
    assert!(matches!(
        AppKey::from_pem(" ", &fixture("test-app-key.pem")),
        Err(AuthError::EmptyAppId)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn app_requests_carry_a_jwt_and_githubs_headers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/app"))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(ok(json!({"slug": "keyroll"})))
        .expect(1)
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(OffsetDateTime::now_utc()));

    let app = github.app_request(Method::GET, "/app", None).await.unwrap();
    assert_eq!(app["slug"], "keyroll");

    let requests = server.received_requests().await.unwrap();
    let auth = requests[0].headers["authorization"].to_str().unwrap();
    let jwt = auth.strip_prefix("Bearer ").unwrap();
    let public = DecodingKey::from_rsa_pem(&fixture("test-app-key.pub.pem")).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&["123456"]);
    jsonwebtoken::decode::<Value>(jwt, &public, &validation).unwrap();
    let agents: Vec<_> = requests[0].headers.get_all("user-agent").iter().collect();
    assert_eq!(agents.first().unwrap().to_str().unwrap(), "keyroll-test");
}

#[tokio::test(flavor = "multi_thread")]
async fn installation_token_is_fetched_once_and_reused() {
    let server = MockServer::start().await;
    let issued = mount_tokens(&server, "").await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/credentials"))
        .and(header("authorization", "Bearer ghs_token1"))
        .respond_with(ok(json!({"full_name": "acme/credentials"})))
        .expect(3)
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));
    let installation = github.installation(INSTALLATION);
    assert_eq!(installation.id(), INSTALLATION);

    for _ in 0..2 {
        let repo = installation.get("/repos/acme/credentials").await.unwrap();
        assert_eq!(repo["full_name"], "acme/credentials");
    }
    // Another handle for the same installation shares the cache.
    github
        .installation(INSTALLATION)
        .get("/repos/acme/credentials")
        .await
        .unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 1);

    // The token was asked for with the App's JWT.
    let requests = server.received_requests().await.unwrap();
    let token_request = requests
        .iter()
        .find(|r| r.url.path() == TOKENS_PATH)
        .unwrap();
    let auth = token_request.headers["authorization"].to_str().unwrap();
    assert_eq!(auth.strip_prefix("Bearer ").unwrap().split('.').count(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_callers_share_one_token_fetch() {
    let server = MockServer::start().await;
    let issued = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path(TOKENS_PATH))
        .respond_with(DelayedMint(TokenMint {
            issued: issued.clone(),
            expires_at: START + time::Duration::hours(1),
        }))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rate_limit"))
        .respond_with(ok(json!({})))
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));

    let calls: Vec<_> = (0..8)
        .map(|_| {
            let installation = github.installation(INSTALLATION);
            tokio::spawn(async move { installation.get("/rate_limit").await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(issued.load(Ordering::SeqCst), 1);
}

/// The token endpoint, slow enough that concurrent callers overlap.
struct DelayedMint(TokenMint);

impl Respond for DelayedMint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0
            .respond(request)
            .set_delay(Duration::from_millis(200))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn token_is_refreshed_when_near_expiry() {
    let server = MockServer::start().await;
    let issued = mount_tokens(&server, "").await;
    for token in ["ghs_token1", "ghs_token2"] {
        Mock::given(method("GET"))
            .and(path("/installation/repositories"))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ok(json!({"token_used": token})))
            .mount(&server)
            .await;
    }
    let clock = TestClock::at(START);
    let github = client(&server, fast(), clock.clone());
    let installation = github.installation(INSTALLATION);

    let used = |v: Value| v["token_used"].as_str().unwrap().to_owned();
    assert_eq!(
        used(
            installation
                .get("/installation/repositories")
                .await
                .unwrap()
        ),
        "ghs_token1"
    );
    // 54 minutes in, the token has 6 minutes left: still used.
    clock.advance(time::Duration::minutes(54));
    assert_eq!(
        used(
            installation
                .get("/installation/repositories")
                .await
                .unwrap()
        ),
        "ghs_token1"
    );
    // 56 minutes in, under 5 minutes are left: replaced.
    clock.advance(time::Duration::minutes(2));
    assert_eq!(
        used(
            installation
                .get("/installation/repositories")
                .await
                .unwrap()
        ),
        "ghs_token2"
    );
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthorized_drops_the_token_and_retries_once() {
    let server = MockServer::start().await;
    let issued = mount_tokens(&server, "").await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/credentials"))
        .and(header("authorization", "Bearer ghs_token1"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/credentials"))
        .and(header("authorization", "Bearer ghs_token2"))
        .respond_with(ok(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));

    let repo = github
        .installation(INSTALLATION)
        .get("/repos/acme/credentials")
        .await
        .unwrap();
    assert_eq!(repo["id"], 1);
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthorized_twice_is_an_error_after_one_retry() {
    let server = MockServer::start().await;
    let issued = mount_tokens(&server, "").await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/credentials"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials"})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));

    let err = github
        .installation(INSTALLATION)
        .get("/repos/acme/credentials")
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
    assert_eq!(err.status(), Some(401));
    assert!(!err.is_transient());
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried() {
    let server = MockServer::start().await;
    mount_tokens(&server, "").await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/credentials/pulls"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/credentials/pulls"))
        .respond_with(ok(json!([{"number": 7}])))
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));

    let pulls = github
        .installation(INSTALLATION)
        .get("/repos/acme/credentials/pulls")
        .await
        .unwrap();
    assert_eq!(pulls[0]["number"], 7);
    assert_eq!(count(&github, "5xx"), 1);
    // The token request and the second attempt.
    assert_eq!(count(&github, "2xx"), 2);
}

/// A POST that makes a comment may have been carried out when it got a 5xx: sent once, it
/// fails as transient (the effect is tried again later, finding before it creates). A POST
/// that makes a git object is the same object again: retried.
#[tokio::test(flavor = "multi_thread")]
async fn a_post_that_creates_is_sent_once_and_a_git_object_post_is_retried() {
    let server = MockServer::start().await;
    mount_tokens(&server, "").await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/credentials/issues/3/comments"))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/credentials/git/blobs"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/credentials/git/blobs"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sha": "b1"})))
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));
    let installation = github.installation(INSTALLATION);

    let err = installation
        .request(
            Method::POST,
            "/repos/acme/credentials/issues/3/comments",
            Some(&json!({"body": "hello"})),
        )
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    let blob = installation
        .request(
            Method::POST,
            "/repos/acme/credentials/git/blobs",
            Some(&json!({"content": "x", "encoding": "utf-8"})),
        )
        .await
        .unwrap();
    assert_eq!(blob["sha"], "b1");
    assert_eq!(count(&github, "5xx"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_on_every_attempt_fail_as_transient() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3) // the first attempt and `retries: 2`
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));

    let err = github
        .app_request(Method::GET, "/app", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Server { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(err.status(), Some(503));
    assert_eq!(count(&github, "5xx"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_are_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(ok(json!({"slow": true})).set_delay(Duration::from_secs(2)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(ok(json!({"slow": false})))
        .mount(&server)
        .await;
    let options = ClientOptions {
        timeout: Duration::from_millis(200),
        ..fast()
    };
    let github = client(&server, options, TestClock::at(START));

    let app = github.app_request(Method::GET, "/app", None).await.unwrap();
    assert_eq!(app["slow"], false);
    assert_eq!(count(&github, "timeout"), 1);
    assert_eq!(count(&github, "2xx"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_on_every_attempt_fail_as_transient() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(ok(json!({})).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let options = ClientOptions {
        timeout: Duration::from_millis(100),
        retries: 1,
        ..fast()
    };
    let github = client(&server, options, TestClock::at(START));

    let err = github
        .app_request(Method::GET, "/app", None)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(count(&github, "timeout"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_requests_with_retry_after_is_waited_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(ok(json!({"ok": true})))
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));

    let started = Instant::now();
    let app = github.app_request(Method::GET, "/app", None).await.unwrap();
    assert_eq!(app["ok"], true);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(count(&github, "rate_limited"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secondary_limit_with_retry_after_is_waited_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/app/installations"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit."})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/app/installations"))
        .respond_with(ok(json!([{"id": 42}])))
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));

    let started = Instant::now();
    let installations = github
        .app_request(Method::GET, "/app/installations", None)
        .await
        .unwrap();
    assert_eq!(installations[0]["id"], 42);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(count(&github, "rate_limited"), 1);
    assert_eq!(count(&github, "4xx"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn primary_rate_limit_is_waited_out_until_reset() {
    let server = MockServer::start().await;
    // The reset is one second ahead of the injected clock, which is what the wait is
    // measured on.
    let reset = (START + time::Duration::seconds(1)).unix_timestamp();
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(
                    json!({"message": "API rate limit exceeded for installation ID 42."}),
                ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(
            ok(json!({"ok": true}))
                .insert_header("x-ratelimit-remaining", "4999")
                .insert_header("x-ratelimit-reset", (reset + 3600).to_string().as_str()),
        )
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));

    let started = Instant::now();
    github.app_request(Method::GET, "/app", None).await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    let metrics = github.metrics();
    assert_eq!(metrics.rate_limit_remaining, Some(4999));
    assert_eq!(metrics.rate_limit_reset, Some(reset + 3600));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_wait_beyond_the_maximum_is_an_error() {
    let server = MockServer::start().await;
    let reset = (START + time::Duration::hours(1)).unix_timestamp();
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({"message": "API rate limit exceeded"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    // A secondary limit without retry-after means a minute, also beyond 5 s.
    Mock::given(method("GET"))
        .and(path("/app/installations"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        })))
        .expect(1)
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));

    let started = Instant::now();
    let err = github
        .app_request(Method::GET, "/app", None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::RateLimited {
                wait_secs: 3600,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(err.to_string().contains("GET /app"), "{err}");

    let err = github
        .app_request(Method::GET, "/app/installations", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::RateLimited { wait_secs: 60, .. }),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "nothing is waited"
    );
    assert_eq!(count(&github, "rate_limited"), 2);
    assert_eq!(github.metrics().rate_limit_remaining, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_forbidden_is_not_retried_and_says_why() {
    let server = MockServer::start().await;
    mount_tokens(&server, "").await;
    Mock::given(method("PUT"))
        .and(path("/repos/acme/credentials/contents/secrets.yaml"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest",
        })))
        .expect(1)
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));

    let err = github
        .installation(INSTALLATION)
        .request(
            Method::PUT,
            "/repos/acme/credentials/contents/secrets.yaml",
            Some(&json!({"message": "rotate", "content": "c2VjcmV0"})),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Forbidden { .. }), "{err:?}");
    assert_eq!(err.status(), Some(403));
    assert!(!err.is_transient());
    let text = err.to_string();
    assert!(
        text.contains("PUT /repos/acme/credentials/contents/secrets.yaml"),
        "{text}"
    );
    assert!(
        text.contains("Resource not accessible by integration"),
        "{text}"
    );
    assert!(text.contains("lacks a permission"), "{text}");
    assert!(!text.contains("c2VjcmV0"), "the request body leaks: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn not_found_is_not_retried() {
    let server = MockServer::start().await;
    mount_tokens(&server, "").await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/gone"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .expect(1)
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));

    let err = github
        .installation(INSTALLATION)
        .get("/repos/acme/gone")
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::NotFound { .. }), "{err:?}");
    assert_eq!(err.status(), Some(404));
    assert!(!err.is_transient());
    assert!(err.to_string().contains("GET /repos/acme/gone"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unprocessable_carries_githubs_messages_and_conflict_is_typed() {
    let server = MockServer::start().await;
    mount_tokens(&server, "").await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/credentials/pulls"))
        .and(header("content-type", "application/json"))
        .and(body_json(
            json!({"head": "keyroll/x", "base": "main", "title": "t"}),
        ))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": "Validation Failed",
            "errors": [{
                "resource": "PullRequest",
                "code": "custom",
                "message": "A pull request already exists for acme:keyroll/x."
            }],
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/credentials/git/refs/heads/keyroll/x"))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_json(json!({"message": "Git Repository is empty."})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));
    let installation = github.installation(INSTALLATION);

    let err = installation
        .request(
            Method::POST,
            "/repos/acme/credentials/pulls",
            Some(&json!({"head": "keyroll/x", "base": "main", "title": "t"})),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Unprocessable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("Validation Failed"), "{text}");
    assert!(
        text.contains("A pull request already exists for acme:keyroll/x."),
        "{text}"
    );
    assert!(text.contains("custom"), "{text}");

    let err = installation
        .request(
            Method::PATCH,
            "/repos/acme/credentials/git/refs/heads/keyroll/x",
            Some(&json!({"sha": "abc"})),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Conflict { .. }), "{err:?}");
    assert_eq!(err.status(), Some(409));
    assert!(
        err.to_string().contains("Git Repository is empty."),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_content_is_null() {
    let server = MockServer::start().await;
    mount_tokens(&server, "").await;
    Mock::given(method("DELETE"))
        .and(path("/repos/acme/credentials/git/refs/heads/keyroll/x"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));

    let value = github
        .installation(INSTALLATION)
        .request(
            Method::DELETE,
            "/repos/acme/credentials/git/refs/heads/keyroll/x",
            None,
        )
        .await
        .unwrap();
    assert_eq!(value, Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_outcomes_and_keep_the_last_rate_limit() {
    let server = MockServer::start().await;
    mount_tokens(&server, "").await;
    Mock::given(method("GET"))
        .and(path("/a"))
        .respond_with(
            ok(json!({}))
                .insert_header("x-ratelimit-remaining", "4990")
                .insert_header("x-ratelimit-reset", "1795000000"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/missing"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));
    let installation = github.installation(INSTALLATION);

    installation.get("/a").await.unwrap();
    installation.get("/a").await.unwrap();
    installation.get("/missing").await.unwrap_err();

    let metrics = github.metrics();
    // Two calls and the token request.
    assert_eq!(metrics.calls.get("2xx"), Some(&3));
    assert_eq!(metrics.calls.get("4xx"), Some(&1));
    assert_eq!(metrics.calls.len(), 2, "{metrics:?}");
    assert_eq!(metrics.rate_limit_remaining, Some(4990));
    assert_eq!(metrics.rate_limit_reset, Some(1_795_000_000));
    // Clones share the metrics.
    assert_eq!(github.clone().metrics(), metrics);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_base_url_with_a_path_prefix_is_kept() {
    let server = MockServer::start().await;
    let issued = mount_tokens(&server, "/api/v3").await;
    Mock::given(method("GET"))
        .and(path("/api/v3/repos/acme/credentials/pulls"))
        .and(query_param("state", "open"))
        .and(query_param("head", "acme:keyroll/x"))
        .respond_with(ok(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/app"))
        .respond_with(ok(json!({"slug": "keyroll"})))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/api/v3/", server.uri());
    let github = GitHub::new(app_key(), &url, fast(), TestClock::at(START)).unwrap();

    let pulls = github
        .installation(INSTALLATION)
        .get("/repos/acme/credentials/pulls?state=open&head=acme:keyroll/x")
        .await
        .unwrap();
    assert_eq!(pulls, json!([]));
    github.app_request(Method::GET, "/app", None).await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_urls_are_refused() {
    for url in [
        "api.github.com",
        "ftp://example.com",
        "https://example.com/api?x=1",
    ] {
        let err = GitHub::new(app_key(), url, fast(), TestClock::at(START)).unwrap_err();
        assert!(matches!(err, ApiError::BadUrl { .. }), "{url}: {err:?}");
    }
    let err = GitHub::new(
        app_key(),
        "https://user:hunter2@example.com",
        fast(),
        TestClock::at(START),
    )
    .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let github = GitHub::new(
        app_key(),
        "https://example.com",
        fast(),
        TestClock::at(START),
    )
    .unwrap();
    let err = github
        .app_request(Method::GET, "app", None)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::BadUrl { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn transport_errors_are_retried_then_reported() {
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let options = ClientOptions {
        retries: 1,
        ..fast()
    };
    let github = GitHub::new(
        app_key(),
        &format!("http://127.0.0.1:{port}"),
        options,
        TestClock::at(START),
    )
    .unwrap();

    let err = github
        .app_request(Method::GET, "/app", None)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(count(&github, "transport"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_cache_shares_and_invalidates() {
    let cache = TokenCache::new();
    let clock = TestClock::at(START);
    let mint = |n: u32| {
        move || async move {
            Ok::<_, ApiError>(InstallationToken {
                token: format!("ghs_cached{n}").into(),
                expires_at: START + time::Duration::hours(1),
            })
        }
    };
    assert_eq!(
        cache
            .token(1, clock.as_ref(), mint(1))
            .await
            .unwrap()
            .as_str(),
        "ghs_cached1"
    );
    assert_eq!(
        cache
            .token(1, clock.as_ref(), mint(2))
            .await
            .unwrap()
            .as_str(),
        "ghs_cached1"
    );
    // Each installation has its own token.
    assert_eq!(
        cache
            .token(2, clock.as_ref(), mint(3))
            .await
            .unwrap()
            .as_str(),
        "ghs_cached3"
    );
    // Invalidating a token that has already been replaced keeps the new one.
    cache.invalidate(1, "ghs_stale").await;
    assert_eq!(
        cache
            .token(1, clock.as_ref(), mint(4))
            .await
            .unwrap()
            .as_str(),
        "ghs_cached1"
    );
    cache.invalidate(1, "ghs_cached1").await;
    assert_eq!(
        cache
            .token(1, clock.as_ref(), mint(5))
            .await
            .unwrap()
            .as_str(),
        "ghs_cached5"
    );
    // A failed fetch is returned and leaves nothing behind.
    let failed = cache
        .token(3, clock.as_ref(), || async {
            Err::<InstallationToken, _>(AuthError::BadTokenResponse { reason: "test" })
        })
        .await;
    assert!(failed.is_err());
    assert!(!format!("{cache:?}").contains("ghs_"), "{cache:?}");

    let parsed = InstallationToken::from_response(&json!({
        "token": "ghs_parsed", "expires_at": "2026-11-24T10:00:00Z"
    }))
    .unwrap();
    assert_eq!(parsed.expires_at, datetime!(2026-11-24 10:00:00 UTC));
    assert!(!format!("{parsed:?}").contains("ghs_parsed"));
    assert!(InstallationToken::from_response(&json!({"token": "x"})).is_err());
}

/// Every error the client can return, from a mock GitHub that refuses in every way, checked
/// for the token and the JWT it was sent with.
#[tokio::test(flavor = "multi_thread")]
async fn no_token_or_jwt_in_debug_or_error_text() {
    let server = MockServer::start().await;
    mount_tokens(&server, "").await;
    let refusals: [(&str, ResponseTemplate); 7] = [
        (
            "/401",
            ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials"})),
        ),
        (
            "/403",
            ResponseTemplate::new(403)
                .set_body_json(json!({"message": "Resource not accessible by integration"})),
        ),
        ("/404", ResponseTemplate::new(404)),
        (
            "/409",
            ResponseTemplate::new(409).set_body_json(json!({"message": "conflict"})),
        ),
        (
            "/422",
            ResponseTemplate::new(422)
                .set_body_json(json!({"message": "Validation Failed", "errors": ["bad"]})),
        ),
        ("/500", ResponseTemplate::new(500)),
        (
            "/not-json",
            ResponseTemplate::new(200).set_body_string("<html>proxy</html>"),
        ),
    ];
    for (route, response) in refusals {
        Mock::given(path(route))
            .respond_with(response)
            .mount(&server)
            .await;
    }
    Mock::given(path("/418"))
        .respond_with(ResponseTemplate::new(418).set_body_json(json!({"message": "teapot"})))
        .mount(&server)
        .await;
    Mock::given(path("/limited"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .mount(&server)
        .await;
    Mock::given(path("/slow"))
        .respond_with(ok(json!({})).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let options = ClientOptions {
        timeout: Duration::from_millis(300),
        retries: 0,
        ..fast()
    };
    let github = client(&server, options, TestClock::at(START));
    let installation = github.installation(INSTALLATION);

    let mut errors = Vec::new();
    for route in [
        "/401",
        "/403",
        "/404",
        "/409",
        "/422",
        "/500",
        "/not-json",
        "/418",
        "/limited",
        "/slow",
    ] {
        errors.push(
            installation
                .request(Method::POST, route, Some(&json!({"value": "body-secret"})))
                .await
                .unwrap_err(),
        );
        errors.push(
            github
                .app_request(Method::GET, route, None)
                .await
                .unwrap_err(),
        );
    }

    let requests = server.received_requests().await.unwrap();
    let secrets: Vec<String> = requests
        .iter()
        .filter_map(|r| r.headers.get("authorization"))
        .map(|v| v.to_str().unwrap().trim_start_matches("Bearer ").to_owned())
        .collect();
    assert!(secrets.iter().any(|s| s.starts_with("ghs_token")));
    assert!(
        secrets.iter().any(|s| s.split('.').count() == 3),
        "a JWT was sent"
    );

    let mut texts: Vec<String> = errors
        .iter()
        .flat_map(|e| [e.to_string(), format!("{e:?}")])
        .collect();
    texts.push(format!("{github:?}"));
    texts.push(format!("{installation:?}"));
    texts.push(format!("{:?}", app_key()));
    texts.push(format!("{:?}", github.metrics()));
    for text in &texts {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a credential in: {text}");
        }
        assert!(!text.contains("Bearer"), "{text}");
        assert!(!text.contains("body-secret"), "{text}");
        assert!(!text.contains("PRIVATE KEY"), "{text}");
    }
    // Every kind of refusal came back.
    let kinds: Vec<&str> = errors
        .iter()
        .map(|e| match e {
            ApiError::Unauthorized { .. } => "401",
            ApiError::Forbidden { .. } => "403",
            ApiError::NotFound { .. } => "404",
            ApiError::Conflict { .. } => "409",
            ApiError::Unprocessable { .. } => "422",
            ApiError::Server { .. } => "5xx",
            ApiError::Decode { .. } => "decode",
            ApiError::OtherStatus { .. } => "other",
            ApiError::RateLimited { .. } => "rate",
            ApiError::Timeout { .. } => "timeout",
            _ => "unexpected",
        })
        .collect();
    for kind in [
        "401", "403", "404", "409", "422", "5xx", "decode", "other", "rate", "timeout",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert!(!kinds.contains(&"unexpected"), "{kinds:?}");
}

/// A page of `n` comments numbered from `first`.
fn comments_page(first: u64, n: u64) -> Value {
    Value::Array(
        (first..first + n)
            .map(|id| json!({"id": id, "body": format!("comment {id}"), "user": {"login": "p", "id": 1}}))
            .collect(),
    )
}

/// Every list is read to its end, following GitHub's `Link: rel="next"` (with the API
/// base's path prefix kept), 100 items a page.
#[tokio::test(flavor = "multi_thread")]
async fn lists_are_read_page_by_page() {
    use wiremock::matchers::query_param_is_missing;
    let server = MockServer::start().await;
    mount_tokens(&server, "/api/v3").await;
    let list = "/api/v3/repos/acme/credentials/issues/7/comments";
    let next = |page: u32| {
        format!(
            "<{}{list}?per_page=100&page={page}>; rel=\"next\", <{}{list}?per_page=100&page=3>; rel=\"last\"",
            server.uri(),
            server.uri()
        )
    };
    Mock::given(method("GET"))
        .and(path(list))
        .and(query_param("per_page", "100"))
        .and(query_param_is_missing("page"))
        .respond_with(ok(comments_page(1, 100)).insert_header("link", next(2).as_str()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(list))
        .and(query_param("page", "2"))
        .respond_with(ok(comments_page(101, 100)).insert_header("link", next(3).as_str()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(list))
        .and(query_param("page", "3"))
        .respond_with(ok(comments_page(201, 7)))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/api/v3", server.uri());
    let github = GitHub::new(app_key(), &url, fast(), TestClock::at(START)).unwrap();
    let repo = RepoApi::new(github.installation(INSTALLATION), "acme/credentials");

    let comments = repo.comments(7).await.unwrap();
    let ids: Vec<u64> = comments.iter().map(|c| c.id).collect();
    assert_eq!(ids, (1..=207).collect::<Vec<_>>());
}

/// A list whose `next` never ends is cut off with an error, not followed forever; a `next`
/// that leaves the API URL is not followed (the token would go with it).
#[tokio::test(flavor = "multi_thread")]
async fn endless_or_foreign_next_links_are_errors() {
    let server = MockServer::start().await;
    mount_tokens(&server, "").await;
    let endless = "/repos/acme/credentials/pulls/1/reviews";
    Mock::given(method("GET"))
        .and(path(endless))
        .respond_with(
            ok(json!([])).insert_header(
                "link",
                format!(
                    "<{}{endless}?per_page=100&page=2>; rel=\"next\"",
                    server.uri()
                )
                .as_str(),
            ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/credentials/issues/2/comments"))
        .respond_with(ok(json!([])).insert_header(
            "link",
            "<https://elsewhere.example/repos/acme/credentials/issues/2/comments?page=2>; rel=\"next\"",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));
    let repo = RepoApi::new(github.installation(INSTALLATION), "acme/credentials");

    let err = repo.reviews(1).await.unwrap_err();
    assert!(matches!(err, RestError::TooLong { .. }), "{err}");
    let reads = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == endless)
        .count();
    assert_eq!(reads, keyroll::github::rest::MAX_PAGES);

    let err = repo.comments(2).await.unwrap_err();
    assert!(
        matches!(err, RestError::Api(ApiError::ForeignLink { .. })),
        "{err}"
    );
}

/// GitHub cuts a recursive tree short past its limits and says so: keyroll reports it
/// instead of reading the part as the whole repository.
#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_tree_is_reported() {
    let server = MockServer::start().await;
    mount_tokens(&server, "").await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/credentials/git/trees/abc"))
        .and(query_param("recursive", "1"))
        .respond_with(ok(json!({
            "sha": "t1",
            "tree": [{"path": ".keyroll.yaml", "type": "blob", "sha": "b1"}],
            "truncated": true,
        })))
        .mount(&server)
        .await;
    let github = client(&server, fast(), TestClock::at(START));
    let repo = RepoApi::new(github.installation(INSTALLATION), "acme/credentials");
    let err = repo.files("abc").await.unwrap_err();
    assert!(matches!(err, RestError::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
}
