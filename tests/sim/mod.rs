//! A simulated GitHub for the tests: a real bare git repository holding the credentials
//! repository, served through a REST API that answers like GitHub's (App JWT and installation
//! tokens, Git Data, contents, pulls, issues, comments, reactions, checks, statuses,
//! permissions, branch protection), with injectable faults, a request log the OpenAPI checker
//! reads, and signed webhook deliveries built from GitHub's real example payloads.
//!
//! A test plays the people and the CI around keyroll with the driver methods (`merge_pull`,
//! `push_to_branch`, `comment`, `review`, `complete_check_run`, …), each of which changes the
//! state and then sends the webhook real GitHub would send. Deliveries that keyroll's own API
//! calls cause (opening a pull request, merging, commenting, …) are queued until the test calls
//! `deliver_pending`.
//!
//! Used from integration tests with `mod sim;`.

#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod api;
mod auth;
mod faults;
mod git;
mod log;
mod render;
mod state;
mod webhooks;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use wiremock::{Mock, MockServer};

pub use faults::{Fault, FaultKind};
pub use log::LoggedRequest;
pub use state::{
    CheckRunSnapshot, CommentSnapshot, IssueSnapshot, Protection, PullSnapshot, ReactionSnapshot,
    ReviewSnapshot, StatusSnapshot, User,
};
pub use webhooks::Delivery;

use state::{AppInfo, CheckRun, CommitStatus, Config, Deployment, Hooks, Review, State, now};

/// How the simulated GitHub is set up. `SimOptions::default()` is the `acme/credentials`
/// repository with the demo credentials, installation 77 of App 1234.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub owner: String,
    pub owner_id: u64,
    pub repo: String,
    pub repo_id: u64,
    pub installation_id: u64,
    /// The App id; JWTs must name it (or the client id `Iv23li<id>`) as issuer.
    pub app_id: u64,
    pub app_slug: String,
    pub default_branch: String,
    /// The first issue / pull request number.
    pub first_number: u64,
    /// The folder whose files make the initial commit of the default branch.
    pub fixture: PathBuf,
    /// Files added to (or replacing files of) the initial commit: path, text.
    pub extra_files: Vec<(String, String)>,
    /// The App's public key, to check JWTs.
    pub public_key: PathBuf,
    /// What the installation was granted (default: the App manifest `.github/app.yml`).
    pub permissions: BTreeMap<String, String>,
    /// The events the App subscribes to (default: the App manifest's).
    pub events: Vec<String>,
    /// Where webhooks go (keyroll's webhook URL) and the secret they are signed with.
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
    /// Repository roles by login: `admin`, `maintain`, `write`, `triage`, `read`, `none`.
    pub roles: Vec<(String, String)>,
    /// The role of anyone not in `roles`.
    pub default_role: String,
    /// The JSON-lines request log (`None`: memory only).
    pub request_log: Option<PathBuf>,
    pub private: bool,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The permissions and events of the App manifest `.github/app.yml`, so the simulation
/// grants what the real installation would.
fn manifest_defaults() -> (BTreeMap<String, String>, Vec<String>) {
    let fallback = || {
        let perms = [
            ("checks", "write"),
            ("contents", "write"),
            ("deployments", "read"),
            ("issues", "write"),
            ("members", "read"),
            ("metadata", "read"),
            ("pull_requests", "write"),
            ("statuses", "read"),
        ];
        let events = [
            "check_run",
            "check_suite",
            "deployment_status",
            "issue_comment",
            "pull_request",
            "pull_request_review",
            "push",
            "status",
        ];
        (
            perms
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            events.iter().map(|e| (*e).to_owned()).collect(),
        )
    };
    let Ok(text) = std::fs::read_to_string(manifest_dir().join(".github/app.yml")) else {
        return fallback();
    };
    let Ok(doc) = serde_norway::from_str::<Value>(&text) else {
        return fallback();
    };
    let perms: BTreeMap<String, String> = doc
        .get("default_permissions")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let events: Vec<String> = doc
        .get("default_events")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if perms.is_empty() {
        return fallback();
    }
    (perms, events)
}

impl Default for SimOptions {
    fn default() -> Self {
        let (permissions, events) = manifest_defaults();
        SimOptions {
            owner: "acme".to_owned(),
            owner_id: 9001,
            repo: "credentials".to_owned(),
            repo_id: 4242,
            installation_id: 77,
            app_id: 1234,
            app_slug: "keyroll".to_owned(),
            default_branch: "main".to_owned(),
            first_number: 101,
            fixture: manifest_dir().join("fixtures/demo-credentials"),
            extra_files: Vec::new(),
            public_key: manifest_dir().join("fixtures/github-app/test-app-key.pub.pem"),
            permissions,
            events,
            webhook_url: None,
            webhook_secret: "test-webhook-secret".to_owned(),
            roles: vec![
                ("acme-admin".to_owned(), "admin".to_owned()),
                ("alice".to_owned(), "write".to_owned()),
                ("bob".to_owned(), "write".to_owned()),
                ("carol".to_owned(), "read".to_owned()),
                ("mallory".to_owned(), "none".to_owned()),
            ],
            default_role: "read".to_owned(),
            request_log: Some(log::default_path()),
            private: true,
        }
    }
}

/// The simulated GitHub. Dropping it stops the server and deletes the repository.
pub struct Sim {
    server: MockServer,
    state: Arc<Mutex<State>>,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").field("url", &self.url()).finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sending {
    Drop,
    Once,
    Twice,
}

impl Sim {
    /// A bare repository with one commit of the fixture on the default branch, and the API
    /// server in front of it.
    pub async fn start(options: SimOptions) -> Sim {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let bare = dir.path().join(format!("{}.git", options.repo));
        let repo = git2::Repository::init_bare(&bare).expect("a bare repository");
        let mut tree = git::tree_from_dir(&repo, &options.fixture);
        if !options.extra_files.is_empty() {
            let changes: Vec<git::TreeChange> = options
                .extra_files
                .iter()
                .map(|(path, text)| git::TreeChange::Upsert {
                    path: path.clone(),
                    oid: repo.blob(text.as_bytes()).expect("blob written"),
                    mode: git2::FileMode::Blob,
                })
                .collect();
            tree = git::update_tree(&repo, Some(tree), &changes).expect("extra files fit");
        }
        let admin = User::admin();
        let sig = git::signature(
            &admin.login,
            &admin.email(),
            now() - time::Duration::days(1),
        );
        let first = git::write_commit(&repo, &sig, &sig, "Initial commit", tree, &[], false)
            .expect("initial commit");
        let head = format!("refs/heads/{}", options.default_branch);
        git::set_ref(&repo, &head, first);
        repo.set_head(&head).expect("HEAD set");

        let public_key_pem = std::fs::read(&options.public_key).unwrap_or_else(|e| {
            panic!(
                "reading the App public key {}: {e}",
                options.public_key.display()
            )
        });
        let bot = User::bot(&format!("{}[bot]", options.app_slug), 190_000_077);
        let cfg = Config {
            owner: options.owner.clone(),
            owner_id: options.owner_id,
            repo: options.repo.clone(),
            repo_id: options.repo_id,
            installation_id: options.installation_id,
            app: AppInfo {
                id: options.app_id,
                slug: options.app_slug.clone(),
                name: options.app_slug.clone(),
            },
            default_branch: options.default_branch.clone(),
            hook_id: 500_000_000 + options.app_id,
            bot: bot.clone(),
            private: options.private,
            permissions: options.permissions.clone(),
            events: options.events.clone(),
            public_key_pem,
        };
        let mut users = HashMap::new();
        for u in [
            User::admin(),
            User::alice(),
            User::bob(),
            User::carol(),
            User::mallory(),
            User::deploy_bot(),
            bot,
        ] {
            users.insert(u.login.to_lowercase(), u);
        }
        let server = MockServer::start().await;
        let t = now().unix_timestamp();
        let st = State {
            cfg,
            api_url: server.uri(),
            repo,
            tokens: HashMap::new(),
            tokens_issued: 0,
            next_number: options.first_number,
            next_id: 1_000_000,
            issues: BTreeMap::new(),
            comments: Vec::new(),
            check_runs: Vec::new(),
            check_suites: Vec::new(),
            statuses: Vec::new(),
            reviews: Vec::new(),
            reactions: Vec::new(),
            deployments: Vec::new(),
            labels: BTreeMap::new(),
            roles: options
                .roles
                .iter()
                .map(|(l, r)| (l.to_lowercase(), r.clone()))
                .collect(),
            default_role: options.default_role.clone(),
            users,
            protections: BTreeMap::new(),
            rulesets: BTreeMap::new(),
            teams: BTreeMap::new(),
            faults: Vec::new(),
            rate_limit: 5000,
            rate_remaining: 5000,
            tree_limit: 100_000,
            rate_reset: t + 3600,
            requests: Vec::new(),
            unhandled: Vec::new(),
            hooks: Hooks {
                target: options.webhook_url.clone(),
                secret: options.webhook_secret.clone(),
                ..Hooks::default()
            },
            request_seq: 0,
        };
        let state = Arc::new(Mutex::new(st));
        Mock::given(wiremock::matchers::any())
            .respond_with(api::Responder {
                state: Arc::clone(&state),
                log_path: options.request_log.clone(),
            })
            .named("simulated GitHub")
            .mount(&server)
            .await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client");
        Sim {
            server,
            state,
            http,
            dir,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        api::lock(&self.state)
    }

    // ---- facts ----

    /// The API base URL (what `https://api.github.com` is for real GitHub).
    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        self.lock().cfg.full_name()
    }

    pub fn installation_id(&self) -> u64 {
        self.lock().cfg.installation_id
    }

    pub fn repository_id(&self) -> u64 {
        self.lock().cfg.repo_id
    }

    pub fn app_id(&self) -> u64 {
        self.lock().cfg.app.id
    }

    pub fn default_branch(&self) -> String {
        self.lock().cfg.default_branch.clone()
    }

    /// The App's bot user (`keyroll[bot]`), author of everything done with a token.
    pub fn bot(&self) -> User {
        self.lock().cfg.bot.clone()
    }

    /// The bare repository.
    pub fn bare_path(&self) -> PathBuf {
        self.lock().repo.path().to_path_buf()
    }

    // ---- settings ----

    pub fn set_webhook_target(&self, url: &str, secret: &str) {
        let mut st = self.lock();
        st.hooks.target = Some(url.to_owned());
        st.hooks.secret = secret.to_owned();
    }

    /// A person's role on the repository (`admin`, `maintain`, `write`, `triage`, `read`,
    /// `none`).
    pub fn set_role(&self, login: &str, role: &str) {
        self.lock()
            .roles
            .insert(login.to_lowercase(), role.to_owned());
    }

    pub fn protect_branch(&self, branch: &str, protection: Protection) {
        self.lock()
            .protections
            .insert(branch.to_owned(), protection);
    }

    pub fn unprotect_branch(&self, branch: &str) {
        self.lock().protections.remove(branch);
    }

    /// A repository ruleset on `branch` (what `GET rules/branches/{branch}` shows, readable
    /// with read access); enforced on merges like protection.
    pub fn add_ruleset(&self, branch: &str, rules: Protection) {
        self.lock().rulesets.insert(branch.to_owned(), rules);
    }

    /// An organization team and its members (for `@org/team` reviewers and membership
    /// checks). `org` must be the repository owner.
    pub fn set_team(&self, org: &str, team: &str, members: &[&str]) {
        let mut st = self.lock();
        assert!(
            org.eq_ignore_ascii_case(&st.cfg.owner),
            "teams belong to the repository's owner {}, not {org}",
            st.cfg.owner
        );
        st.teams.insert(
            team.to_lowercase(),
            members.iter().map(|m| (*m).to_owned()).collect(),
        );
    }

    /// Grants (or, with `none`, withdraws) an installation permission for tokens issued
    /// from now on.
    pub fn set_permission(&self, permission: &str, level: &str) {
        let mut st = self.lock();
        if level == "none" {
            st.cfg.permissions.remove(permission);
        } else {
            st.cfg
                .permissions
                .insert(permission.to_owned(), level.to_owned());
        }
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Faults not used up yet.
    pub fn faults_left(&self) -> Vec<Fault> {
        self.lock().faults.clone()
    }

    /// Makes every issued installation token expire now (the next use gets a 401).
    pub fn expire_tokens(&self) {
        let past = now() - time::Duration::seconds(1);
        for t in self.lock().tokens.values_mut() {
            t.expires_at = past;
        }
    }

    /// Sets what is left of the hourly request budget (0: every request gets the primary
    /// rate limit answer until the reset).
    pub fn set_rate_limit_remaining(&self, remaining: u32) {
        self.lock().rate_remaining = remaining;
    }

    /// Recursive trees list at most `entries` entries from now on, then say `truncated`, as
    /// GitHub does past its limits.
    pub fn truncate_trees_past(&self, entries: usize) {
        self.lock().tree_limit = entries;
    }

    // ---- inspection ----

    pub fn pulls(&self) -> Vec<PullSnapshot> {
        self.lock()
            .issues
            .values()
            .filter(|i| i.pull.is_some())
            .map(PullSnapshot::from)
            .collect()
    }

    pub fn pull(&self, number: u64) -> PullSnapshot {
        let st = self.lock();
        let i = st
            .issues
            .get(&number)
            .filter(|i| i.pull.is_some())
            .unwrap_or_else(|| panic!("there is no pull request #{number}"));
        PullSnapshot::from(i)
    }

    /// Issues that are not pull requests.
    pub fn issues(&self) -> Vec<IssueSnapshot> {
        self.lock()
            .issues
            .values()
            .filter(|i| i.pull.is_none())
            .map(|i| IssueSnapshot {
                number: i.number,
                title: i.title.clone(),
                body: i.body.clone().unwrap_or_default(),
                state: i.state.clone(),
                author: i.user.clone(),
                labels: i.labels.clone(),
            })
            .collect()
    }

    /// The comments on an issue or pull request, oldest first.
    pub fn comments(&self, issue_number: u64) -> Vec<CommentSnapshot> {
        self.lock()
            .comments
            .iter()
            .filter(|c| c.issue_number == issue_number)
            .map(|c| CommentSnapshot {
                id: c.id,
                issue_number: c.issue_number,
                body: c.body.clone(),
                author: c.user.clone(),
            })
            .collect()
    }

    pub fn check_runs(&self, sha: &str) -> Vec<CheckRunSnapshot> {
        self.lock()
            .check_runs
            .iter()
            .filter(|c| c.head_sha == sha)
            .map(CheckRunSnapshot::from)
            .collect()
    }

    pub fn all_check_runs(&self) -> Vec<CheckRunSnapshot> {
        self.lock()
            .check_runs
            .iter()
            .map(CheckRunSnapshot::from)
            .collect()
    }

    pub fn statuses(&self, sha: &str) -> Vec<StatusSnapshot> {
        self.lock()
            .statuses
            .iter()
            .filter(|s| s.sha == sha)
            .map(|s| StatusSnapshot {
                sha: s.sha.clone(),
                context: s.context.clone(),
                state: s.state.clone(),
                description: s.description.clone(),
                creator: s.creator.clone(),
            })
            .collect()
    }

    pub fn reviews(&self, number: u64) -> Vec<ReviewSnapshot> {
        self.lock()
            .reviews
            .iter()
            .filter(|r| r.number == number)
            .map(|r| ReviewSnapshot {
                id: r.id,
                number: r.number,
                user: r.user.clone(),
                state: r.state.clone(),
                body: r.body.clone(),
                commit_id: r.commit_id.clone(),
            })
            .collect()
    }

    pub fn reactions(&self) -> Vec<ReactionSnapshot> {
        self.lock()
            .reactions
            .iter()
            .map(|r| ReactionSnapshot {
                comment_id: r.comment_id,
                content: r.content.clone(),
                user: r.user.clone(),
            })
            .collect()
    }

    pub fn branch_sha(&self, branch: &str) -> Option<String> {
        git::branch_head(&self.lock().repo, branch).map(|o| o.to_string())
    }

    pub fn branches(&self) -> Vec<String> {
        git::branches(&self.lock().repo)
            .into_iter()
            .map(|(b, _)| b)
            .collect()
    }

    /// A file's text at a branch, commit or tag.
    pub fn file(&self, git_ref: &str, path: &str) -> Option<String> {
        let st = self.lock();
        let commit = git::resolve_commit(&st.repo, git_ref)?;
        let (_, oid, _) = git::object_at(&st.repo, commit, path)?;
        let blob = st.repo.find_blob(oid).ok()?;
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    }

    /// A real clone of the repository with the default branch checked out.
    pub fn clone_to(&self, dir: &Path) -> git2::Repository {
        let st = self.lock();
        let source = st.repo.path().to_string_lossy().into_owned();
        let repo = git2::build::RepoBuilder::new()
            .branch(&st.cfg.default_branch)
            .clone(&source, dir)
            .unwrap_or_else(|e| panic!("cloning the simulated repository: {e}"));
        if let Ok(mut config) = repo.config() {
            let _ = config.set_str("user.name", "sim");
            let _ = config.set_str("user.email", "sim@example.com");
        }
        repo
    }

    /// `METHOD /path?query` of every request no route answered (a client calling an endpoint
    /// the simulation, or GitHub, does not have).
    pub fn unhandled(&self) -> Vec<String> {
        self.lock().unhandled.clone()
    }

    pub fn tokens_issued(&self) -> u32 {
        self.lock().tokens_issued
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().requests.clone()
    }

    /// Every delivery made (sent, dropped or queued), in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        let st = self.lock();
        st.hooks
            .all
            .iter()
            .chain(st.hooks.pending.iter())
            .cloned()
            .collect()
    }

    /// Deliveries caused by API calls, not sent yet.
    pub fn pending_deliveries(&self) -> Vec<Delivery> {
        self.lock().hooks.pending.clone()
    }

    /// The last delivery handed to the sender.
    pub fn last_delivery(&self) -> Option<Delivery> {
        self.lock().hooks.all.last().cloned()
    }

    /// A payload of `event` (with `action`) from the real examples, with this repository,
    /// installation and `sender` in it: a start for a custom delivery.
    pub fn payload(&self, event: &str, action: Option<&str>, sender: &User) -> Value {
        webhooks::base(&self.lock(), event, action, sender)
    }

    // ---- webhooks ----

    /// The next `n` deliveries are built but never sent.
    pub fn drop_next_webhooks(&self, n: u32) {
        self.lock().hooks.drop_next += n;
    }

    /// The next `n` deliveries are sent twice, with the same `X-GitHub-Delivery`.
    pub fn duplicate_next_webhooks(&self, n: u32) {
        self.lock().hooks.duplicate_next += n;
    }

    /// Sends the deliveries API calls caused, in order; the status of each.
    pub async fn deliver_pending(&self) -> Vec<u16> {
        let pending = std::mem::take(&mut self.lock().hooks.pending);
        self.send_all(pending).await
    }

    /// Sends the pending deliveries newest first (GitHub does not promise an order).
    pub async fn deliver_pending_reversed(&self) -> Vec<u16> {
        let mut pending = std::mem::take(&mut self.lock().hooks.pending);
        pending.reverse();
        self.send_all(pending).await
    }

    /// Forgets the pending deliveries (all lost); returns them.
    pub fn discard_pending(&self) -> Vec<Delivery> {
        let pending = std::mem::take(&mut self.lock().hooks.pending);
        let mut st = self.lock();
        for d in &pending {
            let mut d = d.clone();
            d.dropped = true;
            st.hooks.all.push(d);
        }
        pending
    }

    /// Sends a delivery again, with the same GUID and body (GitHub's "Redeliver").
    pub async fn redeliver(&self, guid: &str) -> u16 {
        let d = self
            .lock()
            .hooks
            .all
            .iter()
            .find(|d| d.guid == guid)
            .cloned()
            .unwrap_or_else(|| panic!("no delivery {guid} was made"));
        let status = self.post(&d).await;
        self.record(guid, status);
        status
    }

    /// Sends `payload` as an `event` delivery, as is (signed, with GitHub's headers).
    pub async fn send_webhook(&self, event: &str, payload: &Value) -> u16 {
        let d = Delivery {
            guid: state::uuid(),
            event: event.to_owned(),
            action: payload
                .get("action")
                .and_then(Value::as_str)
                .map(str::to_owned),
            body: serde_json::to_vec(payload).expect("a payload serializes"),
            attempts: Vec::new(),
            dropped: false,
        };
        self.send(d).await
    }

    async fn send_all(&self, deliveries: Vec<Delivery>) -> Vec<u16> {
        let mut out = Vec::new();
        for d in deliveries {
            out.push(self.send(d).await);
        }
        out
    }

    /// Sends one delivery, applying drop/duplicate; keyroll's status (0: none).
    async fn send(&self, d: Delivery) -> u16 {
        let mode = {
            let mut st = self.lock();
            let mode = if st.hooks.drop_next > 0 {
                st.hooks.drop_next -= 1;
                Sending::Drop
            } else if st.hooks.duplicate_next > 0 {
                st.hooks.duplicate_next -= 1;
                Sending::Twice
            } else {
                Sending::Once
            };
            let mut record = d.clone();
            record.dropped = mode == Sending::Drop;
            st.hooks.all.push(record);
            mode
        };
        let times = match mode {
            Sending::Drop => return 0,
            Sending::Once => 1,
            Sending::Twice => 2,
        };
        let mut status = 0;
        for _ in 0..times {
            status = self.post(&d).await;
            self.record(&d.guid, status);
        }
        status
    }

    fn record(&self, guid: &str, status: u16) {
        let mut st = self.lock();
        if let Some(d) = st.hooks.all.iter_mut().rev().find(|d| d.guid == guid) {
            d.attempts.push(status);
        }
    }

    async fn post(&self, d: &Delivery) -> u16 {
        let (target, secret, hook_id, app_id) = {
            let st = self.lock();
            (
                st.hooks.target.clone(),
                st.hooks.secret.clone(),
                st.cfg.hook_id,
                st.cfg.app.id,
            )
        };
        // For `check.sh --webhooks`: each payload sent, as `EVENT.GUID.json`.
        if let Some(dir) = std::env::var_os("KEYROLL_SIM_DUMP_WEBHOOKS") {
            let dir = PathBuf::from(dir);
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(format!("{}.{}.json", d.event, d.guid)), &d.body);
        }
        // No webhook URL configured: GitHub has nowhere to send it.
        let Some(target) = target else {
            return 0;
        };
        let signature = keyroll::github::signature::Secrets::sign(secret.as_bytes(), &d.body);
        let sent = self
            .http
            .post(&target)
            .header("X-GitHub-Event", &d.event)
            .header("X-GitHub-Delivery", &d.guid)
            .header("X-GitHub-Hook-ID", hook_id.to_string())
            .header("X-GitHub-Hook-Installation-Target-Type", "integration")
            .header("X-GitHub-Hook-Installation-Target-ID", app_id.to_string())
            .header("X-Hub-Signature-256", signature)
            .header("Content-Type", "application/json")
            .header("User-Agent", "GitHub-Hookshot/7b3b5c9")
            .body(d.body.clone())
            .send()
            .await;
        match sent {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }

    // ---- what people and CI do ----

    /// Merges a pull request as `by` (a real merge commit) and sends `pull_request` closed
    /// (merged) and `push`. The merge commit's sha.
    pub async fn merge_pull(&self, number: u64, by: &User) -> String {
        let (sha, deliveries) = {
            let mut st = self.lock();
            api::merge(&mut st, number, by, "merge", None, None, None)
                .unwrap_or_else(|e| panic!("merging #{number}: {e}"))
        };
        self.send_all(deliveries).await;
        sha
    }

    /// Closes a pull request without merging; sends `pull_request` closed.
    pub async fn close_pull(&self, number: u64, by: &User) -> u16 {
        let deliveries = {
            let mut st = self.lock();
            st.know(by);
            api::close_pull(&mut st, number, by)
        };
        self.send_all(deliveries)
            .await
            .first()
            .copied()
            .unwrap_or(0)
    }

    /// Reopens a closed pull request; sends `pull_request` reopened.
    pub async fn reopen_pull(&self, number: u64, by: &User) -> u16 {
        let deliveries = {
            let mut st = self.lock();
            api::reopen_pull(&mut st, number, by)
                .unwrap_or_else(|e| panic!("reopening #{number}: {e}"))
        };
        self.send_all(deliveries)
            .await
            .first()
            .copied()
            .unwrap_or(0)
    }

    /// A person's commit of `files` (path, text) on `branch` (made from the default branch
    /// when missing); sends `push`, and `pull_request` synchronize for an open pull request
    /// of the branch. The commit's sha.
    pub async fn push_to_branch(&self, branch: &str, files: &[(&str, &str)], by: &User) -> String {
        let (sha, deliveries) = {
            let mut st = self.lock();
            st.know(by);
            let old = git::branch_head(&st.repo, branch);
            let parent = old
                .or_else(|| git::branch_head(&st.repo, &st.cfg.default_branch))
                .expect("the default branch exists");
            let base_tree = st
                .repo
                .find_commit(parent)
                .map(|c| c.tree_id())
                .expect("a commit");
            let changes: Vec<git::TreeChange> = files
                .iter()
                .map(|(path, text)| git::TreeChange::Upsert {
                    path: (*path).to_owned(),
                    oid: st.repo.blob(text.as_bytes()).expect("blob written"),
                    mode: git2::FileMode::Blob,
                })
                .collect();
            let tree = git::update_tree(&st.repo, Some(base_tree), &changes)
                .unwrap_or_else(|e| panic!("building the pushed tree: {e}"));
            let sig = git::signature(&by.login, &by.email(), now());
            let names: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
            let message = format!("Update {}", names.join(", "));
            let commit = git::write_commit(&st.repo, &sig, &sig, &message, tree, &[parent], false)
                .expect("commit written");
            git::set_ref(&st.repo, &format!("refs/heads/{branch}"), commit);
            let deliveries = api::after_ref_update(&mut st, branch, old, Some(commit), by, false);
            (commit.to_string(), deliveries)
        };
        self.send_all(deliveries).await;
        sha
    }

    /// A person opens a pull request; sends `pull_request` opened. Its number.
    pub async fn open_pull(&self, head: &str, base: &str, title: &str, by: &User) -> u64 {
        let (number, deliveries) = {
            let mut st = self.lock();
            st.know(by);
            let head_oid = git::branch_head(&st.repo, head)
                .unwrap_or_else(|| panic!("there is no branch {head}"));
            let base_oid = git::branch_head(&st.repo, base)
                .unwrap_or_else(|| panic!("there is no branch {base}"));
            let number = st.number();
            let id = st.id();
            let pull_id = st.id();
            let t = now();
            st.issues.insert(
                number,
                state::Issue {
                    number,
                    id,
                    title: title.to_owned(),
                    body: None,
                    state: "open".to_owned(),
                    state_reason: None,
                    user: by.clone(),
                    via_app: false,
                    labels: Vec::new(),
                    assignees: Vec::new(),
                    locked: false,
                    created_at: t,
                    updated_at: t,
                    closed_at: None,
                    closed_by: None,
                    pull: Some(state::Pull {
                        id: pull_id,
                        head_ref: head.to_owned(),
                        head_sha: head_oid.to_string(),
                        base_ref: base.to_owned(),
                        base_sha: base_oid.to_string(),
                        merged: false,
                        merged_at: None,
                        merged_by: None,
                        merge_commit_sha: None,
                        mergeable: None,
                        draft: false,
                        maintainer_can_modify: true,
                        requested_reviewers: Vec::new(),
                        requested_teams: Vec::new(),
                    }),
                },
            );
            let payload = webhooks::pull_request(&st, number, "opened", by, None, None, None);
            api::refresh_pull(&mut st, number);
            let d: Vec<Delivery> = webhooks::delivery(&st, "pull_request", &payload)
                .into_iter()
                .collect();
            (number, d)
        };
        self.send_all(deliveries).await;
        number
    }

    /// Another App ("deploy-bot") reports a completed check run on `sha`; sends `check_run`
    /// completed. The run's id.
    pub async fn complete_check_run(&self, sha: &str, name: &str, conclusion: &str) -> u64 {
        self.deploy_check_run(sha, name, Some(conclusion)).await
    }

    /// Another App ("deploy-bot") starts a check run on `sha`; sends `check_run` created.
    pub async fn start_check_run(&self, sha: &str, name: &str) -> u64 {
        self.deploy_check_run(sha, name, None).await
    }

    async fn deploy_check_run(&self, sha: &str, name: &str, conclusion: Option<&str>) -> u64 {
        let (id, deliveries) = {
            let mut st = self.lock();
            let oid = git::parse_oid(sha)
                .filter(|o| git::is_commit(&st.repo, *o))
                .unwrap_or_else(|| panic!("{sha} is not a commit of the repository"));
            let by = User::deploy_bot();
            let app = AppInfo {
                id: 31_337,
                slug: "deploy-bot".to_owned(),
                name: "deploy-bot".to_owned(),
            };
            let suite_id = st.suite(&app.slug, &oid.to_string());
            let t = now();
            let run = CheckRun {
                id: st.id(),
                name: name.to_owned(),
                head_sha: oid.to_string(),
                status: if conclusion.is_some() {
                    "completed".to_owned()
                } else {
                    "in_progress".to_owned()
                },
                conclusion: conclusion.map(str::to_owned),
                external_id: None,
                details_url: Some(format!("https://deploy.example.com/runs/{name}")),
                title: Some(name.to_owned()),
                summary: Some(format!("{name}: {}", conclusion.unwrap_or("in progress"))),
                text: None,
                actions: serde_json::json!([]),
                app,
                suite_id,
                started_at: t,
                completed_at: conclusion.map(|_| t),
            };
            st.check_runs.push(run.clone());
            let action = if conclusion.is_some() {
                "completed"
            } else {
                "created"
            };
            let payload = webhooks::check_run(&st, &run, action, &by);
            let d: Vec<Delivery> = webhooks::delivery(&st, "check_run", &payload)
                .into_iter()
                .collect();
            (run.id, d)
        };
        self.send_all(deliveries).await;
        id
    }

    /// The deploy bot finishes a check run it started; sends `check_run` completed.
    pub async fn finish_check_run(&self, id: u64, conclusion: &str) -> u16 {
        let deliveries = {
            let mut st = self.lock();
            let t = now();
            let run = st
                .check_runs
                .iter_mut()
                .find(|c| c.id == id)
                .unwrap_or_else(|| panic!("there is no check run {id}"));
            run.status = "completed".to_owned();
            run.conclusion = Some(conclusion.to_owned());
            run.completed_at = Some(t);
            let run = run.clone();
            let payload = webhooks::check_run(&st, &run, "completed", &User::deploy_bot());
            webhooks::delivery(&st, "check_run", &payload)
                .into_iter()
                .collect::<Vec<_>>()
        };
        self.send_all(deliveries)
            .await
            .first()
            .copied()
            .unwrap_or(0)
    }

    /// A person presses a button (a check run action) of the App's latest check run named
    /// `check_name` on `sha`; sends `check_run` requested_action to the App.
    pub async fn press_button(
        &self,
        sha: &str,
        check_name: &str,
        identifier: &str,
        by: &User,
    ) -> u16 {
        let deliveries = {
            let mut st = self.lock();
            st.know(by);
            let app_id = st.cfg.app.id;
            let run = st
                .check_runs
                .iter()
                .rev()
                .find(|c| c.head_sha == sha && c.name == check_name && c.app.id == app_id)
                .cloned()
                .unwrap_or_else(|| panic!("the App has no check run {check_name} on {sha}"));
            let offered = run.actions.as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x.get("identifier").and_then(Value::as_str) == Some(identifier))
            });
            assert!(
                offered,
                "check run {check_name} on {sha} has no button {identifier:?}: {}",
                run.actions
            );
            let mut payload = webhooks::check_run(&st, &run, "requested_action", by);
            if let Some(obj) = payload.as_object_mut() {
                obj.insert(
                    "requested_action".into(),
                    serde_json::json!({ "identifier": identifier }),
                );
            }
            webhooks::delivery(&st, "check_run", &payload)
                .into_iter()
                .collect::<Vec<_>>()
        };
        self.send_all(deliveries)
            .await
            .first()
            .copied()
            .unwrap_or(0)
    }

    /// CI sets a commit status; sends `status`.
    pub async fn set_status(&self, sha: &str, context: &str, state: &str) -> u16 {
        let deliveries = {
            let mut st = self.lock();
            let oid = git::parse_oid(sha)
                .filter(|o| git::is_commit(&st.repo, *o))
                .unwrap_or_else(|| panic!("{sha} is not a commit of the repository"));
            let by = User::deploy_bot();
            let s = CommitStatus {
                id: st.id(),
                sha: oid.to_string(),
                context: context.to_owned(),
                state: state.to_owned(),
                description: Some(format!("{context}: {state}")),
                target_url: Some(format!("https://deploy.example.com/{context}")),
                creator: by.clone(),
                created_at: now(),
            };
            st.statuses.push(s.clone());
            let payload = webhooks::status(&st, &s, &by);
            webhooks::delivery(&st, "status", &payload)
                .into_iter()
                .collect::<Vec<_>>()
        };
        self.send_all(deliveries)
            .await
            .first()
            .copied()
            .unwrap_or(0)
    }

    /// A deployment of `sha` to `environment` reports `state`; sends `deployment_status`.
    pub async fn deployment_status(&self, sha: &str, environment: &str, state: &str) -> u16 {
        let deliveries = {
            let mut st = self.lock();
            let oid = git::parse_oid(sha)
                .filter(|o| git::is_commit(&st.repo, *o))
                .unwrap_or_else(|| panic!("{sha} is not a commit of the repository"));
            let by = User::deploy_bot();
            let existing = st
                .deployments
                .iter()
                .position(|d| d.sha == sha && d.environment == environment);
            let i = match existing {
                Some(i) => i,
                None => {
                    let id = st.id();
                    let git_ref = st.cfg.default_branch.clone();
                    st.deployments.push(Deployment {
                        id,
                        sha: oid.to_string(),
                        git_ref,
                        environment: environment.to_owned(),
                        creator: by.clone(),
                        created_at: now(),
                        statuses: Vec::new(),
                    });
                    st.deployments.len() - 1
                }
            };
            let status_id = st.id();
            st.deployments[i]
                .statuses
                .push((status_id, state.to_owned(), now()));
            let d = st.deployments[i].clone();
            let payload = webhooks::deployment_status(&st, &d, &by);
            webhooks::delivery(&st, "deployment_status", &payload)
                .into_iter()
                .collect::<Vec<_>>()
        };
        self.send_all(deliveries)
            .await
            .first()
            .copied()
            .unwrap_or(0)
    }

    /// A person comments on an issue or pull request; sends `issue_comment` created. The
    /// comment's id.
    pub async fn comment(&self, issue_number: u64, by: &User, body: &str) -> u64 {
        let (id, deliveries) = {
            let mut st = self.lock();
            assert!(
                st.issues.contains_key(&issue_number),
                "there is no issue or pull request #{issue_number}"
            );
            let c = api::add_comment(&mut st, issue_number, by, body, false);
            let payload = webhooks::issue_comment(&st, &c, "created", by, None);
            let d: Vec<Delivery> = webhooks::delivery(&st, "issue_comment", &payload)
                .into_iter()
                .collect();
            (c.id, d)
        };
        self.send_all(deliveries).await;
        id
    }

    /// A person edits a comment; sends `issue_comment` edited (with the old body).
    pub async fn edit_comment(&self, id: u64, by: &User, body: &str) -> u16 {
        let deliveries = {
            let mut st = self.lock();
            st.know(by);
            let (c, old) = api::edit_comment(&mut st, id, body)
                .unwrap_or_else(|| panic!("there is no comment {id}"));
            let payload = webhooks::issue_comment(&st, &c, "edited", by, Some(old));
            webhooks::delivery(&st, "issue_comment", &payload)
                .into_iter()
                .collect::<Vec<_>>()
        };
        self.send_all(deliveries)
            .await
            .first()
            .copied()
            .unwrap_or(0)
    }

    /// A person reviews a pull request at its current head (`APPROVED`,
    /// `CHANGES_REQUESTED`, `COMMENTED`); sends `pull_request_review` submitted.
    pub async fn review(&self, number: u64, by: &User, state: &str, body: &str) -> u16 {
        assert!(
            matches!(state, "APPROVED" | "CHANGES_REQUESTED" | "COMMENTED"),
            "a review is APPROVED, CHANGES_REQUESTED or COMMENTED, not {state}"
        );
        let deliveries = {
            let mut st = self.lock();
            st.know(by);
            let (issue, pull) = st
                .pull(number)
                .unwrap_or_else(|| panic!("there is no pull request #{number}"));
            assert!(
                issue.user.login != by.login,
                "GitHub does not let {} review their own pull request",
                by.login
            );
            let commit_id = pull.head_sha.clone();
            let r = Review {
                id: st.id(),
                number,
                user: by.clone(),
                state: state.to_owned(),
                body: body.to_owned(),
                commit_id,
                submitted_at: now(),
            };
            st.reviews.push(r.clone());
            if state != "COMMENTED"
                && let Some(p) = st.issues.get_mut(&number).and_then(|i| i.pull.as_mut())
            {
                p.requested_reviewers
                    .retain(|l| !l.eq_ignore_ascii_case(&by.login));
            }
            let payload = webhooks::review(&st, &r, by);
            webhooks::delivery(&st, "pull_request_review", &payload)
                .into_iter()
                .collect::<Vec<_>>()
        };
        self.send_all(deliveries)
            .await
            .first()
            .copied()
            .unwrap_or(0)
    }
}
