//! Webhook payloads built from GitHub's real examples (npm `@octokit/webhooks-examples`
//! 7.6.1): the example of the event and action, with only the scenario's fields changed
//! (repository, installation, sender, and the event's own objects), and the deliveries that
//! carry them.

use std::path::PathBuf;
use std::sync::OnceLock;

use git2::Oid;
use serde_json::{Map, Value, json};

use super::git;
use super::render;
use super::state::{CheckRun, Comment, CommitStatus, Deployment, Review, State, User, ts};

/// One delivery: what was built, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `X-GitHub-Delivery`.
    pub guid: String,
    /// `X-GitHub-Event`.
    pub event: String,
    pub action: Option<String>,
    /// The exact bytes sent (and signed).
    pub body: Vec<u8>,
    /// The status keyroll answered each time it was sent (0: no answer: no webhook URL set,
    /// connection refused, or no reply within GitHub's 10 seconds).
    pub attempts: Vec<u16>,
    /// Built but never sent (a lost delivery).
    pub dropped: bool,
}

impl Delivery {
    pub fn payload(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

pub const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// Where the examples are: `KEYROLL_TEST_WEBHOOK_EXAMPLES`, else the test set-up's cache.
pub fn examples_path() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYROLL_TEST_WEBHOOK_EXAMPLES") {
        return PathBuf::from(p);
    }
    let cache = if let Some(dir) = std::env::var_os("KEYROLL_CACHE") {
        PathBuf::from(dir)
    } else {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".cache"))
            .join("keyroll")
    };
    cache.join("webhooks-examples-7.6.1/index.json")
}

fn examples() -> &'static Vec<Value> {
    static ALL: OnceLock<Vec<Value>> = OnceLock::new();
    ALL.get_or_init(|| {
        let path = examples_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "the webhook examples ({}) are missing ({e}): run the tests with `bash tests/run.sh`, which fetches them",
                path.display()
            )
        });
        serde_json::from_str(&text).expect("index.json of @octokit/webhooks-examples is JSON")
    })
}

/// The real example of `event`: the first with `action` when there is one, else the first
/// example with `action` set to the one asked for.
pub fn example(event: &str, action: Option<&str>) -> Value {
    let entry = examples()
        .iter()
        .find(|e| e["name"] == event)
        .unwrap_or_else(|| panic!("no webhook examples of the {event} event"));
    let list = entry["examples"]
        .as_array()
        .unwrap_or_else(|| panic!("the {event} examples are not a list"));
    let chosen = action
        .and_then(|a| list.iter().find(|x| x["action"] == a))
        .or_else(|| list.first())
        .unwrap_or_else(|| panic!("no webhook examples of the {event} event"));
    let mut v = chosen.clone();
    if let (Some(a), Some(obj)) = (action, v.as_object_mut()) {
        obj.insert("action".into(), json!(a));
    }
    v
}

/// Sets `key` of `target` (an object; made one if it is not) to `value`.
fn set(target: &mut Value, key: &str, value: Value) {
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Some(obj) = target.as_object_mut() {
        obj.insert(key.to_owned(), value);
    }
}

/// Copies `keys` from `source` into `target`.
fn copy(target: &mut Value, source: &Value, keys: &[&str]) {
    for k in keys {
        if let Some(v) = source.get(*k) {
            set(target, k, v.clone());
        }
    }
}

/// The scenario's account in place of the example's.
fn patch_user(target: &mut Value, st: &State, u: &User) {
    let mine = render::user(st, u);
    if !target.is_object() {
        *target = mine;
        return;
    }
    copy(
        target,
        &mine,
        &[
            "login",
            "id",
            "node_id",
            "type",
            "url",
            "html_url",
            "avatar_url",
        ],
    );
}

fn patch_repo(target: &mut Value, st: &State) {
    let mine = render::repo(st);
    if !target.is_object() {
        *target = mine;
        return;
    }
    copy(
        target,
        &mine,
        &[
            "id",
            "node_id",
            "name",
            "full_name",
            "private",
            "html_url",
            "url",
            "default_branch",
        ],
    );
    let owner = render::owner(st);
    let o = target
        .as_object_mut()
        .and_then(|t| t.get_mut("owner"))
        .filter(|o| o.is_object());
    match o {
        Some(o) => copy(
            o,
            &owner,
            &["login", "id", "node_id", "type", "url", "html_url"],
        ),
        None => set(target, "owner", owner),
    }
}

/// The example with the scenario's repository, installation and sender.
pub fn base(st: &State, event: &str, action: Option<&str>, sender: &User) -> Value {
    let mut p = example(event, action);
    let about_installation = matches!(event, "installation" | "installation_repositories");
    if let Some(r) = p.get_mut("repository") {
        patch_repo(r, st);
    } else if !about_installation {
        set(&mut p, "repository", render::repo(st));
    }
    if about_installation {
        // The installation itself, and the repositories it covers, are the event's subject.
        if let Some(i) = p.get_mut("installation") {
            copy(
                i,
                &render::installation(st),
                &[
                    "account",
                    "repository_selection",
                    "access_tokens_url",
                    "repositories_url",
                    "html_url",
                    "app_id",
                    "app_slug",
                    "target_id",
                    "target_type",
                    "permissions",
                    "events",
                ],
            );
        }
        let ours = json!([{
            "id": st.cfg.repo_id,
            "node_id": render::node_id("R", st.cfg.repo_id),
            "name": st.cfg.repo,
            "full_name": st.cfg.full_name(),
            "private": st.cfg.private,
        }]);
        let removed = action == Some("removed");
        for (key, value) in [
            ("repositories", ours.clone()),
            (
                "repositories_added",
                if removed { json!([]) } else { ours.clone() },
            ),
            (
                "repositories_removed",
                if removed { ours.clone() } else { json!([]) },
            ),
        ] {
            if p.get(key).is_some() {
                set(&mut p, key, value);
            }
        }
    }
    match p.get_mut("installation") {
        Some(i) if i.is_object() => {
            set(i, "id", json!(st.cfg.installation_id));
            set(
                i,
                "node_id",
                json!(render::node_id("IN", st.cfg.installation_id)),
            );
        }
        _ => set(
            &mut p,
            "installation",
            json!({ "id": st.cfg.installation_id, "node_id": render::node_id("IN", st.cfg.installation_id) }),
        ),
    }
    if let Some(o) = p.get_mut("organization")
        && o.is_object()
    {
        let owner = render::owner(st);
        copy(o, &owner, &["login", "id", "node_id", "url"]);
    }
    match p.get_mut("sender") {
        Some(s) => patch_user(s, st, sender),
        None => set(&mut p, "sender", render::user(st, sender)),
    }
    p
}

fn patch_side(target: &mut Value, st: &State, mine: &Value) {
    if !target.is_object() {
        *target = mine.clone();
        return;
    }
    copy(target, mine, &["label", "ref", "sha"]);
    if let Some(u) = target.get_mut("user") {
        let owner = render::owner(st);
        copy(
            u,
            &owner,
            &["login", "id", "node_id", "type", "url", "html_url"],
        );
    }
    match target.get_mut("repo") {
        Some(r) if r.is_object() => patch_repo(r, st),
        _ => set(target, "repo", render::repo(st)),
    }
}

/// The example's pull request object with the scenario's pull request in it.
fn patch_pull(target: &mut Value, st: &State, number: u64, full: bool) {
    let Some(issue) = st.issues.get(&number) else {
        return;
    };
    let mine = render::pull(st, issue, full);
    copy(
        target,
        &mine,
        &[
            "url",
            "id",
            "node_id",
            "html_url",
            "diff_url",
            "patch_url",
            "issue_url",
            "commits_url",
            "review_comments_url",
            "comments_url",
            "statuses_url",
            "number",
            "state",
            "locked",
            "title",
            "body",
            "labels",
            "created_at",
            "updated_at",
            "closed_at",
            "merged_at",
            "merge_commit_sha",
            "requested_reviewers",
            "requested_teams",
            "author_association",
            "draft",
        ],
    );
    if full {
        copy(
            target,
            &mine,
            &[
                "merged",
                "mergeable",
                "rebaseable",
                "mergeable_state",
                "merged_by",
                "comments",
                "commits",
                "additions",
                "deletions",
                "changed_files",
                "maintainer_can_modify",
            ],
        );
    }
    if let Some(u) = target.get_mut("user") {
        patch_user(u, st, &issue.user);
    }
    for side in ["head", "base"] {
        if let Some(t) = target.get_mut(side) {
            patch_side(t, st, &mine[side]);
        }
    }
}

/// `pull_request` with `action`: `before`/`after` for `synchronize`, `changes` for
/// `edited`, and an extra top-level field (`requested_reviewer`, `label`) when given.
pub fn pull_request(
    st: &State,
    number: u64,
    action: &str,
    sender: &User,
    before_after: Option<(String, String)>,
    changes: Option<Value>,
    extra: Option<(&str, Value)>,
) -> Value {
    let mut p = base(st, "pull_request", Some(action), sender);
    set(&mut p, "number", json!(number));
    if let Some(pr) = p.get_mut("pull_request") {
        patch_pull(pr, st, number, true);
        if action == "opened" {
            // GitHub has not computed the test merge yet when it says a PR was opened.
            set(pr, "merge_commit_sha", Value::Null);
            set(pr, "mergeable", Value::Null);
            set(pr, "rebaseable", Value::Null);
            set(pr, "mergeable_state", json!("unknown"));
        }
    }
    if let Some(obj) = p.as_object_mut() {
        obj.remove("before");
        obj.remove("after");
        obj.remove("changes");
    }
    if let Some((before, after)) = before_after {
        set(&mut p, "before", json!(before));
        set(&mut p, "after", json!(after));
    }
    if let Some(c) = changes {
        set(&mut p, "changes", c);
    }
    if let Some((k, v)) = extra {
        set(&mut p, k, v);
    }
    p
}

/// `issues` with `action`.
pub fn issues(
    st: &State,
    number: u64,
    action: &str,
    sender: &User,
    extra: Option<(&str, Value)>,
) -> Value {
    let mut p = base(st, "issues", Some(action), sender);
    if let (Some(i), Some(target)) = (st.issues.get(&number), p.get_mut("issue")) {
        let mine = render::issue(st, i);
        copy(
            target,
            &mine,
            &[
                "url",
                "repository_url",
                "labels_url",
                "comments_url",
                "events_url",
                "html_url",
                "id",
                "node_id",
                "number",
                "title",
                "labels",
                "state",
                "locked",
                "comments",
                "created_at",
                "updated_at",
                "closed_at",
                "author_association",
                "body",
                "state_reason",
                "performed_via_github_app",
            ],
        );
        if let Some(u) = target.get_mut("user") {
            patch_user(u, st, &i.user);
        }
    }
    if let Some((k, v)) = extra {
        set(&mut p, k, v);
    }
    p
}

/// `issue_comment` with `action` (`created`, `edited` with the old body, `deleted`).
pub fn issue_comment(
    st: &State,
    c: &Comment,
    action: &str,
    sender: &User,
    old_body: Option<String>,
) -> Value {
    let mut p = base(st, "issue_comment", Some(action), sender);
    if let (Some(i), Some(target)) = (st.issues.get(&c.issue_number), p.get_mut("issue")) {
        let mine = render::issue(st, i);
        copy(
            target,
            &mine,
            &[
                "url",
                "repository_url",
                "labels_url",
                "comments_url",
                "events_url",
                "html_url",
                "id",
                "node_id",
                "number",
                "title",
                "labels",
                "state",
                "locked",
                "comments",
                "created_at",
                "updated_at",
                "closed_at",
                "author_association",
                "body",
            ],
        );
        if let Some(u) = target.get_mut("user") {
            patch_user(u, st, &i.user);
        }
        match mine.get("pull_request") {
            Some(pr) => set(target, "pull_request", pr.clone()),
            None => {
                if let Some(obj) = target.as_object_mut() {
                    obj.remove("pull_request");
                }
            }
        }
    }
    if let Some(target) = p.get_mut("comment") {
        let mine = render::comment(st, c);
        copy(
            target,
            &mine,
            &[
                "url",
                "html_url",
                "issue_url",
                "id",
                "node_id",
                "created_at",
                "updated_at",
                "author_association",
                "body",
                "performed_via_github_app",
            ],
        );
        if let Some(u) = target.get_mut("user") {
            patch_user(u, st, &c.user);
        }
    }
    if let Some(obj) = p.as_object_mut() {
        obj.remove("changes");
    }
    if let Some(old) = old_body {
        set(&mut p, "changes", json!({ "body": { "from": old } }));
    }
    p
}

/// `pull_request_review` `submitted`. The webhook spells the state in lower case.
pub fn review(st: &State, r: &Review, sender: &User) -> Value {
    let mut p = base(st, "pull_request_review", Some("submitted"), sender);
    if let Some(target) = p.get_mut("review") {
        let mine = render::review(st, r);
        copy(
            target,
            &mine,
            &[
                "id",
                "node_id",
                "body",
                "commit_id",
                "submitted_at",
                "html_url",
                "pull_request_url",
                "author_association",
                "_links",
            ],
        );
        set(target, "state", json!(r.state.to_lowercase()));
        if let Some(u) = target.get_mut("user") {
            patch_user(u, st, &r.user);
        }
    }
    if let Some(pr) = p.get_mut("pull_request") {
        patch_pull(pr, st, r.number, false);
    }
    p
}

/// `check_run` with `action` (`created`, `completed`).
pub fn check_run(st: &State, c: &CheckRun, action: &str, sender: &User) -> Value {
    let mut p = base(st, "check_run", Some(action), sender);
    let mine = render::check_run(st, c);
    let head_branch = git::branches(&st.repo)
        .into_iter()
        .find(|(_, oid)| oid.to_string() == c.head_sha)
        .map(|(name, _)| name);
    let suite_runs: Vec<&CheckRun> = st
        .check_runs
        .iter()
        .filter(|r| r.suite_id == c.suite_id)
        .collect();
    let suite_done = suite_runs.iter().all(|r| r.status == "completed");
    let suite_conclusion = if !suite_done {
        Value::Null
    } else if suite_runs.iter().all(|r| {
        matches!(
            r.conclusion.as_deref(),
            Some("success" | "neutral" | "skipped")
        )
    }) {
        json!("success")
    } else {
        json!("failure")
    };
    if let Some(target) = p.get_mut("check_run") {
        copy(
            target,
            &mine,
            &[
                "id",
                "node_id",
                "head_sha",
                "external_id",
                "url",
                "html_url",
                "details_url",
                "status",
                "conclusion",
                "started_at",
                "completed_at",
                "output",
                "name",
                "app",
                "pull_requests",
            ],
        );
        let suite = json!({
            "id": c.suite_id,
            "node_id": render::node_id("CS", c.suite_id),
            "head_branch": head_branch,
            "head_sha": c.head_sha,
            "status": if suite_done { "completed" } else { "in_progress" },
            "conclusion": suite_conclusion,
            "url": format!("{}/check-suites/{}", render::repo_api(st), c.suite_id),
            "pull_requests": mine["pull_requests"],
            "app": mine["app"],
            "updated_at": ts(super::state::now()),
        });
        match target.get_mut("check_suite") {
            Some(s) if s.is_object() => copy(
                s,
                &suite,
                &[
                    "id",
                    "node_id",
                    "head_branch",
                    "head_sha",
                    "status",
                    "conclusion",
                    "url",
                    "pull_requests",
                    "app",
                    "updated_at",
                ],
            ),
            _ => set(target, "check_suite", suite),
        }
        if let Some(s) = target.get_mut("check_suite")
            && s.get("after").is_some()
        {
            set(s, "after", json!(c.head_sha));
        }
    }
    p
}

/// Branches whose history contains `sha`, as `status` deliveries list them.
fn branches_containing(st: &State, sha: Oid) -> Vec<Value> {
    git::branches(&st.repo)
        .into_iter()
        .filter(|(_, head)| *head == sha || st.repo.graph_descendant_of(*head, sha).unwrap_or(false))
        .take(10)
        .map(|(name, head)| {
            json!({
                "name": name,
                "commit": { "sha": head.to_string(), "url": format!("{}/commits/{head}", render::repo_api(st)) },
                "protected": st.protections.contains_key(&name),
            })
        })
        .collect()
}

/// `status` (no action).
pub fn status(st: &State, s: &CommitStatus, sender: &User) -> Value {
    let mut p = base(st, "status", None, sender);
    let oid = git::parse_oid(&s.sha);
    set(&mut p, "id", json!(s.id));
    set(&mut p, "sha", json!(s.sha));
    set(&mut p, "name", json!(st.cfg.full_name()));
    set(&mut p, "target_url", json!(s.target_url));
    set(&mut p, "context", json!(s.context));
    set(&mut p, "description", json!(s.description));
    set(&mut p, "state", json!(s.state));
    set(&mut p, "created_at", json!(ts(s.created_at)));
    set(&mut p, "updated_at", json!(ts(s.created_at)));
    if let Some(oid) = oid {
        if let (Some(mine), Some(target)) = (render::commit(st, oid, false), p.get_mut("commit")) {
            copy(
                target,
                &mine,
                &[
                    "sha",
                    "node_id",
                    "commit",
                    "url",
                    "html_url",
                    "comments_url",
                    "author",
                    "committer",
                    "parents",
                ],
            );
        }
        let branches = branches_containing(st, oid);
        set(&mut p, "branches", json!(branches));
    }
    p
}

/// `deployment_status` `created` for the deployment's latest status.
pub fn deployment_status(st: &State, d: &Deployment, sender: &User) -> Value {
    let mut p = base(st, "deployment_status", Some("created"), sender);
    let api = render::repo_api(st);
    let (status_id, state, at) =
        d.statuses
            .last()
            .cloned()
            .unwrap_or((0, "pending".to_owned(), d.created_at));
    if let Some(target) = p.get_mut("deployment_status") {
        set(
            target,
            "url",
            json!(format!("{api}/deployments/{}/statuses/{status_id}", d.id)),
        );
        set(target, "id", json!(status_id));
        set(target, "node_id", json!(render::node_id("DES", status_id)));
        set(target, "state", json!(state));
        set(target, "environment", json!(d.environment));
        set(target, "created_at", json!(ts(at)));
        set(target, "updated_at", json!(ts(at)));
        set(
            target,
            "deployment_url",
            json!(format!("{api}/deployments/{}", d.id)),
        );
        set(target, "repository_url", json!(api));
        if let Some(u) = target.get_mut("creator") {
            patch_user(u, st, sender);
        }
    }
    if let Some(target) = p.get_mut("deployment") {
        set(target, "url", json!(format!("{api}/deployments/{}", d.id)));
        set(target, "id", json!(d.id));
        set(target, "node_id", json!(render::node_id("DE", d.id)));
        set(target, "sha", json!(d.sha));
        set(target, "ref", json!(d.git_ref));
        set(target, "environment", json!(d.environment));
        set(target, "original_environment", json!(d.environment));
        set(target, "created_at", json!(ts(d.created_at)));
        set(target, "updated_at", json!(ts(at)));
        set(
            target,
            "statuses_url",
            json!(format!("{api}/deployments/{}/statuses", d.id)),
        );
        set(target, "repository_url", json!(api));
        if let Some(u) = target.get_mut("creator") {
            patch_user(u, st, &d.creator);
        }
    }
    p
}

fn push_commit(st: &State, oid: Oid) -> Value {
    let Ok(c) = st.repo.find_commit(oid) else {
        return Value::Null;
    };
    let parent_tree = c.parents().next().map(|p| p.tree_id());
    let files = git::diff(&st.repo, parent_tree, c.tree_id());
    let of = |status: &str| -> Vec<String> {
        files
            .iter()
            .filter(|f| f.status == status)
            .map(|f| f.path.clone())
            .collect()
    };
    let person = |s: git2::Signature<'_>| {
        let email = s.email().unwrap_or_default().to_owned();
        let username = email
            .strip_suffix("@users.noreply.github.com")
            .and_then(|l| l.split_once('+'))
            .map(|(_, login)| login.to_owned());
        let mut v = json!({ "name": s.name().unwrap_or_default(), "email": email });
        if let Some(u) = username {
            set(&mut v, "username", json!(u));
        }
        v
    };
    json!({
        "id": oid.to_string(),
        "tree_id": c.tree_id().to_string(),
        "distinct": true,
        "message": c.message().unwrap_or_default(),
        "timestamp": ts(git::time_of(c.committer().when())),
        "url": format!("{}/commit/{oid}", render::repo_html(st)),
        "author": person(c.author()),
        "committer": person(c.committer()),
        "added": of("added"),
        "removed": of("removed"),
        "modified": of("modified"),
    })
}

/// `push` of `git_ref` (full name) from `before` to `after` (either may be absent).
pub fn push(
    st: &State,
    git_ref: &str,
    before: Option<Oid>,
    after: Option<Oid>,
    pusher: &User,
    forced: bool,
) -> Value {
    let mut p = base(st, "push", None, pusher);
    let before_s = before.map_or(ZERO_SHA.to_owned(), |o| o.to_string());
    let after_s = after.map_or(ZERO_SHA.to_owned(), |o| o.to_string());
    let commits: Vec<Value> = match (before, after) {
        (_, None) => Vec::new(),
        (Some(b), Some(a)) => git::commits_between(&st.repo, b, a)
            .into_iter()
            .take(20)
            .map(|o| push_commit(st, o))
            .collect(),
        (None, Some(a)) => {
            let branch = git_ref.trim_start_matches("refs/heads/");
            match git::branch_head(&st.repo, &st.cfg.default_branch) {
                Some(d) if branch != st.cfg.default_branch => git::commits_between(&st.repo, d, a)
                    .into_iter()
                    .take(20)
                    .map(|o| push_commit(st, o))
                    .collect(),
                _ => vec![push_commit(st, a)],
            }
        }
    };
    let compare = match (before, after) {
        (Some(b), Some(a)) => format!(
            "{}/compare/{}...{}",
            render::repo_html(st),
            &b.to_string()[..12],
            &a.to_string()[..12]
        ),
        _ => format!(
            "{}/compare/{}",
            render::repo_html(st),
            git_ref.trim_start_matches("refs/heads/")
        ),
    };
    set(&mut p, "ref", json!(git_ref));
    set(&mut p, "before", json!(before_s));
    set(&mut p, "after", json!(after_s));
    set(&mut p, "created", json!(before.is_none()));
    set(&mut p, "deleted", json!(after.is_none()));
    set(&mut p, "forced", json!(forced));
    set(&mut p, "base_ref", Value::Null);
    set(&mut p, "compare", json!(compare));
    set(
        &mut p,
        "head_commit",
        after.map_or(Value::Null, |a| push_commit(st, a)),
    );
    set(&mut p, "commits", json!(commits));
    set(
        &mut p,
        "pusher",
        json!({ "name": pusher.login, "email": pusher.email() }),
    );
    p
}

/// A delivery of `payload`, unless the App does not subscribe to `event`.
pub fn delivery(st: &State, event: &str, payload: &Value) -> Option<Delivery> {
    let always = matches!(event, "installation" | "installation_repositories" | "ping");
    if !always && !st.cfg.events.iter().any(|e| e == event) {
        return None;
    }
    Some(Delivery {
        guid: super::state::uuid(),
        event: event.to_owned(),
        action: payload
            .get("action")
            .and_then(Value::as_str)
            .map(str::to_owned),
        body: serde_json::to_vec(payload).expect("a payload serializes"),
        attempts: Vec::new(),
        dropped: false,
    })
}
