//! Everything the simulated GitHub remembers, behind one mutex: the repository settings, the
//! bare git repository, installation tokens, issues and pull requests (one numbering), comments,
//! check runs, commit statuses, reviews, reactions, deployments, faults to inject, the request
//! log and the webhook deliveries.

use std::collections::{BTreeMap, HashMap};

use time::OffsetDateTime;
use time::macros::format_description;

use super::faults::Fault;
use super::log::LoggedRequest;
use super::webhooks::Delivery;

/// A GitHub account: a person, or the bot user of an App (`name[bot]`, type `Bot`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct User {
    pub login: String,
    pub id: u64,
    pub is_bot: bool,
}

impl User {
    pub fn person(login: &str, id: u64) -> User {
        User {
            login: login.to_owned(),
            id,
            is_bot: false,
        }
    }

    pub fn bot(login: &str, id: u64) -> User {
        User {
            login: login.to_owned(),
            id,
            is_bot: true,
        }
    }

    /// A maintainer (role `write` unless a test sets another).
    pub fn alice() -> User {
        User::person("alice", 5001)
    }

    /// A second maintainer.
    pub fn bob() -> User {
        User::person("bob", 5002)
    }

    /// A third person, role `read` by default.
    pub fn carol() -> User {
        User::person("carol", 5003)
    }

    /// Someone with no access to the repository (role `none`).
    pub fn mallory() -> User {
        User::person("mallory", 5666)
    }

    /// The repository's administrator, author of the initial commit.
    pub fn admin() -> User {
        User::person("acme-admin", 5000)
    }

    /// The bot user of the keyroll App: the author of everything done with an installation
    /// token.
    pub fn keyroll_bot() -> User {
        User::bot("keyroll[bot]", 190_000_077)
    }

    /// The bot user of another App that runs deploys and reports check runs and statuses.
    pub fn deploy_bot() -> User {
        User::bot("deploy-bot[bot]", 190_000_088)
    }

    /// `User` or `Bot`, as GitHub's `type` field says.
    pub fn kind(&self) -> &'static str {
        if self.is_bot { "Bot" } else { "User" }
    }

    /// The no-reply address GitHub gives the account.
    pub fn email(&self) -> String {
        format!("{}+{}@users.noreply.github.com", self.id, self.login)
    }
}

/// An account equals its login (`comment.author == "keyroll[bot]"`).
impl PartialEq<&str> for User {
    fn eq(&self, other: &&str) -> bool {
        self.login == *other
    }
}

impl PartialEq<str> for User {
    fn eq(&self, other: &str) -> bool {
        self.login == other
    }
}

/// Branch protection the simulation enforces on merges and direct ref updates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protection {
    /// Check run names or commit status contexts that must have succeeded on the head.
    pub required_checks: Vec<String>,
    /// Approving reviews (by people with write access) needed before a merge.
    pub required_approvals: u32,
    pub enforce_admins: bool,
}

/// An App as check runs name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInfo {
    pub id: u64,
    pub slug: String,
    pub name: String,
}

/// The fixed facts about the repository, installation and App.
#[derive(Debug, Clone)]
pub struct Config {
    pub owner: String,
    pub owner_id: u64,
    pub repo: String,
    pub repo_id: u64,
    pub installation_id: u64,
    pub app: AppInfo,
    pub default_branch: String,
    pub hook_id: u64,
    pub bot: User,
    pub private: bool,
    /// What the installation was granted (`contents` → `write`, …).
    pub permissions: BTreeMap<String, String>,
    /// The events the App subscribes to; deliveries of other events are not made.
    pub events: Vec<String>,
    pub public_key_pem: Vec<u8>,
}

impl Config {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }
}

#[derive(Debug, Clone)]
pub struct Token {
    pub permissions: BTreeMap<String, String>,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct Pull {
    pub id: u64,
    pub head_ref: String,
    pub head_sha: String,
    pub base_ref: String,
    pub base_sha: String,
    pub merged: bool,
    pub merged_at: Option<OffsetDateTime>,
    pub merged_by: Option<User>,
    pub merge_commit_sha: Option<String>,
    /// `None` while unknown (closed pull requests).
    pub mergeable: Option<bool>,
    pub draft: bool,
    pub maintainer_can_modify: bool,
    pub requested_reviewers: Vec<String>,
    pub requested_teams: Vec<String>,
}

/// An issue; a pull request is an issue with `pull` set (one numbering, like GitHub).
#[derive(Debug, Clone)]
pub struct Issue {
    pub number: u64,
    pub id: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: String,
    pub state_reason: Option<String>,
    pub user: User,
    /// Created with an installation token (shows `performed_via_github_app`).
    pub via_app: bool,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    pub locked: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub closed_at: Option<OffsetDateTime>,
    pub closed_by: Option<User>,
    pub pull: Option<Pull>,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub issue_number: u64,
    pub body: String,
    pub user: User,
    pub via_app: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub actions: serde_json::Value,
    pub app: AppInfo,
    pub suite_id: u64,
    pub started_at: OffsetDateTime,
    pub completed_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct CheckSuite {
    pub id: u64,
    pub app_slug: String,
    pub head_sha: String,
}

#[derive(Debug, Clone)]
pub struct CommitStatus {
    pub id: u64,
    pub sha: String,
    pub context: String,
    pub state: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub creator: User,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct Review {
    pub id: u64,
    pub number: u64,
    pub user: User,
    /// As the REST API spells it: `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`.
    pub state: String,
    pub body: String,
    pub commit_id: String,
    pub submitted_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct Reaction {
    pub id: u64,
    pub comment_id: u64,
    pub content: String,
    pub user: User,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: u64,
    pub sha: String,
    pub git_ref: String,
    pub environment: String,
    pub creator: User,
    pub created_at: OffsetDateTime,
    /// (status id, state, created_at)
    pub statuses: Vec<(u64, String, OffsetDateTime)>,
}

#[derive(Debug, Clone)]
pub struct Label {
    pub id: u64,
    pub name: String,
    pub color: String,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("repository", &self.cfg.full_name())
            .field("issues", &self.issues.len())
            .finish_non_exhaustive()
    }
}

/// Webhook sending: where to, and the delivery faults still to apply.
#[derive(Debug, Default)]
pub struct Hooks {
    pub target: Option<String>,
    pub secret: String,
    pub drop_next: u32,
    pub duplicate_next: u32,
    /// Made by API calls, waiting for `deliver_pending`.
    pub pending: Vec<Delivery>,
    /// Every delivery made, in order, with what became of it.
    pub all: Vec<Delivery>,
}

pub struct State {
    pub cfg: Config,
    /// The API base URL (known once the server listens).
    pub api_url: String,
    pub repo: git2::Repository,
    pub tokens: HashMap<String, Token>,
    pub tokens_issued: u32,
    pub next_number: u64,
    pub next_id: u64,
    pub issues: BTreeMap<u64, Issue>,
    pub comments: Vec<Comment>,
    pub check_runs: Vec<CheckRun>,
    pub check_suites: Vec<CheckSuite>,
    pub statuses: Vec<CommitStatus>,
    pub reviews: Vec<Review>,
    pub reactions: Vec<Reaction>,
    pub deployments: Vec<Deployment>,
    pub labels: BTreeMap<String, Label>,
    /// Repository role by login (`admin`, `maintain`, `write`, `triage`, `read`, `none`).
    pub roles: HashMap<String, String>,
    pub default_role: String,
    /// Accounts seen, by login, so a login in a request resolves to an id.
    pub users: HashMap<String, User>,
    /// Classic branch protection, by branch.
    pub protections: BTreeMap<String, Protection>,
    /// Repository rulesets (`rules/branches/{branch}`), by branch.
    pub rulesets: BTreeMap<String, Protection>,
    /// Organization teams: slug (lower case) to member logins.
    pub teams: BTreeMap<String, Vec<String>>,
    pub faults: Vec<Fault>,
    pub rate_limit: u32,
    pub rate_remaining: u32,
    pub rate_reset: i64,
    /// The most entries a recursive tree lists before GitHub cuts it short and says
    /// `truncated` (GitHub's own limit is 100,000 entries or 7 MB).
    pub tree_limit: usize,
    pub requests: Vec<LoggedRequest>,
    pub unhandled: Vec<String>,
    pub hooks: Hooks,
    pub request_seq: u64,
}

/// GitHub's timestamp format: RFC 3339 in UTC with a `Z` and whole seconds.
pub fn ts(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    getrandom::getrandom(&mut buf).expect("the OS random source works");
    buf
}

/// A random string of letters and digits.
pub fn random_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    random_bytes(n)
        .into_iter()
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .collect()
}

/// A random UUID (version 4), as GitHub's delivery GUIDs look.
pub fn uuid() -> String {
    let mut b = random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

impl State {
    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn number(&mut self) -> u64 {
        let n = self.next_number;
        self.next_number += 1;
        n
    }

    /// Remembers an account so its login resolves to it later.
    pub fn know(&mut self, user: &User) {
        self.users.insert(user.login.to_lowercase(), user.clone());
    }

    /// The account of a login: one seen before, or a person with a stable made-up id.
    pub fn user_by_login(&self, login: &str) -> User {
        if let Some(u) = self.users.get(&login.to_lowercase()) {
            return u.clone();
        }
        let mut id: u64 = 7_000_000;
        for b in login.to_lowercase().bytes() {
            id = id.wrapping_mul(31).wrapping_add(u64::from(b)) % 1_000_000_000;
        }
        User {
            login: login.to_owned(),
            id: 7_000_000 + id % 1_000_000,
            is_bot: login.ends_with("[bot]"),
        }
    }

    /// A person's role on the repository.
    pub fn role(&self, login: &str) -> String {
        if login.eq_ignore_ascii_case(&self.cfg.bot.login) {
            return "write".to_owned();
        }
        self.roles
            .get(&login.to_lowercase())
            .cloned()
            .unwrap_or_else(|| self.default_role.clone())
    }

    pub fn pull(&self, number: u64) -> Option<(&Issue, &Pull)> {
        let issue = self.issues.get(&number)?;
        let pull = issue.pull.as_ref()?;
        Some((issue, pull))
    }

    pub fn label(&mut self, name: &str) -> Label {
        if let Some(l) = self
            .labels
            .values()
            .find(|l| l.name.eq_ignore_ascii_case(name))
        {
            return l.clone();
        }
        let id = self.id();
        let palette = ["d73a4a", "0075ca", "a2eeef", "7057ff", "008672", "e4e669"];
        let color = palette[(id as usize) % palette.len()].to_owned();
        let label = Label {
            id,
            name: name.to_owned(),
            color,
        };
        self.labels.insert(name.to_owned(), label.clone());
        label
    }

    /// The check suite of an App on a commit, made on first use.
    pub fn suite(&mut self, app_slug: &str, head_sha: &str) -> u64 {
        if let Some(s) = self
            .check_suites
            .iter()
            .find(|s| s.app_slug == app_slug && s.head_sha == head_sha)
        {
            return s.id;
        }
        let id = self.id();
        self.check_suites.push(CheckSuite {
            id,
            app_slug: app_slug.to_owned(),
            head_sha: head_sha.to_owned(),
        });
        id
    }
}

/// What a test sees of a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSnapshot {
    pub number: u64,
    pub title: String,
    /// The body (empty when there is none).
    pub body: String,
    pub state: String,
    pub merged: bool,
    pub merge_commit_sha: Option<String>,
    pub head: String,
    pub head_sha: String,
    pub base: String,
    pub draft: bool,
    pub author: User,
    pub labels: Vec<String>,
    pub requested_reviewers: Vec<String>,
    pub requested_teams: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueSnapshot {
    pub number: u64,
    pub title: String,
    /// The body (empty when there is none).
    pub body: String,
    pub state: String,
    pub author: User,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentSnapshot {
    pub id: u64,
    pub issue_number: u64,
    pub body: String,
    pub author: User,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunSnapshot {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    /// `output.title` (empty when there is no output).
    pub title: String,
    /// `output.summary` (empty when there is no output).
    pub summary: String,
    pub text: Option<String>,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    pub app_slug: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSnapshot {
    pub sha: String,
    pub context: String,
    pub state: String,
    pub description: Option<String>,
    pub creator: User,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewSnapshot {
    pub id: u64,
    pub number: u64,
    pub user: User,
    pub state: String,
    pub body: String,
    pub commit_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionSnapshot {
    pub comment_id: u64,
    pub content: String,
    pub user: User,
}

impl From<&Issue> for PullSnapshot {
    fn from(i: &Issue) -> Self {
        let p = i
            .pull
            .clone()
            .unwrap_or_else(|| panic!("#{} is not a pull request", i.number));
        PullSnapshot {
            number: i.number,
            title: i.title.clone(),
            body: i.body.clone().unwrap_or_default(),
            state: i.state.clone(),
            merged: p.merged,
            merge_commit_sha: if p.merged { p.merge_commit_sha } else { None },
            head: p.head_ref,
            head_sha: p.head_sha,
            base: p.base_ref,
            draft: p.draft,
            author: i.user.clone(),
            labels: i.labels.clone(),
            requested_reviewers: p.requested_reviewers,
            requested_teams: p.requested_teams,
        }
    }
}

impl From<&CheckRun> for CheckRunSnapshot {
    fn from(c: &CheckRun) -> Self {
        CheckRunSnapshot {
            id: c.id,
            name: c.name.clone(),
            head_sha: c.head_sha.clone(),
            status: c.status.clone(),
            conclusion: c.conclusion.clone(),
            title: c.title.clone().unwrap_or_default(),
            summary: c.summary.clone().unwrap_or_default(),
            text: c.text.clone(),
            external_id: c.external_id.clone(),
            details_url: c.details_url.clone(),
            app_slug: c.app.slug.clone(),
        }
    }
}
