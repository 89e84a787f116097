//! Effects on GitHub, through one repository's installation.
//!
//! Every effect is find-or-create: a pull request is found by its branch
//! (`keyroll/<credential>/<rotation>/<change>`), the status comment by its hidden marker, the
//! gate check run by its name on the head commit. Asked again after a crash, an effect finds
//! what it did and does not do it twice. What was found is remembered in a [`Memo`] that
//! outlives one pass, which keeps a rotation's API calls few.
//!
//! Errors: a transient one (5xx, timeout, rate limit) leaves the effect in the outbox for the
//! next pass; any other becomes something people can act on (a Blocked rotation with the
//! reason, or a receipt saying what failed).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::changeset::{self, Base, Phase as Change};
use crate::engine::{
    Effect, GateFacts, GatePolicy, Input, Phase, PlannedStep, Rotation, approvals, gate,
};
use crate::fingerprint::{self, FingerprintKey};
use crate::generate;
use crate::github::rest::{CheckOutput, RepoApi, RestError, listed};
use crate::github::snapshot::{self, Snapshot};
use crate::plan::Plan;
use crate::policy::{CONFIG_FILE, Config, Credential, GeneratorSpec};
use crate::runtime::answers::Answerer;
use crate::runtime::{Clock, ExecError, Executor, Outcome};
use crate::sops::Identities;
use crate::store::Answer;

use super::{push_check, render};

/// What the executor learned on GitHub, kept between passes: ids it would otherwise look up
/// again.
#[derive(Debug, Default)]
pub struct Memo {
    inner: Mutex<MemoInner>,
}

#[derive(Debug, Default)]
struct MemoInner {
    /// Status comment per pull request number (`None`: known to have none yet).
    comments: HashMap<u64, Option<(u64, String)>>,
    /// The gate check run on a head commit, and what it says.
    gates: HashMap<String, (u64, CheckOutput)>,
    /// Pull requests this process opened, as it opened them.
    opened: HashMap<u64, Opened>,
    /// Pull requests whose gate check shows a manual gate waiting, with their head.
    waiting: HashMap<u64, String>,
    /// Whether a login is named by an approvals list.
    eligible: HashMap<(String, String), bool>,
    /// The approvals the default branch's rules require (`Some(None)`: none).
    protection: Option<Option<u32>>,
    /// The fingerprint key, by the blob id of its file: read and decrypted once per version.
    fingerprint_keys: HashMap<String, Arc<FingerprintKey>>,
}

/// A pull request as keyroll opened it.
#[derive(Debug, Clone)]
struct Opened {
    head: String,
    draft: bool,
    node_id: Option<String>,
    open: bool,
    /// Opened in this pass: no reviews and no gate check can exist yet.
    fresh: bool,
}

impl Memo {
    fn with<T>(&self, f: impl FnOnce(&mut MemoInner) -> T) -> Option<T> {
        self.inner.lock().ok().map(|mut m| f(&mut m))
    }
}

/// Why the fingerprint key of the default branch could not be had.
#[derive(Debug)]
enum KeyUnavailable {
    /// The key file is there but does not open or holds no key: people must fix it.
    Broken(String),
    /// Reading it failed (perhaps transiently).
    Read(RestError),
}

/// A pull request about to be opened.
struct Draft<'a> {
    branch: &'a str,
    files: &'a BTreeMap<String, String>,
    body: &'a str,
    draft: bool,
    labels: &'a [String],
}

/// One repository as the worker found it for this pass.
#[derive(Debug, Clone)]
pub struct RepoContext {
    pub repo: RepoApi,
    pub default_branch: String,
    /// The config on the default branch, when it validates.
    pub config: Option<Arc<Config>>,
    /// What is wrong with that config, if anything (shown on the gate).
    pub config_problem: Option<String>,
}

pub struct GitHubExecutor {
    repo: RepoApi,
    default_branch: String,
    config: Option<Arc<Config>>,
    config_problem: Option<String>,
    ids: Arc<Identities>,
    clock: Arc<dyn Clock>,
    memo: Arc<Memo>,
}

impl std::fmt::Debug for GitHubExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubExecutor")
            .field("repo", &self.repo.full_name())
            .field("default_branch", &self.default_branch)
            .finish_non_exhaustive()
    }
}

fn transient_or(e: RestError, what: &str) -> Result<String, ExecError> {
    if e.is_transient() {
        Err(ExecError(format!("{what}: {e}")))
    } else {
        Ok(format!("{what}: {e}"))
    }
}

impl GitHubExecutor {
    pub fn new(
        context: RepoContext,
        ids: Arc<Identities>,
        clock: Arc<dyn Clock>,
        memo: Arc<Memo>,
    ) -> Self {
        Self {
            repo: context.repo,
            default_branch: context.default_branch,
            config: context.config,
            config_problem: context.config_problem,
            ids,
            clock,
            memo,
        }
    }

    fn credential(&self, name: &str) -> Option<&Credential> {
        self.config.as_deref()?.credential(name)
    }

    /// Reads the default branch head, with the config and the files of `credential`.
    async fn read_base(
        &self,
        credential: &str,
    ) -> Result<(Snapshot, Result<Config, String>), RestError> {
        let commit = self
            .repo
            .branch_sha(&self.default_branch)
            .await?
            .ok_or_else(|| RestError::NoBranch(self.default_branch.clone()))?;
        snapshot::read(&self.repo, &commit, |c| {
            c.credential(credential)
                .map(|cred| cred.locations.iter().map(|l| l.file.clone()).collect())
                .unwrap_or_default()
        })
        .await
    }

    /// The fingerprint key of the default branch head `base` (`Ok(None)`: it has none). A key
    /// file that does not open refuses the plan rather than showing it without fingerprints.
    async fn fingerprint_key(
        &self,
        base: &Snapshot,
    ) -> Result<Option<Arc<FingerprintKey>>, KeyUnavailable> {
        let Some(blob) = base.blob_of(fingerprint::KEY_FILE).map(str::to_owned) else {
            return Ok(None);
        };
        if let Some(known) = self
            .memo
            .with(|m| m.fingerprint_keys.get(&blob).cloned())
            .flatten()
        {
            return Ok(Some(known));
        }
        let bytes = self.repo.blob(&blob).await.map_err(KeyUnavailable::Read)?;
        let ids = self.ids.clone();
        let opened = off_runtime(move || FingerprintKey::from_file_text(bytes, &ids)).await;
        let key = Arc::new(opened.map_err(|e| KeyUnavailable::Broken(e.to_string()))?);
        self.memo.with(|m| {
            // Old versions are of no use once the default branch moved on.
            m.fingerprint_keys.clear();
            m.fingerprint_keys.insert(blob, key.clone());
        });
        Ok(Some(key))
    }

    /// What pull request `change` of `cred` would change now, as its body would show it;
    /// nothing is written. (The values are generated and dropped: only fingerprints show.)
    pub async fn preview(&self, cred: &Credential, change: Change) -> Result<String, String> {
        let (base, config) = self
            .read_base(&cred.name)
            .await
            .map_err(|e| e.to_string())?;
        config?;
        if matches!(cred.generator, GeneratorSpec::Manual { .. }) && change.needs_new_values() {
            return Ok(format!(
                "`{}` is manual: a person pushes its new values onto keyroll's branch.",
                cred.name
            ));
        }
        let key = match self.fingerprint_key(&base).await {
            Ok(k) => k,
            Err(KeyUnavailable::Broken(reason)) => return Err(reason),
            Err(KeyUnavailable::Read(e)) => return Err(e.to_string()),
        };
        let (ids, now, owned) = (self.ids.clone(), self.clock.now(), cred.clone());
        let set =
            off_runtime(move || build_change(change, &owned, &base, key.as_deref(), &ids, now))
                .await?;
        Ok(Plan {
            credential: cred,
            rotation: "preview",
            change: &set,
            instructions: None,
        }
        .render_markdown())
    }

    async fn open(
        &self,
        rotation: &Rotation,
        pr: usize,
        change: Change,
        branch: &str,
    ) -> Result<Outcome, ExecError> {
        let found = |number: u64, how: &str| Outcome {
            receipt: format!("#{number} ({how})"),
            feedback: Some(Input::PrOpened { pr, number }),
        };
        let blocked = |reason: String| Outcome {
            receipt: format!("blocked: {reason}"),
            feedback: Some(Input::PrepareFailed { pr, reason }),
        };
        let read = self.read_base(&rotation.credential).await;
        let (base, config) = match read {
            Ok(r) => r,
            Err(e) => return transient_or(e, "reading the default branch").map(blocked),
        };
        let base = Arc::new(base);
        let config = match config {
            Ok(c) => c,
            Err(problems) => return Ok(blocked(problems)),
        };
        let Some(cred) = config.credential(&rotation.credential) else {
            return Ok(blocked(format!(
                "{CONFIG_FILE} on {} has no credential {}",
                self.default_branch, rotation.credential
            )));
        };
        let manual =
            matches!(cred.generator, GeneratorSpec::Manual { .. }) && change.needs_new_values();
        let prepared = if manual {
            self.prepare_manual(rotation, pr, cred)
        } else {
            let key = match self.fingerprint_key(&base).await {
                Ok(k) => k,
                Err(KeyUnavailable::Broken(reason)) => return Ok(blocked(reason)),
                Err(KeyUnavailable::Read(e)) => {
                    return transient_or(e, "reading the fingerprint key").map(blocked);
                }
            };
            let base = Arc::clone(&base);
            let (ids, now) = (self.ids.clone(), self.clock.now());
            let (rotation, cred) = (rotation.clone(), cred.clone());
            off_runtime(move || {
                prepare(
                    &rotation,
                    pr,
                    change,
                    &cred,
                    &base,
                    key.as_deref(),
                    &ids,
                    now,
                )
            })
            .await
        };
        let (files, body) = match prepared {
            Ok(p) => p,
            Err(reason) => return Ok(blocked(reason)),
        };
        let pull = Draft {
            branch,
            files: &files,
            body: &body,
            draft: manual,
            labels: &config.labels,
        };
        let made = self.publish(rotation, change, cred, &base, pull).await;
        match made {
            Ok((number, true)) => Ok(found(number, "opened")),
            Ok((number, false)) => Ok(found(number, "found")),
            Err(e) => transient_or(e, "opening the pull request").map(blocked),
        }
    }

    /// A manual credential's pull request: a branch with an empty commit that a person
    /// pushes the new values onto, and their instructions.
    fn prepare_manual(
        &self,
        rotation: &Rotation,
        pr: usize,
        cred: &Credential,
    ) -> Result<(BTreeMap<String, String>, String), String> {
        let GeneratorSpec::Manual { instructions, .. } = &cred.generator else {
            return Err(format!("{} is not manual", cred.name));
        };
        let mut steps = instructions.trim().to_owned();
        let names = generate::manual_names(cred, self.clock.now());
        if !names.is_empty() {
            steps.push_str("\n\nName the new values:\n");
            for (slot, name) in &names {
                steps.push_str(&format!("\n- slot {slot}: `{name}…`"));
            }
        }
        steps.push_str("\n\nWrite each value with `sops set` on this branch:\n");
        for l in &cred.locations {
            steps.push_str(&format!("\n- `{}`", l.describe()));
        }
        let plan = format!(
            "### `{}`: add (rotation `{}`)\n\nOwner {} · max age {}\n",
            cred.name, rotation.id, cred.owner, cred.max_age
        );
        Ok((
            BTreeMap::new(),
            render::pr_body(rotation, pr, &plan, Some(&steps)),
        ))
    }

    /// Commits the files on the branch and opens the pull request (or finds the one a
    /// racing attempt opened), then labels it and asks for reviews.
    async fn publish(
        &self,
        rotation: &Rotation,
        change: Change,
        cred: &Credential,
        base: &Snapshot,
        pull: Draft<'_>,
    ) -> Result<(u64, bool), RestError> {
        let Draft {
            branch,
            files,
            body,
            draft,
            labels,
        } = pull;
        let tree = if files.is_empty() {
            base.tree.clone()
        } else {
            self.repo.create_tree(&base.tree, files).await?
        };
        let message = render::commit_message(&cred.name, &rotation.id, change);
        let commit = self
            .repo
            .create_commit(&message, &tree, &base.commit)
            .await?;
        // The branch exists only if an earlier attempt made it: its pull request, if any,
        // is this one (keyroll then writes nothing more); otherwise the branch is keyroll's
        // leftover and moves to the new commit.
        if !self.repo.create_branch(branch, &commit).await? {
            if let Some(existing) = self.repo.pull_for_branch(branch).await? {
                return Ok((existing.number, false));
            }
            self.repo.move_branch(branch, &commit).await?;
        }
        let title = render::pr_title(&cred.name, change);
        let pull = match self
            .repo
            .create_pull(&title, branch, &self.default_branch, body, draft)
            .await
        {
            Ok(p) => p,
            // Opened meanwhile (a replay racing a slow first attempt): that one is ours.
            Err(RestError::Api(e)) if e.status() == Some(422) => {
                match self.repo.pull_for_branch(branch).await? {
                    Some(p) => p,
                    None => return Err(RestError::Api(e)),
                }
            }
            Err(e) => return Err(e),
        };
        self.memo.with(|m| {
            m.comments.insert(pull.number, None);
            m.opened.insert(
                pull.number,
                Opened {
                    head: pull.head.sha.clone(),
                    draft: pull.draft == Some(true),
                    node_id: pull.node_id.clone(),
                    open: true,
                    fresh: true,
                },
            );
        });
        if !labels.is_empty() {
            self.repo.add_labels(pull.number, labels).await?;
        }
        self.repo
            .request_reviewers(pull.number, &cred.reviewers)
            .await?;
        tracing::info!(
            rotation = %rotation.id,
            pull_request = pull.number,
            branch,
            commit = %commit,
            "opened pull request"
        );
        Ok((pull.number, true))
    }

    async fn close(&self, number: u64) -> Result<Outcome, ExecError> {
        let receipt = match self.repo.close_pull(number).await {
            Ok(()) => format!("closed #{number}"),
            Err(e) if e.status() == Some(404) => format!("#{number} is gone"),
            Err(e) => transient_or(e, &format!("closing #{number}"))?,
        };
        Ok(Outcome {
            receipt,
            feedback: None,
        })
    }

    /// Rewrites the sticky status comment and, while the pull request is open, the gate.
    /// A finished rotation writes what [`render::final_views`] says on every pull request it
    /// opened.
    async fn status(
        &self,
        rotation: &Rotation,
        key: &str,
        news: &str,
    ) -> Result<Outcome, ExecError> {
        if rotation.phase.is_terminal() {
            return self.final_status(rotation, news).await;
        }
        let Some((pr, number)) = self.current_number(rotation) else {
            return Ok(receipt("no pull request yet"));
        };
        let body = render::status_comment(rotation, news);
        if let Err(e) = self.put_comment(rotation, number, &body).await {
            return transient_or(e, "writing the status comment").map(receipt_owned);
        }
        let gate = match &rotation.phase {
            Phase::Open { pr: p } if *p == pr => self.gate(rotation, pr, number, key).await,
            Phase::Rollout { pr: p, step } if *p == pr => self
                .rollout_gate(rotation, pr, *step, number)
                .await
                .map(|()| None),
            _ => Ok(None),
        };
        match gate {
            Ok(feedback) => Ok(Outcome {
                receipt: "status written".into(),
                feedback,
            }),
            Err(e) => transient_or(e, "writing the gate check").map(receipt_owned),
        }
    }

    /// Writes the final status comment and gate check of a finished rotation on each of its
    /// pull requests. Each write is find-or-create, so a replay after a failure part-way
    /// rewrites nothing already right.
    async fn final_status(&self, rotation: &Rotation, news: &str) -> Result<Outcome, ExecError> {
        let views = render::final_views(rotation, news);
        if views.is_empty() {
            return Ok(receipt("no pull request to write on"));
        }
        for view in &views {
            if let Err(e) = self.put_comment(rotation, view.number, &view.comment).await {
                return transient_or(e, "writing the status comment").map(receipt_owned);
            }
            let written = match self.head_of(rotation, view.number).await {
                Ok(head) => self.put_gate(&head, view.gate.clone()).await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                return transient_or(e, "writing the gate check").map(receipt_owned);
            }
        }
        Ok(receipt_owned(format!(
            "final status written on {} pull request(s)",
            views.len()
        )))
    }

    /// The head commit of pull request `number`: as keyroll opened it, unless a person
    /// pushed since (or this process did not open it), when GitHub is asked.
    async fn head_of(&self, rotation: &Rotation, number: u64) -> Result<String, RestError> {
        let pushed = rotation
            .pr_index(number)
            .and_then(|pr| rotation.facts.prs.get(&pr))
            .is_some_and(|f| f.edited_by_person);
        let known = self
            .memo
            .with(|m| m.opened.get(&number).map(|o| o.head.clone()))
            .flatten();
        match known {
            Some(h) if !pushed => Ok(h),
            _ => Ok(self.repo.pull(number).await?.head.sha),
        }
    }

    /// Ends the wait a manual gate's check run shows, as the engine said (see
    /// [`Effect::SettleGate`]): green once confirmed, neutral when the rotation left the gate
    /// otherwise. The head is the one the wait was shown on, or the pull request's now.
    async fn settle_gate(
        &self,
        number: u64,
        gate: &str,
        confirmed_by: Option<&str>,
    ) -> Result<Outcome, ExecError> {
        let known = self.memo.with(|m| m.waiting.remove(&number)).flatten();
        let head = match known {
            Some(h) => h,
            None => match self.repo.pull(number).await {
                Ok(p) => p.head.sha,
                Err(e) => return transient_or(e, "reading the pull request").map(receipt_owned),
            },
        };
        let out = match confirmed_by {
            Some(by) => CheckOutput {
                name: render::GATE_CHECK.into(),
                conclusion: Some("success"),
                title: "Gate confirmed".into(),
                summary: format!("Gate {gate} was confirmed by @{by}; the rollout goes on."),
                actions: &[],
            },
            None => CheckOutput {
                name: render::GATE_CHECK.into(),
                conclusion: Some("neutral"),
                title: format!("Gate {gate} no longer waits"),
                summary: format!(
                    "The rotation left gate {gate} without a confirmation (see the status comment)."
                ),
                actions: &[],
            },
        };
        match self.put_gate(&head, out).await {
            Ok(()) => Ok(receipt("gate check settled")),
            Err(e) => transient_or(e, "writing the gate check").map(receipt_owned),
        }
    }

    /// Answers a person with a comment, once (see [`reply`]).
    async fn reply(&self, key: &str, number: u64, text: &str) -> Result<Outcome, ExecError> {
        reply(&self.repo, key, number, text)
            .await
            .map(receipt_owned)
    }

    /// After the merge, the gate check run of the pull request shows a manual gate that waits
    /// (with its Confirm button), and turns green once it was passed.
    async fn rollout_gate(
        &self,
        rotation: &Rotation,
        pr: usize,
        step: usize,
        number: u64,
    ) -> Result<(), RestError> {
        let waiting = rotation.plan.get(pr).and_then(|p| p.steps.get(step));
        let out = match waiting {
            Some(PlannedStep::Gate {
                name,
                confirm,
                instructions,
                ..
            }) => CheckOutput {
                name: render::GATE_CHECK.into(),
                conclusion: None,
                title: format!("Waiting for gate {name}"),
                summary: format!(
                    "{instructions}\n\nThen `/keyroll confirm {name}` or the Confirm button, by {}.",
                    confirm.join(", ")
                ),
                actions: render::GATE_ACTIONS,
            },
            _ => return Ok(()),
        };
        let head = self.head_of(rotation, number).await?;
        self.memo.with(|m| m.waiting.insert(number, head.clone()));
        self.put_gate(&head, out).await
    }

    /// Fetches what the gate of an open pull request depends on (its head and draft state,
    /// reviews, the push check), has [`gate::evaluate`] decide, and writes the
    /// `keyroll/gate` check run. What the decision asks for (mark ready, merge) goes back to
    /// the engine as an input, which emits it as outbox effects.
    async fn gate(
        &self,
        rotation: &Rotation,
        pr: usize,
        number: u64,
        evaluation: &str,
    ) -> Result<Option<Input>, RestError> {
        let pushed = rotation
            .facts
            .prs
            .get(&pr)
            .is_some_and(|f| f.edited_by_person);
        // What keyroll opened it knows; after a person's push (or a restart) it asks.
        let known = self
            .memo
            .with(|m| m.opened.get(&number).cloned())
            .flatten()
            .filter(|_| !pushed);
        let (pull, known) = match known {
            Some(k) => (None, k),
            None => {
                let p = self.repo.pull(number).await?;
                let k = Opened {
                    head: p.head.sha.clone(),
                    draft: p.draft == Some(true),
                    node_id: p.node_id.clone(),
                    open: p.state == "open",
                    fresh: false,
                };
                (Some(p), k)
            }
        };
        let head = known.head.clone();
        let cred = self.credential(&rotation.credential).cloned();
        let push_problems = match (&cred, &pull, pushed) {
            (Some(c), Some(pull), true) => Some(self.check_push(rotation, pr, c, pull).await?),
            _ => None,
        };
        let mut reviews = Vec::new();
        let mut notes = Vec::new();
        let policy = cred.as_ref().map(|c| GatePolicy {
            required: c.approvals.required,
            from: c.approvals.from.clone(),
            requester_counts: c.approvals.requester_counts,
            automerge: c.automerge,
        });
        if let Some(cred) = &cred {
            // A pull request this pass opened has no reviews yet.
            let listed_reviews = if known.fresh {
                Vec::new()
            } else {
                self.repo.reviews(number).await?
            };
            for r in listed_reviews {
                let Some(user) = r.user else { continue };
                let bot = user.kind == "Bot";
                // A bot's review never counts: no need to ask about its teams.
                let eligible = !bot && self.eligible(&cred.approvals.from, &user.login).await?;
                reviews.push(approvals::ReviewFact {
                    login: user.login,
                    state: r.state,
                    commit: r.commit_id,
                    eligible,
                    bot,
                });
            }
            if let Some(n) = self.protection_approvals().await?
                && n != cred.approvals.required
            {
                notes.push(format!(
                    "The rules of `{}` ask for {n} approving review(s); `.keyroll.yaml` asks for {}. GitHub enforces its own number; keyroll enforces the config's.",
                    self.default_branch, cred.approvals.required
                ));
            }
        }
        let decision = gate::evaluate(
            rotation,
            pr,
            &GateFacts {
                head_sha: &head,
                open: known.open,
                draft: known.draft,
                config_problem: self.config_problem.as_deref(),
                manual_credential: cred
                    .as_ref()
                    .is_some_and(|c| matches!(c.generator, GeneratorSpec::Manual { .. })),
                push_problems: push_problems.as_deref(),
                reviews: &reviews,
                policy: policy.as_ref(),
            },
        );
        if known.fresh {
            // Its first gate check: none to find.
            self.memo.with(|m| {
                m.gates
                    .entry(head.clone())
                    .or_insert((0, CheckOutput::none()));
                if let Some(o) = m.opened.get_mut(&number) {
                    o.fresh = false;
                }
            });
        }
        self.put_gate(&head, render::gate_output_noted(&decision.unmet, &notes))
            .await?;
        if decision.actions.is_empty() {
            return Ok(None);
        }
        Ok(Some(Input::GateEvaluated {
            number,
            head_sha: head,
            actions: decision.actions,
            evaluation: evaluation.to_owned(),
        }))
    }

    /// Marks a draft ready, as the engine asked after the gate was met. A pull request
    /// already ready counts as done.
    async fn mark_ready(&self, number: u64) -> Result<Outcome, ExecError> {
        let known = self.memo.with(|m| m.opened.get(&number).cloned()).flatten();
        let node = match known {
            Some(o) if !o.draft => return Ok(receipt("already ready")),
            Some(Opened {
                node_id: Some(n), ..
            }) => n,
            _ => match self.repo.pull(number).await {
                Ok(p) if p.draft != Some(true) => return Ok(receipt("already ready")),
                Ok(p) => match p.node_id {
                    Some(n) => n,
                    None => return Ok(receipt("no node id: people mark it ready")),
                },
                Err(e) => return transient_or(e, "reading the pull request").map(receipt_owned),
            },
        };
        if let Err(e) = self.repo.mark_ready(&node).await {
            return transient_or(e, "marking the pull request ready").map(receipt_owned);
        }
        self.memo.with(|m| {
            if let Some(o) = m.opened.get_mut(&number) {
                o.draft = false;
            }
        });
        Ok(receipt("marked ready"))
    }

    /// Merges at `head_sha`, as the engine asked after the gate was met. A pull request
    /// already merged counts as merged; one GitHub will not merge (the branch moved, a rule
    /// of the repository) is left to people, with the reason in the receipt.
    async fn merge(
        &self,
        rotation: &Rotation,
        number: u64,
        head_sha: &str,
    ) -> Result<Outcome, ExecError> {
        match self.repo.merge(number, head_sha).await {
            Ok(()) => {
                tracing::info!(rotation = %rotation.id, pull_request = number, "merged: approvals and the gate are met, and the config lets keyroll merge");
                // Gates evaluated before the merge's webhook arrives see it closed.
                self.memo.with(|m| {
                    if let Some(o) = m.opened.get_mut(&number) {
                        o.open = false;
                    }
                });
                Ok(receipt("merged"))
            }
            Err(e) if e.is_transient() => Err(ExecError(format!("merging: {e}"))),
            Err(e) => match self.repo.pull(number).await {
                Ok(p) if p.merged == Some(true) => Ok(receipt("already merged")),
                Ok(_) => {
                    tracing::warn!(rotation = %rotation.id, pull_request = number, error = %e, "could not merge; people can");
                    Ok(receipt_owned(format!("not merged: {e}")))
                }
                Err(read) => transient_or(read, "reading the pull request").map(receipt_owned),
            },
        }
    }

    /// Checks the whole change of a pull request a person pushed to (see [`push_check`]).
    async fn check_push(
        &self,
        rotation: &Rotation,
        pr: usize,
        cred: &Credential,
        pull: &crate::github::rest::PullRequest,
    ) -> Result<Vec<String>, RestError> {
        let change = rotation.plan.get(pr).map_or(Change::Add, |p| p.change);
        let files =
            |_: &Config| -> Vec<String> { cred.locations.iter().map(|l| l.file.clone()).collect() };
        let changed = self
            .repo
            .changed_files(&pull.base.sha, &pull.head.sha)
            .await?;
        let (base, _) = snapshot::read(&self.repo, &pull.base.sha, files).await?;
        let (head, _) = snapshot::read(&self.repo, &pull.head.sha, files).await?;
        let (cred, ids) = (cred.clone(), self.ids.clone());
        Ok(
            off_runtime(move || push_check::check(&cred, change, &changed, &base, &head, &ids))
                .await,
        )
    }

    /// Whether `login` is named by `from` (cached: team membership costs a request).
    async fn eligible(&self, from: &[String], login: &str) -> Result<bool, RestError> {
        let key = (login.to_ascii_lowercase(), from.join(","));
        if let Some(known) = self.memo.with(|m| m.eligible.get(&key).copied()).flatten() {
            return Ok(known);
        }
        let yes = listed(&self.repo, from, login).await?;
        self.memo.with(|m| m.eligible.insert(key, yes));
        Ok(yes)
    }

    /// The approvals the default branch's rules require (read once per executor memo).
    async fn protection_approvals(&self) -> Result<Option<u32>, RestError> {
        if let Some(known) = self.memo.with(|m| m.protection).flatten() {
            return Ok(known);
        }
        let n = match self.repo.required_approvals(&self.default_branch).await {
            Ok(n) => n,
            Err(e) if e.status() == Some(404) => None,
            Err(e) => return Err(e),
        };
        self.memo.with(|m| m.protection = Some(n));
        Ok(n)
    }

    async fn notify(&self, rotation: &Rotation, text: &str) -> Result<Outcome, ExecError> {
        let Some((_, number)) = self.current_number(rotation) else {
            tracing::info!(rotation = %rotation.id, "notice with no pull request to post on: {text}");
            return Ok(receipt("no pull request to comment on"));
        };
        let owner = render::mention(self.credential(&rotation.credential));
        match self
            .repo
            .create_comment(number, &format!("{text}{owner}"))
            .await
        {
            Ok(id) => Ok(receipt_owned(format!("comment {id}"))),
            Err(e) => transient_or(e, "commenting").map(receipt_owned),
        }
    }

    fn current_number(&self, rotation: &Rotation) -> Option<(usize, u64)> {
        let pr = render::current_pr(rotation)?;
        let number = rotation.facts.prs.get(&pr)?.number?;
        Some((pr, number))
    }

    async fn put_comment(
        &self,
        rotation: &Rotation,
        number: u64,
        body: &str,
    ) -> Result<(), RestError> {
        let known = self
            .memo
            .with(|m| m.comments.get(&number).cloned())
            .flatten();
        let existing = match known {
            Some(k) => k,
            None => {
                let marker = render::status_marker(&rotation.id);
                self.repo
                    .comments(number)
                    .await?
                    .into_iter()
                    .find(|c| c.body.as_deref().is_some_and(|b| b.contains(&marker)))
                    .map(|c| (c.id, c.body.unwrap_or_default()))
            }
        };
        let id = match existing {
            Some((_, old)) if old == body => return Ok(()),
            Some((id, _)) => {
                self.repo.update_comment(id, body).await?;
                id
            }
            None => self.repo.create_comment(number, body).await?,
        };
        self.memo
            .with(|m| m.comments.insert(number, Some((id, body.to_owned()))));
        Ok(())
    }

    /// Writes the gate check run on `head`, unless it already says `out`.
    async fn put_gate(&self, head: &str, out: CheckOutput) -> Result<(), RestError> {
        let known = self.memo.with(|m| m.gates.get(head).cloned()).flatten();
        let existing = match known {
            Some((_, last)) if last == out => return Ok(()),
            Some((0, _)) => None,
            Some((id, _)) => Some(id),
            None => self
                .repo
                .check_runs(head, Some(render::GATE_CHECK))
                .await?
                .first()
                .map(|c| c.id),
        };
        let id = self.repo.put_check_run(existing, head, &out).await?;
        self.memo
            .with(|m| m.gates.insert(head.to_owned(), (id, out)));
        Ok(())
    }
}

/// Answers a person with a comment on issue or pull request `number`. The key, hidden in
/// the comment, finds it again when the answer is asked for again after a crash, so it is
/// posted once. The receipt.
async fn reply(repo: &RepoApi, key: &str, number: u64, text: &str) -> Result<String, ExecError> {
    let marker = format!("<!-- keyroll:reply {key} -->");
    let posted = match repo.comments(number).await {
        Ok(list) => list
            .into_iter()
            .find(|c| c.body.as_deref().is_some_and(|b| b.contains(&marker))),
        Err(e) => return transient_or(e, "reading the comments"),
    };
    if let Some(c) = posted {
        return Ok(format!("comment {} (found)", c.id));
    }
    match repo
        .create_comment(number, &format!("{text}\n\n{marker}"))
        .await
    {
        Ok(id) => Ok(format!("comment {id}")),
        Err(e) => transient_or(e, "commenting"),
    }
}

/// Says the answers to commands on GitHub (see [`crate::runtime::answers`]).
#[derive(Debug)]
pub struct GitHubAnswerer {
    repo: RepoApi,
}

impl GitHubAnswerer {
    pub fn new(repo: RepoApi) -> Self {
        Self { repo }
    }
}

impl Answerer for GitHubAnswerer {
    async fn answer(&self, key: &str, answer: &Answer) -> Result<String, ExecError> {
        match answer {
            // GitHub keeps one reaction of a kind per account: giving it again is harmless.
            Answer::React { comment, reaction } => {
                match self.repo.react(*comment, reaction.content()).await {
                    Ok(()) => Ok(format!("reacted {}", reaction.content())),
                    Err(e) => transient_or(e, "reacting"),
                }
            }
            Answer::Reply { number, text } => reply(&self.repo, key, *number, text).await,
        }
    }
}

fn receipt(text: &str) -> Outcome {
    receipt_owned(text.to_owned())
}

fn receipt_owned(text: String) -> Outcome {
    Outcome {
        receipt: text,
        feedback: None,
    }
}

impl Executor for GitHubExecutor {
    async fn execute(
        &self,
        rotation: &Rotation,
        key: &str,
        effect: &Effect,
    ) -> Result<Outcome, ExecError> {
        match effect {
            Effect::OpenPullRequest { pr, change, branch } => {
                self.open(rotation, *pr, *change, branch).await
            }
            Effect::ClosePullRequest { number } => self.close(*number).await,
            Effect::UpdateStatus { text } => self.status(rotation, key, text).await,
            Effect::Notify { text } => self.notify(rotation, text).await,
            Effect::MarkReady { number } => self.mark_ready(*number).await,
            Effect::Merge { number, head_sha } => self.merge(rotation, *number, head_sha).await,
            Effect::Reply { number, text } => self.reply(key, *number, text).await,
            Effect::SettleGate {
                number,
                gate,
                confirmed_by,
            } => {
                self.settle_gate(*number, gate, confirmed_by.as_deref())
                    .await
            }
            Effect::RecordRotated | Effect::ReleaseLock => {
                Err(ExecError("the store carries this effect out".into()))
            }
        }
    }
}

/// Runs CPU-heavy work (decrypting and re-encrypting every file of a change, opening age
/// stanzas) on tokio's blocking pool, so the async workers go on serving other repositories
/// meanwhile. A panic in it goes on to the caller, as if the work had run in place (the lane's
/// supervisor catches it).
async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Cancelled: only when the runtime shuts down, which ends this task too.
            Err(e) => std::panic::resume_unwind(Box::new(e.to_string())),
        },
    }
}

/// The change set of `change` on `base`, with new values generated where it needs them.
fn build_change(
    change: Change,
    cred: &Credential,
    base: &Snapshot,
    fingerprint_key: Option<&FingerprintKey>,
    ids: &Identities,
    now: time::OffsetDateTime,
) -> Result<changeset::ChangeSet, String> {
    let values = if change.needs_new_values() {
        Some(generate::generate(cred, now).map_err(|e| e.to_string())?)
    } else {
        None
    };
    changeset::build(
        change,
        cred,
        values.as_ref(),
        Base {
            files: base,
            ids,
            now,
            fingerprint_key,
        },
    )
    .map_err(|e| e.to_string())
}

/// The change set and the body of a pull request keyroll writes itself.
#[allow(clippy::too_many_arguments)]
fn prepare(
    rotation: &Rotation,
    pr: usize,
    change: Change,
    cred: &Credential,
    base: &Snapshot,
    fingerprint_key: Option<&FingerprintKey>,
    ids: &Identities,
    now: time::OffsetDateTime,
) -> Result<(BTreeMap<String, String>, String), String> {
    let set = build_change(change, cred, base, fingerprint_key, ids, now)?;
    if set.files.is_empty() {
        return Err(format!(
            "the {change} change of {} changes no file: is it rotated already?",
            cred.name
        ));
    }
    let plan = Plan {
        credential: cred,
        rotation: &rotation.id,
        change: &set,
        instructions: None,
    }
    .render_markdown();
    Ok((set.files, render::pr_body(rotation, pr, &plan, None)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::off_runtime;

    /// The work runs on another thread than the async task that waits for it: on a
    /// current-thread runtime, in place would mean the test's own thread.
    #[tokio::test(flavor = "current_thread")]
    async fn heavy_work_leaves_the_async_thread() {
        let here = std::thread::current().id();
        let there = off_runtime(|| std::thread::current().id()).await;
        assert_ne!(here, there);
    }

    /// A panic in the work reaches the caller, where the lane's supervisor catches it.
    #[tokio::test(flavor = "current_thread")]
    async fn a_panic_in_the_work_goes_on_to_the_caller() {
        let task = tokio::spawn(off_runtime(|| -> u8 { std::panic::panic_any("boom") }));
        let panic = task.await.unwrap_err().into_panic();
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"boom"));
    }
}
