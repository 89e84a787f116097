//! The JSON GitHub's REST API answers with, built from the simulation's state: the same field
//! names, nesting and URL shapes, with the fields a client would read.

use base64::Engine as _;
use git2::Oid;
use serde_json::{Value, json};

use super::git;
use super::state::{
    AppInfo, CheckRun, Comment, CommitStatus, Issue, Label, Reaction, Review, State, User, ts,
};

pub fn node_id(prefix: &str, id: u64) -> String {
    let raw = format!("{prefix}:{id}");
    format!(
        "{prefix}_kwDO{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

pub fn repo_api(st: &State) -> String {
    format!("{}/repos/{}", st.api_url, st.cfg.full_name())
}

pub fn repo_html(st: &State) -> String {
    format!("https://github.com/{}", st.cfg.full_name())
}

pub fn user(st: &State, u: &User) -> Value {
    let html = match u.login.strip_suffix("[bot]") {
        Some(app) => format!("https://github.com/apps/{app}"),
        None => format!("https://github.com/{}", u.login),
    };
    let api = format!("{}/users/{}", st.api_url, u.login);
    json!({
        "login": u.login,
        "id": u.id,
        "node_id": node_id(if u.is_bot { "BOT" } else { "U" }, u.id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", u.id),
        "gravatar_id": "",
        "url": api,
        "html_url": html,
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": u.kind(),
        "user_view_type": "public",
        "site_admin": false,
    })
}

pub fn owner(st: &State) -> Value {
    let mut o = user(st, &User::person(&st.cfg.owner.clone(), st.cfg.owner_id));
    o["type"] = json!("Organization");
    o["node_id"] = json!(node_id("O", st.cfg.owner_id));
    o
}

pub fn repo(st: &State) -> Value {
    let api = repo_api(st);
    let open_issues = st.issues.values().filter(|i| i.state == "open").count();
    let mut v = json!({
        "id": st.cfg.repo_id,
        "node_id": node_id("R", st.cfg.repo_id),
        "name": st.cfg.repo,
        "full_name": st.cfg.full_name(),
        "private": st.cfg.private,
        "owner": owner(st),
        "html_url": repo_html(st),
        "description": "Credentials, encrypted with SOPS",
        "fork": false,
        "url": api,
        "archive_url": format!("{api}/{{archive_format}}{{/ref}}"),
        "branches_url": format!("{api}/branches{{/branch}}"),
        "commits_url": format!("{api}/commits{{/sha}}"),
        "contents_url": format!("{api}/contents/{{+path}}"),
        "git_refs_url": format!("{api}/git/refs{{/sha}}"),
        "issues_url": format!("{api}/issues{{/number}}"),
        "pulls_url": format!("{api}/pulls{{/number}}"),
        "statuses_url": format!("{api}/statuses/{{sha}}"),
        "git_url": format!("git://github.com/{}.git", st.cfg.full_name()),
        "ssh_url": format!("git@github.com:{}.git", st.cfg.full_name()),
        "clone_url": format!("https://github.com/{}.git", st.cfg.full_name()),
        "created_at": "2024-01-15T10:00:00Z",
        "updated_at": ts(super::state::now()),
        "pushed_at": ts(super::state::now()),
    });
    let more = json!({
        "homepage": null,
        "size": 12,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": null,
        "has_issues": true,
        "has_projects": false,
        "has_downloads": true,
        "has_wiki": false,
        "has_pages": false,
        "has_discussions": false,
        "forks_count": 0,
        "archived": false,
        "disabled": false,
        "open_issues_count": open_issues,
        "license": null,
        "allow_forking": false,
        "is_template": false,
        "web_commit_signoff_required": false,
        "topics": [],
        "visibility": if st.cfg.private { "private" } else { "public" },
        "forks": 0,
        "open_issues": open_issues,
        "watchers": 0,
        "default_branch": st.cfg.default_branch,
        "allow_squash_merge": true,
        "allow_merge_commit": true,
        "allow_rebase_merge": true,
        "allow_auto_merge": false,
        "delete_branch_on_merge": false,
        "allow_update_branch": false,
        "use_squash_pr_title_as_default": false,
        "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
        "squash_merge_commit_message": "COMMIT_MESSAGES",
        "merge_commit_title": "MERGE_MESSAGE",
        "merge_commit_message": "PR_TITLE",
    });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), more) {
        obj.extend(more);
    }
    v
}

pub fn app(st: &State, app: &AppInfo) -> Value {
    json!({
        "id": app.id,
        "slug": app.slug,
        "client_id": format!("Iv23li{}", app.id),
        "node_id": node_id("A", app.id),
        "owner": owner(st),
        "name": app.name,
        "description": "",
        "external_url": format!("https://{}.example.com", app.slug),
        "html_url": format!("https://github.com/apps/{}", app.slug),
        "created_at": "2024-01-15T10:00:00Z",
        "updated_at": "2024-01-15T10:00:00Z",
        "permissions": st.cfg.permissions,
        "events": st.cfg.events,
    })
}

pub fn installation(st: &State) -> Value {
    json!({
        "id": st.cfg.installation_id,
        "client_id": format!("Iv23li{}", st.cfg.app.id),
        "account": owner(st),
        "repository_selection": "selected",
        "access_tokens_url": format!("{}/app/installations/{}/access_tokens", st.api_url, st.cfg.installation_id),
        "repositories_url": format!("{}/installation/repositories", st.api_url),
        "html_url": format!("https://github.com/organizations/{}/settings/installations/{}", st.cfg.owner, st.cfg.installation_id),
        "app_id": st.cfg.app.id,
        "app_slug": st.cfg.app.slug,
        "target_id": st.cfg.owner_id,
        "target_type": "Organization",
        "permissions": st.cfg.permissions,
        "events": st.cfg.events,
        "created_at": "2024-01-15T10:00:00Z",
        "updated_at": "2024-01-15T10:00:00Z",
        "single_file_name": null,
        "has_multiple_single_files": false,
        "single_file_paths": [],
        "suspended_by": null,
        "suspended_at": null,
    })
}

pub fn label(st: &State, l: &Label) -> Value {
    json!({
        "id": l.id,
        "node_id": node_id("LA", l.id),
        "url": format!("{}/labels/{}", repo_api(st), l.name),
        "name": l.name,
        "color": l.color,
        "default": false,
        "description": null,
    })
}

fn labels(st: &State, names: &[String]) -> Vec<Value> {
    names
        .iter()
        .filter_map(|n| st.labels.get(n))
        .map(|l| label(st, l))
        .collect()
}

pub fn team(st: &State, slug: &str) -> Value {
    let mut id: u64 = 3_000_000;
    for b in slug.bytes() {
        id = (id * 31 + u64::from(b)) % 1_000_000_000;
    }
    json!({
        "id": id,
        "node_id": node_id("T", id),
        "url": format!("{}/organizations/{}/team/{id}", st.api_url, st.cfg.owner_id),
        "html_url": format!("https://github.com/orgs/{}/teams/{slug}", st.cfg.owner),
        "name": slug,
        "slug": slug,
        "description": null,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": format!("{}/organizations/{}/team/{id}/members{{/member}}", st.api_url, st.cfg.owner_id),
        "repositories_url": format!("{}/organizations/{}/team/{id}/repos", st.api_url, st.cfg.owner_id),
        "parent": null,
    })
}

pub fn author_association(st: &State, u: &User) -> &'static str {
    if u.is_bot {
        return "NONE";
    }
    match st.role(&u.login).as_str() {
        "admin" | "maintain" => "MEMBER",
        "write" | "triage" => "COLLABORATOR",
        _ => "NONE",
    }
}

fn reactions_summary(st: &State, url: &str, comment_id: Option<u64>) -> Value {
    let mut counts = serde_json::Map::new();
    let mut total = 0;
    for content in [
        "+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes",
    ] {
        let n = comment_id
            .map(|id| {
                st.reactions
                    .iter()
                    .filter(|r| r.comment_id == id && r.content == content)
                    .count()
            })
            .unwrap_or(0);
        total += n;
        counts.insert(content.to_owned(), json!(n));
    }
    let mut v = json!({ "url": format!("{url}/reactions"), "total_count": total });
    if let Some(obj) = v.as_object_mut() {
        obj.extend(counts);
    }
    v
}

fn branch_side(st: &State, git_ref: &str, sha: &str) -> Value {
    json!({
        "label": format!("{}:{git_ref}", st.cfg.owner),
        "ref": git_ref,
        "sha": sha,
        "user": owner(st),
        "repo": repo(st),
    })
}

/// A pull request: `full` is the single-PR shape (with `merged`, `mergeable`, counts), else
/// the list shape.
pub fn pull(st: &State, i: &Issue, full: bool) -> Value {
    let p = i.pull.as_ref().expect("a pull request");
    let api = repo_api(st);
    let html = format!("{}/pull/{}", repo_html(st), i.number);
    let url = format!("{api}/pulls/{}", i.number);
    let issue_url = format!("{api}/issues/{}", i.number);
    let links = json!({
            "self": { "href": url },
            "html": { "href": html },
            "issue": { "href": issue_url },
            "comments": { "href": format!("{issue_url}/comments") },
            "review_comments": { "href": format!("{url}/comments") },
            "review_comment": { "href": format!("{api}/pulls/comments{{/number}}") },
            "commits": { "href": format!("{url}/commits") },
            "statuses": { "href": format!("{api}/statuses/{}", p.head_sha) },
    });
    let mut v = json!({
        "url": url,
        "id": p.id,
        "node_id": node_id("PR", p.id),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": issue_url,
        "commits_url": format!("{url}/commits"),
        "review_comments_url": format!("{url}/comments"),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{issue_url}/comments"),
        "statuses_url": format!("{api}/statuses/{}", p.head_sha),
        "number": i.number,
        "state": i.state,
        "locked": i.locked,
        "title": i.title,
        "user": user(st, &i.user),
        "body": i.body,
        "labels": labels(st, &i.labels),
        "milestone": null,
        "active_lock_reason": null,
        "created_at": ts(i.created_at),
        "updated_at": ts(i.updated_at),
        "closed_at": i.closed_at.map(ts),
        "merged_at": p.merged_at.map(ts),
        "merge_commit_sha": p.merge_commit_sha,
    });
    let rest = json!({
        "assignee": i.assignees.first().map(|a| user(st, &st.user_by_login(a))),
        "assignees": i.assignees.iter().map(|a| user(st, &st.user_by_login(a))).collect::<Vec<_>>(),
        "requested_reviewers": p.requested_reviewers.iter().map(|r| user(st, &st.user_by_login(r))).collect::<Vec<_>>(),
        "requested_teams": p.requested_teams.iter().map(|t| team(st, t)).collect::<Vec<_>>(),
        "head": branch_side(st, &p.head_ref, &p.head_sha),
        "base": branch_side(st, &p.base_ref, &p.base_sha),
        "_links": links,
        "author_association": author_association(st, &i.user),
        "auto_merge": null,
        "draft": p.draft,
    });
    if let (Some(obj), Value::Object(rest)) = (v.as_object_mut(), rest) {
        obj.extend(rest);
    }
    if full && let Some(obj) = v.as_object_mut() {
        let (commits, files) = pull_changes(st, &p.base_sha, &p.head_sha);
        let mergeable_state = match (i.state.as_str(), p.mergeable) {
            ("open", _) if p.draft => "draft",
            ("open", Some(false)) => "dirty",
            ("open", Some(true)) => {
                if super::api::protection_problem(st, &p.base_ref, i.number, &p.head_sha).is_some()
                {
                    "blocked"
                } else {
                    "clean"
                }
            }
            _ => "unknown",
        };
        let comments = st
            .comments
            .iter()
            .filter(|c| c.issue_number == i.number)
            .count();
        obj.insert("merged".into(), json!(p.merged));
        obj.insert("mergeable".into(), json!(p.mergeable));
        obj.insert("rebaseable".into(), json!(p.mergeable));
        obj.insert("mergeable_state".into(), json!(mergeable_state));
        obj.insert(
            "merged_by".into(),
            p.merged_by.as_ref().map_or(Value::Null, |u| user(st, u)),
        );
        obj.insert("comments".into(), json!(comments));
        obj.insert("review_comments".into(), json!(0));
        obj.insert(
            "maintainer_can_modify".into(),
            json!(p.maintainer_can_modify),
        );
        obj.insert("commits".into(), json!(commits));
        obj.insert(
            "additions".into(),
            json!(files.iter().map(|f| f.additions).sum::<usize>()),
        );
        obj.insert(
            "deletions".into(),
            json!(files.iter().map(|f| f.deletions).sum::<usize>()),
        );
        obj.insert("changed_files".into(), json!(files.len()));
    }
    v
}

/// Commits and file changes of a pull request (head against its merge base with base).
fn pull_changes(st: &State, base: &str, head: &str) -> (usize, Vec<git::FileChange>) {
    let (Some(b), Some(h)) = (git::parse_oid(base), git::parse_oid(head)) else {
        return (0, Vec::new());
    };
    let Ok(mb) = st.repo.merge_base(b, h) else {
        return (0, Vec::new());
    };
    let commits = git::commits_between(&st.repo, mb, h).len();
    let from = st.repo.find_commit(mb).ok().map(|c| c.tree_id());
    let to = st.repo.find_commit(h).ok().map(|c| c.tree_id());
    let files = to.map(|t| git::diff(&st.repo, from, t)).unwrap_or_default();
    (commits, files)
}

pub fn issue(st: &State, i: &Issue) -> Value {
    let api = repo_api(st);
    let url = format!("{api}/issues/{}", i.number);
    let html = if i.pull.is_some() {
        format!("{}/pull/{}", repo_html(st), i.number)
    } else {
        format!("{}/issues/{}", repo_html(st), i.number)
    };
    let comments = st
        .comments
        .iter()
        .filter(|c| c.issue_number == i.number)
        .count();
    let mut v = json!({
        "url": url,
        "repository_url": api,
        "labels_url": format!("{url}/labels{{/name}}"),
        "comments_url": format!("{url}/comments"),
        "events_url": format!("{url}/events"),
        "html_url": html,
        "id": i.id,
        "node_id": node_id("I", i.id),
        "number": i.number,
        "title": i.title,
        "user": user(st, &i.user),
        "labels": labels(st, &i.labels),
        "state": i.state,
        "locked": i.locked,
        "assignee": i.assignees.first().map(|a| user(st, &st.user_by_login(a))),
        "assignees": i.assignees.iter().map(|a| user(st, &st.user_by_login(a))).collect::<Vec<_>>(),
        "milestone": null,
        "comments": comments,
        "created_at": ts(i.created_at),
        "updated_at": ts(i.updated_at),
        "closed_at": i.closed_at.map(ts),
        "author_association": author_association(st, &i.user),
        "type": null,
        "active_lock_reason": null,
        "draft": i.pull.as_ref().map(|p| p.draft),
        "body": i.body,
        "closed_by": i.closed_by.as_ref().map(|u| user(st, u)),
        "reactions": reactions_summary(st, &url, None),
        "timeline_url": format!("{url}/timeline"),
        "performed_via_github_app": if i.via_app { app(st, &st.cfg.app) } else { Value::Null },
        "state_reason": i.state_reason,
    });
    if let Some(p) = &i.pull
        && let Some(obj) = v.as_object_mut()
    {
        obj.insert(
            "pull_request".into(),
            json!({
                "url": format!("{api}/pulls/{}", i.number),
                "html_url": html,
                "diff_url": format!("{html}.diff"),
                "patch_url": format!("{html}.patch"),
                "merged_at": p.merged_at.map(ts),
            }),
        );
    } else if let Some(obj) = v.as_object_mut() {
        obj.remove("draft");
    }
    v
}

pub fn comment(st: &State, c: &Comment) -> Value {
    let api = repo_api(st);
    let url = format!("{api}/issues/comments/{}", c.id);
    let kind = match st.issues.get(&c.issue_number) {
        Some(i) if i.pull.is_some() => "pull",
        _ => "issues",
    };
    json!({
        "url": url,
        "html_url": format!("{}/{kind}/{}#issuecomment-{}", repo_html(st), c.issue_number, c.id),
        "issue_url": format!("{api}/issues/{}", c.issue_number),
        "id": c.id,
        "node_id": node_id("IC", c.id),
        "user": user(st, &c.user),
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
        "author_association": author_association(st, &c.user),
        "body": c.body,
        "reactions": reactions_summary(st, &url, Some(c.id)),
        "performed_via_github_app": if c.via_app { app(st, &st.cfg.app) } else { Value::Null },
    })
}

pub fn reaction(st: &State, r: &Reaction) -> Value {
    json!({
        "id": r.id,
        "node_id": node_id("REA", r.id),
        "user": user(st, &r.user),
        "content": r.content,
        "created_at": ts(r.created_at),
    })
}

/// Pull requests a check run belongs to: open ones whose head is the run's commit.
pub fn check_pulls(st: &State, head_sha: &str) -> Vec<Value> {
    let api = repo_api(st);
    st.issues
        .values()
        .filter_map(|i| i.pull.as_ref().map(|p| (i, p)))
        .filter(|(i, p)| i.state == "open" && p.head_sha == head_sha)
        .map(|(i, p)| {
            let side = |r: &str, s: &str| {
                json!({
                    "ref": r,
                    "sha": s,
                    "repo": { "id": st.cfg.repo_id, "url": api, "name": st.cfg.repo },
                })
            };
            json!({
                "url": format!("{api}/pulls/{}", i.number),
                "id": p.id,
                "number": i.number,
                "head": side(&p.head_ref, &p.head_sha),
                "base": side(&p.base_ref, &p.base_sha),
            })
        })
        .collect()
}

pub fn check_run(st: &State, c: &CheckRun) -> Value {
    let api = repo_api(st);
    let url = format!("{api}/check-runs/{}", c.id);
    json!({
        "id": c.id,
        "head_sha": c.head_sha,
        "node_id": node_id("CR", c.id),
        "external_id": c.external_id.clone().unwrap_or_default(),
        "url": url,
        "html_url": format!("{}/runs/{}", repo_html(st), c.id),
        "details_url": c.details_url.clone().unwrap_or_else(|| format!("https://{}.example.com", c.app.slug)),
        "status": c.status,
        "conclusion": c.conclusion,
        "started_at": ts(c.started_at),
        "completed_at": c.completed_at.map(ts),
        "output": {
            "title": c.title,
            "summary": c.summary,
            "text": c.text,
            "annotations_count": 0,
            "annotations_url": format!("{url}/annotations"),
        },
        "name": c.name,
        "check_suite": { "id": c.suite_id },
        "app": app(st, &c.app),
        "pull_requests": check_pulls(st, &c.head_sha),
    })
}

pub fn status(st: &State, s: &CommitStatus) -> Value {
    json!({
        "url": format!("{}/statuses/{}", repo_api(st), s.sha),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", s.creator.id),
        "id": s.id,
        "node_id": node_id("SC", s.id),
        "state": s.state,
        "description": s.description,
        "target_url": s.target_url,
        "context": s.context,
        "created_at": ts(s.created_at),
        "updated_at": ts(s.created_at),
        "creator": user(st, &s.creator),
    })
}

pub fn review(st: &State, r: &Review) -> Value {
    let html = format!(
        "{}/pull/{}#pullrequestreview-{}",
        repo_html(st),
        r.number,
        r.id
    );
    json!({
        "id": r.id,
        "node_id": node_id("PRR", r.id),
        "user": user(st, &r.user),
        "body": r.body,
        "state": r.state,
        "html_url": html,
        "pull_request_url": format!("{}/pulls/{}", repo_api(st), r.number),
        "author_association": author_association(st, &r.user),
        "_links": {
            "html": { "href": html },
            "pull_request": { "href": format!("{}/pulls/{}", repo_api(st), r.number) },
        },
        "submitted_at": ts(r.submitted_at),
        "commit_id": r.commit_id,
    })
}

fn signature_json(s: &git2::Signature<'_>) -> Value {
    json!({
        "name": s.name().unwrap_or_default(),
        "email": s.email().unwrap_or_default(),
        "date": ts(git::time_of(s.when())),
    })
}

fn verification(st: &State, oid: Oid) -> Value {
    match git::commit_signature(&st.repo, oid) {
        Some((sig, payload)) if sig.trim() == git::SIM_SIGNATURE.trim() => json!({
            "verified": true,
            "reason": "valid",
            "signature": sig,
            "payload": payload,
            "verified_at": ts(super::state::now()),
        }),
        Some((sig, payload)) => json!({
            "verified": false,
            "reason": "unknown_key",
            "signature": sig,
            "payload": payload,
            "verified_at": null,
        }),
        None => json!({
            "verified": false,
            "reason": "unsigned",
            "signature": null,
            "payload": null,
            "verified_at": null,
        }),
    }
}

/// A commit as the Git Data API shows it (`git/commits/{sha}`).
pub fn git_commit(st: &State, oid: Oid) -> Option<Value> {
    let c = st.repo.find_commit(oid).ok()?;
    let api = repo_api(st);
    Some(json!({
        "sha": oid.to_string(),
        "node_id": node_id("C", u64::from(oid.as_bytes()[0]) << 8 | u64::from(oid.as_bytes()[1])),
        "url": format!("{api}/git/commits/{oid}"),
        "html_url": format!("{}/commit/{oid}", repo_html(st)),
        "author": signature_json(&c.author()),
        "committer": signature_json(&c.committer()),
        "tree": { "sha": c.tree_id().to_string(), "url": format!("{api}/git/trees/{}", c.tree_id()) },
        "message": c.message().unwrap_or_default(),
        "parents": c.parent_ids().map(|p| json!({
            "sha": p.to_string(),
            "url": format!("{api}/git/commits/{p}"),
            "html_url": format!("{}/commit/{p}", repo_html(st)),
        })).collect::<Vec<_>>(),
        "verification": verification(st, oid),
    }))
}

/// The account behind a commit signature's no-reply address, when it is one.
fn account_of(st: &State, s: &git2::Signature<'_>) -> Value {
    let email = s.email().unwrap_or_default();
    if email == st.cfg.bot.email() {
        return user(st, &st.cfg.bot);
    }
    if email == "noreply@github.com" {
        return user(st, &User::person("web-flow", 19_864_447));
    }
    if let Some(local) = email.strip_suffix("@users.noreply.github.com")
        && let Some((id, login)) = local.split_once('+')
        && let Ok(id) = id.parse::<u64>()
    {
        let mut u = st.user_by_login(login);
        u.id = id;
        return user(st, &u);
    }
    Value::Null
}

/// A commit as the repository API shows it (`commits`, `commits/{ref}`).
pub fn commit(st: &State, oid: Oid, with_files: bool) -> Option<Value> {
    let c = st.repo.find_commit(oid).ok()?;
    let api = repo_api(st);
    let mut v = json!({
        "sha": oid.to_string(),
        "node_id": node_id("C", u64::from(oid.as_bytes()[0]) << 8 | u64::from(oid.as_bytes()[1])),
        "commit": {
            "author": signature_json(&c.author()),
            "committer": signature_json(&c.committer()),
            "message": c.message().unwrap_or_default(),
            "tree": { "sha": c.tree_id().to_string(), "url": format!("{api}/git/trees/{}", c.tree_id()) },
            "url": format!("{api}/git/commits/{oid}"),
            "comment_count": 0,
            "verification": verification(st, oid),
        },
        "url": format!("{api}/commits/{oid}"),
        "html_url": format!("{}/commit/{oid}", repo_html(st)),
        "comments_url": format!("{api}/commits/{oid}/comments"),
        "author": account_of(st, &c.author()),
        "committer": account_of(st, &c.committer()),
        "parents": c.parent_ids().map(|p| json!({
            "sha": p.to_string(),
            "url": format!("{api}/commits/{p}"),
            "html_url": format!("{}/commit/{p}", repo_html(st)),
        })).collect::<Vec<_>>(),
    });
    if with_files && let Some(obj) = v.as_object_mut() {
        let parent_tree = c.parents().next().map(|p| p.tree_id());
        let files = git::diff(&st.repo, parent_tree, c.tree_id());
        let additions: usize = files.iter().map(|f| f.additions).sum();
        let deletions: usize = files.iter().map(|f| f.deletions).sum();
        obj.insert(
            "stats".into(),
            json!({ "total": additions + deletions, "additions": additions, "deletions": deletions }),
        );
        obj.insert("files".into(), json!(files_json(st, oid, &files)));
    }
    Some(v)
}

pub fn files_json(st: &State, commit: Oid, files: &[git::FileChange]) -> Vec<Value> {
    files
        .iter()
        .map(|f| {
            json!({
                "sha": f.sha,
                "filename": f.path,
                "status": f.status,
                "additions": f.additions,
                "deletions": f.deletions,
                "changes": f.additions + f.deletions,
                "blob_url": format!("{}/blob/{commit}/{}", repo_html(st), f.path),
                "raw_url": format!("{}/raw/{commit}/{}", repo_html(st), f.path),
                "contents_url": format!("{}/contents/{}?ref={commit}", repo_api(st), f.path),
            })
        })
        .collect()
}

pub fn git_ref(st: &State, full: &str, oid: Oid) -> Value {
    let api = repo_api(st);
    json!({
        "ref": full,
        "node_id": node_id("REF", u64::from(oid.as_bytes()[0])),
        "url": format!("{api}/git/{full}"),
        "object": {
            "sha": oid.to_string(),
            "type": "commit",
            "url": format!("{api}/git/commits/{oid}"),
        },
    })
}
