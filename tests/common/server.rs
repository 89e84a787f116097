//! Starting the real `keyroll serve` router in the test process, on a real socket, and
//! sending it signed deliveries.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyroll::github::app_auth::AppKey;
use keyroll::github::client::ClientOptions;
use keyroll::github::signature::Secrets;
use keyroll::runtime::Clock;
use keyroll::server::{self, FrontDoor, People, Running, Settings};
use keyroll::sops::Identities;
use time::OffsetDateTime;

/// The webhook secret the tests' App uses.
pub const SECRET: &str = "test-webhook-secret";
/// The App id the simulated GitHub expects in JWTs.
pub const APP_ID: &str = "1234";

/// A clock tests move by hand. It can also be made to fail once, the way a clock read
/// after the end of the calendar would: `panic_once_in("delivery")` makes the next read
/// inside a span of that name panic (keyroll names its spans; no hook in keyroll itself).
#[derive(Debug, Clone)]
pub struct TestClock(
    pub Arc<Mutex<OffsetDateTime>>,
    /// The span whose read panics, after how many reads in it that go well.
    pub Arc<Mutex<Option<(&'static str, u32)>>>,
);

impl TestClock {
    pub fn new() -> Self {
        Self(
            Arc::new(Mutex::new(OffsetDateTime::now_utc())),
            Arc::new(Mutex::new(None)),
        )
    }

    pub fn advance(&self, by: time::Duration) {
        let mut t = self.0.lock().unwrap();
        *t += by;
    }

    /// The next read of the time inside a tracing span named `span` panics (once).
    pub fn panic_once_in(&self, span: &'static str) {
        self.panic_once_in_after(span, 0);
    }

    /// Like [`Self::panic_once_in`], after `reads` reads in that span that go well.
    pub fn panic_once_in_after(&self, span: &'static str, reads: u32) {
        *self.1.lock().unwrap() = Some((span, reads));
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        let mut armed = self.1.lock().unwrap();
        if let Some((name, reads)) = *armed
            && tracing::Span::current()
                .metadata()
                .is_some_and(|m| m.name() == name)
        {
            if reads > 0 {
                *armed = Some((name, reads - 1));
            } else {
                *armed = None;
                drop(armed);
                panic!("injected fault: the clock could not be read");
            }
        }
        drop(armed);
        *self.0.lock().unwrap()
    }
}

/// Settings for a server on a free loopback port, talking to `api_url`, keeping its state
/// in `db` (a file, so a restarted server finds it).
pub fn settings(api_url: &str, db: &Path, identity_file: &Path) -> Settings {
    let pem = std::fs::read(super::fixture("github-app/test-app-key.pem")).unwrap();
    Settings {
        app_key: AppKey::from_pem(APP_ID, &pem).unwrap(),
        webhook_secrets: Secrets::from_list(&format!("old-secret,{SECRET}")).unwrap(),
        github_api_url: api_url.to_owned(),
        identities: Identities::from_file(identity_file).unwrap(),
        database_url: format!("sqlite://{}", db.display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        max_body_bytes: 1024 * 1024,
        // Ticks run when a test asks (`tick_now`), not by themselves.
        reconcile_every: Duration::from_secs(3600),
        schedule_every: Duration::from_secs(3600),
        concurrent_rotations: 2,
        client: ClientOptions {
            timeout: Duration::from_secs(2),
            retries: 2,
            backoff: Duration::from_millis(20),
            max_rate_limit_wait: Duration::from_secs(5),
            user_agent: "keyroll-tests".into(),
        },
        people: People {
            operators: vec!["@acme/sre".into()],
            admins: vec![],
        },
        delivery: Default::default(),
        identity_file: identity_file.to_owned(),
        front_door: FrontDoor::default(),
        scrub_every: Duration::from_secs(60),
    }
}

pub async fn start(settings: Settings, clock: TestClock) -> Running {
    server::start(settings, Arc::new(clock)).await.unwrap()
}

/// Posts a delivery signed with `secret`; returns the status and the body.
pub async fn post(
    addr: std::net::SocketAddr,
    event: &str,
    delivery: &str,
    body: &[u8],
    secret: Option<&str>,
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(format!("http://{addr}/webhook"))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .body(body.to_vec());
    if let Some(s) = secret {
        req = req.header("x-hub-signature-256", Secrets::sign(s.as_bytes(), body));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

pub async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let resp = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}
