//! The REST API: one wiremock responder that logs each request, applies injected faults,
//! authenticates, routes by method and path, and answers from (and changes) the state the way
//! GitHub does: status codes, error bodies, JSON shapes, rate-limit headers, and the webhook
//! deliveries an API call causes (queued until the test delivers them).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use git2::{FileMode, ObjectType, Oid};
use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::auth::{self, Credential};
use super::faults;
use super::git;
use super::log::{self, LoggedRequest};
use super::render;
use super::state::{
    CheckRun, Comment, CommitStatus, Config, Issue, Pull, Reaction, State, Token, User, now,
    random_alnum, ts,
};
use super::webhooks::{self, Delivery};

pub fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The catch-all responder.
pub struct Responder {
    pub state: Arc<Mutex<State>>,
    pub log_path: Option<PathBuf>,
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = lock(&self.state);
        let mut logged = LoggedRequest::from_request(req);
        let out = handle(&mut st, req);
        logged.status = out.status;
        if let Some(p) = &self.log_path {
            log::append(p, &logged.line());
        }
        if std::env::var_os("KEYROLL_SIM_TRACE").is_some() {
            let q = req.url.query().map(|q| format!("?{q}")).unwrap_or_default();
            let why = if out.status >= 400 {
                out.body
                    .as_deref()
                    .map(|b| format!(" {}", String::from_utf8_lossy(b)))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "sim: {} {}{q} -> {}{why}",
                    logged.method, logged.path, out.status
                );
            }
        }
        st.requests.push(logged);
        drop(st);
        out.template()
    }
}

struct Out {
    status: u16,
    body: Option<Vec<u8>>,
    mime: &'static str,
    headers: Vec<(String, String)>,
    delay: Option<Duration>,
}

impl Out {
    fn json(status: u16, body: Option<&Value>, headers: Vec<(String, String)>) -> Out {
        Out {
            status,
            body: body.map(|b| serde_json::to_vec(b).expect("JSON serializes")),
            mime: "application/json; charset=utf-8",
            headers,
            delay: None,
        }
    }

    fn template(self) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status);
        for (k, v) in &self.headers {
            t = t.insert_header(k.as_str(), v.as_str());
        }
        if let Some(b) = self.body {
            t = t.set_body_raw(b, self.mime);
        }
        if let Some(d) = self.delay {
            t = t.set_delay(d);
        }
        t
    }
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub errors: Option<Box<Value>>,
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)?;
        if let Some(e) = &self.errors {
            write!(f, " {e}")?;
        }
        Ok(())
    }
}

pub struct Resp {
    status: u16,
    body: Option<Value>,
    headers: Vec<(String, String)>,
}

type Res = Result<Resp, ApiError>;

fn ok(v: Value) -> Res {
    Ok(Resp {
        status: 200,
        body: Some(v),
        headers: Vec::new(),
    })
}

fn created(v: Value) -> Res {
    Ok(Resp {
        status: 201,
        body: Some(v),
        headers: Vec::new(),
    })
}

fn no_content() -> Res {
    Ok(Resp {
        status: 204,
        body: None,
        headers: Vec::new(),
    })
}

pub fn fail(status: u16, message: &str) -> ApiError {
    ApiError {
        status,
        message: message.to_owned(),
        errors: None,
        headers: Vec::new(),
    }
}

pub fn not_found() -> ApiError {
    fail(404, "Not Found")
}

fn no_commit(name: &str) -> ApiError {
    fail(422, &format!("No commit found for SHA: {name}"))
}

/// 422 "Validation Failed" with one error of GitHub's `errors` list.
fn validation(resource: &str, field: &str, code: &str) -> ApiError {
    ApiError {
        status: 422,
        message: "Validation Failed".to_owned(),
        errors: Some(Box::new(
            json!([{ "resource": resource, "field": field, "code": code }]),
        )),
        headers: Vec::new(),
    }
}

fn custom(resource: &str, message: &str) -> ApiError {
    ApiError {
        status: 422,
        message: "Validation Failed".to_owned(),
        errors: Some(Box::new(
            json!([{ "resource": resource, "code": "custom", "message": message }]),
        )),
        headers: Vec::new(),
    }
}

fn missing(field: &str) -> ApiError {
    fail(
        422,
        &format!("Invalid request.\n\n\"{field}\" wasn't supplied."),
    )
}

fn error_body(e: &ApiError) -> Value {
    let mut v = json!({
        "message": e.message,
        "documentation_url": "https://docs.github.com/rest",
        "status": e.status.to_string(),
    });
    if let (Some(errors), Some(obj)) = (&e.errors, v.as_object_mut()) {
        obj.insert("errors".into(), (**errors).clone());
    }
    v
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    AccessTokens(String),
    App,
    AppInstallations,
    AppInstallation(String),
    RepoInstallation,
    InstallationRepos,
    ForeignRepo,
    Repo,
    GetRef(String),
    MatchingRefs(String),
    CreateRef,
    UpdateRef(String),
    DeleteRef(String),
    GetGitCommit(String),
    CreateGitCommit,
    GetTree(String),
    CreateTree,
    GetBlob(String),
    CreateBlob,
    GetContents(String),
    PutContents(String),
    ListCommits,
    GetCommit(String),
    CheckRunsForRef(String),
    CombinedStatus(String),
    StatusesForRef(String),
    Compare(String),
    ListPulls,
    CreatePull,
    GetPull(u64),
    UpdatePull(u64),
    MergePull(u64),
    IsMerged(u64),
    RequestReviewers(u64),
    ListRequestedReviewers(u64),
    RemoveRequestedReviewers(u64),
    ListReviews(u64),
    ListPullCommits(u64),
    ListPullFiles(u64),
    ListIssues,
    CreateIssue,
    GetIssue(u64),
    UpdateIssue(u64),
    AddLabels(u64),
    ListIssueLabels(u64),
    RemoveLabel(u64, String),
    ListComments(u64),
    CreateComment(u64),
    GetComment(u64),
    UpdateComment(u64),
    DeleteComment(u64),
    CreateReaction(u64),
    ListReactions(u64),
    CreateCheckRun,
    GetCheckRun(u64),
    UpdateCheckRun(u64),
    CreateStatus(String),
    CollaboratorPermission(String),
    BranchProtection(String),
    GetBranch(String),
    BranchRules(String),
    TeamMembership(String, String, String),
    TeamMembers(String, String),
    PullsOfCommit(String),
    GraphQl,
}

impl Route {
    fn needs_jwt(&self) -> bool {
        matches!(
            self,
            Route::AccessTokens(_)
                | Route::App
                | Route::AppInstallations
                | Route::AppInstallation(_)
                | Route::RepoInstallation
        )
    }
}

fn route(method: &str, segs: &[&str], cfg: &Config) -> Option<Route> {
    match (method, segs) {
        ("GET", ["app"]) => Some(Route::App),
        ("GET", ["app", "installations"]) => Some(Route::AppInstallations),
        ("GET", ["app", "installations", id]) => Some(Route::AppInstallation((*id).to_owned())),
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            Some(Route::AccessTokens((*id).to_owned()))
        }
        ("GET", ["installation", "repositories"]) => Some(Route::InstallationRepos),
        ("POST", ["graphql"]) => Some(Route::GraphQl),
        ("GET", ["orgs", org, "teams", team, "memberships", user]) => Some(Route::TeamMembership(
            (*org).to_owned(),
            (*team).to_owned(),
            (*user).to_owned(),
        )),
        ("GET", ["orgs", org, "teams", team, "members"]) => {
            Some(Route::TeamMembers((*org).to_owned(), (*team).to_owned()))
        }
        (_, ["repos", owner, repo, rest @ ..]) => {
            let r = repo_route(method, rest)?;
            if !owner.eq_ignore_ascii_case(&cfg.owner) || !repo.eq_ignore_ascii_case(&cfg.repo) {
                return Some(Route::ForeignRepo);
            }
            Some(r)
        }
        _ => None,
    }
}

fn repo_route(method: &str, rest: &[&str]) -> Option<Route> {
    let num = |s: &str| s.parse::<u64>().ok().filter(|n| *n > 0);
    let join = |r: &[&str]| r.join("/");
    let r = match (method, rest) {
        ("GET", []) => Route::Repo,
        ("GET", ["installation"]) => Route::RepoInstallation,
        ("GET", ["git", "ref", r @ ..]) if !r.is_empty() => Route::GetRef(join(r)),
        ("GET", ["git", "matching-refs", r @ ..]) if !r.is_empty() => Route::MatchingRefs(join(r)),
        ("POST", ["git", "refs"]) => Route::CreateRef,
        ("PATCH", ["git", "refs", r @ ..]) if !r.is_empty() => Route::UpdateRef(join(r)),
        ("DELETE", ["git", "refs", r @ ..]) if !r.is_empty() => Route::DeleteRef(join(r)),
        ("GET", ["git", "commits", sha]) => Route::GetGitCommit((*sha).to_owned()),
        ("POST", ["git", "commits"]) => Route::CreateGitCommit,
        ("GET", ["git", "trees", r @ ..]) if !r.is_empty() => Route::GetTree(join(r)),
        ("POST", ["git", "trees"]) => Route::CreateTree,
        ("GET", ["git", "blobs", sha]) => Route::GetBlob((*sha).to_owned()),
        ("POST", ["git", "blobs"]) => Route::CreateBlob,
        ("GET", ["contents", p @ ..]) if !p.is_empty() => Route::GetContents(join(p)),
        ("PUT", ["contents", p @ ..]) if !p.is_empty() => Route::PutContents(join(p)),
        ("GET", ["commits"]) => Route::ListCommits,
        ("GET", ["commits", r @ .., "check-runs"]) if !r.is_empty() => {
            Route::CheckRunsForRef(join(r))
        }
        ("GET", ["commits", r @ .., "status"]) if !r.is_empty() => Route::CombinedStatus(join(r)),
        ("GET", ["commits", sha, "pulls"]) => Route::PullsOfCommit((*sha).to_owned()),
        ("GET", ["commits", r @ .., "statuses"]) if !r.is_empty() => Route::StatusesForRef(join(r)),
        ("GET", ["commits", r @ ..]) if !r.is_empty() => Route::GetCommit(join(r)),
        ("GET", ["compare", r @ ..]) if !r.is_empty() => Route::Compare(join(r)),
        ("GET", ["pulls"]) => Route::ListPulls,
        ("POST", ["pulls"]) => Route::CreatePull,
        ("GET", ["pulls", n]) => Route::GetPull(num(n)?),
        ("PATCH", ["pulls", n]) => Route::UpdatePull(num(n)?),
        ("PUT", ["pulls", n, "merge"]) => Route::MergePull(num(n)?),
        ("GET", ["pulls", n, "merge"]) => Route::IsMerged(num(n)?),
        ("POST", ["pulls", n, "requested_reviewers"]) => Route::RequestReviewers(num(n)?),
        ("GET", ["pulls", n, "requested_reviewers"]) => Route::ListRequestedReviewers(num(n)?),
        ("DELETE", ["pulls", n, "requested_reviewers"]) => Route::RemoveRequestedReviewers(num(n)?),
        ("GET", ["pulls", n, "reviews"]) => Route::ListReviews(num(n)?),
        ("GET", ["pulls", n, "commits"]) => Route::ListPullCommits(num(n)?),
        ("GET", ["pulls", n, "files"]) => Route::ListPullFiles(num(n)?),
        ("GET", ["issues"]) => Route::ListIssues,
        ("POST", ["issues"]) => Route::CreateIssue,
        ("GET", ["issues", "comments", id]) => Route::GetComment(num(id)?),
        ("PATCH", ["issues", "comments", id]) => Route::UpdateComment(num(id)?),
        ("DELETE", ["issues", "comments", id]) => Route::DeleteComment(num(id)?),
        ("POST", ["issues", "comments", id, "reactions"]) => Route::CreateReaction(num(id)?),
        ("GET", ["issues", "comments", id, "reactions"]) => Route::ListReactions(num(id)?),
        ("GET", ["issues", n]) => Route::GetIssue(num(n)?),
        ("PATCH", ["issues", n]) => Route::UpdateIssue(num(n)?),
        ("POST", ["issues", n, "labels"]) => Route::AddLabels(num(n)?),
        ("GET", ["issues", n, "labels"]) => Route::ListIssueLabels(num(n)?),
        ("DELETE", ["issues", n, "labels", name]) => {
            Route::RemoveLabel(num(n)?, (*name).to_owned())
        }
        ("GET", ["issues", n, "comments"]) => Route::ListComments(num(n)?),
        ("POST", ["issues", n, "comments"]) => Route::CreateComment(num(n)?),
        ("POST", ["check-runs"]) => Route::CreateCheckRun,
        ("GET", ["check-runs", id]) => Route::GetCheckRun(num(id)?),
        ("PATCH", ["check-runs", id]) => Route::UpdateCheckRun(num(id)?),
        ("POST", ["statuses", sha]) => Route::CreateStatus((*sha).to_owned()),
        ("GET", ["collaborators", user, "permission"]) => {
            Route::CollaboratorPermission((*user).to_owned())
        }
        ("GET", ["branches", b @ .., "protection"]) if !b.is_empty() => {
            Route::BranchProtection(join(b))
        }
        ("GET", ["branches", b @ ..]) if !b.is_empty() => Route::GetBranch(join(b)),
        ("GET", ["rules", "branches", b @ ..]) if !b.is_empty() => Route::BranchRules(join(b)),
        _ => return None,
    };
    Some(r)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The headers of every answer.
fn common_headers(st: &State) -> Vec<(String, String)> {
    vec![
        (
            "x-github-request-id".to_owned(),
            format!(
                "{:04X}:{:05X}:{:06X}:{:07X}:{:08X}",
                st.request_seq % 0xFFFF,
                st.request_seq * 7 % 0xFFFFF,
                st.request_seq * 13 % 0xFFFFFF,
                st.request_seq * 31 % 0xFFFFFFF,
                st.cfg.installation_id
            ),
        ),
        ("x-ratelimit-limit".to_owned(), st.rate_limit.to_string()),
        (
            "x-ratelimit-remaining".to_owned(),
            st.rate_remaining.to_string(),
        ),
        (
            "x-ratelimit-used".to_owned(),
            (st.rate_limit - st.rate_remaining).to_string(),
        ),
        ("x-ratelimit-reset".to_owned(), st.rate_reset.to_string()),
        ("x-ratelimit-resource".to_owned(), "core".to_owned()),
        (
            "x-github-api-version-selected".to_owned(),
            "2022-11-28".to_owned(),
        ),
        (
            "x-github-media-type".to_owned(),
            "github.v3; format=json".to_owned(),
        ),
    ]
}

fn handle(st: &mut State, req: &Request) -> Out {
    st.request_seq += 1;
    let method = req.method.as_str().to_owned();
    let path = req.url.path().to_owned();
    let mut delay = None;
    if let Some(kind) = faults::take(&mut st.faults, &req.method, &path) {
        delay = faults::delay(&kind);
        if let Some((status, body, headers)) = faults::answer(&kind, st.cfg.installation_id) {
            let mut all = common_headers(st);
            all.extend(headers);
            let mut out = Out::json(status, Some(&body), all);
            out.delay = delay;
            return out;
        }
    }
    let mut out = process(st, req, &method, &path);
    let mut headers = common_headers(st);
    headers.append(&mut out.headers);
    out.headers = headers;
    out.delay = delay;
    out
}

fn error_out(e: &ApiError) -> Out {
    Out::json(e.status, Some(&error_body(e)), e.headers.clone())
}

fn process(st: &mut State, req: &Request, method: &str, path: &str) -> Out {
    if !req.headers.contains_key(http::header::USER_AGENT) {
        return Out {
            status: 403,
            body: Some(b"Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n".to_vec()),
            mime: "text/html; charset=utf-8",
            headers: Vec::new(),
            delay: None,
        };
    }
    let decoded: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let Some(route) = route(method, &segs, &st.cfg) else {
        let q = req.url.query().map(|q| format!("?{q}")).unwrap_or_default();
        st.unhandled.push(format!("{method} {path}{q}"));
        return error_out(&not_found());
    };
    let perms = match authenticate(st, &route, &req.headers) {
        Ok(p) => p,
        Err(e) => return error_out(&e),
    };
    let t = now().unix_timestamp();
    if t >= st.rate_reset {
        st.rate_reset = t + 3600;
        st.rate_remaining = st.rate_limit;
    }
    if st.rate_remaining == 0 {
        let kind = faults::FaultKind::PrimaryRateLimit {
            reset_in_secs: u64::try_from(st.rate_reset - t).unwrap_or(0),
        };
        if let Some((status, body, headers)) = faults::answer(&kind, st.cfg.installation_id) {
            return Out::json(status, Some(&body), headers);
        }
    }
    st.rate_remaining -= 1;
    let body = if req.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(_) => return error_out(&fail(400, "Problems parsing JSON")),
        }
    };
    let query = req
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let ctx = Ctx {
        path: path.to_owned(),
        query,
        body,
        perms,
    };
    match dispatch(st, &ctx, route) {
        Ok(r) => Out::json(r.status, r.body.as_ref(), r.headers),
        Err(e) => error_out(&e),
    }
}

fn authenticate(
    st: &State,
    route: &Route,
    headers: &http::HeaderMap,
) -> Result<BTreeMap<String, String>, ApiError> {
    let cred = auth::credential(headers);
    if route.needs_jwt() {
        return match cred {
            Credential::Value(t) => match auth::check_jwt(st, &t) {
                Ok(()) => Ok(BTreeMap::new()),
                Err(m) => Err(fail(401, &m)),
            },
            Credential::None => Err(fail(401, "Requires authentication")),
            Credential::Malformed => Err(fail(401, "A JSON web token could not be decoded")),
        };
    }
    match cred {
        Credential::Value(t) => match st.tokens.get(&t) {
            Some(tok) if tok.expires_at > now() => Ok(tok.permissions.clone()),
            _ => Err(fail(401, "Bad credentials")),
        },
        Credential::None => Err(fail(401, "Requires authentication")),
        Credential::Malformed => Err(fail(401, "Bad credentials")),
    }
}

/// One request, parsed.
struct Ctx {
    path: String,
    query: BTreeMap<String, String>,
    body: Value,
    perms: BTreeMap<String, String>,
}

impl Ctx {
    fn need(&self, permission: &str, level: &str) -> Result<(), ApiError> {
        self.need_any(&[permission], level)
    }

    fn need_any(&self, permissions: &[&str], level: &str) -> Result<(), ApiError> {
        if permissions
            .iter()
            .any(|p| auth::allows(&self.perms, p, level))
        {
            return Ok(());
        }
        let mut e = fail(403, "Resource not accessible by integration");
        e.headers.push((
            "x-accepted-github-permissions".to_owned(),
            permissions
                .iter()
                .map(|p| format!("{p}={level}"))
                .collect::<Vec<_>>()
                .join("; "),
        ));
        Err(e)
    }

    fn q(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }

    /// A string field of the body (`None` when absent or null; 422 when another type).
    fn str_field(&self, key: &str) -> Result<Option<&str>, ApiError> {
        match self.body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(fail(
                422,
                &format!("Invalid request.\n\nFor 'properties/{key}', {other} is not a string."),
            )),
        }
    }

    fn required_str(&self, key: &str) -> Result<&str, ApiError> {
        self.str_field(key)?.ok_or_else(|| missing(key))
    }

    fn bool_field(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(fail(
                422,
                &format!("Invalid request.\n\nFor 'properties/{key}', {other} is not a boolean."),
            )),
        }
    }

    fn str_list(&self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str().map(str::to_owned).ok_or_else(|| {
                        fail(
                            422,
                            &format!("Invalid request.\n\nFor 'items', {i} is not a string."),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(fail(
                422,
                &format!("Invalid request.\n\nFor 'properties/{key}', {other} is not an array."),
            )),
        }
    }

    fn per_page(&self) -> usize {
        self.q("per_page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100)
    }

    fn page(&self) -> usize {
        self.q("page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1)
    }
}

/// One page of `items` and the `link` header pointing at the others.
fn paginate<T: Clone>(st: &State, ctx: &Ctx, items: &[T]) -> (Vec<T>, Vec<(String, String)>) {
    let per = ctx.per_page();
    let page = ctx.page();
    let last = items.len().div_ceil(per).max(1);
    let slice: Vec<T> = items
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .cloned()
        .collect();
    let url = |p: usize| {
        let mut q: Vec<String> = ctx
            .query
            .iter()
            .filter(|(k, _)| k.as_str() != "page")
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        q.push(format!("page={p}"));
        format!("<{}{}?{}>", st.api_url, ctx.path, q.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", url(page - 1)));
    }
    if page < last {
        links.push(format!("{}; rel=\"next\"", url(page + 1)));
        links.push(format!("{}; rel=\"last\"", url(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", url(1)));
    }
    let headers = if links.is_empty() {
        Vec::new()
    } else {
        vec![("link".to_owned(), links.join(", "))]
    };
    (slice, headers)
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn list(st: &State, ctx: &Ctx, items: &[Value]) -> Res {
    let (page, headers) = paginate(st, ctx, items);
    Ok(Resp {
        status: 200,
        body: Some(Value::Array(page)),
        headers,
    })
}

pub fn queue(st: &mut State, deliveries: Vec<Delivery>) {
    st.hooks.pending.extend(deliveries);
}

fn queue_one(st: &mut State, event: &str, payload: &Value) {
    if let Some(d) = webhooks::delivery(st, event, payload) {
        st.hooks.pending.push(d);
    }
}

fn dispatch(st: &mut State, ctx: &Ctx, route: Route) -> Res {
    let bot = st.cfg.bot.clone();
    match route {
        Route::AccessTokens(id) => access_token(st, ctx, &id),
        Route::App => {
            let mut v = render::app(st, &st.cfg.app.clone());
            v["installations_count"] = json!(1);
            ok(v)
        }
        Route::AppInstallations => list(st, ctx, &[render::installation(st)]),
        Route::AppInstallation(id) => {
            if id != st.cfg.installation_id.to_string() {
                return Err(not_found());
            }
            ok(render::installation(st))
        }
        Route::RepoInstallation => ok(render::installation(st)),
        Route::InstallationRepos => {
            let (page, headers) = paginate(st, ctx, &[render::repo(st)]);
            Ok(Resp {
                status: 200,
                body: Some(json!({
                    "total_count": 1,
                    "repository_selection": "selected",
                    "repositories": page,
                })),
                headers,
            })
        }
        Route::ForeignRepo => Err(not_found()),
        Route::Repo => {
            ctx.need("metadata", "read")?;
            ok(render::repo(st))
        }
        Route::GetRef(name) => {
            ctx.need("contents", "read")?;
            let full = format!("refs/{name}");
            let oid = git::ref_target(&st.repo, &full).ok_or_else(not_found)?;
            ok(render::git_ref(st, &full, oid))
        }
        Route::MatchingRefs(prefix) => {
            ctx.need("contents", "read")?;
            let full = format!("refs/{prefix}");
            let refs: Vec<Value> = st
                .repo
                .references()
                .map(|refs| {
                    refs.flatten()
                        .filter_map(|r| Some((r.name().ok()?.to_owned(), r.target()?)))
                        .filter(|(n, _)| n.starts_with(&full) && !n.starts_with("refs/pull/"))
                        .map(|(n, o)| render::git_ref(st, &n, o))
                        .collect()
                })
                .unwrap_or_default();
            ok(Value::Array(refs))
        }
        Route::CreateRef => create_ref(st, ctx, &bot),
        Route::UpdateRef(name) => update_ref(st, ctx, &name, &bot),
        Route::DeleteRef(name) => delete_ref(st, ctx, &name, &bot),
        Route::GetGitCommit(sha) => {
            ctx.need("contents", "read")?;
            let oid = git::parse_oid(&sha).ok_or_else(not_found)?;
            render::git_commit(st, oid).map_or_else(|| Err(not_found()), ok)
        }
        Route::CreateGitCommit => create_git_commit(st, ctx),
        Route::GetTree(name) => {
            ctx.need("contents", "read")?;
            let tree = git::resolve_tree(&st.repo, &name).ok_or_else(not_found)?;
            ok(tree_json(st, tree, ctx.q("recursive").is_some()))
        }
        Route::CreateTree => create_tree(st, ctx),
        Route::GetBlob(sha) => {
            ctx.need("contents", "read")?;
            let oid = git::parse_oid(&sha).ok_or_else(not_found)?;
            let blob = st.repo.find_blob(oid).map_err(|_| not_found())?;
            ok(json!({
                "sha": sha,
                "node_id": render::node_id("B", u64::from(oid.as_bytes()[0])),
                "size": blob.size(),
                "url": format!("{}/git/blobs/{sha}", render::repo_api(st)),
                "content": git::wrapped_base64(blob.content()),
                "encoding": "base64",
            }))
        }
        Route::CreateBlob => create_blob(st, ctx),
        Route::GetContents(path) => get_contents(st, ctx, &path),
        Route::PutContents(path) => put_contents(st, ctx, &path, &bot),
        Route::ListCommits => list_commits(st, ctx),
        Route::GetCommit(name) => {
            ctx.need("contents", "read")?;
            let oid = git::resolve_commit(&st.repo, &name).ok_or_else(|| no_commit(&name))?;
            render::commit(st, oid, true).map_or_else(|| Err(no_commit(&name)), ok)
        }
        Route::CheckRunsForRef(name) => check_runs_for_ref(st, ctx, &name),
        Route::CombinedStatus(name) => combined_status(st, ctx, &name),
        Route::PullsOfCommit(sha) => pulls_of_commit(st, ctx, &sha),
        Route::GraphQl => graphql(st, ctx),
        Route::StatusesForRef(name) => {
            ctx.need("statuses", "read")?;
            let oid = git::resolve_commit(&st.repo, &name).ok_or_else(|| no_commit(&name))?;
            let sha = oid.to_string();
            let mut all: Vec<&CommitStatus> = st.statuses.iter().filter(|s| s.sha == sha).collect();
            all.reverse();
            let items: Vec<Value> = all.into_iter().map(|s| render::status(st, s)).collect();
            list(st, ctx, &items)
        }
        Route::Compare(basehead) => compare(st, ctx, &basehead),
        Route::ListPulls => list_pulls(st, ctx),
        Route::CreatePull => create_pull(st, ctx, &bot),
        Route::GetPull(n) => {
            ctx.need("pull_requests", "read")?;
            let (issue, _) = st.pull(n).ok_or_else(not_found)?;
            ok(render::pull(st, issue, true))
        }
        Route::UpdatePull(n) => update_pull(st, ctx, n, &bot),
        Route::MergePull(n) => {
            ctx.need("contents", "write")?;
            let method = ctx.str_field("merge_method")?.unwrap_or("merge").to_owned();
            let expected = ctx.str_field("sha")?.map(str::to_owned);
            let title = ctx.str_field("commit_title")?.map(str::to_owned);
            let message = ctx.str_field("commit_message")?.map(str::to_owned);
            let (sha, deliveries) = merge(
                st,
                n,
                &bot,
                &method,
                expected.as_deref(),
                title.as_deref(),
                message.as_deref(),
            )?;
            queue(st, deliveries);
            ok(json!({ "sha": sha, "merged": true, "message": "Pull Request successfully merged" }))
        }
        Route::IsMerged(n) => {
            ctx.need("pull_requests", "read")?;
            let (_, p) = st.pull(n).ok_or_else(not_found)?;
            if p.merged {
                no_content()
            } else {
                Err(not_found())
            }
        }
        Route::RequestReviewers(n) => request_reviewers(st, ctx, n, &bot),
        Route::ListRequestedReviewers(n) => {
            ctx.need("pull_requests", "read")?;
            let (_, p) = st.pull(n).ok_or_else(not_found)?;
            ok(json!({
                "users": p.requested_reviewers.iter().map(|r| render::user(st, &st.user_by_login(r))).collect::<Vec<_>>(),
                "teams": p.requested_teams.iter().map(|t| render::team(st, t)).collect::<Vec<_>>(),
            }))
        }
        Route::RemoveRequestedReviewers(n) => {
            ctx.need("pull_requests", "write")?;
            let reviewers = ctx
                .str_list("reviewers")?
                .ok_or_else(|| missing("reviewers"))?;
            let teams = ctx.str_list("team_reviewers")?.unwrap_or_default();
            let issue = st.issues.get_mut(&n).ok_or_else(not_found)?;
            let p = issue.pull.as_mut().ok_or_else(not_found)?;
            p.requested_reviewers
                .retain(|r| !reviewers.iter().any(|x| x.eq_ignore_ascii_case(r)));
            p.requested_teams
                .retain(|t| !teams.iter().any(|x| x.eq_ignore_ascii_case(t)));
            let issue = st.issues.get(&n).ok_or_else(not_found)?;
            ok(render::pull(st, issue, false))
        }
        Route::ListReviews(n) => {
            ctx.need("pull_requests", "read")?;
            st.pull(n).ok_or_else(not_found)?;
            let items: Vec<Value> = st
                .reviews
                .iter()
                .filter(|r| r.number == n)
                .map(|r| render::review(st, r))
                .collect();
            list(st, ctx, &items)
        }
        Route::ListPullCommits(n) => {
            ctx.need("pull_requests", "read")?;
            let (_, p) = st.pull(n).ok_or_else(not_found)?;
            let (Some(b), Some(h)) = (git::parse_oid(&p.base_sha), git::parse_oid(&p.head_sha))
            else {
                return ok(json!([]));
            };
            let mb = st.repo.merge_base(b, h).unwrap_or(b);
            let items: Vec<Value> = git::commits_between(&st.repo, mb, h)
                .into_iter()
                .filter_map(|o| render::commit(st, o, false))
                .collect();
            list(st, ctx, &items)
        }
        Route::ListPullFiles(n) => {
            ctx.need("pull_requests", "read")?;
            let (_, p) = st.pull(n).ok_or_else(not_found)?;
            let (Some(b), Some(h)) = (git::parse_oid(&p.base_sha), git::parse_oid(&p.head_sha))
            else {
                return ok(json!([]));
            };
            let mb = st.repo.merge_base(b, h).unwrap_or(b);
            let from = st.repo.find_commit(mb).ok().map(|c| c.tree_id());
            let to = st
                .repo
                .find_commit(h)
                .map(|c| c.tree_id())
                .map_err(|_| not_found())?;
            let files = git::diff(&st.repo, from, to);
            let items = render::files_json(st, h, &files);
            list(st, ctx, &items)
        }
        Route::ListIssues => list_issues(st, ctx),
        Route::CreateIssue => create_issue(st, ctx, &bot),
        Route::GetIssue(n) => {
            need_issue(st, ctx, n, "read")?;
            let issue = st.issues.get(&n).ok_or_else(not_found)?;
            ok(render::issue(st, issue))
        }
        Route::UpdateIssue(n) => update_issue(st, ctx, n, &bot),
        Route::AddLabels(n) => add_labels(st, ctx, n, &bot),
        Route::ListIssueLabels(n) => {
            need_issue(st, ctx, n, "read")?;
            let issue = st.issues.get(&n).ok_or_else(not_found)?;
            let items = issue_labels(st, issue);
            list(st, ctx, &items)
        }
        Route::RemoveLabel(n, name) => {
            need_issue(st, ctx, n, "write")?;
            let issue = st.issues.get_mut(&n).ok_or_else(not_found)?;
            let before = issue.labels.len();
            issue.labels.retain(|l| !l.eq_ignore_ascii_case(&name));
            if issue.labels.len() == before {
                return Err(fail(404, "Label does not exist"));
            }
            issue.updated_at = now();
            let issue = st.issues.get(&n).ok_or_else(not_found)?;
            ok(Value::Array(issue_labels(st, issue)))
        }
        Route::ListComments(n) => {
            need_issue(st, ctx, n, "read")?;
            st.issues.get(&n).ok_or_else(not_found)?;
            let items: Vec<Value> = st
                .comments
                .iter()
                .filter(|c| c.issue_number == n)
                .map(|c| render::comment(st, c))
                .collect();
            list(st, ctx, &items)
        }
        Route::CreateComment(n) => {
            need_issue(st, ctx, n, "write")?;
            if !st.issues.contains_key(&n) {
                return Err(not_found());
            }
            let body = ctx
                .str_field("body")?
                .ok_or_else(|| validation("IssueComment", "body", "missing_field"))?
                .to_owned();
            let c = add_comment(st, n, &bot, &body, true);
            let payload = webhooks::issue_comment(st, &c, "created", &bot, None);
            queue_one(st, "issue_comment", &payload);
            created(render::comment(st, &c))
        }
        Route::GetComment(id) => {
            let c = st
                .comments
                .iter()
                .find(|c| c.id == id)
                .cloned()
                .ok_or_else(not_found)?;
            need_issue(st, ctx, c.issue_number, "read")?;
            ok(render::comment(st, &c))
        }
        Route::UpdateComment(id) => {
            let number = st
                .comments
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.issue_number)
                .ok_or_else(not_found)?;
            need_issue(st, ctx, number, "write")?;
            let body = ctx
                .str_field("body")?
                .ok_or_else(|| validation("IssueComment", "body", "missing_field"))?
                .to_owned();
            let (c, old) = edit_comment(st, id, &body).ok_or_else(not_found)?;
            let payload = webhooks::issue_comment(st, &c, "edited", &bot, Some(old));
            queue_one(st, "issue_comment", &payload);
            ok(render::comment(st, &c))
        }
        Route::DeleteComment(id) => {
            let c = st
                .comments
                .iter()
                .find(|c| c.id == id)
                .cloned()
                .ok_or_else(not_found)?;
            need_issue(st, ctx, c.issue_number, "write")?;
            st.comments.retain(|x| x.id != id);
            let payload = webhooks::issue_comment(st, &c, "deleted", &bot, None);
            queue_one(st, "issue_comment", &payload);
            no_content()
        }
        Route::CreateReaction(id) => create_reaction(st, ctx, id, &bot),
        Route::ListReactions(id) => {
            let c = st
                .comments
                .iter()
                .find(|c| c.id == id)
                .cloned()
                .ok_or_else(not_found)?;
            need_issue(st, ctx, c.issue_number, "read")?;
            let content = ctx.q("content");
            let items: Vec<Value> = st
                .reactions
                .iter()
                .filter(|r| r.comment_id == id && content.is_none_or(|x| x == r.content))
                .map(|r| render::reaction(st, r))
                .collect();
            list(st, ctx, &items)
        }
        Route::CreateCheckRun => create_check_run(st, ctx, &bot),
        Route::GetCheckRun(id) => {
            ctx.need("checks", "read")?;
            let c = st
                .check_runs
                .iter()
                .find(|c| c.id == id)
                .ok_or_else(not_found)?;
            ok(render::check_run(st, c))
        }
        Route::UpdateCheckRun(id) => update_check_run(st, ctx, id, &bot),
        Route::CreateStatus(sha) => create_status(st, ctx, &sha, &bot),
        Route::CollaboratorPermission(login) => {
            ctx.need("metadata", "read")?;
            let user = st.user_by_login(&login);
            let role = st.role(&login);
            let permission = match role.as_str() {
                "admin" => "admin",
                "maintain" | "write" => "write",
                "triage" | "read" => "read",
                _ => "none",
            };
            let mut u = render::user(st, &user);
            u["permissions"] = json!({
                "admin": role == "admin",
                "maintain": matches!(role.as_str(), "admin" | "maintain"),
                "push": matches!(role.as_str(), "admin" | "maintain" | "write"),
                "triage": matches!(role.as_str(), "admin" | "maintain" | "write" | "triage"),
                "pull": role != "none",
            });
            u["role_name"] = json!(role);
            ok(json!({ "permission": permission, "role_name": role, "user": u }))
        }
        Route::BranchProtection(branch) => {
            ctx.need("administration", "read")?;
            if git::branch_head(&st.repo, &branch).is_none() {
                return Err(fail(404, "Branch not found"));
            }
            let p = st
                .protections
                .get(&branch)
                .ok_or_else(|| fail(404, "Branch not protected"))?;
            ok(protection_json(st, &branch, p))
        }
        Route::BranchRules(branch) => {
            ctx.need("metadata", "read")?;
            list(st, ctx, &rules_json(st, &branch))
        }
        Route::TeamMembership(org, team, login) => {
            ctx.need("members", "read")?;
            if !org.eq_ignore_ascii_case(&st.cfg.owner) {
                return Err(not_found());
            }
            let members = st.teams.get(&team.to_lowercase()).ok_or_else(not_found)?;
            if !members.iter().any(|m| m.eq_ignore_ascii_case(&login)) {
                return Err(not_found());
            }
            let team_id = render::team(st, &team)["id"].clone();
            ok(json!({
                "url": format!("{}/organizations/{}/team/{team_id}/memberships/{login}", st.api_url, st.cfg.owner_id),
                "role": "member",
                "state": "active",
            }))
        }
        Route::TeamMembers(org, team) => {
            ctx.need("members", "read")?;
            if !org.eq_ignore_ascii_case(&st.cfg.owner) {
                return Err(not_found());
            }
            let members = st.teams.get(&team.to_lowercase()).ok_or_else(not_found)?;
            let items: Vec<Value> = members
                .iter()
                .map(|m| render::user(st, &st.user_by_login(m)))
                .collect();
            list(st, ctx, &items)
        }
        Route::GetBranch(branch) => {
            ctx.need("contents", "read")?;
            let oid =
                git::branch_head(&st.repo, &branch).ok_or_else(|| fail(404, "Branch not found"))?;
            let protection = st.protections.get(&branch);
            ok(json!({
                "name": branch,
                "commit": render::commit(st, oid, false),
                "_links": {
                    "self": format!("{}/branches/{branch}", render::repo_api(st)),
                    "html": format!("{}/tree/{branch}", render::repo_html(st)),
                },
                "protected": protection.is_some(),
                "protection": {
                    "enabled": protection.is_some(),
                    "required_status_checks": {
                        "enforcement_level": if protection.is_some() { "non_admins" } else { "off" },
                        "contexts": protection.map(|p| p.required_checks.clone()).unwrap_or_default(),
                        "checks": protection.map(|p| p.required_checks.iter().map(|c| json!({"context": c, "app_id": null})).collect::<Vec<_>>()).unwrap_or_default(),
                    },
                },
                "protection_url": format!("{}/branches/{branch}/protection", render::repo_api(st)),
            }))
        }
    }
}

fn protection_json(st: &State, branch: &str, p: &super::state::Protection) -> Value {
    let url = format!("{}/branches/{branch}/protection", render::repo_api(st));
    let mut v = json!({
        "url": url,
        "required_status_checks": {
            "url": format!("{url}/required_status_checks"),
            "strict": false,
            "contexts": p.required_checks,
            "contexts_url": format!("{url}/required_status_checks/contexts"),
            "checks": p.required_checks.iter().map(|c| json!({ "context": c, "app_id": null })).collect::<Vec<_>>(),
        },
        "enforce_admins": { "url": format!("{url}/enforce_admins"), "enabled": p.enforce_admins },
        "required_linear_history": { "enabled": false },
        "allow_force_pushes": { "enabled": false },
        "allow_deletions": { "enabled": false },
        "block_creations": { "enabled": false },
        "required_conversation_resolution": { "enabled": false },
        "lock_branch": { "enabled": false },
        "allow_fork_syncing": { "enabled": false },
    });
    if p.required_approvals > 0 {
        v["required_pull_request_reviews"] = json!({
            "url": format!("{url}/required_pull_request_reviews"),
            "dismiss_stale_reviews": false,
            "require_code_owner_reviews": false,
            "require_last_push_approval": false,
            "required_approving_review_count": p.required_approvals,
        });
    }
    v
}

/// The active rules of a branch, as `GET rules/branches/{branch}` lists them.
fn rules_json(st: &State, branch: &str) -> Vec<Value> {
    let Some(r) = st.rulesets.get(branch) else {
        return Vec::new();
    };
    let source = |ty: &str, parameters: Value| {
        json!({
            "type": ty,
            "parameters": parameters,
            "ruleset_source_type": "Repository",
            "ruleset_source": st.cfg.full_name(),
            "ruleset_id": 7001,
        })
    };
    let mut out = vec![
        source("deletion", Value::Null),
        source("non_fast_forward", Value::Null),
    ];
    if let Some(obj) = out.first_mut().and_then(Value::as_object_mut) {
        obj.remove("parameters");
    }
    if let Some(obj) = out.get_mut(1).and_then(Value::as_object_mut) {
        obj.remove("parameters");
    }
    if r.required_approvals > 0 {
        out.push(source(
            "pull_request",
            json!({
                "required_approving_review_count": r.required_approvals,
                "dismiss_stale_reviews_on_push": false,
                "require_code_owner_review": false,
                "require_last_push_approval": false,
                "required_review_thread_resolution": false,
                "allowed_merge_methods": ["merge", "squash", "rebase"],
            }),
        ));
    }
    if !r.required_checks.is_empty() {
        out.push(source(
            "required_status_checks",
            json!({
                "strict_required_status_checks_policy": false,
                "do_not_enforce_on_create": false,
                "required_status_checks": r.required_checks.iter().map(|c| json!({ "context": c })).collect::<Vec<_>>(),
            }),
        ));
    }
    out
}

/// Issues endpoints on a pull request accept `pull_requests` permission as well.
fn need_issue(st: &State, ctx: &Ctx, n: u64, level: &str) -> Result<(), ApiError> {
    let is_pull = st.issues.get(&n).is_some_and(|i| i.pull.is_some());
    if is_pull {
        ctx.need_any(&["issues", "pull_requests"], level)
    } else {
        ctx.need("issues", level)
    }
}

fn access_token(st: &mut State, ctx: &Ctx, id: &str) -> Res {
    if id != st.cfg.installation_id.to_string() {
        return Err(not_found());
    }
    let inaccessible = || {
        fail(
            422,
            "There is at least one repository that does not exist or is not accessible to the parent installation.",
        )
    };
    let mut scoped = false;
    if let Some(names) = ctx.str_list("repositories")? {
        scoped = true;
        if names.iter().any(|n| {
            let name = n.rsplit('/').next().unwrap_or(n);
            !name.eq_ignore_ascii_case(&st.cfg.repo)
        }) {
            return Err(inaccessible());
        }
    }
    if let Some(ids) = ctx.body.get("repository_ids").and_then(Value::as_array) {
        scoped = true;
        if ids.iter().any(|i| i.as_u64() != Some(st.cfg.repo_id)) {
            return Err(inaccessible());
        }
    }
    let permissions = match ctx.body.get("permissions") {
        None | Some(Value::Null) => st.cfg.permissions.clone(),
        Some(Value::Object(asked)) => {
            let asked: BTreeMap<String, String> = asked
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            if !auth::within(&st.cfg.permissions, &asked) {
                return Err(fail(
                    422,
                    "The permissions requested are not granted to this installation.",
                ));
            }
            asked
        }
        Some(_) => {
            return Err(fail(
                422,
                "Invalid request.\n\nFor 'properties/permissions', it is not an object.",
            ));
        }
    };
    let token = format!("ghs_{}", random_alnum(52));
    let expires_at = now() + time::Duration::hours(1);
    st.tokens.insert(
        token.clone(),
        Token {
            permissions: permissions.clone(),
            expires_at,
        },
    );
    st.tokens_issued += 1;
    let mut v = json!({
        "token": token,
        "expires_at": ts(expires_at),
        "permissions": permissions,
        "repository_selection": "selected",
    });
    if scoped {
        v["repositories"] = json!([render::repo(st)]);
    }
    created(v)
}

fn tree_json(st: &State, tree: Oid, recursive: bool) -> Value {
    let api = render::repo_api(st);
    let listed = git::list_tree(&st.repo, tree, recursive);
    let truncated = recursive && listed.len() > st.tree_limit;
    let entries: Vec<Value> = listed
        .into_iter()
        .take(if recursive { st.tree_limit } else { usize::MAX })
        .map(|e| {
            let kind_url = match e.kind {
                "tree" => "trees",
                "blob" => "blobs",
                _ => "commits",
            };
            let mut v = json!({
                "path": e.path,
                "mode": e.mode,
                "type": e.kind,
                "sha": e.sha,
            });
            if let Some(size) = e.size {
                v["size"] = json!(size);
            }
            if e.kind != "commit" {
                v["url"] = json!(format!("{api}/git/{kind_url}/{}", e.sha));
            }
            v
        })
        .collect();
    json!({
        "sha": tree.to_string(),
        "url": format!("{api}/git/trees/{tree}"),
        "tree": entries,
        "truncated": truncated,
    })
}

fn create_ref(st: &mut State, ctx: &Ctx, bot: &User) -> Res {
    ctx.need("contents", "write")?;
    let full = ctx.required_str("ref")?.to_owned();
    let sha = ctx.required_str("sha")?.to_owned();
    if !full.starts_with("refs/") || full.matches('/').count() < 2 || full.ends_with('/') {
        return Err(fail(422, "Reference name is invalid"));
    }
    if !git2::Reference::is_valid_name(&full) {
        return Err(fail(422, "Reference name is invalid"));
    }
    let oid = git::parse_oid(&sha).ok_or_else(|| fail(422, "Object does not exist"))?;
    if st.repo.find_object(oid, None).is_err() {
        return Err(fail(422, "Object does not exist"));
    }
    if full.starts_with("refs/heads/") && !git::is_commit(&st.repo, oid) {
        return Err(fail(422, "Object is not a commit"));
    }
    if git::ref_target(&st.repo, &full).is_some() {
        return Err(fail(422, "Reference already exists"));
    }
    git::set_ref(&st.repo, &full, oid);
    if let Some(branch) = full.strip_prefix("refs/heads/") {
        let d = after_ref_update(st, branch, None, Some(oid), bot, false);
        queue(st, d);
    }
    created(render::git_ref(st, &full, oid))
}

fn update_ref(st: &mut State, ctx: &Ctx, name: &str, bot: &User) -> Res {
    ctx.need("contents", "write")?;
    let sha = ctx.required_str("sha")?.to_owned();
    let force = ctx.bool_field("force")?.unwrap_or(false);
    let full = format!("refs/{name}");
    let old =
        git::ref_target(&st.repo, &full).ok_or_else(|| fail(422, "Reference does not exist"))?;
    let new = git::parse_oid(&sha).ok_or_else(|| fail(422, "Object does not exist"))?;
    if st.repo.find_object(new, None).is_err() {
        return Err(fail(422, "Object does not exist"));
    }
    let branch = full.strip_prefix("refs/heads/").map(str::to_owned);
    if let Some(b) = &branch {
        if !git::is_commit(&st.repo, new) {
            return Err(fail(422, "Object is not a commit"));
        }
        if st.protections.contains_key(b) {
            return Err(fail(
                422,
                &format!("Protected branch update failed for {full}."),
            ));
        }
    }
    let fast_forward = new == old || st.repo.graph_descendant_of(new, old).unwrap_or(false);
    if !force && !fast_forward {
        return Err(fail(422, "Update is not a fast forward"));
    }
    git::set_ref(&st.repo, &full, new);
    if let Some(b) = branch
        && new != old
    {
        let d = after_ref_update(st, &b, Some(old), Some(new), bot, !fast_forward);
        queue(st, d);
    }
    ok(render::git_ref(st, &full, new))
}

fn delete_ref(st: &mut State, ctx: &Ctx, name: &str, bot: &User) -> Res {
    ctx.need("contents", "write")?;
    let full = format!("refs/{name}");
    let old =
        git::ref_target(&st.repo, &full).ok_or_else(|| fail(422, "Reference does not exist"))?;
    if let Some(b) = full.strip_prefix("refs/heads/") {
        if b == st.cfg.default_branch {
            return Err(fail(422, "Cannot delete the default branch"));
        }
        if st.protections.contains_key(b) {
            return Err(fail(422, "Cannot delete this protected branch"));
        }
    }
    git::delete_ref(&st.repo, &full);
    if let Some(b) = full.strip_prefix("refs/heads/") {
        let d = after_ref_update(st, b, Some(old), None, bot, false);
        queue(st, d);
    }
    no_content()
}

/// An author or committer object of a request body.
fn identity(ctx: &Ctx, key: &str) -> Result<Option<git2::Signature<'static>>, ApiError> {
    let Some(v) = ctx.body.get(key).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let name = v.get("name").and_then(Value::as_str);
    let email = v.get("email").and_then(Value::as_str);
    let (Some(name), Some(email)) = (name, email) else {
        return Err(fail(
            422,
            &format!("Invalid request.\n\n\"name\" and \"email\" weren't supplied in \"{key}\"."),
        ));
    };
    let at = match v.get("date").and_then(Value::as_str) {
        Some(d) => time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
            fail(
                422,
                &format!("Invalid request.\n\n{d} is not a valid date-time."),
            )
        })?,
        None => now(),
    };
    Ok(Some(git::signature(name, email, at)))
}

fn create_git_commit(st: &mut State, ctx: &Ctx) -> Res {
    ctx.need("contents", "write")?;
    let message = ctx.required_str("message")?.to_owned();
    let tree = ctx.required_str("tree")?.to_owned();
    let tree = git::parse_oid(&tree)
        .filter(|t| st.repo.find_tree(*t).is_ok())
        .ok_or_else(|| fail(422, "Tree SHA does not exist"))?;
    let parents = ctx.str_list("parents")?.unwrap_or_default();
    let mut parent_oids = Vec::new();
    for p in &parents {
        let oid = git::parse_oid(p)
            .filter(|o| git::is_commit(&st.repo, *o))
            .ok_or_else(|| fail(422, "Parent SHA does not exist or is not a commit object"))?;
        parent_oids.push(oid);
    }
    let author = identity(ctx, "author")?;
    let committer = identity(ctx, "committer")?;
    let given_signature = ctx.str_field("signature")?.map(str::to_owned);
    let bot = st.cfg.bot.clone();
    let at = now();
    let bot_sig = git::signature(&bot.login, &bot.email(), at);
    // Without an author or committer, GitHub makes the commit as the App's bot and signs it.
    let signed = author.is_none() && committer.is_none();
    let author = author.unwrap_or_else(|| bot_sig.clone());
    let committer = committer.unwrap_or_else(|| author.clone());
    let oid = match given_signature {
        Some(sig) => {
            let t = st
                .repo
                .find_tree(tree)
                .map_err(|_| fail(422, "Tree SHA does not exist"))?;
            let parents: Vec<git2::Commit<'_>> = parent_oids
                .iter()
                .filter_map(|p| st.repo.find_commit(*p).ok())
                .collect();
            let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
            let buf = st
                .repo
                .commit_create_buffer(&author, &committer, &message, &t, &refs)
                .map_err(|e| fail(422, e.message()))?;
            let content = String::from_utf8_lossy(&buf).into_owned();
            st.repo
                .commit_signed(&content, &sig, None)
                .map_err(|e| fail(422, e.message()))?
        }
        None => git::write_commit(
            &st.repo,
            &author,
            &committer,
            &message,
            tree,
            &parent_oids,
            signed,
        )
        .map_err(|e| fail(422, e.message()))?,
    };
    let v = render::git_commit(st, oid).ok_or_else(not_found)?;
    created(v)
}

fn create_tree(st: &mut State, ctx: &Ctx) -> Res {
    ctx.need("contents", "write")?;
    let entries = match ctx.body.get("tree") {
        Some(Value::Array(a)) => a.clone(),
        None | Some(Value::Null) => return Err(missing("tree")),
        Some(_) => {
            return Err(fail(
                422,
                "Invalid request.\n\nFor 'properties/tree', it is not an array.",
            ));
        }
    };
    let base = match ctx.str_field("base_tree")? {
        Some(b) => Some(
            git::resolve_tree(&st.repo, b)
                .ok_or_else(|| fail(422, "base_tree is not a valid tree oid"))?,
        ),
        None => None,
    };
    let mut changes = Vec::new();
    for e in &entries {
        let path = e
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("path"))?;
        if path.is_empty()
            || path.starts_with('/')
            || path.ends_with('/')
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == ".." || c == ".git")
        {
            return Err(fail(
                422,
                &format!("tree.path contains a malformed path component: {path}"),
            ));
        }
        let mode = e
            .get("mode")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("mode"))?;
        let kind = e.get("type").and_then(Value::as_str).unwrap_or("blob");
        let file_mode = match (mode, kind) {
            ("100644", "blob") => FileMode::Blob,
            ("100755", "blob") => FileMode::BlobExecutable,
            ("120000", "blob") => FileMode::Link,
            ("040000", "tree") => FileMode::Tree,
            ("160000", "commit") => FileMode::Commit,
            _ => {
                return Err(fail(
                    422,
                    &format!("Invalid tree info: mode {mode} and type {kind} do not go together"),
                ));
            }
        };
        let sha = e.get("sha");
        let content = e.get("content");
        match (sha, content) {
            (Some(Value::Null), None) => changes.push(git::TreeChange::Remove {
                path: path.to_owned(),
            }),
            (Some(Value::String(s)), None) => {
                let oid = git::parse_oid(s);
                let fits = oid.is_some_and(|o| match kind {
                    "blob" => st.repo.find_blob(o).is_ok(),
                    "tree" => st.repo.find_tree(o).is_ok(),
                    _ => true,
                });
                let Some(oid) = oid.filter(|_| fits) else {
                    return Err(fail(422, &format!("tree.sha {s} is not a valid {kind}")));
                };
                changes.push(git::TreeChange::Upsert {
                    path: path.to_owned(),
                    oid,
                    mode: file_mode,
                });
            }
            (None, Some(Value::String(text))) if kind == "blob" => {
                let oid = st
                    .repo
                    .blob(text.as_bytes())
                    .map_err(|e| fail(422, e.message()))?;
                changes.push(git::TreeChange::Upsert {
                    path: path.to_owned(),
                    oid,
                    mode: file_mode,
                });
            }
            _ => {
                return Err(fail(
                    422,
                    "Must supply tree.sha or tree.content. Request will be rejected if both are present.",
                ));
            }
        }
    }
    let tree = git::update_tree(&st.repo, base, &changes).map_err(|m| fail(422, &m))?;
    created(tree_json(st, tree, false))
}

fn create_blob(st: &mut State, ctx: &Ctx) -> Res {
    ctx.need("contents", "write")?;
    let content = ctx.required_str("content")?;
    let bytes = match ctx.str_field("encoding")?.unwrap_or("utf-8") {
        "utf-8" | "utf8" => content.as_bytes().to_vec(),
        "base64" => {
            let packed: String = content.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(packed)
                .map_err(|_| fail(422, "content is not valid Base64"))?
        }
        other => {
            return Err(fail(
                422,
                &format!("encoding must be 'utf-8' or 'base64', not '{other}'"),
            ));
        }
    };
    let oid = st.repo.blob(&bytes).map_err(|e| fail(422, e.message()))?;
    created(json!({
        "url": format!("{}/git/blobs/{oid}", render::repo_api(st)),
        "sha": oid.to_string(),
    }))
}

fn content_entry(
    st: &State,
    path: &str,
    git_ref: &str,
    kind: &str,
    oid: Oid,
    size: usize,
) -> Value {
    let api = render::repo_api(st);
    let html_kind = if kind == "dir" { "tree" } else { "blob" };
    let self_url = format!("{api}/contents/{path}?ref={git_ref}");
    let git_url = if kind == "dir" {
        format!("{api}/git/trees/{oid}")
    } else {
        format!("{api}/git/blobs/{oid}")
    };
    let html = format!("{}/{html_kind}/{git_ref}/{path}", render::repo_html(st));
    json!({
        "type": kind,
        "size": size,
        "name": path.rsplit('/').next().unwrap_or(path),
        "path": path,
        "sha": oid.to_string(),
        "url": self_url,
        "git_url": git_url,
        "html_url": html,
        "download_url": if kind == "file" {
            json!(format!("https://raw.githubusercontent.com/{}/{git_ref}/{path}", st.cfg.full_name()))
        } else {
            Value::Null
        },
        "_links": { "self": self_url, "git": git_url, "html": html },
    })
}

fn get_contents(st: &State, ctx: &Ctx, path: &str) -> Res {
    ctx.need("contents", "read")?;
    let git_ref = ctx
        .q("ref")
        .map_or_else(|| st.cfg.default_branch.clone(), str::to_owned);
    let commit = git::resolve_commit(&st.repo, &git_ref)
        .ok_or_else(|| fail(404, &format!("No commit found for the ref {git_ref}")))?;
    let path = path.trim_matches('/');
    let (kind, oid, _) = git::object_at(&st.repo, commit, path).ok_or_else(not_found)?;
    match kind {
        ObjectType::Blob => {
            let blob = st.repo.find_blob(oid).map_err(|_| not_found())?;
            let mut v = content_entry(st, path, &git_ref, "file", oid, blob.size());
            v["content"] = json!(git::wrapped_base64(blob.content()));
            v["encoding"] = json!("base64");
            ok(v)
        }
        ObjectType::Tree => {
            let tree = st.repo.find_tree(oid).map_err(|_| not_found())?;
            let items: Vec<Value> = tree
                .iter()
                .map(|e| {
                    let name = e.name().unwrap_or_default();
                    let p = if path.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{path}/{name}")
                    };
                    let (kind, size) = match e.kind() {
                        Some(ObjectType::Tree) => ("dir", 0),
                        Some(ObjectType::Commit) => ("submodule", 0),
                        _ => (
                            if e.filemode() == i32::from(FileMode::Link) {
                                "symlink"
                            } else {
                                "file"
                            },
                            st.repo.find_blob(e.id()).map(|b| b.size()).unwrap_or(0),
                        ),
                    };
                    content_entry(st, &p, &git_ref, kind, e.id(), size)
                })
                .collect();
            ok(Value::Array(items))
        }
        _ => Err(not_found()),
    }
}

fn put_contents(st: &mut State, ctx: &Ctx, path: &str, bot: &User) -> Res {
    ctx.need("contents", "write")?;
    let message = ctx.required_str("message")?.to_owned();
    let content = ctx.required_str("content")?;
    let packed: String = content.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed)
        .map_err(|_| fail(422, "content is not valid Base64"))?;
    let branch = ctx
        .str_field("branch")?
        .map_or_else(|| st.cfg.default_branch.clone(), str::to_owned);
    let old_sha = ctx.str_field("sha")?.map(str::to_owned);
    let head = git::branch_head(&st.repo, &branch)
        .ok_or_else(|| fail(404, &format!("Branch {branch} not found")))?;
    if st.protections.contains_key(&branch) {
        return Err(fail(
            409,
            &format!("Protected branch update failed for refs/heads/{branch}."),
        ));
    }
    let path = path.trim_matches('/').to_owned();
    let existing = git::object_at(&st.repo, head, &path).map(|(_, o, _)| o);
    match (&existing, &old_sha) {
        (Some(_), None) => {
            return Err(fail(422, "Invalid request.\n\n\"sha\" wasn't supplied."));
        }
        (Some(e), Some(s)) if e.to_string() != *s => {
            return Err(fail(409, &format!("{path} does not match {s}")));
        }
        _ => {}
    }
    let blob = st.repo.blob(&bytes).map_err(|e| fail(422, e.message()))?;
    let base = st.repo.find_commit(head).map(|c| c.tree_id()).ok();
    let tree = git::update_tree(
        &st.repo,
        base,
        &[git::TreeChange::Upsert {
            path: path.clone(),
            oid: blob,
            mode: FileMode::Blob,
        }],
    )
    .map_err(|m| fail(422, &m))?;
    let author = identity(ctx, "author")?;
    let committer = identity(ctx, "committer")?;
    let signed = author.is_none() && committer.is_none();
    let bot_sig = git::signature(&bot.login, &bot.email(), now());
    let author = author.unwrap_or_else(|| bot_sig.clone());
    let committer = committer.unwrap_or_else(|| author.clone());
    let commit = git::write_commit(
        &st.repo,
        &author,
        &committer,
        &message,
        tree,
        &[head],
        signed,
    )
    .map_err(|e| fail(422, e.message()))?;
    git::set_ref(&st.repo, &format!("refs/heads/{branch}"), commit);
    let d = after_ref_update(st, &branch, Some(head), Some(commit), bot, false);
    queue(st, d);
    let mut file = content_entry(st, &path, &branch, "file", blob, bytes.len());
    if let Some(obj) = file.as_object_mut() {
        obj.remove("content");
    }
    let v = json!({ "content": file, "commit": render::git_commit(st, commit) });
    if existing.is_some() {
        ok(v)
    } else {
        created(v)
    }
}

fn list_commits(st: &State, ctx: &Ctx) -> Res {
    ctx.need("contents", "read")?;
    let start = ctx
        .q("sha")
        .map_or_else(|| st.cfg.default_branch.clone(), str::to_owned);
    let oid = git::resolve_commit(&st.repo, &start).ok_or_else(not_found)?;
    let path = ctx
        .q("path")
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty());
    let items: Vec<Value> = git::log(&st.repo, oid, path)
        .into_iter()
        .filter_map(|o| render::commit(st, o, false))
        .collect();
    list(st, ctx, &items)
}

fn check_runs_for_ref(st: &State, ctx: &Ctx, name: &str) -> Res {
    ctx.need("checks", "read")?;
    let oid = git::resolve_commit(&st.repo, name).ok_or_else(|| no_commit(name))?;
    let sha = oid.to_string();
    let latest = ctx.q("filter").unwrap_or("latest") == "latest";
    let mut runs: Vec<&CheckRun> = st
        .check_runs
        .iter()
        .filter(|c| c.head_sha == sha)
        .filter(|c| ctx.q("check_name").is_none_or(|n| n == c.name))
        .filter(|c| ctx.q("status").is_none_or(|s| s == c.status))
        .filter(|c| ctx.q("app_id").is_none_or(|a| a == c.app.id.to_string()))
        .collect();
    runs.reverse();
    if latest {
        let mut seen = std::collections::HashSet::new();
        runs.retain(|c| seen.insert((c.app.id, c.name.clone())));
    }
    let items: Vec<Value> = runs.iter().map(|c| render::check_run(st, c)).collect();
    let (page, headers) = paginate(st, ctx, &items);
    Ok(Resp {
        status: 200,
        body: Some(json!({ "total_count": items.len(), "check_runs": page })),
        headers,
    })
}

fn combined_status(st: &State, ctx: &Ctx, name: &str) -> Res {
    ctx.need("statuses", "read")?;
    let oid = git::resolve_commit(&st.repo, name).ok_or_else(|| no_commit(name))?;
    let sha = oid.to_string();
    let mut latest: Vec<&CommitStatus> = Vec::new();
    for s in st.statuses.iter().rev().filter(|s| s.sha == sha) {
        if !latest.iter().any(|l| l.context == s.context) {
            latest.push(s);
        }
    }
    let state = if latest
        .iter()
        .any(|s| matches!(s.state.as_str(), "failure" | "error"))
    {
        "failure"
    } else if latest.is_empty() || latest.iter().any(|s| s.state == "pending") {
        "pending"
    } else {
        "success"
    };
    let items: Vec<Value> = latest.iter().map(|s| render::status(st, s)).collect();
    let (page, headers) = paginate(st, ctx, &items);
    let repo = render::repo(st);
    Ok(Resp {
        status: 200,
        body: Some(json!({
            "state": state,
            "statuses": page,
            "sha": sha,
            "total_count": items.len(),
            "repository": repo,
            "commit_url": format!("{}/commits/{sha}", render::repo_api(st)),
            "url": format!("{}/commits/{sha}/status", render::repo_api(st)),
        })),
        headers,
    })
}

fn compare(st: &State, ctx: &Ctx, basehead: &str) -> Res {
    ctx.need("contents", "read")?;
    let (base, head) = basehead.split_once("...").ok_or_else(not_found)?;
    let b = git::resolve_commit(&st.repo, base).ok_or_else(not_found)?;
    let h = git::resolve_commit(&st.repo, head).ok_or_else(not_found)?;
    let mb = st.repo.merge_base(b, h).map_err(|_| {
        fail(
            404,
            &format!("No common ancestor between {base} and {head}."),
        )
    })?;
    let (ahead, behind) = git::ahead_behind(&st.repo, b, h);
    let status = match (ahead, behind) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    let commits: Vec<Value> = git::commits_between(&st.repo, b, h)
        .into_iter()
        .filter_map(|o| render::commit(st, o, false))
        .collect();
    let from = st.repo.find_commit(mb).ok().map(|c| c.tree_id());
    let to = st
        .repo
        .find_commit(h)
        .map(|c| c.tree_id())
        .map_err(|_| not_found())?;
    let files = git::diff(&st.repo, from, to);
    let html = render::repo_html(st);
    ok(json!({
        "url": format!("{}/compare/{basehead}", render::repo_api(st)),
        "html_url": format!("{html}/compare/{basehead}"),
        "permalink_url": format!("{html}/compare/{}:{b}...{}:{h}", st.cfg.owner, st.cfg.owner),
        "diff_url": format!("{html}/compare/{basehead}.diff"),
        "patch_url": format!("{html}/compare/{basehead}.patch"),
        "base_commit": render::commit(st, b, false),
        "merge_base_commit": render::commit(st, mb, false),
        "status": status,
        "ahead_by": ahead,
        "behind_by": behind,
        "total_commits": commits.len(),
        "commits": commits,
        "files": render::files_json(st, h, &files),
    }))
}

/// `GET commits/{sha}/pulls`: pull requests whose head or merge commit is `sha`.
fn pulls_of_commit(st: &State, ctx: &Ctx, sha: &str) -> Res {
    ctx.need("pull_requests", "read")?;
    let items: Vec<Value> = st
        .issues
        .values()
        .filter(|i| {
            i.pull
                .as_ref()
                .is_some_and(|p| p.head_sha == sha || p.merge_commit_sha.as_deref() == Some(sha))
        })
        .map(|i| render::pull(st, i, false))
        .collect();
    list(st, ctx, &items)
}

/// `POST /graphql`: only `markPullRequestReadyForReview`, the one mutation REST lacks.
fn graphql(st: &mut State, ctx: &Ctx) -> Res {
    let query = ctx
        .body
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !query.contains("markPullRequestReadyForReview") {
        return ok(
            json!({ "errors": [{ "message": "the simulated GitHub answers only markPullRequestReadyForReview" }] }),
        );
    }
    ctx.need("pull_requests", "write")?;
    let id = ctx
        .body
        .pointer("/variables/id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let number = st
        .issues
        .values()
        .find(|i| {
            i.pull
                .as_ref()
                .is_some_and(|p| render::node_id("PR", p.id) == id)
        })
        .map(|i| i.number);
    let Some(number) = number else {
        return ok(
            json!({ "errors": [{ "type": "NOT_FOUND", "message": format!("Could not resolve to a node with the global id of '{id}'") }] }),
        );
    };
    if let Some(p) = st.issues.get_mut(&number).and_then(|i| i.pull.as_mut()) {
        p.draft = false;
    }
    ok(
        json!({ "data": { "markPullRequestReadyForReview": { "pullRequest": { "isDraft": false } } } }),
    )
}

fn list_pulls(st: &State, ctx: &Ctx) -> Res {
    ctx.need("pull_requests", "read")?;
    let state = ctx.q("state").unwrap_or("open");
    if !matches!(state, "open" | "closed" | "all") {
        return Err(validation("PullRequest", "state", "invalid"));
    }
    // `head` must be `owner:branch`; GitHub ignores a filter without the owner.
    let head = ctx.q("head").and_then(|h| h.split_once(':'));
    let base = ctx.q("base");
    let mut pulls: Vec<&Issue> = st
        .issues
        .values()
        .filter(|i| i.pull.is_some())
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| {
            head.is_none_or(|(o, b)| {
                o.eq_ignore_ascii_case(&st.cfg.owner)
                    && i.pull.as_ref().is_some_and(|p| p.head_ref == b)
            })
        })
        .filter(|i| base.is_none_or(|b| i.pull.as_ref().is_some_and(|p| p.base_ref == b)))
        .collect();
    let sort = ctx.q("sort").unwrap_or("created");
    if sort == "updated" {
        pulls.sort_by_key(|i| (i.updated_at, i.number));
    } else {
        pulls.sort_by_key(|i| i.number);
    }
    if ctx.q("direction").unwrap_or("desc") == "desc" {
        pulls.reverse();
    }
    let items: Vec<Value> = pulls.iter().map(|i| render::pull(st, i, false)).collect();
    list(st, ctx, &items)
}

fn create_pull(st: &mut State, ctx: &Ctx, bot: &User) -> Res {
    ctx.need("pull_requests", "write")?;
    let head = ctx
        .str_field("head")?
        .ok_or_else(|| validation("PullRequest", "head", "missing_field"))?
        .to_owned();
    let base = ctx
        .str_field("base")?
        .ok_or_else(|| validation("PullRequest", "base", "missing_field"))?
        .to_owned();
    let title = ctx.str_field("title")?.map(str::to_owned);
    let body = ctx.str_field("body")?.map(str::to_owned);
    let draft = ctx.bool_field("draft")?.unwrap_or(false);
    let maintainer_can_modify = ctx.bool_field("maintainer_can_modify")?.unwrap_or(true);
    let Some(title) = title else {
        return Err(validation("PullRequest", "title", "missing_field"));
    };
    let head_branch = match head.split_once(':') {
        Some((owner, b)) => {
            if !owner.eq_ignore_ascii_case(&st.cfg.owner) {
                return Err(validation("PullRequest", "head", "invalid"));
            }
            b.to_owned()
        }
        None => head.clone(),
    };
    let head_oid = git::branch_head(&st.repo, &head_branch)
        .ok_or_else(|| validation("PullRequest", "head", "invalid"))?;
    let base_oid = git::branch_head(&st.repo, &base)
        .ok_or_else(|| validation("PullRequest", "base", "invalid"))?;
    let exists = st.issues.values().any(|i| {
        i.state == "open"
            && i.pull
                .as_ref()
                .is_some_and(|p| p.head_ref == head_branch && p.base_ref == base)
    });
    if exists {
        return Err(custom(
            "PullRequest",
            &format!(
                "A pull request already exists for {}:{head_branch}.",
                st.cfg.owner
            ),
        ));
    }
    if git::ahead_behind(&st.repo, base_oid, head_oid).0 == 0 {
        return Err(custom(
            "PullRequest",
            &format!("No commits between {base} and {head_branch}"),
        ));
    }
    let number = st.number();
    let issue_id = st.id();
    let pull_id = st.id();
    let t = now();
    st.know(bot);
    st.issues.insert(
        number,
        Issue {
            number,
            id: issue_id,
            title,
            body,
            state: "open".to_owned(),
            state_reason: None,
            user: bot.clone(),
            via_app: true,
            labels: Vec::new(),
            assignees: Vec::new(),
            locked: false,
            created_at: t,
            updated_at: t,
            closed_at: None,
            closed_by: None,
            pull: Some(Pull {
                id: pull_id,
                head_ref: head_branch,
                head_sha: head_oid.to_string(),
                base_ref: base,
                base_sha: base_oid.to_string(),
                merged: false,
                merged_at: None,
                merged_by: None,
                merge_commit_sha: None,
                mergeable: None,
                draft,
                maintainer_can_modify,
                requested_reviewers: Vec::new(),
                requested_teams: Vec::new(),
            }),
        },
    );
    let payload = webhooks::pull_request(st, number, "opened", bot, None, None, None);
    refresh_pull(st, number);
    queue_one(st, "pull_request", &payload);
    let issue = st.issues.get(&number).ok_or_else(not_found)?;
    created(render::pull(st, issue, true))
}

fn update_pull(st: &mut State, ctx: &Ctx, n: u64, bot: &User) -> Res {
    ctx.need("pull_requests", "write")?;
    let title = ctx.str_field("title")?.map(str::to_owned);
    let body = ctx.str_field("body")?.map(str::to_owned);
    let state = ctx.str_field("state")?.map(str::to_owned);
    let base = ctx.str_field("base")?.map(str::to_owned);
    let mcm = ctx.bool_field("maintainer_can_modify")?;
    let (issue, pull) = st.pull(n).ok_or_else(not_found)?;
    let (issue, pull) = (issue.clone(), pull.clone());
    if let Some(s) = &state
        && !matches!(s.as_str(), "open" | "closed")
    {
        return Err(validation("PullRequest", "state", "invalid"));
    }
    if let Some(b) = &base
        && git::branch_head(&st.repo, b).is_none()
    {
        return Err(validation("PullRequest", "base", "invalid"));
    }
    let mut changes = serde_json::Map::new();
    {
        let i = st.issues.get_mut(&n).ok_or_else(not_found)?;
        if let Some(t) = title
            && t != i.title
        {
            changes.insert("title".into(), json!({ "from": i.title }));
            i.title = t;
        }
        if let Some(b) = body
            && Some(&b) != i.body.as_ref()
        {
            changes.insert("body".into(), json!({ "from": i.body }));
            i.body = Some(b);
        }
        if let Some(p) = i.pull.as_mut() {
            if let Some(b) = base
                && b != p.base_ref
            {
                changes.insert(
                    "base".into(),
                    json!({ "ref": { "from": p.base_ref }, "sha": { "from": p.base_sha } }),
                );
                p.base_ref = b;
            }
            if let Some(m) = mcm {
                p.maintainer_can_modify = m;
            }
        }
        i.updated_at = now();
    }
    if !changes.is_empty() {
        refresh_pull(st, n);
        let payload = webhooks::pull_request(
            st,
            n,
            "edited",
            bot,
            None,
            Some(Value::Object(changes)),
            None,
        );
        queue_one(st, "pull_request", &payload);
    }
    match state.as_deref() {
        Some("closed") if issue.state == "open" => {
            let d = close_pull(st, n, bot);
            queue(st, d);
        }
        Some("open") if issue.state == "closed" => {
            if pull.merged {
                return Err(fail(
                    422,
                    "state cannot be changed. The pull request has already been merged.",
                ));
            }
            let d = reopen_pull(st, n, bot).map_err(|e| fail(422, &e))?;
            queue(st, d);
        }
        _ => {}
    }
    let issue = st.issues.get(&n).ok_or_else(not_found)?;
    ok(render::pull(st, issue, true))
}

fn request_reviewers(st: &mut State, ctx: &Ctx, n: u64, bot: &User) -> Res {
    ctx.need("pull_requests", "write")?;
    let reviewers = ctx.str_list("reviewers")?.unwrap_or_default();
    let teams = ctx.str_list("team_reviewers")?.unwrap_or_default();
    if ctx.body.get("reviewers").is_none() && ctx.body.get("team_reviewers").is_none() {
        return Err(fail(
            422,
            "Invalid request.\n\nNo subschema in \"anyOf\" matched.\n\"reviewers\" wasn't supplied.\n\"team_reviewers\" wasn't supplied.",
        ));
    }
    let (issue, _) = st.pull(n).ok_or_else(not_found)?;
    let author = issue.user.login.clone();
    if reviewers.iter().any(|r| r.eq_ignore_ascii_case(&author)) {
        return Err(fail(
            422,
            "Review cannot be requested from pull request author.",
        ));
    }
    if reviewers.iter().any(|r| st.role(r) == "none") {
        return Err(fail(
            422,
            &format!(
                "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {} repository.",
                st.cfg.full_name()
            ),
        ));
    }
    if teams
        .iter()
        .any(|t| !st.teams.contains_key(&t.to_lowercase()))
    {
        return Err(fail(
            422,
            &format!(
                "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {} repository.",
                st.cfg.full_name()
            ),
        ));
    }
    let mut added = Vec::new();
    {
        let p = st
            .issues
            .get_mut(&n)
            .and_then(|i| i.pull.as_mut())
            .ok_or_else(not_found)?;
        for r in &reviewers {
            if !p
                .requested_reviewers
                .iter()
                .any(|x| x.eq_ignore_ascii_case(r))
            {
                p.requested_reviewers.push(r.clone());
                added.push(r.clone());
            }
        }
        for t in &teams {
            if !p.requested_teams.iter().any(|x| x.eq_ignore_ascii_case(t)) {
                p.requested_teams.push(t.clone());
            }
        }
    }
    for r in added {
        let u = render::user(st, &st.user_by_login(&r));
        let payload = webhooks::pull_request(
            st,
            n,
            "review_requested",
            bot,
            None,
            None,
            Some(("requested_reviewer", u)),
        );
        queue_one(st, "pull_request", &payload);
    }
    let issue = st.issues.get(&n).ok_or_else(not_found)?;
    created(render::pull(st, issue, false))
}

fn list_issues(st: &State, ctx: &Ctx) -> Res {
    ctx.need("issues", "read")?;
    let state = ctx.q("state").unwrap_or("open");
    if !matches!(state, "open" | "closed" | "all") {
        return Err(validation("Issue", "state", "invalid"));
    }
    let labels: Vec<&str> = ctx
        .q("labels")
        .map(|l| {
            l.split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let creator = ctx.q("creator");
    let mut issues: Vec<&Issue> = st
        .issues
        .values()
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| {
            labels
                .iter()
                .all(|l| i.labels.iter().any(|x| x.eq_ignore_ascii_case(l)))
        })
        .filter(|i| creator.is_none_or(|c| i.user.login.eq_ignore_ascii_case(c)))
        .collect();
    issues.sort_by_key(|i| i.number);
    if ctx.q("direction").unwrap_or("desc") == "desc" {
        issues.reverse();
    }
    let items: Vec<Value> = issues.iter().map(|i| render::issue(st, i)).collect();
    list(st, ctx, &items)
}

/// Label names from `labels` (strings or `{name}` objects), or a bare list body.
fn label_names(v: &Value) -> Result<Vec<String>, ApiError> {
    let items = match v {
        Value::Array(a) => a.clone(),
        Value::Object(o) => match o.get("labels") {
            Some(Value::Array(a)) => a.clone(),
            Some(Value::String(s)) => vec![json!(s)],
            _ => return Err(missing("labels")),
        },
        Value::String(s) => vec![json!(s)],
        _ => return Err(missing("labels")),
    };
    items
        .iter()
        .map(|i| match i {
            Value::String(s) => Ok(s.clone()),
            Value::Object(o) => o
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| missing("name")),
            _ => Err(fail(422, "Invalid request.\n\nlabels must be strings.")),
        })
        .collect()
}

fn issue_labels(st: &State, i: &Issue) -> Vec<Value> {
    i.labels
        .iter()
        .filter_map(|n| st.labels.get(n))
        .map(|l| render::label(st, l))
        .collect()
}

fn create_issue(st: &mut State, ctx: &Ctx, bot: &User) -> Res {
    ctx.need("issues", "write")?;
    let title = match ctx.body.get("title") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(validation("Issue", "title", "missing_field")),
    };
    let body = ctx.str_field("body")?.map(str::to_owned);
    let labels = match ctx.body.get("labels") {
        Some(v) if !v.is_null() => label_names(v)?,
        _ => Vec::new(),
    };
    let assignees = ctx.str_list("assignees")?.unwrap_or_default();
    let mut names = Vec::new();
    for l in &labels {
        names.push(st.label(l).name);
    }
    let number = st.number();
    let id = st.id();
    let t = now();
    st.issues.insert(
        number,
        Issue {
            number,
            id,
            title,
            body,
            state: "open".to_owned(),
            state_reason: None,
            user: bot.clone(),
            via_app: true,
            labels: names,
            assignees,
            locked: false,
            created_at: t,
            updated_at: t,
            closed_at: None,
            closed_by: None,
            pull: None,
        },
    );
    let payload = webhooks::issues(st, number, "opened", bot, None);
    queue_one(st, "issues", &payload);
    let issue = st.issues.get(&number).ok_or_else(not_found)?;
    created(render::issue(st, issue))
}

fn update_issue(st: &mut State, ctx: &Ctx, n: u64, bot: &User) -> Res {
    need_issue(st, ctx, n, "write")?;
    let title = ctx.str_field("title")?.map(str::to_owned);
    let body = ctx.str_field("body")?.map(str::to_owned);
    let state = ctx.str_field("state")?.map(str::to_owned);
    let state_reason = ctx.str_field("state_reason")?.map(str::to_owned);
    let labels = match ctx.body.get("labels") {
        Some(v) if !v.is_null() => Some(label_names(v)?),
        _ => None,
    };
    let assignees = ctx.str_list("assignees")?;
    if let Some(s) = &state
        && !matches!(s.as_str(), "open" | "closed")
    {
        return Err(validation("Issue", "state", "invalid"));
    }
    let before = st.issues.get(&n).cloned().ok_or_else(not_found)?;
    let label_names: Option<Vec<String>> =
        labels.map(|ls| ls.iter().map(|l| st.label(l).name).collect());
    {
        let i = st.issues.get_mut(&n).ok_or_else(not_found)?;
        if let Some(t) = title {
            i.title = t;
        }
        if let Some(b) = body {
            i.body = Some(b);
        }
        if let Some(l) = label_names {
            i.labels = l;
        }
        if let Some(a) = assignees {
            i.assignees = a;
        }
        i.updated_at = now();
    }
    match (before.pull.as_ref(), state.as_deref()) {
        (Some(_), Some("closed")) if before.state == "open" => {
            let d = close_pull(st, n, bot);
            queue(st, d);
        }
        (Some(p), Some("open")) if before.state == "closed" => {
            if p.merged {
                return Err(fail(
                    422,
                    "state cannot be changed. The pull request has already been merged.",
                ));
            }
            let d = reopen_pull(st, n, bot).map_err(|e| fail(422, &e))?;
            queue(st, d);
        }
        (None, Some(s)) if s != before.state => {
            let i = st.issues.get_mut(&n).ok_or_else(not_found)?;
            i.state = s.to_owned();
            if s == "closed" {
                i.closed_at = Some(now());
                i.closed_by = Some(bot.clone());
                i.state_reason = Some(state_reason.unwrap_or_else(|| "completed".to_owned()));
            } else {
                i.closed_at = None;
                i.state_reason = Some("reopened".to_owned());
            }
            let action = if s == "closed" { "closed" } else { "reopened" };
            let payload = webhooks::issues(st, n, action, bot, None);
            queue_one(st, "issues", &payload);
        }
        _ => {}
    }
    let issue = st.issues.get(&n).ok_or_else(not_found)?;
    ok(render::issue(st, issue))
}

fn add_labels(st: &mut State, ctx: &Ctx, n: u64, bot: &User) -> Res {
    need_issue(st, ctx, n, "write")?;
    if !st.issues.contains_key(&n) {
        return Err(not_found());
    }
    let names = label_names(&ctx.body)?;
    let mut added = Vec::new();
    for name in names {
        let label = st.label(&name);
        let i = st.issues.get_mut(&n).ok_or_else(not_found)?;
        if !i.labels.iter().any(|l| l.eq_ignore_ascii_case(&label.name)) {
            i.labels.push(label.name.clone());
            i.updated_at = now();
            added.push(label);
        }
    }
    let is_pull = st.issues.get(&n).is_some_and(|i| i.pull.is_some());
    for label in added {
        let l = render::label(st, &label);
        if is_pull {
            let payload =
                webhooks::pull_request(st, n, "labeled", bot, None, None, Some(("label", l)));
            queue_one(st, "pull_request", &payload);
        } else {
            let payload = webhooks::issues(st, n, "labeled", bot, Some(("label", l)));
            queue_one(st, "issues", &payload);
        }
    }
    let issue = st.issues.get(&n).ok_or_else(not_found)?;
    ok(Value::Array(issue_labels(st, issue)))
}

fn create_reaction(st: &mut State, ctx: &Ctx, id: u64, bot: &User) -> Res {
    let c = st
        .comments
        .iter()
        .find(|c| c.id == id)
        .cloned()
        .ok_or_else(not_found)?;
    need_issue(st, ctx, c.issue_number, "write")?;
    let content = ctx.required_str("content")?.to_owned();
    if !matches!(
        content.as_str(),
        "+1" | "-1" | "laugh" | "confused" | "heart" | "hooray" | "rocket" | "eyes"
    ) {
        return Err(validation("Reaction", "content", "invalid"));
    }
    if let Some(existing) = st
        .reactions
        .iter()
        .find(|r| r.comment_id == id && r.content == content && r.user.id == bot.id)
    {
        return ok(render::reaction(st, existing));
    }
    let r = Reaction {
        id: st.id(),
        comment_id: id,
        content,
        user: bot.clone(),
        created_at: now(),
    };
    st.reactions.push(r.clone());
    created(render::reaction(st, &r))
}

const CONCLUSIONS: &[&str] = &[
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
];
const CHECK_STATUSES: &[&str] = &[
    "queued",
    "in_progress",
    "completed",
    "waiting",
    "requested",
    "pending",
];

/// Output and actions of a check run request, validated.
fn check_output(ctx: &Ctx) -> Result<Option<(String, String, Option<String>)>, ApiError> {
    let Some(out) = ctx.body.get("output").filter(|o| !o.is_null()) else {
        return Ok(None);
    };
    let title = out
        .get("title")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("title"))?;
    let summary = out
        .get("summary")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("summary"))?;
    let text = out.get("text").and_then(Value::as_str).map(str::to_owned);
    if summary.chars().count() > 65_535 || text.as_ref().is_some_and(|t| t.chars().count() > 65_535)
    {
        return Err(fail(
            422,
            "Invalid request.\n\nOnly 65535 characters are allowed; 65536 were supplied.",
        ));
    }
    Ok(Some((title.to_owned(), summary.to_owned(), text)))
}

fn check_actions(ctx: &Ctx) -> Result<Value, ApiError> {
    let Some(actions) = ctx.body.get("actions").filter(|a| !a.is_null()) else {
        return Ok(json!([]));
    };
    let list = actions.as_array().ok_or_else(|| {
        fail(
            422,
            "Invalid request.\n\nFor 'properties/actions', it is not an array.",
        )
    })?;
    if list.len() > 3 {
        return Err(fail(
            422,
            "Invalid request.\n\nNo more than 3 actions are allowed.",
        ));
    }
    for a in list {
        for (field, max) in [("label", 20), ("description", 40), ("identifier", 20)] {
            let v = a
                .get(field)
                .and_then(Value::as_str)
                .ok_or_else(|| missing(field))?;
            if v.chars().count() > max {
                return Err(fail(
                    422,
                    &format!(
                        "Invalid request.\n\nactions.{field} is longer than {max} characters."
                    ),
                ));
            }
        }
    }
    Ok(actions.clone())
}

fn parse_time(ctx: &Ctx, key: &str) -> Result<Option<time::OffsetDateTime>, ApiError> {
    match ctx.str_field(key)? {
        None => Ok(None),
        Some(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(Some)
            .map_err(|_| {
                fail(
                    422,
                    &format!("Invalid request.\n\n{s} is not a valid date-time."),
                )
            }),
    }
}

fn create_check_run(st: &mut State, ctx: &Ctx, bot: &User) -> Res {
    ctx.need("checks", "write")?;
    let name = ctx.required_str("name")?.to_owned();
    let head_sha = ctx.required_str("head_sha")?.to_owned();
    let mut status = ctx.str_field("status")?.unwrap_or("queued").to_owned();
    let conclusion = ctx.str_field("conclusion")?.map(str::to_owned);
    if !CHECK_STATUSES.contains(&status.as_str()) {
        return Err(validation("CheckRun", "status", "invalid"));
    }
    if let Some(c) = &conclusion {
        if !CONCLUSIONS.contains(&c.as_str()) {
            return Err(validation("CheckRun", "conclusion", "invalid"));
        }
        status = "completed".to_owned();
    }
    if status == "completed" && conclusion.is_none() {
        return Err(fail(
            422,
            "Invalid request.\n\n\"conclusion\" wasn't supplied.",
        ));
    }
    let output = check_output(ctx)?;
    let actions = check_actions(ctx)?;
    let started_at = parse_time(ctx, "started_at")?.unwrap_or_else(now);
    let completed_at = parse_time(ctx, "completed_at")?;
    let oid = git::parse_oid(&head_sha)
        .filter(|o| git::is_commit(&st.repo, *o))
        .ok_or_else(|| no_commit(&head_sha))?;
    let app = st.cfg.app.clone();
    let suite_id = st.suite(&app.slug, &oid.to_string());
    let (title, summary, text) = match output {
        Some((t, s, x)) => (Some(t), Some(s), x),
        None => (None, None, None),
    };
    let run = CheckRun {
        id: st.id(),
        name,
        head_sha: oid.to_string(),
        status: status.clone(),
        conclusion,
        external_id: ctx.str_field("external_id")?.map(str::to_owned),
        details_url: ctx.str_field("details_url")?.map(str::to_owned),
        title,
        summary,
        text,
        actions,
        app,
        suite_id,
        started_at,
        completed_at: if status == "completed" {
            Some(completed_at.unwrap_or_else(now))
        } else {
            None
        },
    };
    st.check_runs.push(run.clone());
    let payload = webhooks::check_run(st, &run, "created", bot);
    queue_one(st, "check_run", &payload);
    if run.status == "completed" {
        let payload = webhooks::check_run(st, &run, "completed", bot);
        queue_one(st, "check_run", &payload);
    }
    created(render::check_run(st, &run))
}

fn update_check_run(st: &mut State, ctx: &Ctx, id: u64, bot: &User) -> Res {
    ctx.need("checks", "write")?;
    let i = st
        .check_runs
        .iter()
        .position(|c| c.id == id)
        .ok_or_else(not_found)?;
    if st.check_runs[i].app.id != st.cfg.app.id {
        return Err(fail(403, "Invalid app_id for this check run"));
    }
    let status = ctx.str_field("status")?.map(str::to_owned);
    let conclusion = ctx.str_field("conclusion")?.map(str::to_owned);
    if let Some(s) = &status
        && !CHECK_STATUSES.contains(&s.as_str())
    {
        return Err(validation("CheckRun", "status", "invalid"));
    }
    if let Some(c) = &conclusion
        && !CONCLUSIONS.contains(&c.as_str())
    {
        return Err(validation("CheckRun", "conclusion", "invalid"));
    }
    if status.as_deref() == Some("completed") && conclusion.is_none() {
        return Err(fail(
            422,
            "Invalid request.\n\n\"conclusion\" wasn't supplied.",
        ));
    }
    let output = check_output(ctx)?;
    let actions = if ctx.body.get("actions").is_some() {
        Some(check_actions(ctx)?)
    } else {
        None
    };
    let completed_at = parse_time(ctx, "completed_at")?;
    let name = ctx.str_field("name")?.map(str::to_owned);
    let details_url = ctx.str_field("details_url")?.map(str::to_owned);
    let external_id = ctx.str_field("external_id")?.map(str::to_owned);
    let was_completed = st.check_runs[i].status == "completed";
    {
        let run = &mut st.check_runs[i];
        if let Some(n) = name {
            run.name = n;
        }
        if let Some(d) = details_url {
            run.details_url = Some(d);
        }
        if let Some(e) = external_id {
            run.external_id = Some(e);
        }
        if let Some(s) = status {
            run.status = s;
        }
        if let Some(c) = conclusion {
            run.conclusion = Some(c);
            run.status = "completed".to_owned();
        }
        if run.status == "completed" {
            run.completed_at = Some(completed_at.unwrap_or_else(now));
        } else {
            run.conclusion = None;
            run.completed_at = None;
        }
        if let Some((t, s, x)) = output {
            run.title = Some(t);
            run.summary = Some(s);
            run.text = x;
        }
        if let Some(a) = actions {
            run.actions = a;
        }
    }
    let run = st.check_runs[i].clone();
    if run.status == "completed" && !was_completed {
        let payload = webhooks::check_run(st, &run, "completed", bot);
        queue_one(st, "check_run", &payload);
    }
    ok(render::check_run(st, &run))
}

fn create_status(st: &mut State, ctx: &Ctx, sha: &str, bot: &User) -> Res {
    ctx.need("statuses", "write")?;
    let state = ctx.required_str("state")?.to_owned();
    if !matches!(state.as_str(), "error" | "failure" | "pending" | "success") {
        return Err(validation("Status", "state", "invalid"));
    }
    let oid = git::parse_oid(sha)
        .filter(|o| git::is_commit(&st.repo, *o))
        .ok_or_else(|| no_commit(sha))?;
    let s = CommitStatus {
        id: st.id(),
        sha: oid.to_string(),
        context: ctx.str_field("context")?.unwrap_or("default").to_owned(),
        state,
        description: ctx.str_field("description")?.map(str::to_owned),
        target_url: ctx.str_field("target_url")?.map(str::to_owned),
        creator: bot.clone(),
        created_at: now(),
    };
    st.statuses.push(s.clone());
    let payload = webhooks::status(st, &s, bot);
    queue_one(st, "status", &payload);
    created(render::status(st, &s))
}

// ---- operations shared with the test's drivers ----

/// What a ref move causes: a `push` delivery, the heads and test merges of the pull requests
/// on the branch (with `synchronize` deliveries), and the closing of pull requests whose
/// branch was deleted.
pub fn after_ref_update(
    st: &mut State,
    branch: &str,
    old: Option<Oid>,
    new: Option<Oid>,
    pusher: &User,
    forced: bool,
) -> Vec<Delivery> {
    let mut out = Vec::new();
    let payload = webhooks::push(
        st,
        &format!("refs/heads/{branch}"),
        old,
        new,
        pusher,
        forced,
    );
    out.extend(webhooks::delivery(st, "push", &payload));
    let affected: Vec<(u64, String, String)> = st
        .issues
        .values()
        .filter(|i| i.state == "open")
        .filter_map(|i| i.pull.as_ref().map(|p| (i.number, p)))
        .filter(|(_, p)| p.head_ref == branch || p.base_ref == branch)
        .map(|(n, p)| (n, p.head_ref.clone(), p.head_sha.clone()))
        .collect();
    for (n, head_ref, old_head) in affected {
        match new {
            None => out.extend(close_pull(st, n, pusher)),
            Some(new_oid) => {
                refresh_pull(st, n);
                if head_ref == branch && old_head != new_oid.to_string() {
                    let payload = webhooks::pull_request(
                        st,
                        n,
                        "synchronize",
                        pusher,
                        Some((old_head, new_oid.to_string())),
                        None,
                        None,
                    );
                    out.extend(webhooks::delivery(st, "pull_request", &payload));
                }
            }
        }
    }
    out
}

/// An open pull request's heads and test merge (`refs/pull/N/merge`), as GitHub keeps them.
pub fn refresh_pull(st: &mut State, n: u64) {
    let Some((issue, pull)) = st.pull(n) else {
        return;
    };
    if issue.state != "open" {
        return;
    }
    let head =
        git::branch_head(&st.repo, &pull.head_ref).or_else(|| git::parse_oid(&pull.head_sha));
    let base =
        git::branch_head(&st.repo, &pull.base_ref).or_else(|| git::parse_oid(&pull.base_sha));
    let (mut mergeable, mut test) = (None, None);
    if let (Some(b), Some(h)) = (base, head) {
        match git::merge_tree(&st.repo, b, h) {
            Ok(tree) => {
                let sig = git::signature("GitHub", "noreply@github.com", now());
                test = git::write_commit(
                    &st.repo,
                    &sig,
                    &sig,
                    &format!("Merge {h} into {b}"),
                    tree,
                    &[b, h],
                    false,
                )
                .ok();
                mergeable = Some(true);
            }
            Err(_) => mergeable = Some(false),
        }
    }
    if let Some(h) = head {
        git::set_ref(&st.repo, &format!("refs/pull/{n}/head"), h);
    }
    match test {
        Some(t) => git::set_ref(&st.repo, &format!("refs/pull/{n}/merge"), t),
        None => git::delete_ref(&st.repo, &format!("refs/pull/{n}/merge")),
    }
    if let Some(p) = st.issues.get_mut(&n).and_then(|i| i.pull.as_mut()) {
        if let Some(h) = head {
            p.head_sha = h.to_string();
        }
        if let Some(b) = base {
            p.base_sha = b.to_string();
        }
        p.mergeable = mergeable;
        p.merge_commit_sha = test.map(|t| t.to_string());
    }
}

/// Closes an open pull request without merging it.
pub fn close_pull(st: &mut State, n: u64, by: &User) -> Vec<Delivery> {
    let t = now();
    let Some(i) = st.issues.get_mut(&n) else {
        return Vec::new();
    };
    if i.state != "open" {
        return Vec::new();
    }
    i.state = "closed".to_owned();
    i.closed_at = Some(t);
    i.closed_by = Some(by.clone());
    i.updated_at = t;
    if let Some(p) = i.pull.as_mut() {
        p.mergeable = None;
    }
    let payload = webhooks::pull_request(st, n, "closed", by, None, None, None);
    webhooks::delivery(st, "pull_request", &payload)
        .into_iter()
        .collect()
}

/// Reopens a closed, unmerged pull request whose head branch still exists.
pub fn reopen_pull(st: &mut State, n: u64, by: &User) -> Result<Vec<Delivery>, String> {
    let (issue, pull) = st.pull(n).ok_or("no such pull request")?;
    if issue.state == "open" {
        return Ok(Vec::new());
    }
    if pull.merged {
        return Err("state cannot be changed. The pull request has already been merged.".into());
    }
    if git::branch_head(&st.repo, &pull.head_ref).is_none() {
        return Err(format!(
            "state cannot be changed. The {} branch has been deleted.",
            pull.head_ref
        ));
    }
    let t = now();
    if let Some(i) = st.issues.get_mut(&n) {
        i.state = "open".to_owned();
        i.closed_at = None;
        i.closed_by = None;
        i.updated_at = t;
    }
    refresh_pull(st, n);
    let payload = webhooks::pull_request(st, n, "reopened", by, None, None, None);
    Ok(webhooks::delivery(st, "pull_request", &payload)
        .into_iter()
        .collect())
}

/// Why the base branch's protection refuses the merge, if it does.
pub fn protection_problem(st: &State, base: &str, n: u64, head_sha: &str) -> Option<String> {
    [st.protections.get(base), st.rulesets.get(base)]
        .into_iter()
        .flatten()
        .find_map(|p| unmet(st, p, n, head_sha))
}

fn unmet(st: &State, p: &super::state::Protection, n: u64, head_sha: &str) -> Option<String> {
    if p.required_approvals > 0 {
        let mut latest: Vec<(&str, &str)> = Vec::new();
        for r in st.reviews.iter().filter(|r| r.number == n) {
            if r.state == "COMMENTED" {
                continue;
            }
            latest.retain(|(u, _)| *u != r.user.login);
            latest.push((&r.user.login, &r.state));
        }
        let approvals = latest
            .iter()
            .filter(|(u, s)| {
                *s == "APPROVED" && matches!(st.role(u).as_str(), "admin" | "maintain" | "write")
            })
            .count();
        if latest.iter().any(|(_, s)| *s == "CHANGES_REQUESTED") {
            return Some("Changes must be made through a pull request.".to_owned());
        }
        if approvals < p.required_approvals as usize {
            return Some(if p.required_approvals == 1 {
                "At least 1 approving review is required by reviewers with write access.".to_owned()
            } else {
                format!(
                    "At least {} approving reviews are required by reviewers with write access.",
                    p.required_approvals
                )
            });
        }
    }
    for ctx in &p.required_checks {
        let run = st
            .check_runs
            .iter()
            .rev()
            .find(|c| c.head_sha == head_sha && &c.name == ctx);
        let status = st
            .statuses
            .iter()
            .rev()
            .find(|s| s.sha == head_sha && &s.context == ctx);
        let passed = run.is_some_and(|r| {
            matches!(
                r.conclusion.as_deref(),
                Some("success" | "neutral" | "skipped")
            )
        }) || status.is_some_and(|s| s.state == "success");
        if !passed {
            return Some(if run.is_none() && status.is_none() {
                format!("Required status check \"{ctx}\" is expected.")
            } else {
                format!("Required status check \"{ctx}\" is failing.")
            });
        }
    }
    None
}

/// Merges a pull request as `by`: a real merge (or squash, or rebase) commit on the base
/// branch. Returns the new base head and the deliveries it causes.
pub fn merge(
    st: &mut State,
    n: u64,
    by: &User,
    method: &str,
    expected_head: Option<&str>,
    title: Option<&str>,
    message: Option<&str>,
) -> Result<(String, Vec<Delivery>), ApiError> {
    let (issue, pull) = st.pull(n).ok_or_else(not_found)?;
    let (issue, pull) = (issue.clone(), pull.clone());
    let not_mergeable = || fail(405, "Pull Request is not mergeable");
    if pull.merged || issue.state != "open" {
        return Err(not_mergeable());
    }
    if pull.draft {
        return Err(fail(405, "Pull Request is still a draft"));
    }
    if let Some(e) = expected_head
        && e != pull.head_sha
    {
        return Err(fail(
            409,
            "Head branch was modified. Review and try the merge again.",
        ));
    }
    if !matches!(method, "merge" | "squash" | "rebase") {
        return Err(validation("PullRequest", "merge_method", "invalid"));
    }
    if let Some(problem) = protection_problem(st, &pull.base_ref, n, &pull.head_sha) {
        return Err(fail(405, &problem));
    }
    let base = git::branch_head(&st.repo, &pull.base_ref).ok_or_else(not_mergeable)?;
    let head = git::parse_oid(&pull.head_sha).ok_or_else(not_mergeable)?;
    let t = now();
    let author = git::signature(&by.login, &by.email(), t);
    let committer = git::signature("GitHub", "noreply@github.com", t);
    let new = match method {
        "merge" => {
            let tree = git::merge_tree(&st.repo, base, head).map_err(|_| not_mergeable())?;
            let title = title.map_or_else(
                || {
                    format!(
                        "Merge pull request #{n} from {}/{}",
                        st.cfg.owner, pull.head_ref
                    )
                },
                str::to_owned,
            );
            let body = message.map_or_else(|| issue.title.clone(), str::to_owned);
            git::write_commit(
                &st.repo,
                &author,
                &committer,
                &format!("{title}\n\n{body}"),
                tree,
                &[base, head],
                true,
            )
            .map_err(|_| not_mergeable())?
        }
        "squash" => {
            let tree = git::merge_tree(&st.repo, base, head).map_err(|_| not_mergeable())?;
            let mb = st.repo.merge_base(base, head).unwrap_or(base);
            let title = title.map_or_else(|| format!("{} (#{n})", issue.title), str::to_owned);
            let body = message.map_or_else(
                || {
                    git::commits_between(&st.repo, mb, head)
                        .iter()
                        .filter_map(|o| st.repo.find_commit(*o).ok())
                        .map(|c| format!("* {}", c.summary().ok().flatten().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join("\n\n")
                },
                str::to_owned,
            );
            git::write_commit(
                &st.repo,
                &author,
                &committer,
                &format!("{title}\n\n{body}"),
                tree,
                &[base],
                true,
            )
            .map_err(|_| not_mergeable())?
        }
        _ => {
            let mb = st.repo.merge_base(base, head).unwrap_or(base);
            let commits = git::commits_between(&st.repo, mb, head);
            git::replay(&st.repo, base, &commits, &committer).map_err(|_| not_mergeable())?
        }
    };
    git::set_ref(&st.repo, &format!("refs/heads/{}", pull.base_ref), new);
    st.know(by);
    if let Some(i) = st.issues.get_mut(&n) {
        i.state = "closed".to_owned();
        i.closed_at = Some(t);
        i.closed_by = Some(by.clone());
        i.updated_at = t;
        if let Some(p) = i.pull.as_mut() {
            p.merged = true;
            p.merged_at = Some(t);
            p.merged_by = Some(by.clone());
            p.merge_commit_sha = Some(new.to_string());
            p.mergeable = None;
        }
    }
    let mut deliveries = Vec::new();
    let payload = webhooks::pull_request(st, n, "closed", by, None, None, None);
    deliveries.extend(webhooks::delivery(st, "pull_request", &payload));
    deliveries.extend(after_ref_update(
        st,
        &pull.base_ref,
        Some(base),
        Some(new),
        by,
        false,
    ));
    Ok((new.to_string(), deliveries))
}

pub fn add_comment(st: &mut State, n: u64, by: &User, body: &str, via_app: bool) -> Comment {
    st.know(by);
    let t = now();
    let c = Comment {
        id: st.id(),
        issue_number: n,
        body: body.to_owned(),
        user: by.clone(),
        via_app,
        created_at: t,
        updated_at: t,
    };
    st.comments.push(c.clone());
    if let Some(i) = st.issues.get_mut(&n) {
        i.updated_at = t;
    }
    c
}

/// Changes a comment's body; the comment and its old body.
pub fn edit_comment(st: &mut State, id: u64, body: &str) -> Option<(Comment, String)> {
    let c = st.comments.iter_mut().find(|c| c.id == id)?;
    let old = std::mem::replace(&mut c.body, body.to_owned());
    c.updated_at = now();
    Some((c.clone(), old))
}
