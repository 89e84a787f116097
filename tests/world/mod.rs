//! The end-to-end world: the simulated GitHub (`tests/sim`) and the real `keyroll serve`
//! router on a real socket, wired to each other, with helpers that play the people and the
//! CI and that read the credentials repository back with the real `sops`.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use keyroll::server::Running;

use crate::common::server::{SECRET, TestClock, settings, start};
use crate::common::{fixture, sops_bin};
use crate::sim::{Sim, SimOptions, User};

/// Everything the server logged during the test process (JSON lines), to scan for values.
pub fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,keyroll=debug"))
            .with_writer(move || writer.clone())
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
    .clone()
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct World {
    pub sim: Sim,
    pub server: Option<Running>,
    pub clock: TestClock,
    pub dir: tempfile::TempDir,
    pub repo: String,
    /// Changes the test's settings before each boot.
    pub tweak: Option<fn(&mut keyroll::server::Settings)>,
}

/// People of the demo organisation (see `SimOptions::default()` and `World::start`).
pub fn alice() -> User {
    User::alice()
}
/// In the release team: confirms the Jenkins gate.
pub fn rita() -> User {
    User::person("rita", 5101)
}
/// In the marketplace team: the owner of the demo API tokens; approves.
pub fn mona() -> User {
    User::person("mona", 5102)
}
/// On call in the SRE team: an operator by the server's settings.
pub fn sam() -> User {
    User::person("sam", 5103)
}
/// Can read the repository, nothing more.
pub fn carol() -> User {
    User::person("carol", 5004)
}
/// In the platform team: owner of the platform credentials.
pub fn pete() -> User {
    User::person("pete", 5104)
}

impl World {
    pub async fn start() -> World {
        Self::start_with(SimOptions::default()).await
    }

    pub async fn start_with(options: SimOptions) -> World {
        Self::start_tweaked(options, None).await
    }

    /// [`Self::start_with`], with the server's settings changed by `tweak`.
    pub async fn start_tweaked(
        mut options: SimOptions,
        tweak: Option<fn(&mut keyroll::server::Settings)>,
    ) -> World {
        logs();
        for (login, role) in [
            ("rita", "write"),
            ("mona", "write"),
            ("sam", "write"),
            ("carol", "read"),
            ("pete", "write"),
        ] {
            options.roles.push((login.into(), role.into()));
        }
        let sim = Sim::start(options).await;
        for (team, members) in [
            ("marketplace", vec!["alice", "mona"]),
            ("release", vec!["rita"]),
            ("sre", vec!["sam"]),
            ("platform", vec!["pete"]),
        ] {
            sim.set_team("acme", team, &members);
        }
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let mut world = World {
            repo: sim.full_name(),
            sim,
            server: None,
            clock,
            dir,
            tweak,
        };
        world.boot().await;
        // GitHub tells the App where it was installed.
        let installed = world
            .sim
            .payload("installation_repositories", Some("added"), &alice());
        world
            .sim
            .send_webhook("installation_repositories", &installed)
            .await;
        world.settle().await;
        world
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("keyroll.db")
    }

    /// Starts keyroll (again, after `stop`), on the same database.
    pub async fn boot(&mut self) {
        let mut s = settings(&self.sim.url(), &self.db(), &fixture("demo-age-key.txt"));
        if let Some(tweak) = self.tweak {
            tweak(&mut s);
        }
        let server = start(s, self.clock.clone()).await;
        self.sim
            .set_webhook_target(&format!("http://{}/webhook", server.addr), SECRET);
        self.server = Some(server);
    }

    /// Stops keyroll the way SIGTERM does.
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.unwrap();
        }
    }

    pub fn server(&self) -> &Running {
        self.server.as_ref().expect("keyroll is running")
    }

    /// Sends what keyroll's own calls made GitHub send, then waits for keyroll to finish
    /// what it can do now.
    pub async fn settle(&self) {
        for _ in 0..3 {
            self.server().settle().await;
            if self.sim.deliver_pending().await.is_empty() {
                break;
            }
        }
        self.server().settle().await;
    }

    /// Runs the reconcile and schedule ticks now.
    pub async fn tick(&self) {
        self.server().tick_now().await;
        self.settle().await;
    }

    pub fn dashboard(&self) -> u64 {
        self.sim
            .issues()
            .iter()
            .find(|i| i.body.contains("<!-- keyroll:dashboard -->"))
            .map(|i| i.number)
            .expect("keyroll opened its dashboard issue")
    }

    /// A person comments; keyroll handles it.
    pub async fn say(&self, issue: u64, who: &User, body: &str) -> u64 {
        let id = self.sim.comment(issue, who, body).await;
        self.settle().await;
        id
    }

    /// The last comment keyroll wrote on an issue or pull request, without the hidden
    /// marker that finds a reply again.
    pub fn last_reply(&self, issue: u64) -> String {
        let body = self
            .sim
            .comments(issue)
            .iter()
            .rev()
            .find(|c| c.author == "keyroll[bot]" && !c.body.contains("<!-- keyroll:status"))
            .map(|c| c.body.clone())
            .unwrap_or_default();
        match body.find("\n\n<!-- keyroll:reply ") {
            Some(end) => body.get(..end).unwrap_or_default().to_owned(),
            None => body,
        }
    }

    /// The open keyroll pull requests, oldest first.
    pub fn open_pulls(&self) -> Vec<crate::sim::PullSnapshot> {
        self.sim
            .pulls()
            .into_iter()
            .filter(|p| p.state == "open" && p.head.starts_with("keyroll/"))
            .collect()
    }

    pub fn open_pull(&self) -> crate::sim::PullSnapshot {
        let open = self.open_pulls();
        assert_eq!(open.len(), 1, "one open keyroll pull request: {open:#?}");
        open.into_iter().next().unwrap()
    }

    /// The `keyroll/gate` check run on a commit, as its title says.
    pub fn gate(&self, sha: &str) -> (Option<String>, String, String) {
        let runs = self.sim.check_runs(sha);
        let g = runs
            .iter()
            .rev()
            .find(|c| c.name == "keyroll/gate")
            .unwrap_or_else(|| panic!("no keyroll/gate on {sha}: {runs:#?}"));
        (g.conclusion.clone(), g.title.clone(), g.summary.clone())
    }

    /// Merges a pull request as `who` and lets keyroll see it.
    pub async fn merge(&self, number: u64, who: &User) -> String {
        let sha = self.sim.merge_pull(number, who).await;
        self.settle().await;
        sha
    }

    /// Deploy checks succeed (or fail) on a commit, one after the other.
    pub async fn checks(&self, sha: &str, names: &[&str], conclusion: &str) {
        for n in names {
            self.sim.complete_check_run(sha, n, conclusion).await;
            self.settle().await;
        }
    }

    /// A connection to keyroll's database, to read what it stored.
    async fn db_pool(&self) -> sqlx::SqlitePool {
        sqlx::SqlitePool::connect(&format!("sqlite://{}", self.db().display()))
            .await
            .unwrap()
    }

    /// The phase of a rotation, as the store has it.
    pub async fn phase(&self, rotation: &str) -> String {
        use sqlx::Row;
        let pool = self.db_pool().await;
        let row = sqlx::query("SELECT phase FROM rotations WHERE id = ?")
            .bind(rotation)
            .fetch_one(&pool)
            .await
            .unwrap();
        let phase: String = row.get("phase");
        pool.close().await;
        phase
    }

    /// The id of the only rotation started so far.
    pub async fn rotation_ids(&self) -> Vec<String> {
        use sqlx::Row;
        let pool = self.db_pool().await;
        let rows = sqlx::query("SELECT id FROM rotations ORDER BY created_at")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows.iter().map(|r| r.get("id")).collect()
    }

    /// The command log: (actor, command, outcome).
    pub async fn command_log(&self) -> Vec<(String, String, String)> {
        use sqlx::Row;
        let pool = self.db_pool().await;
        let rows = sqlx::query("SELECT actor_login, command, outcome FROM commands ORDER BY seq")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows.iter()
            .map(|r| (r.get("actor_login"), r.get("command"), r.get("outcome")))
            .collect()
    }

    /// The stored deliveries: id, event, outcome (when handled), attempts that failed,
    /// whether parked.
    pub async fn stored_deliveries(&self) -> Vec<StoredDelivery> {
        use sqlx::Row;
        let pool = self.db_pool().await;
        let rows = sqlx::query(
            "SELECT delivery_id, event, outcome, attempts, parked_at FROM webhooks ORDER BY seq",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        rows.iter()
            .map(|r| StoredDelivery {
                id: r.get("delivery_id"),
                event: r.get("event"),
                outcome: r.get("outcome"),
                attempts: r.get("attempts"),
                parked: r.get::<Option<String>, _>("parked_at").is_some(),
            })
            .collect()
    }

    /// The stored delivery of a comment keyroll read (by its body, from the sim's log).
    pub async fn delivery_of_comment(&self, comment_id: u64) -> StoredDelivery {
        let guid = self
            .sim
            .deliveries()
            .into_iter()
            .find(|d| {
                d.event == "issue_comment"
                    && serde_json::from_slice::<serde_json::Value>(&d.body)
                        .ok()
                        .and_then(|v| v["comment"]["id"].as_u64())
                        == Some(comment_id)
            })
            .map(|d| d.guid)
            .expect("the comment was delivered");
        self.stored_deliveries()
            .await
            .into_iter()
            .find(|d| d.id == guid)
            .expect("keyroll stored the delivery")
    }

    /// Sends keyroll a delivery about another repository of the installation (the
    /// simulated GitHub has one): a pull request closed there, which keyroll reads and
    /// finds nothing to do for. Returns its delivery id.
    pub async fn deliver_for_other_repository(&self, name: &str) -> String {
        let mut payload = self.sim.payload("pull_request", Some("closed"), &alice());
        payload["repository"]["full_name"] = serde_json::json!(format!("acme/{name}"));
        payload["repository"]["name"] = serde_json::json!(name);
        payload["repository"]["id"] = serde_json::json!(99_000);
        let body = serde_json::to_vec(&payload).unwrap();
        let id = format!("other-{name}-{}", self.stored_deliveries().await.len());
        let (status, _) = crate::common::server::post(
            self.server().addr,
            "pull_request",
            &id,
            &body,
            Some(SECRET),
        )
        .await;
        assert_eq!(status, 202);
        id
    }

    /// `/readyz` and `/metrics` as keyroll answers them now.
    pub async fn readyz(&self) -> (u16, String) {
        crate::common::server::get(self.server().addr, "/readyz").await
    }

    pub async fn metrics(&self) -> String {
        crate::common::server::get(self.server().addr, "/metrics")
            .await
            .1
    }

    /// The decrypted values of a SOPS file at `git_ref`, by the real `sops -d` on a clone.
    pub fn decrypted(&self, git_ref: &str, file: &str) -> serde_json::Value {
        let text = self
            .sim
            .file(git_ref, file)
            .unwrap_or_else(|| panic!("{file} at {git_ref}"));
        sops_decrypt_text(&text, file)
    }

    /// The database file's bytes (WAL included), to scan for values.
    pub fn database_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            if let Ok(b) = std::fs::read(format!("{}{suffix}", self.db().display())) {
                out.extend(b);
            }
        }
        out
    }
}

/// A delivery as keyroll's store has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDelivery {
    pub id: String,
    pub event: String,
    pub outcome: Option<String>,
    pub attempts: i64,
    pub parked: bool,
}

/// Decrypts a SOPS text with the real `sops` and the demo key; the result as JSON.
pub fn sops_decrypt_text(text: &str, name: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(Path::new(name).file_name().unwrap());
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(sops_bin())
        .args(["decrypt", "--output-type", "json"])
        .arg(&path)
        .env("SOPS_AGE_KEY_FILE", fixture("demo-age-key.txt"))
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sops -d {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every string leaf of a JSON value, with its dotted path.
pub fn leaves(v: &serde_json::Value) -> BTreeMap<String, String> {
    fn walk(v: &serde_json::Value, path: String, out: &mut BTreeMap<String, String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(x, p, out);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{path}[{i}]"), out);
                }
            }
            serde_json::Value::String(s) => {
                out.insert(path, s.clone());
            }
            other => {
                out.insert(path, other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(v, String::new(), &mut out);
    out
}

/// Waits a little for something asynchronous (a webhook answered after the worker ran).
pub async fn pause() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// What a person's `sops set FILE PATH VALUE` makes of a SOPS text (the real CLI, the demo key).
pub fn sops_set(text: &str, name: &str, path: &str, value: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(Path::new(name).file_name().unwrap());
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(sops_bin())
        .arg("set")
        .arg(&file)
        .args([path, value])
        .env("SOPS_AGE_KEY_FILE", fixture("demo-age-key.txt"))
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sops set: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&file).unwrap()
}

impl Drop for World {
    /// A failed test shows what keyroll logged and the requests it sent, last ones first.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let logs = logs();
        let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        eprintln!("---- keyroll's last log lines ----");
        for l in lines.iter().rev().take(60).rev() {
            eprintln!("{l}");
        }
        eprintln!("---- the last requests keyroll sent ----");
        let requests = self.sim.requests();
        for r in requests.iter().rev().take(30).rev() {
            eprintln!("{} {}", r.method, r.path);
        }
    }
}
