//! What keyroll knows of each repository it is installed on: the installation to call it
//! with, its default branch, the config of that branch (read again only when the branch
//! moves, and reported on the commit as the `keyroll/config` check run), the commit dates
//! of its credentials, and keyroll's own login. The handlers ask it for these facts and for
//! a repository's runtime; it never handles a delivery itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use time::OffsetDateTime;

use super::StartError;
use crate::effects::github::{GitHubExecutor, Memo, RepoContext};
use crate::effects::render;
use crate::fingerprint::KEY_FILE;
use crate::github::client::GitHub;
use crate::github::rest::{RepoApi, RestError};
use crate::github::snapshot;
use crate::policy::{CONFIG_FILE, Config, Credential};
use crate::runtime::{Clock, Runtime};
use crate::sops::Identities;
use crate::store::Store;

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
struct RepoState {
    installation: u64,
    default_branch: Option<String>,
    config: Option<ConfigState>,
    memo: Arc<Memo>,
    /// Each credential's newest commit on the default branch (schedule tick).
    commit_dates: Option<BTreeMap<String, OffsetDateTime>>,
}

impl RepoState {
    fn new(installation: u64) -> Self {
        Self {
            installation,
            default_branch: None,
            config: None,
            memo: Arc::new(Memo::default()),
            commit_dates: None,
        }
    }
}

/// The repositories keyroll knows, and what it needs to reach them.
#[derive(Debug)]
pub(super) struct Repos {
    github: GitHub,
    identities: Arc<Identities>,
    store: Store,
    clock: Arc<dyn Clock>,
    known: HashMap<String, RepoState>,
    /// keyroll's own bot login, read from GitHub once it is first needed.
    own_login: Option<String>,
}

impl Repos {
    pub(super) fn new(
        github: GitHub,
        identities: Arc<Identities>,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            github,
            identities,
            store,
            clock,
            known: HashMap::new(),
            own_login: None,
        }
    }

    /// A delivery named `repo` under `installation` (and maybe its default branch).
    pub(super) fn seen(&mut self, repo: &str, installation: u64, default_branch: Option<&str>) {
        let state = self
            .known
            .entry(repo.to_owned())
            .or_insert_with(|| RepoState::new(installation));
        state.installation = installation;
        if let Some(b) = default_branch {
            state.default_branch = Some(b.to_owned());
        }
    }

    /// Forgets every repository of an installation (deleted or suspended).
    pub(super) fn forget_installation(&mut self, installation: u64) {
        self.known.retain(|_, r| r.installation != installation);
    }

    /// Forgets a repository the App was removed from.
    pub(super) fn forget(&mut self, repo: &str) {
        self.known.remove(repo);
    }

    /// Whether the config of `repo` was read and has no problems.
    pub(super) fn has_good_config(&self, repo: &str) -> bool {
        self.known
            .get(repo)
            .and_then(|s| s.config.as_ref())
            .is_some_and(|c| c.config.is_ok())
    }

    /// keyroll's own bot login (`<app slug>[bot]`), read once: its pushes to keyroll's
    /// branches are keyroll's own, any other account's are checked.
    pub(super) async fn own_login(&mut self) -> Result<String, StartError> {
        if let Some(login) = &self.own_login {
            return Ok(login.clone());
        }
        let login = crate::github::rest::app_bot_login(&self.github).await?;
        self.own_login = Some(login.clone());
        Ok(login)
    }

    /// The API of a repository keyroll knows (see [`Self::know`]).
    pub(super) fn api(&self, repo: &str) -> Result<RepoApi, StartError> {
        let state = self
            .known
            .get(repo)
            .ok_or_else(|| StartError::NotInstalled(repo.to_owned()))?;
        Ok(RepoApi::new(
            self.github.installation(state.installation),
            repo,
        ))
    }

    /// Makes sure a repository is known, from the store's installations, and returns its API.
    pub(super) async fn know(&mut self, repo: &str) -> Result<RepoApi, StartError> {
        if !self.known.contains_key(repo) {
            let inst = self
                .store
                .installations()
                .await?
                .into_iter()
                .find(|i| i.repository == repo)
                .ok_or_else(|| StartError::NotInstalled(repo.to_owned()))?;
            self.known
                .insert(repo.to_owned(), RepoState::new(inst.installation_id));
        }
        self.api(repo)
    }

    pub(super) async fn default_branch(&mut self, repo: &str) -> Result<String, StartError> {
        let api = self.know(repo).await?;
        if let Some(b) = self.known.get(repo).and_then(|r| r.default_branch.clone()) {
            return Ok(b);
        }
        let branch = api.default_branch().await?;
        if let Some(state) = self.known.get_mut(repo) {
            state.default_branch = Some(branch.clone());
        }
        Ok(branch)
    }

    /// The commit dates the last schedule tick read, if any.
    pub(super) fn commit_dates(&self, repo: &str) -> Option<BTreeMap<String, OffsetDateTime>> {
        self.known.get(repo).and_then(|r| r.commit_dates.clone())
    }

    pub(super) fn set_commit_dates(&mut self, repo: &str, dates: BTreeMap<String, OffsetDateTime>) {
        if let Some(state) = self.known.get_mut(repo) {
            state.commit_dates = Some(dates);
        }
    }

    /// The config of the default branch, read once and again only when the branch moves.
    pub(super) async fn config(&mut self, repo: &str) -> Result<ConfigState, StartError> {
        if let Some(c) = self.known.get(repo).and_then(|r| r.config.clone()) {
            return Ok(c);
        }
        let default = self.default_branch(repo).await?;
        let api = self.api(repo)?;
        let head = api
            .branch_sha(&default)
            .await?
            .ok_or(RestError::NoBranch(default))?;
        self.default_branch_moved(repo, &head).await?;
        self.known
            .get(repo)
            .and_then(|r| r.config.clone())
            .ok_or_else(|| StartError::NotInstalled(repo.to_owned()))
    }

    /// The default branch now points at `head`: when `.keyroll.yaml` or the fingerprint key
    /// file changed, check the config (against the files it names) and say so on the commit
    /// with a `keyroll/config` check run. A config with problems stops new rotations until
    /// it is fixed.
    pub(super) async fn default_branch_moved(
        &mut self,
        repo: &str,
        head: &str,
    ) -> Result<(), StartError> {
        let api = self.api(repo)?;
        let files = match api.files(head).await {
            Ok((_, files)) => files,
            Err(e @ RestError::Truncated { .. }) => {
                // Part of the listing read as the whole could hide a credential file: nothing
                // starts, and the check run and the dashboard say why.
                let problem = format!("keyroll cannot read commit {head} whole: {e}");
                self.store
                    .set_config_status(repo, head, Some(&problem), self.clock.now())
                    .await?;
                config_check(&api, head, Some(&problem)).await?;
                if let Some(state) = self.known.get_mut(repo) {
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
        let known = self.known.get(repo).and_then(|r| r.config.clone());
        let config = match known {
            Some(k) if k.blob == blob && k.key_blob == key_blob => k.config,
            _ => {
                let (config, problems) =
                    snapshot::check_config(&api, head, &self.identities).await?;
                self.store
                    .set_config_status(repo, head, problems.as_deref(), self.clock.now())
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
        if let Some(state) = self.known.get_mut(repo) {
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
    pub(super) async fn check_proposed_config(
        &mut self,
        repo: &str,
        head: &str,
    ) -> Result<(), StartError> {
        let current = self.config(repo).await?;
        let api = self.api(repo)?;
        let (snap, _) = snapshot::read(&api, head, |_| Vec::new()).await?;
        let blob = snap.blob_of(CONFIG_FILE);
        // The check reads the fingerprint key too, so a pull request that changes only the
        // key is checked as well; one that changes neither has nothing new to check.
        let unchanged = blob == current.blob.as_deref()
            && snap.blob_of(KEY_FILE) == current.key_blob.as_deref();
        if blob.is_none() || unchanged {
            return Ok(());
        }
        let (_, problems) = snapshot::check_config(&api, head, &self.identities).await?;
        config_check(&api, head, problems.as_deref()).await?;
        Ok(())
    }

    /// What the executor needs to know about a repository for this pass.
    async fn context(&mut self, repo: &str) -> Result<RepoContext, StartError> {
        let default_branch = self.default_branch(repo).await?;
        let config = self.config(repo).await?;
        let api = self.api(repo)?;
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

    /// The runtime of a repository: its rotations, carried out on GitHub.
    pub(super) async fn runtime(
        &mut self,
        repo: &str,
    ) -> Result<Runtime<GitHubExecutor, Arc<dyn Clock>>, StartError> {
        let context = self.context(repo).await?;
        let memo = self
            .known
            .get(repo)
            .map(|r| r.memo.clone())
            .unwrap_or_default();
        let executor =
            GitHubExecutor::new(context, self.identities.clone(), self.clock.clone(), memo);
        Ok(Runtime::new(
            self.store.clone(),
            executor,
            self.clock.clone(),
            repo,
        ))
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

    /// The credential `credential` of the default branch's config, which must have no
    /// problems for a rotation to start.
    pub(super) async fn credential(
        &mut self,
        repo: &str,
        credential: &str,
    ) -> Result<Credential, StartError> {
        let config = self.config(repo).await?;
        let config = config.config.map_err(|problems| StartError::Config {
            repository: repo.to_owned(),
            problems,
        })?;
        config
            .credential(credential)
            .cloned()
            .ok_or_else(|| StartError::NoCredential(credential.to_owned()))
    }

    /// Starts a rotation of a credential of the default branch's config that nobody asked
    /// for (it is due; a command's start is logged with it, see `commands`).
    pub(super) async fn start(
        &mut self,
        repo: &str,
        credential: &str,
        emergency: bool,
    ) -> Result<String, StartError> {
        let cred = self.credential(repo, credential).await?;
        let runtime = self.runtime(repo).await?;
        let id = runtime.start_for(&cred, emergency, None, |_| None).await?;
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
