//! The REST calls keyroll makes on one repository, typed: each reads only the fields keyroll
//! uses, so extra or missing fields elsewhere in GitHub's answers cannot break it.
//!
//! Everything goes through [`Installation::request`], which authenticates, retries and
//! honours rate limits.

use std::collections::BTreeMap;

use base64::Engine as _;
use http::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::client::{ApiError, Installation};

/// The most pages of one list keyroll reads (100 items each: 10,000 comments, reviews or
/// check runs). A list that goes on past it, or a `next` link that never ends, fails.
pub const MAX_PAGES: usize = 100;

/// The page size asked for: GitHub's largest.
const PER_PAGE: u32 = 100;

/// The most files GitHub lists in a comparison; a comparison that shows this many may
/// have more.
const COMPARE_FILES_SHOWN: usize = 300;

/// A repository through an installation: `owner/name`.
#[derive(Debug, Clone)]
pub struct RepoApi {
    api: Installation,
    full_name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("GitHub's answer to {what} did not have the expected shape: {error}")]
    Shape {
        what: String,
        error: serde_json::Error,
    },
    #[error("blob {0} is not base64 as GitHub sends it")]
    Blob(String),
    #[error("there is no branch {0}")]
    NoBranch(String),
    #[error("GitHub's GraphQL API answered with errors: {0}")]
    GraphQl(String),
    /// A list longer than keyroll reads (see [`MAX_PAGES`]); cut short, it could hide what
    /// keyroll looks for, so it is an error rather than a partial answer.
    #[error("GitHub's list {what} runs past {MAX_PAGES} pages; keyroll reads no further")]
    TooLong { what: String },
    /// GitHub cut a list or tree short itself (`truncated`, or more files than a comparison
    /// shows); acting on part of it could miss a file.
    #[error("GitHub's answer to {what} is truncated: {detail}")]
    Truncated { what: String, detail: &'static str },
}

impl RestError {
    /// Whether trying again later could work (a 5xx, a timeout, a rate limit).
    pub fn is_transient(&self) -> bool {
        match self {
            RestError::Api(e) => e.is_transient(),
            RestError::Shape { .. }
            | RestError::Blob(_)
            | RestError::NoBranch(_)
            | RestError::GraphQl(_)
            | RestError::TooLong { .. }
            | RestError::Truncated { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            RestError::Api(e) => e.status(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub login: String,
    pub id: u64,
    #[serde(rename = "type", default)]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BranchRef {
    #[serde(rename = "ref")]
    pub name: String,
    pub sha: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    #[serde(default)]
    pub node_id: Option<String>,
    pub state: String,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merged_at: Option<String>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    pub head: BranchRef,
    pub base: BranchRef,
    #[serde(default)]
    pub draft: Option<bool>,
    pub user: Option<User>,
}

impl PullRequest {
    /// Merged, by the `merged` flag where GitHub sends it (single pull request) or by
    /// `merged_at` (lists).
    pub fn is_merged(&self) -> bool {
        self.merged.unwrap_or(false) || self.merged_at.is_some()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Review {
    pub id: u64,
    pub user: Option<User>,
    pub state: String,
    #[serde(default)]
    pub commit_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub user: Option<User>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub output: Option<CheckRunText>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CheckRunText {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
}

impl CheckRun {
    /// Whether the run already says what `out` says (name, conclusion, title and summary).
    pub fn says(&self, out: &CheckOutput) -> bool {
        let text = self.output.clone().unwrap_or_default();
        self.name == out.name
            && self.conclusion.as_deref() == out.conclusion
            && text.title.as_deref() == Some(out.title.as_str())
            && text.summary.as_deref() == Some(out.summary.as_str())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitStatus {
    pub context: String,
    pub state: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TreeEntry {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub sha: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitSummary {
    pub sha: String,
    pub commit: CommitDetail,
    /// Only counted: a merge commit has more than one.
    #[serde(default)]
    pub parents: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitDetail {
    pub message: String,
    pub committer: Option<Signature>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Signature {
    pub date: Option<String>,
}

/// What a `keyroll/…` check run says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutput {
    pub name: String,
    /// `None`: in progress.
    pub conclusion: Option<&'static str>,
    pub title: String,
    pub summary: String,
    /// Buttons people can press on the check run (GitHub shows at most three).
    pub actions: &'static [CheckAction],
}

impl CheckOutput {
    /// Says nothing: what a check run not written yet is compared with.
    pub fn none() -> Self {
        Self {
            name: String::new(),
            conclusion: None,
            title: String::new(),
            summary: String::new(),
            actions: &[],
        }
    }
}

/// A check run button: GitHub limits the label to 20 characters, the description to 40
/// and the identifier to 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckAction {
    pub label: &'static str,
    pub description: &'static str,
    pub identifier: &'static str,
}

/// Percent-encodes a query value or a path segment (everything but unreserved characters,
/// and `/` where a ref name may hold it).
pub fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let plain = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/');
        if plain {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A list read page by page, following GitHub's `Link: rel="next"`.
struct Pages<'a> {
    api: &'a Installation,
    what: String,
    /// Where the items are in each page's body: the body itself (`None`) or one of its
    /// fields (`check_runs`, `statuses`).
    key: Option<&'static str>,
    next: Option<String>,
    read: usize,
}

impl Pages<'_> {
    /// The next page's items; `None` after the last.
    async fn next<T: DeserializeOwned>(&mut self) -> Result<Option<Vec<T>>, RestError> {
        let Some(path) = self.next.take() else {
            return Ok(None);
        };
        if self.read >= MAX_PAGES {
            return Err(RestError::TooLong {
                what: self.what.clone(),
            });
        }
        self.read += 1;
        let page = self.api.request_page(Method::GET, &path, None).await?;
        self.next = page.next;
        let items = match self.key {
            None => page.body,
            Some(key) => page.body.get(key).cloned().unwrap_or(Value::Null),
        };
        shape(&self.what, items).map(Some)
    }

    /// Every item of every page.
    async fn all<T: DeserializeOwned>(mut self) -> Result<Vec<T>, RestError> {
        let mut out = Vec::new();
        while let Some(items) = self.next().await? {
            out.extend(items);
        }
        Ok(out)
    }
}

/// `rest` with GitHub's largest page size added to its query.
fn paged(rest: &str) -> String {
    let sep = if rest.contains('?') { '&' } else { '?' };
    format!("{rest}{sep}per_page={PER_PAGE}")
}

/// The login of the App's own bot account, `<app slug>[bot]`: the author of everything the
/// App does with an installation token (`GET /app`, as the App).
pub async fn app_bot_login(github: &super::client::GitHub) -> Result<String, RestError> {
    #[derive(Deserialize)]
    struct App {
        slug: String,
    }
    let app: App = shape(
        "GET /app",
        github.app_request(Method::GET, "/app", None).await?,
    )?;
    Ok(format!("{}[bot]", app.slug))
}

fn shape<T: DeserializeOwned>(what: &str, v: Value) -> Result<T, RestError> {
    serde_json::from_value(v).map_err(|error| RestError::Shape {
        what: what.to_owned(),
        error,
    })
}

impl RepoApi {
    pub fn new(api: Installation, full_name: &str) -> Self {
        Self {
            api,
            full_name: full_name.to_owned(),
        }
    }

    pub fn installation(&self) -> &Installation {
        &self.api
    }

    pub fn full_name(&self) -> &str {
        &self.full_name
    }

    pub fn owner(&self) -> &str {
        self.full_name.split('/').next().unwrap_or_default()
    }

    fn path(&self, rest: &str) -> String {
        format!("/repos/{}{rest}", self.full_name)
    }

    /// A list under this repository, every page of it (`rest` without `per_page`).
    fn pages(&self, rest: &str, key: Option<&'static str>) -> Pages<'_> {
        Pages {
            api: &self.api,
            what: format!("GET {rest}"),
            key,
            next: Some(self.path(&paged(rest))),
            read: 0,
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        rest: &str,
        body: Option<Value>,
    ) -> Result<T, RestError> {
        let what = format!("{method} {rest}");
        let v = self
            .api
            .request(method, &self.path(rest), body.as_ref())
            .await?;
        shape(&what, v)
    }

    pub async fn default_branch(&self) -> Result<String, RestError> {
        #[derive(Deserialize)]
        struct Repo {
            default_branch: String,
        }
        let r: Repo = self.call(Method::GET, "", None).await?;
        Ok(r.default_branch)
    }

    /// The commit a branch points at; `None` when there is no such branch.
    pub async fn branch_sha(&self, branch: &str) -> Result<Option<String>, RestError> {
        #[derive(Deserialize)]
        struct Ref {
            object: Object,
        }
        #[derive(Deserialize)]
        struct Object {
            sha: String,
        }
        let path = format!("/git/ref/heads/{}", encode(branch, true));
        match self.call::<Ref>(Method::GET, &path, None).await {
            Ok(r) => Ok(Some(r.object.sha)),
            Err(RestError::Api(e)) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The tree of a commit (GitHub takes a commit for a tree here) and every file in it,
    /// recursively.
    pub async fn files(&self, commit: &str) -> Result<(String, Vec<TreeEntry>), RestError> {
        #[derive(Deserialize)]
        struct Tree {
            sha: String,
            tree: Vec<TreeEntry>,
            #[serde(default)]
            truncated: bool,
        }
        let rest = format!("/git/trees/{commit}?recursive=1");
        let t: Tree = self.call(Method::GET, &rest, None).await?;
        if t.truncated {
            // GitHub stops a recursive tree at its size limits: a credential file past the
            // cut would look absent.
            return Err(RestError::Truncated {
                what: format!("GET {rest}"),
                detail: "the repository has more files than GitHub lists in one tree",
            });
        }
        let files = t.tree.into_iter().filter(|e| e.kind == "blob").collect();
        Ok((t.sha, files))
    }

    pub async fn blob(&self, sha: &str) -> Result<Vec<u8>, RestError> {
        #[derive(Deserialize)]
        struct Blob {
            content: String,
            encoding: String,
        }
        let b: Blob = self
            .call(Method::GET, &format!("/git/blobs/{sha}"), None)
            .await?;
        if b.encoding != "base64" {
            return Ok(b.content.into_bytes());
        }
        let packed: String = b.content.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(packed)
            .map_err(|_| RestError::Blob(sha.to_owned()))
    }

    /// A tree: `base` with each path set to new text. GitHub stores each text as a blob as
    /// part of the call (one request instead of one per file).
    pub async fn create_tree(
        &self,
        base: &str,
        files: &BTreeMap<String, String>,
    ) -> Result<String, RestError> {
        #[derive(Deserialize)]
        struct Created {
            sha: String,
        }
        let entries: Vec<Value> = files
            .iter()
            .map(|(path, text)| json!({ "path": path, "mode": "100644", "type": "blob", "content": text }))
            .collect();
        let c: Created = self
            .call(
                Method::POST,
                "/git/trees",
                Some(json!({ "base_tree": base, "tree": entries })),
            )
            .await?;
        Ok(c.sha)
    }

    /// A commit made by the App (no author given: GitHub attributes and signs it).
    pub async fn create_commit(
        &self,
        message: &str,
        tree: &str,
        parent: &str,
    ) -> Result<String, RestError> {
        #[derive(Deserialize)]
        struct Created {
            sha: String,
        }
        let c: Created = self
            .call(
                Method::POST,
                "/git/commits",
                Some(json!({ "message": message, "tree": tree, "parents": [parent] })),
            )
            .await?;
        Ok(c.sha)
    }

    /// Creates `branch` at `sha`; false when it exists already.
    pub async fn create_branch(&self, branch: &str, sha: &str) -> Result<bool, RestError> {
        let created = self
            .call::<Value>(
                Method::POST,
                "/git/refs",
                Some(json!({ "ref": format!("refs/heads/{branch}"), "sha": sha })),
            )
            .await;
        match created {
            Ok(_) => Ok(true),
            Err(RestError::Api(e)) if e.status() == Some(422) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Moves keyroll's own `branch` to `sha` (only one no pull request was opened from).
    pub async fn move_branch(&self, branch: &str, sha: &str) -> Result<(), RestError> {
        self.call::<Value>(
            Method::PATCH,
            &format!("/git/refs/heads/{}", encode(branch, true)),
            Some(json!({ "sha": sha, "force": true })),
        )
        .await?;
        Ok(())
    }

    /// The pull request of a head branch in this repository, open or not (the newest).
    pub async fn pull_for_branch(&self, branch: &str) -> Result<Option<PullRequest>, RestError> {
        let head = encode(&format!("{}:{branch}", self.owner()), false);
        let list: Vec<PullRequest> = self
            .pages(&format!("/pulls?state=all&head={head}"), None)
            .all()
            .await?;
        Ok(list.into_iter().max_by_key(|p| p.number))
    }

    /// The pull requests a commit belongs to (merged ones included, unlike a check run's
    /// own list).
    pub async fn pulls_of_commit(&self, sha: &str) -> Result<Vec<u64>, RestError> {
        #[derive(Deserialize)]
        struct Pull {
            number: u64,
        }
        let list: Vec<Pull> = self
            .pages(&format!("/commits/{sha}/pulls"), None)
            .all()
            .await?;
        Ok(list.into_iter().map(|p| p.number).collect())
    }

    pub async fn pull(&self, number: u64) -> Result<PullRequest, RestError> {
        self.call(Method::GET, &format!("/pulls/{number}"), None)
            .await
    }

    pub async fn create_pull(
        &self,
        title: &str,
        head: &str,
        base: &str,
        body: &str,
        draft: bool,
    ) -> Result<PullRequest, RestError> {
        self.call(
            Method::POST,
            "/pulls",
            Some(json!({
                "title": title,
                "head": head,
                "base": base,
                "body": body,
                "draft": draft,
                "maintainer_can_modify": false,
            })),
        )
        .await
    }

    pub async fn close_pull(&self, number: u64) -> Result<(), RestError> {
        self.call::<Value>(
            Method::PATCH,
            &format!("/pulls/{number}"),
            Some(json!({ "state": "closed" })),
        )
        .await?;
        Ok(())
    }

    pub async fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), RestError> {
        self.call::<Value>(
            Method::POST,
            &format!("/issues/{number}/labels"),
            Some(json!({ "labels": labels })),
        )
        .await?;
        Ok(())
    }

    /// Asks for reviews: `@org/team` entries are teams, others people.
    pub async fn request_reviewers(&self, number: u64, who: &[String]) -> Result<(), RestError> {
        let (mut people, mut teams) = (Vec::new(), Vec::new());
        for w in who {
            let w = w.trim_start_matches('@');
            match w.split_once('/') {
                Some((_, team)) => teams.push(team.to_owned()),
                None => people.push(w.to_owned()),
            }
        }
        if people.is_empty() && teams.is_empty() {
            return Ok(());
        }
        self.call::<Value>(
            Method::POST,
            &format!("/pulls/{number}/requested_reviewers"),
            Some(json!({ "reviewers": people, "team_reviewers": teams })),
        )
        .await?;
        Ok(())
    }

    /// Every comment on an issue or pull request, oldest first.
    pub async fn comments(&self, issue: u64) -> Result<Vec<Comment>, RestError> {
        self.pages(&format!("/issues/{issue}/comments"), None)
            .all()
            .await
    }

    pub async fn create_comment(&self, issue: u64, body: &str) -> Result<u64, RestError> {
        let c: Comment = self
            .call(
                Method::POST,
                &format!("/issues/{issue}/comments"),
                Some(json!({ "body": body })),
            )
            .await?;
        Ok(c.id)
    }

    pub async fn update_comment(&self, id: u64, body: &str) -> Result<(), RestError> {
        self.call::<Value>(
            Method::PATCH,
            &format!("/issues/comments/{id}"),
            Some(json!({ "body": body })),
        )
        .await?;
        Ok(())
    }

    /// Check runs on a commit, by name when given.
    pub async fn check_runs(
        &self,
        sha: &str,
        name: Option<&str>,
    ) -> Result<Vec<CheckRun>, RestError> {
        let filter = name
            .map(|n| format!("?check_name={}", encode(n, false)))
            .unwrap_or_default();
        self.pages(
            &format!("/commits/{sha}/check-runs{filter}"),
            Some("check_runs"),
        )
        .all()
        .await
    }

    /// The latest commit status of each context on a commit.
    pub async fn statuses(&self, sha: &str) -> Result<Vec<CommitStatus>, RestError> {
        self.pages(&format!("/commits/{sha}/status"), Some("statuses"))
            .all()
            .await
    }

    /// Creates the check run, or rewrites it when `existing` names one.
    pub async fn put_check_run(
        &self,
        existing: Option<u64>,
        head_sha: &str,
        out: &CheckOutput,
    ) -> Result<u64, RestError> {
        let actions: Vec<Value> = out
            .actions
            .iter()
            .map(|a| json!({ "label": a.label, "description": a.description, "identifier": a.identifier }))
            .collect();
        let mut body = json!({
            "name": out.name,
            "output": { "title": out.title, "summary": out.summary },
            "actions": actions,
        });
        if let Some(obj) = body.as_object_mut() {
            match out.conclusion {
                Some(c) => {
                    obj.insert("status".into(), json!("completed"));
                    obj.insert("conclusion".into(), json!(c));
                }
                None => {
                    obj.insert("status".into(), json!("in_progress"));
                }
            }
        }
        let run: CheckRun = match existing {
            Some(id) => {
                self.call(Method::PATCH, &format!("/check-runs/{id}"), Some(body))
                    .await?
            }
            None => {
                if let Some(obj) = body.as_object_mut() {
                    obj.insert("head_sha".into(), json!(head_sha));
                }
                self.call(Method::POST, "/check-runs", Some(body)).await?
            }
        };
        Ok(run.id)
    }

    /// Whether `commit` is part of `head`'s history (`head` contains it).
    pub async fn contains(&self, head: &str, commit: &str) -> Result<bool, RestError> {
        if head == commit {
            return Ok(true);
        }
        #[derive(Deserialize)]
        struct Compare {
            status: String,
        }
        // Only the status is read: one file per page keeps GitHub's answer small.
        let asked = self
            .call::<Compare>(
                Method::GET,
                &format!("/compare/{commit}...{head}?per_page=1"),
                None,
            )
            .await;
        match asked {
            Ok(c) => Ok(matches!(c.status.as_str(), "ahead" | "identical")),
            // A commit GitHub cannot compare with the branch (one of a fork, or gone) is no
            // part of its history; that is an answer, not a failure to retry or record.
            Err(RestError::Api(e)) if matches!(e.status(), Some(404 | 422)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The files that differ between `base` and `head`.
    pub async fn changed_files(&self, base: &str, head: &str) -> Result<Vec<String>, RestError> {
        #[derive(Deserialize)]
        struct Compare {
            #[serde(default)]
            files: Vec<File>,
        }
        #[derive(Deserialize)]
        struct File {
            filename: String,
        }
        let rest = format!("/compare/{base}...{head}");
        let c: Compare = self.call(Method::GET, &rest, None).await?;
        if c.files.len() >= COMPARE_FILES_SHOWN {
            // A comparison lists at most this many files and says nothing of the rest: a
            // push check must not pass on files it never saw.
            return Err(RestError::Truncated {
                what: format!("GET {rest}"),
                detail: "a comparison lists at most 300 files",
            });
        }
        Ok(c.files.into_iter().map(|f| f.filename).collect())
    }

    /// The newest commit on `branch` that touches `path` and that `wanted` accepts, read
    /// page by page (newest first) until one is found.
    pub async fn newest_commit_touching(
        &self,
        branch: &str,
        path: &str,
        wanted: impl Fn(&CommitSummary) -> bool,
    ) -> Result<Option<CommitSummary>, RestError> {
        let mut pages = self.pages(
            &format!(
                "/commits?sha={}&path={}",
                encode(branch, false),
                encode(path, false)
            ),
            None,
        );
        while let Some(commits) = pages.next::<CommitSummary>().await? {
            if let Some(c) = commits.into_iter().find(|c| wanted(c)) {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// Open issues with `label` whose body holds `marker`: the first one.
    pub async fn find_issue(&self, label: &str, marker: &str) -> Result<Option<u64>, RestError> {
        #[derive(Deserialize)]
        struct Issue {
            number: u64,
            #[serde(default)]
            body: Option<String>,
        }
        let list: Vec<Issue> = self
            .pages(
                &format!("/issues?state=open&labels={}", encode(label, false)),
                None,
            )
            .all()
            .await?;
        Ok(list
            .into_iter()
            .find(|i| i.body.as_deref().is_some_and(|b| b.contains(marker)))
            .map(|i| i.number))
    }

    pub async fn create_issue(
        &self,
        title: &str,
        body: &str,
        labels: &[&str],
    ) -> Result<u64, RestError> {
        #[derive(Deserialize)]
        struct Created {
            number: u64,
        }
        let c: Created = self
            .call(
                Method::POST,
                "/issues",
                Some(json!({ "title": title, "body": body, "labels": labels })),
            )
            .await?;
        Ok(c.number)
    }

    pub async fn update_issue_body(&self, number: u64, body: &str) -> Result<(), RestError> {
        self.call::<Value>(
            Method::PATCH,
            &format!("/issues/{number}"),
            Some(json!({ "body": body })),
        )
        .await?;
        Ok(())
    }

    /// Reacts to a comment (`eyes`, `+1`, `-1`, `confused`…).
    pub async fn react(&self, comment_id: u64, content: &str) -> Result<(), RestError> {
        self.call::<Value>(
            Method::POST,
            &format!("/issues/comments/{comment_id}/reactions"),
            Some(json!({ "content": content })),
        )
        .await?;
        Ok(())
    }

    /// Takes a pull request out of draft. REST cannot; this is GraphQL's
    /// `markPullRequestReadyForReview`, the one GraphQL call keyroll makes.
    pub async fn mark_ready(&self, node_id: &str) -> Result<(), RestError> {
        let query = "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { isDraft } } }";
        let answer = self
            .api
            .request(
                Method::POST,
                "/graphql",
                Some(&json!({ "query": query, "variables": { "id": node_id } })),
            )
            .await?;
        if let Some(errors) = answer.get("errors") {
            return Err(RestError::GraphQl(errors.to_string()));
        }
        Ok(())
    }

    /// Reviews of a pull request, oldest first.
    pub async fn reviews(&self, number: u64) -> Result<Vec<Review>, RestError> {
        self.pages(&format!("/pulls/{number}/reviews"), None)
            .all()
            .await
    }

    /// Merges a pull request at `sha` (GitHub refuses if the head moved since).
    pub async fn merge(&self, number: u64, sha: &str) -> Result<(), RestError> {
        self.call::<Value>(
            Method::PUT,
            &format!("/pulls/{number}/merge"),
            Some(json!({ "sha": sha, "merge_method": "merge" })),
        )
        .await?;
        Ok(())
    }

    /// How many approving reviews the rules of `branch` require (rulesets, readable with
    /// read access); `None` when no rule asks for reviews.
    pub async fn required_approvals(&self, branch: &str) -> Result<Option<u32>, RestError> {
        #[derive(Deserialize)]
        struct Rule {
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            parameters: Option<Value>,
        }
        let rules: Vec<Rule> = self
            .pages(&format!("/rules/branches/{}", encode(branch, true)), None)
            .all()
            .await?;
        Ok(rules
            .iter()
            .filter(|r| r.kind == "pull_request")
            .filter_map(|r| {
                r.parameters
                    .as_ref()?
                    .get("required_approving_review_count")?
                    .as_u64()
            })
            .max()
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    /// A person's permission on the repository (`admin`, `maintain`, `write`, `triage`,
    /// `read`, `none`) and the numeric id of the account it was read for.
    pub async fn permission(&self, login: &str) -> Result<(String, u64), RestError> {
        #[derive(Deserialize)]
        struct Permission {
            permission: String,
            user: Option<User>,
        }
        let p: Permission = self
            .call(
                Method::GET,
                &format!("/collaborators/{}/permission", encode(login, false)),
                None,
            )
            .await?;
        Ok((p.permission, p.user.map_or(0, |u| u.id)))
    }
}

/// Whether `login` is an active member of `org`'s team `team` (needs the App's
/// `members: read` organization permission).
pub async fn team_member(
    api: &Installation,
    org: &str,
    team: &str,
    login: &str,
) -> Result<bool, RestError> {
    #[derive(Deserialize)]
    struct Membership {
        state: String,
    }
    let path = format!(
        "/orgs/{}/teams/{}/memberships/{}",
        encode(org, false),
        encode(team, false),
        encode(login, false)
    );
    match api.request(Method::GET, &path, None).await {
        Ok(v) => Ok(shape::<Membership>("team membership", v)?.state == "active"),
        Err(e) if e.status() == Some(404) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether `login` is one of `entries` (`login`, `@login` or `@org/team`).
pub async fn listed(api: &RepoApi, entries: &[String], login: &str) -> Result<bool, RestError> {
    for entry in entries {
        let entry = entry.trim().trim_start_matches('@');
        let member = match entry.split_once('/') {
            Some((org, team)) => team_member(api.installation(), org, team, login).await?,
            None => entry.eq_ignore_ascii_case(login),
        };
        if member {
            return Ok(true);
        }
    }
    Ok(false)
}
