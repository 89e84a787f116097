//! The webhook events keyroll reads, parsed from deliveries into small typed values. Only
//! the fields keyroll uses are read, and every field that older or newer payloads may lack is
//! optional, so a shape change elsewhere in a payload cannot break intake. Events keyroll
//! does not handle parse to `None` (acknowledged and ignored).

use serde::Deserialize;

/// A repository, as deliveries name it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Repository {
    pub id: u64,
    pub full_name: String,
    pub default_branch: Option<String>,
}

/// Who did something. Permissions are checked by `id`, never by login.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Actor {
    pub id: u64,
    pub login: String,
    pub is_bot: bool,
}

/// The parts of a delivery every event shares.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Context {
    pub repository: Option<Repository>,
    pub installation_id: Option<u64>,
    pub sender: Option<Actor>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Ping {
        hook_id: Option<u64>,
    },
    PullRequest {
        action: String,
        number: u64,
        merged: bool,
        merge_commit_sha: Option<String>,
        head_ref: String,
        head_sha: String,
        base_ref: String,
        author: Actor,
    },
    PullRequestReview {
        action: String,
        number: u64,
        review_id: u64,
        reviewer: Actor,
        state: String,
        commit_id: Option<String>,
        /// The review's text, which may hold a `/keyroll` command like a comment.
        body: String,
        /// The review's address, for the audit log.
        url: Option<String>,
    },
    IssueComment {
        action: String,
        issue_number: u64,
        on_pull_request: bool,
        comment_id: u64,
        body: String,
        author: Actor,
        /// The comment's address, for the audit log.
        url: Option<String>,
    },
    CheckRun {
        action: String,
        name: String,
        head_sha: String,
        status: Option<String>,
        conclusion: Option<String>,
        /// The button a person pressed (`requested_action`): its identifier.
        requested_action: Option<String>,
        /// The pull requests the run belongs to (empty for forks).
        pull_requests: Vec<u64>,
    },
    CheckSuite {
        action: String,
        head_sha: String,
        status: Option<String>,
        conclusion: Option<String>,
    },
    Status {
        sha: String,
        context: String,
        state: String,
    },
    DeploymentStatus {
        action: String,
        sha: String,
        environment: Option<String>,
        state: String,
    },
    Push {
        git_ref: String,
        before: String,
        after: String,
        /// Every file the pushed commits added, changed or removed; `None` when GitHub left
        /// the list out (it lists at most 2,048 commits) and the caller must look itself.
        touched: Option<Vec<String>>,
    },
    Installation {
        action: String,
        repositories: Vec<String>,
    },
    InstallationRepositories {
        action: String,
        added: Vec<String>,
        removed: Vec<String>,
    },
}

/// A delivery: its event and the shared context.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    pub event: Event,
    pub context: Context,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{event} delivery: {message}")]
pub struct WebhookError {
    pub event: String,
    /// What is wrong, from the JSON parser: a field name and a position, never body text.
    pub message: String,
}

/// The longest repository name GitHub allows (owner 39, name 100, and the slash).
const MAX_FULL_NAME: usize = 140;

/// The repository a delivery is about (`repository.full_name`), read without parsing the
/// rest: the worker handles each repository's deliveries in order, apart from the others.
/// `None` for deliveries about no repository (installations, pings) and for bodies that do
/// not parse or name something no repository could be called.
pub fn repository_of(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Named {
        repository: Option<NamedRepository>,
    }
    #[derive(Deserialize)]
    struct NamedRepository {
        full_name: String,
    }
    let named: Named = serde_json::from_slice(body).ok()?;
    let name = named.repository?.full_name;
    (!name.is_empty() && name.len() <= MAX_FULL_NAME && !name.chars().any(char::is_control))
        .then_some(name)
}

/// Parses a delivery of the event named by `X-GitHub-Event`. Call only after the signature
/// check. `Ok(None)` for events keyroll does not handle.
pub fn parse(event: &str, body: &[u8]) -> Result<Option<Delivery>, WebhookError> {
    let fail = |e: serde_json::Error| WebhookError {
        event: event.to_owned(),
        message: format!(
            "{} at line {}, column {}",
            category(&e),
            e.line(),
            e.column()
        ),
    };
    let context: raw::Envelope = serde_json::from_slice(body).map_err(fail)?;
    let context = Context {
        repository: context.repository.map(|r| Repository {
            id: r.id,
            full_name: r.full_name,
            default_branch: r.default_branch,
        }),
        installation_id: context.installation.map(|i| i.id),
        sender: context.sender.map(raw::User::actor),
    };
    let event = match event {
        "ping" => {
            let p: raw::Ping = serde_json::from_slice(body).map_err(fail)?;
            Event::Ping { hook_id: p.hook_id }
        }
        "pull_request" => {
            let p: raw::PullRequestEvent = serde_json::from_slice(body).map_err(fail)?;
            Event::PullRequest {
                action: p.action,
                number: p.number.unwrap_or(p.pull_request.number),
                merged: p.pull_request.merged.unwrap_or(false),
                merge_commit_sha: p.pull_request.merge_commit_sha,
                head_ref: p.pull_request.head.git_ref,
                head_sha: p.pull_request.head.sha,
                base_ref: p.pull_request.base.git_ref,
                author: p.pull_request.user.actor(),
            }
        }
        "pull_request_review" => {
            let p: raw::ReviewEvent = serde_json::from_slice(body).map_err(fail)?;
            Event::PullRequestReview {
                action: p.action,
                number: p.pull_request.number,
                review_id: p.review.id,
                reviewer: p.review.user.actor(),
                state: p.review.state,
                commit_id: p.review.commit_id,
                body: p.review.body.unwrap_or_default(),
                url: p.review.html_url,
            }
        }
        "issue_comment" => {
            let p: raw::CommentEvent = serde_json::from_slice(body).map_err(fail)?;
            Event::IssueComment {
                action: p.action,
                issue_number: p.issue.number,
                on_pull_request: p.issue.pull_request.is_some(),
                comment_id: p.comment.id,
                body: p.comment.body.unwrap_or_default(),
                author: p.comment.user.actor(),
                url: p.comment.html_url,
            }
        }
        "check_run" => {
            let p: raw::CheckRunEvent = serde_json::from_slice(body).map_err(fail)?;
            Event::CheckRun {
                action: p.action,
                name: p.check_run.name,
                head_sha: p.check_run.head_sha,
                status: p.check_run.status,
                conclusion: p.check_run.conclusion,
                requested_action: p.requested_action.map(|a| a.identifier),
                pull_requests: p
                    .check_run
                    .pull_requests
                    .unwrap_or_default()
                    .into_iter()
                    .map(|n| n.number)
                    .collect(),
            }
        }
        "check_suite" => {
            let p: raw::CheckSuiteEvent = serde_json::from_slice(body).map_err(fail)?;
            Event::CheckSuite {
                action: p.action,
                head_sha: p.check_suite.head_sha,
                status: p.check_suite.status,
                conclusion: p.check_suite.conclusion,
            }
        }
        "status" => {
            let p: raw::StatusEvent = serde_json::from_slice(body).map_err(fail)?;
            Event::Status {
                sha: p.sha,
                context: p.context,
                state: p.state,
            }
        }
        "deployment_status" => {
            let p: raw::DeploymentStatusEvent = serde_json::from_slice(body).map_err(fail)?;
            Event::DeploymentStatus {
                action: p.action,
                sha: p.deployment.sha,
                environment: p.deployment_status.environment.or(p.deployment.environment),
                state: p.deployment_status.state,
            }
        }
        "push" => {
            let p: raw::PushEvent = serde_json::from_slice(body).map_err(fail)?;
            let touched = p.commits.map(|commits| {
                commits
                    .into_iter()
                    .flat_map(|c| c.added.into_iter().chain(c.modified).chain(c.removed))
                    .collect()
            });
            Event::Push {
                git_ref: p.git_ref,
                before: p.before,
                after: p.after,
                touched,
            }
        }
        "installation" => {
            let p: raw::InstallationEvent = serde_json::from_slice(body).map_err(fail)?;
            Event::Installation {
                action: p.action,
                repositories: p
                    .repositories
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r.full_name)
                    .collect(),
            }
        }
        "installation_repositories" => {
            let p: raw::InstallationRepositoriesEvent =
                serde_json::from_slice(body).map_err(fail)?;
            Event::InstallationRepositories {
                action: p.action,
                added: p
                    .repositories_added
                    .into_iter()
                    .map(|r| r.full_name)
                    .collect(),
                removed: p
                    .repositories_removed
                    .into_iter()
                    .map(|r| r.full_name)
                    .collect(),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(Delivery { event, context }))
}

/// What kind of problem a parse error is, without any of the body's text (serde_json
/// quotes values in some messages).
fn category(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Io => "cannot be read".into(),
        Category::Syntax => "not valid JSON".into(),
        Category::Eof => "truncated JSON".into(),
        Category::Data => {
            // "missing field `x`" names a field of ours, never input.
            let text = e.to_string();
            if text.starts_with("missing field") {
                text.split(" at line ")
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            } else {
                "a field has an unexpected type or value".into()
            }
        }
    }
}

/// The payload shapes, reduced to what keyroll reads.
mod raw {
    use super::{Actor, Deserialize};

    #[derive(Deserialize)]
    pub struct Envelope {
        pub repository: Option<RepositoryRef>,
        pub installation: Option<Id>,
        pub sender: Option<User>,
    }

    #[derive(Deserialize)]
    pub struct RepositoryRef {
        pub id: u64,
        pub full_name: String,
        pub default_branch: Option<String>,
    }

    #[derive(Deserialize)]
    pub struct Id {
        pub id: u64,
    }

    #[derive(Deserialize)]
    pub struct User {
        pub id: u64,
        pub login: String,
        #[serde(rename = "type")]
        pub kind: Option<String>,
    }

    impl User {
        pub fn actor(self) -> Actor {
            let is_bot = self.kind.as_deref() == Some("Bot") || self.login.ends_with("[bot]");
            Actor {
                id: self.id,
                login: self.login,
                is_bot,
            }
        }
    }

    #[derive(Deserialize)]
    pub struct Ping {
        pub hook_id: Option<u64>,
    }

    #[derive(Deserialize)]
    pub struct GitRef {
        #[serde(rename = "ref")]
        pub git_ref: String,
        pub sha: String,
    }

    #[derive(Deserialize)]
    pub struct PullRequest {
        pub number: u64,
        pub merged: Option<bool>,
        pub merge_commit_sha: Option<String>,
        pub head: GitRef,
        pub base: GitRef,
        pub user: User,
    }

    #[derive(Deserialize)]
    pub struct PullRequestEvent {
        pub action: String,
        pub number: Option<u64>,
        pub pull_request: PullRequest,
    }

    #[derive(Deserialize)]
    pub struct Number {
        pub number: u64,
    }

    #[derive(Deserialize)]
    pub struct Review {
        pub id: u64,
        pub user: User,
        pub state: String,
        pub commit_id: Option<String>,
        /// `null` when the review has no text.
        pub body: Option<String>,
        pub html_url: Option<String>,
    }

    #[derive(Deserialize)]
    pub struct ReviewEvent {
        pub action: String,
        pub pull_request: Number,
        pub review: Review,
    }

    #[derive(Deserialize)]
    pub struct Issue {
        pub number: u64,
        pub pull_request: Option<serde_json::Value>,
    }

    #[derive(Deserialize)]
    pub struct Comment {
        pub id: u64,
        pub body: Option<String>,
        pub user: User,
        pub html_url: Option<String>,
    }

    #[derive(Deserialize)]
    pub struct CommentEvent {
        pub action: String,
        pub issue: Issue,
        pub comment: Comment,
    }

    #[derive(Deserialize)]
    pub struct CheckRun {
        pub name: String,
        pub head_sha: String,
        pub status: Option<String>,
        pub conclusion: Option<String>,
        pub pull_requests: Option<Vec<Number>>,
    }

    #[derive(Deserialize)]
    pub struct RequestedAction {
        pub identifier: String,
    }

    #[derive(Deserialize)]
    pub struct CheckRunEvent {
        pub action: String,
        pub check_run: CheckRun,
        pub requested_action: Option<RequestedAction>,
    }

    #[derive(Deserialize)]
    pub struct CheckSuite {
        pub head_sha: String,
        pub status: Option<String>,
        pub conclusion: Option<String>,
    }

    #[derive(Deserialize)]
    pub struct CheckSuiteEvent {
        pub action: String,
        pub check_suite: CheckSuite,
    }

    #[derive(Deserialize)]
    pub struct StatusEvent {
        pub sha: String,
        pub context: String,
        pub state: String,
    }

    #[derive(Deserialize)]
    pub struct Deployment {
        pub sha: String,
        pub environment: Option<String>,
    }

    #[derive(Deserialize)]
    pub struct DeploymentStatus {
        pub state: String,
        pub environment: Option<String>,
    }

    #[derive(Deserialize)]
    pub struct DeploymentStatusEvent {
        pub action: String,
        pub deployment: Deployment,
        pub deployment_status: DeploymentStatus,
    }

    #[derive(Deserialize)]
    pub struct PushEvent {
        #[serde(rename = "ref")]
        pub git_ref: String,
        pub before: String,
        pub after: String,
        pub commits: Option<Vec<PushCommit>>,
    }

    #[derive(Deserialize)]
    pub struct PushCommit {
        #[serde(default)]
        pub added: Vec<String>,
        #[serde(default)]
        pub modified: Vec<String>,
        #[serde(default)]
        pub removed: Vec<String>,
    }

    #[derive(Deserialize)]
    pub struct RepoName {
        pub full_name: String,
    }

    #[derive(Deserialize)]
    pub struct InstallationEvent {
        pub action: String,
        pub repositories: Option<Vec<RepoName>>,
    }

    #[derive(Deserialize)]
    pub struct InstallationRepositoriesEvent {
        pub action: String,
        #[serde(default)]
        pub repositories_added: Vec<RepoName>,
        #[serde(default)]
        pub repositories_removed: Vec<RepoName>,
    }
}
