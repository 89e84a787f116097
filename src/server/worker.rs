//! The handler of one lane (see [`super::lanes`]): parses stored deliveries, turns them into
//! engine inputs, runs its repository's runtime and its ticks. A lane runs one unit at a
//! time, so the steps of a repository never race each other.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};

use super::metrics::Metrics;
use super::retry::{Failure, RetryPolicy};
use crate::effects::github::{GitHubExecutor, Memo, RepoContext};
use crate::effects::render;
use crate::fingerprint::KEY_FILE;
use crate::github::client::GitHub;
use crate::github::rest::{RepoApi, RestError};
use crate::github::webhook::{self, Delivery, Event};
use crate::github::{route, snapshot};
use crate::policy::{CONFIG_FILE, Config, Credential};
use crate::runtime::{Clock, Runtime, RuntimeError};
use crate::sops::Identities;
use crate::store::{Store, StoreError, StoredWebhook};

#[derive(Debug, Clone)]
pub(super) struct WorkerSettings {
    pub store: Store,
    pub github: GitHub,
    pub identities: Arc<Identities>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub stored: Arc<Notify>,
    pub stopped: watch::Receiver<bool>,
    pub reconcile_every: Duration,
    pub schedule_every: Duration,
    pub concurrent_rotations: usize,
    pub people: super::commands::People,
    pub retry: RetryPolicy,
    /// Where the repositories the App was just installed on are announced, so their lanes
    /// write a dashboard at once instead of at the next schedule tick. Set by
    /// [`super::lanes::spawn`], which holds the other end.
    pub installed: Option<mpsc::UnboundedSender<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("keyroll is not installed on {0}")]
    NotInstalled(String),
    #[error("{CONFIG_FILE} on the default branch of {repository} has problems:\n{problems}")]
    Config {
        repository: String,
        problems: String,
    },
    #[error("{CONFIG_FILE} has no credential {0}")]
    NoCredential(String),
    #[error("GitHub: {0}")]
    Api(#[from] RestError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The config of a repository's default branch, as last read.
#[derive(Debug, Clone)]
pub(super) struct ConfigState {
    /// The blob of `.keyroll.yaml`: a push that leaves it alone needs no new check.
    pub blob: Option<String>,
    /// The blob of the fingerprint key file, which the check reads too (a key that does not
    /// open, or that more people can read than the files, is a problem of the config).
    pub key_blob: Option<String>,
    pub config: Result<Arc<Config>, String>,
}

#[derive(Debug)]
pub(super) struct RepoState {
    pub installation: u64,
    pub default_branch: Option<String>,
    pub config: Option<ConfigState>,
    pub memo: Arc<Memo>,
    /// Each credential's newest commit on the default branch (schedule tick).
    pub commit_dates: Option<std::collections::BTreeMap<String, time::OffsetDateTime>>,
}

#[derive(Debug)]
pub(super) struct Worker {
    pub s: WorkerSettings,
    pub repos: HashMap<String, RepoState>,
    pub roles: super::commands::RoleCache,
    /// keyroll's own bot login, read from GitHub once it is first needed.
    own_login: Option<String>,
}

impl Worker {
    pub(super) fn new(s: WorkerSettings) -> Self {
        Self {
            s,
            repos: HashMap::new(),
            roles: Default::default(),
            own_login: None,
        }
    }

    /// keyroll's own bot login (`<app slug>[bot]`), read once: its pushes to keyroll's
    /// branches are keyroll's own, any other account's are checked.
    async fn own_login(&mut self) -> Result<String, StartError> {
        if let Some(login) = &self.own_login {
            return Ok(login.clone());
        }
        let login = crate::github::rest::app_bot_login(&self.s.github).await?;
        self.own_login = Some(login.clone());
        Ok(login)
    }

    /// Parses and handles one stored delivery: what came of it, for the store, or how it
    /// failed (to be tried again when the failure passes).
    pub(super) async fn read_webhook(&mut self, hook: &StoredWebhook) -> Result<String, Failure> {
        match webhook::parse(&hook.event, &hook.body) {
            Err(e) => {
                tracing::warn!(error = %e, "unreadable delivery");
                Ok(format!("unreadable: {e}"))
            }
            Ok(None) => Ok("ignored".to_owned()),
            Ok(Some(d)) => self
                .handle(&hook.delivery_id, &d)
                .await
                .map_err(|e| Failure::of(&e)),
        }
    }

    async fn handle(&mut self, id: &str, d: &Delivery) -> Result<String, StartError> {
        let now = self.s.clock.now();
        let store = self.s.store.clone();
        let installation = d.context.installation_id;
        match &d.event {
            Event::Ping { .. } => return Ok("pong".into()),
            Event::Installation {
                action,
                repositories,
            } => {
                let Some(inst) = installation else {
                    return Ok("no installation".into());
                };
                if action == "deleted" || action == "suspend" {
                    store.remove_installation_id(inst).await?;
                    self.repos.retain(|_, r| r.installation != inst);
                } else {
                    for r in repositories {
                        store.set_installation(r, inst, now).await?;
                    }
                    self.announce(repositories);
                }
                return Ok(format!("installation {action}"));
            }
            Event::InstallationRepositories { added, removed, .. } => {
                let Some(inst) = installation else {
                    return Ok("no installation".into());
                };
                for r in added {
                    store.set_installation(r, inst, now).await?;
                }
                for r in removed {
                    store.remove_installation(r).await?;
                    self.repos.remove(r);
                }
                self.announce(added);
                return Ok(format!("{} added, {} removed", added.len(), removed.len()));
            }
            _ => {}
        }
        let (Some(repository), Some(inst)) = (&d.context.repository, installation) else {
            return Ok("no repository or installation".into());
        };
        let repo = repository.full_name.clone();
        tracing::debug!(repository = %repo, installation = inst, "routing");
        store.set_installation(&repo, inst, now).await?;
        let state = self.repos.entry(repo.clone()).or_insert_with(|| RepoState {
            installation: inst,
            default_branch: None,
            config: None,
            memo: Arc::new(Memo::default()),
            commit_dates: None,
        });
        state.installation = inst;
        if let Some(b) = &repository.default_branch {
            state.default_branch = Some(b.clone());
        }
        // What came of a command in a review's body, when the delivery is one.
        let mut commanded = None;
        match &d.event {
            Event::Push {
                git_ref,
                after,
                touched,
                ..
            } => {
                let default = self.default_branch(&repo).await?;
                let config_untouched = touched
                    .as_ref()
                    .is_some_and(|t| !t.iter().any(|f| f == CONFIG_FILE || f == KEY_FILE));
                let known = self
                    .repos
                    .get(&repo)
                    .and_then(|s| s.config.as_ref())
                    .is_some_and(|c| c.config.is_ok());
                // A push that leaves a good config alone needs nothing read (a merge of
                // keyroll's own pull request, say); a config with problems is read again.
                if *git_ref == format!("refs/heads/{default}") && !(config_untouched && known) {
                    self.default_branch_moved(&repo, after).await?;
                }
            }
            Event::PullRequest {
                action,
                head_ref,
                head_sha,
                base_ref,
                ..
            } if matches!(action.as_str(), "opened" | "synchronize" | "reopened")
                && crate::changeset::branch::parse(head_ref).is_none() =>
            {
                let default = self.default_branch(&repo).await?;
                if *base_ref == default {
                    self.check_proposed_config(&repo, head_sha).await?;
                }
            }
            Event::IssueComment {
                action,
                issue_number,
                comment_id,
                body,
                author,
                url,
                ..
            } => {
                let comment = super::commands::Comment {
                    delivery: id,
                    action,
                    issue: *issue_number,
                    id: *comment_id,
                    body,
                    author,
                    url: url.as_deref(),
                    source: super::commands::Source::Comment,
                };
                return super::commands::comment(self, &repo, comment).await;
            }
            // A review's body is read like a comment; the review itself still goes to the
            // rotation below (an approval counts whatever the body says).
            Event::PullRequestReview {
                action,
                number,
                review_id,
                reviewer,
                body,
                url,
                ..
            } if matches!(action.as_str(), "submitted" | "edited") => {
                let review = super::commands::Comment {
                    delivery: id,
                    // Submitting a review is what creating is to a comment.
                    action: if action == "submitted" {
                        "created"
                    } else {
                        action
                    },
                    issue: *number,
                    id: *review_id,
                    body,
                    author: reviewer,
                    url: url.as_deref(),
                    source: super::commands::Source::Review,
                };
                commanded = Some(super::commands::comment(self, &repo, review).await?);
            }
            Event::CheckRun {
                action,
                name,
                head_sha,
                requested_action: Some(button),
                pull_requests,
                ..
            } if action == "requested_action" && name == render::GATE_CHECK => {
                let Some(sender) = &d.context.sender else {
                    return Ok("button without a sender".into());
                };
                let press = super::commands::Press {
                    delivery: id,
                    button,
                    head_sha,
                    pull_requests,
                    sender,
                };
                return super::commands::button(self, &repo, press).await;
            }
            _ => {}
        }
        let active = store.active_rotations(&repo).await?;
        // Asked of GitHub only when a push must be told apart by who made it.
        let own_login = if route::needs_own_login(d) {
            self.own_login().await?
        } else {
            String::new()
        };
        // A result on a later commit of the default branch counts at once, not at the next
        // reconcile tick (GitHub is asked only when a wave waits for that check).
        let later = if route::later_candidates(d, &active).is_some() {
            let default = self.default_branch(&repo).await?;
            let api = self
                .api(&repo)
                .ok_or_else(|| StartError::NotInstalled(repo.clone()))?;
            super::later::merges_before(&api, &default, d, &active).await?
        } else {
            Vec::new()
        };
        let inputs = route::inputs_after(d, &active, &own_login, &later);
        for (rotation, input) in &inputs {
            store
                .enqueue(&format!("{id}/{rotation}"), &repo, rotation, input, now)
                .await?;
        }
        let routed = format!("{} input(s)", inputs.len());
        Ok(match commanded {
            Some(command) => format!("{command}; {routed}"),
            None => routed,
        })
    }

    /// Tells the lanes of `repositories` (just installed, and stored as such) to write their
    /// dashboards. A crash before they do is made good by the schedule tick at the next
    /// start, which writes every installed repository's dashboard.
    fn announce(&self, repositories: &[String]) {
        if let Some(tx) = &self.s.installed {
            for r in repositories {
                // The supervisor is gone only while keyroll stops.
                let _ = tx.send(r.clone());
            }
        }
    }

    pub(super) fn api(&self, repo: &str) -> Option<RepoApi> {
        let state = self.repos.get(repo)?;
        Some(RepoApi::new(
            self.s.github.installation(state.installation),
            repo,
        ))
    }

    /// Makes sure the worker knows a repository, from the store's installations.
    pub(super) async fn know(&mut self, repo: &str) -> Result<(), StartError> {
        if self.repos.contains_key(repo) {
            return Ok(());
        }
        let inst = self
            .s
            .store
            .installations()
            .await?
            .into_iter()
            .find(|i| i.repository == repo)
            .ok_or_else(|| StartError::NotInstalled(repo.to_owned()))?;
        self.repos.insert(
            repo.to_owned(),
            RepoState {
                installation: inst.installation_id,
                default_branch: None,
                config: None,
                memo: Arc::new(Memo::default()),
                commit_dates: None,
            },
        );
        Ok(())
    }

    pub(super) async fn default_branch(&mut self, repo: &str) -> Result<String, StartError> {
        self.know(repo).await?;
        if let Some(b) = self.repos.get(repo).and_then(|r| r.default_branch.clone()) {
            return Ok(b);
        }
        let api = self
            .api(repo)
            .ok_or_else(|| StartError::NotInstalled(repo.to_owned()))?;
        let branch = api.default_branch().await?;
        if let Some(state) = self.repos.get_mut(repo) {
            state.default_branch = Some(branch.clone());
        }
        Ok(branch)
    }

    /// The config of the default branch, read once and again only when the branch moves.
    pub(super) async fn config(&mut self, repo: &str) -> Result<ConfigState, StartError> {
        if let Some(c) = self.repos.get(repo).and_then(|r| r.config.clone()) {
            return Ok(c);
        }
        let default = self.default_branch(repo).await?;
        let api = self
            .api(repo)
            .ok_or_else(|| StartError::NotInstalled(repo.to_owned()))?;
        let head = api
            .branch_sha(&default)
            .await?
            .ok_or(RestError::NoBranch(default))?;
        self.default_branch_moved(repo, &head).await?;
        self.repos
            .get(repo)
            .and_then(|r| r.config.clone())
            .ok_or_else(|| StartError::NotInstalled(repo.to_owned()))
    }

    /// The default branch now points at `head`: when `.keyroll.yaml` or the fingerprint key
    /// file changed, check the config
    /// (against the files it names) and say so on the commit with a `keyroll/config` check
    /// run. A config with problems stops new rotations until it is fixed.
    async fn default_branch_moved(&mut self, repo: &str, head: &str) -> Result<(), StartError> {
        let api = self
            .api(repo)
            .ok_or_else(|| StartError::NotInstalled(repo.to_owned()))?;
        let files = match api.files(head).await {
            Ok((_, files)) => files,
            Err(e @ RestError::Truncated { .. }) => {
                // Part of the listing read as the whole could hide a credential file: nothing
                // starts, and the check run and the dashboard say why.
                let problem = format!("keyroll cannot read commit {head} whole: {e}");
                self.s
                    .store
                    .set_config_status(repo, head, Some(&problem), self.s.clock.now())
                    .await?;
                config_check(&api, head, Some(&problem)).await?;
                if let Some(state) = self.repos.get_mut(repo) {
                    state.config = Some(ConfigState {
                        blob: None,
                        key_blob: None,
                        config: Err(problem),
                    });
                }
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let blob_of = |path: &str| files.iter().find(|f| f.path == path).map(|f| f.sha.clone());
        let (blob, key_blob) = (blob_of(CONFIG_FILE), blob_of(KEY_FILE));
        let known = self.repos.get(repo).and_then(|r| r.config.clone());
        let config = match known {
            Some(k) if k.blob == blob && k.key_blob == key_blob => k.config,
            _ => {
                let (config, problems) =
                    snapshot::check_config(&api, head, &self.s.identities).await?;
                self.s
                    .store
                    .set_config_status(repo, head, problems.as_deref(), self.s.clock.now())
                    .await?;
                if let Some(p) = &problems {
                    tracing::warn!(
                        repository = repo,
                        "the config on the default branch has problems; no rotation starts until they are fixed"
                    );
                    tracing::debug!(problems = %p);
                }
                if blob.is_some() {
                    config_check(&api, head, problems.as_deref()).await?;
                }
                match (config, problems) {
                    (Some(c), None) => Ok(Arc::new(c)),
                    (_, Some(p)) => Err(p),
                    (None, None) => Err(format!("there is no {CONFIG_FILE}")),
                }
            }
        };
        if let Some(state) = self.repos.get_mut(repo) {
            state.config = Some(ConfigState {
                blob,
                key_blob,
                config,
            });
        }
        Ok(())
    }

    /// A pull request from a person: when it changes `.keyroll.yaml`, check the proposed
    /// config and report on its head commit. (It is never used before it merges.)
    async fn check_proposed_config(&mut self, repo: &str, head: &str) -> Result<(), StartError> {
        let current = self.config(repo).await?;
        let api = self
            .api(repo)
            .ok_or_else(|| StartError::NotInstalled(repo.to_owned()))?;
        let (snap, _) = snapshot::read(&api, head, |_| Vec::new()).await?;
        let blob = snap.blob_of(CONFIG_FILE);
        // The check reads the fingerprint key too, so a pull request that changes only the
        // key is checked as well; one that changes neither has nothing new to check.
        let unchanged = blob == current.blob.as_deref()
            && snap.blob_of(KEY_FILE) == current.key_blob.as_deref();
        if blob.is_none() || unchanged {
            return Ok(());
        }
        let (_, problems) = snapshot::check_config(&api, head, &self.s.identities).await?;
        config_check(&api, head, problems.as_deref()).await?;
        Ok(())
    }

    /// What the executor needs to know about a repository for this pass.
    pub(super) async fn context(&mut self, repo: &str) -> Result<RepoContext, StartError> {
        let default_branch = self.default_branch(repo).await?;
        let config = self.config(repo).await?;
        let api = self
            .api(repo)
            .ok_or_else(|| StartError::NotInstalled(repo.to_owned()))?;
        let (config, config_problem) = match config.config {
            Ok(c) => (Some(c), None),
            Err(p) => (None, Some(p)),
        };
        Ok(RepoContext {
            repo: api,
            default_branch,
            config,
            config_problem,
        })
    }

    pub(super) async fn runtime(
        &mut self,
        repo: &str,
    ) -> Result<Runtime<GitHubExecutor, Arc<dyn Clock>>, StartError> {
        let context = self.context(repo).await?;
        let memo = self
            .repos
            .get(repo)
            .map(|r| r.memo.clone())
            .unwrap_or_default();
        let executor = GitHubExecutor::new(
            context,
            self.s.identities.clone(),
            self.s.clock.clone(),
            memo,
        );
        Ok(Runtime::new(
            self.s.store.clone(),
            executor,
            self.s.clock.clone(),
            repo,
        ))
    }

    /// Steps a repository's rotations and carries out their effects until nothing is left
    /// that can be done now, then refreshes its dashboard. On failure the effects stay in
    /// the outbox; the lane backs the repository off.
    pub(super) async fn run_repository(&mut self, repo: &str) -> Result<(), StartError> {
        let mut runtime = self.runtime(repo).await?;
        runtime.run_until_idle().await?;
        super::dashboard::refresh(self, repo).await
    }

    /// What the next pull request of `cred` would change (for `/keyroll plan`).
    pub(super) async fn preview(
        &mut self,
        repo: &str,
        cred: &Credential,
    ) -> Result<String, String> {
        let runtime = self.runtime(repo).await.map_err(|e| e.to_string())?;
        let change = crate::changeset::Phase::sequence(cred)
            .into_iter()
            .next()
            .unwrap_or(crate::changeset::Phase::Add);
        runtime.executor().preview(cred, change).await
    }

    /// Starts a rotation of a credential of the default branch's config.
    pub(super) async fn start(
        &mut self,
        repo: &str,
        credential: &str,
        emergency: bool,
        requested_by: Option<&str>,
    ) -> Result<String, StartError> {
        let config = self.config(repo).await?;
        let config = config.config.map_err(|problems| StartError::Config {
            repository: repo.to_owned(),
            problems,
        })?;
        let cred = config
            .credential(credential)
            .ok_or_else(|| StartError::NoCredential(credential.to_owned()))?;
        let runtime = self.runtime(repo).await?;
        let id = runtime.start_for(cred, emergency, requested_by).await?;
        tracing::info!(repository = repo, rotation = %id, credential, emergency, "rotation started");
        Ok(id)
    }
}

/// Posts the `keyroll/config` check run on `head`, unless one there already says the same
/// (keyroll checked this commit before a restart, or twice for two deliveries).
async fn config_check(api: &RepoApi, head: &str, problems: Option<&str>) -> Result<(), RestError> {
    let out = render::config_output(problems);
    let runs = api.check_runs(head, Some(render::CONFIG_CHECK)).await?;
    if !runs.iter().any(|r| r.says(&out)) {
        api.put_check_run(None, head, &out).await?;
    }
    Ok(())
}
