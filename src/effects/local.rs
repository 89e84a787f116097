//! Effects on a local checkout: a pull request is a branch `keyroll/<credential>/<rotation>/<change>`
//! committed from trees (the working tree is never touched); statuses and notices are kept as
//! a log for the person running keyroll.

use std::path::PathBuf;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::changeset::{self, Base};
use crate::engine::{Effect, Input, Rotation};
use crate::fingerprint::FingerprintKey;
use crate::generate;
use crate::policy::Config;
use crate::repo::Repo;
use crate::runtime::{ExecError, Executor, Outcome};
use crate::sops::Identities;

#[derive(Debug)]
pub struct LocalExecutor {
    repo_dir: PathBuf,
    config: Config,
    ids: Identities,
    log: Mutex<Vec<String>>,
}

impl LocalExecutor {
    pub fn new(repo_dir: impl Into<PathBuf>, config: Config, ids: Identities) -> Self {
        Self {
            repo_dir: repo_dir.into(),
            config,
            ids,
            log: Mutex::new(Vec::new()),
        }
    }

    /// What keyroll said so far (statuses and notices), oldest first.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn say(&self, line: String) {
        if let Ok(mut l) = self.log.lock() {
            l.push(line);
        }
    }

    /// A local "pull request number": stable for a branch, so finding it again gives the
    /// same number.
    pub fn number_of(branch: &str) -> u64 {
        let d = Sha256::digest(branch.as_bytes());
        let n = d.iter().take(3).fold(0u64, |n, b| (n << 8) | u64::from(*b));
        n % 900_000 + 100_000
    }

    fn open(
        &self,
        rotation: &Rotation,
        pr: usize,
        change: changeset::Phase,
        branch: &str,
    ) -> Result<Outcome, ExecError> {
        let fail = |e: &dyn std::fmt::Display| ExecError(format!("{branch}: {e}"));
        let repo = Repo::open(&self.repo_dir).map_err(|e| fail(&e))?;
        let number = Self::number_of(branch);
        let feedback = Some(Input::PrOpened { pr, number });
        // Find before create: the branch of an earlier attempt is the pull request.
        if repo
            .branches(branch)
            .map_err(|e| fail(&e))?
            .iter()
            .any(|b| b == branch)
        {
            return Ok(Outcome {
                receipt: format!("{branch} (found)"),
                feedback,
            });
        }
        let cred = self
            .config
            .credential(&rotation.credential)
            .ok_or_else(|| {
                ExecError(format!(
                    "no credential {} in the config",
                    rotation.credential
                ))
            })?;
        let files = repo.head_files().map_err(|e| fail(&e))?;
        let key = FingerprintKey::load(&files, &self.ids).map_err(|e| fail(&e))?;
        let now = OffsetDateTime::now_utc();
        let base = Base {
            files: &files,
            ids: &self.ids,
            now,
            fingerprint_key: key.as_ref(),
        };
        let values = if change.needs_new_values() {
            Some(generate::generate(cred, now).map_err(|e| fail(&e))?)
        } else {
            None
        };
        let set = changeset::build(change, cred, values.as_ref(), base).map_err(|e| fail(&e))?;
        let message = format!(
            "keyroll: {} {change} ({})\n\n{}",
            cred.name,
            rotation.id,
            crate::repo::trailer::write(&cred.name, &rotation.id, change)
        );
        let committed = repo
            .commit_branch(files.commit(), branch, &set.files, &message)
            .map_err(|e| fail(&e))?;
        self.say(format!("opened {branch} at {}", committed.commit));
        Ok(Outcome {
            receipt: format!("{branch}@{}", committed.commit),
            feedback,
        })
    }
}

impl Executor for LocalExecutor {
    async fn execute(
        &self,
        rotation: &Rotation,
        _key: &str,
        effect: &Effect,
    ) -> Result<Outcome, ExecError> {
        match effect {
            Effect::OpenPullRequest { pr, change, branch } => {
                self.open(rotation, *pr, *change, branch)
            }
            Effect::ClosePullRequest { number } => {
                // Branches are left for the person to delete: closing never destroys work.
                self.say(format!(
                    "{}: close local pull request {number} (its branch is kept)",
                    rotation.id
                ));
                Ok(Outcome {
                    receipt: format!("closed {number}"),
                    feedback: None,
                })
            }
            // Local pull requests have no gate and no comments: the person merges the
            // branch and reads the log.
            Effect::MarkReady { .. }
            | Effect::Merge { .. }
            | Effect::Reply { .. }
            | Effect::SettleGate { .. } => {
                self.say(format!("{}: {}", rotation.id, effect.describe()));
                Ok(Outcome {
                    receipt: "logged".into(),
                    feedback: None,
                })
            }
            Effect::UpdateStatus { text } | Effect::Notify { text } => {
                self.say(format!("{}: {text}", rotation.id));
                Ok(Outcome {
                    receipt: "logged".into(),
                    feedback: None,
                })
            }
            Effect::RecordRotated | Effect::ReleaseLock => {
                Err(ExecError("the store carries this effect out".into()))
            }
        }
    }
}
