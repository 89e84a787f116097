//! A rotation's state: where it is in the lifecycle, and the facts it has learned.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use super::lifecycle::PlannedPr;

/// The lifecycle of one rotation, in order. A rotation walks its pull requests one after the
/// other (add; switch, when use locations move separately; remove, when there are accept
/// lists): each is prepared, opened, merged and rolled out before the next is prepared.
///
/// ```text
/// Requested -> Preparing(pr) -> Open(pr) -> Rollout(pr, step 0..n) -> Preparing(next pr) ... -> Done
///                   |              |              |
///                Blocked        Aborted        Stalled -> retry | rollback -> Preparing(rollback) ... -> RolledBack
/// ```
///
/// Emergency rotations have one pull request, `replace`, that removes the old values and
/// adds the new ones at once. (Verifying adoption and revoking at a provider come with
/// provider support; credentials without a provider go from their last rollout to Done.)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum Phase {
    /// Recorded; waiting for the credential's lock (one rotation per credential, and per
    /// file, at a time).
    Requested,
    /// The change set of pull request `pr` is being built and the pull request opened.
    Preparing { pr: usize },
    /// Pull request `pr` is open; its merge advances the rotation. Closed unmerged, it aborts.
    Open { pr: usize },
    /// Pull request `pr` is merged; rollout step `step` is under way: a wave whose checks must
    /// succeed on the merge commit (or a later commit that contains it), or a gate a person
    /// confirms with `/keyroll confirm <gate>`.
    Rollout { pr: usize, step: usize },
    /// Every pull request merged and rolled out.
    Done,
    /// A wave failed or timed out. The old value still works; `retry`, `rollback` or `abort`.
    Stalled {
        pr: usize,
        step: usize,
        reason: String,
    },
    /// Preparing a pull request failed (a tampered file, a missing identity…); `retry` once
    /// fixed, or `abort`.
    Blocked { pr: usize, reason: String },
    /// Stopped: by `abort`, a pull request closed unmerged, or another rotation holding the
    /// credential.
    Aborted { reason: String },
    /// The rollback pull request (the reverse of add) merged and rolled out.
    RolledBack,
}

impl Phase {
    /// Whether the rotation is over.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Phase::Done | Phase::Aborted { .. } | Phase::RolledBack
        )
    }

    /// A short name, for keys and transcripts.
    pub fn label(&self) -> String {
        match self {
            Phase::Requested => "requested".into(),
            Phase::Preparing { pr } => format!("preparing {pr}"),
            Phase::Open { pr } => format!("open {pr}"),
            Phase::Rollout { pr, step } => format!("rollout {pr}.{step}"),
            Phase::Done => "done".into(),
            Phase::Stalled { pr, step, .. } => format!("stalled {pr}.{step}"),
            Phase::Blocked { pr, .. } => format!("blocked {pr}"),
            Phase::Aborted { .. } => "aborted".into(),
            Phase::RolledBack => "rolled-back".into(),
        }
    }
}

/// What is known about one planned pull request.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PrFacts {
    pub number: Option<u64>,
    pub merge_sha: Option<String>,
    pub closed_unmerged: bool,
    /// A person pushed to its branch: keyroll no longer writes to it.
    pub edited_by_person: bool,
    /// An operator accepted the person's change (`retry` after keyroll checked it); cleared
    /// by the next push.
    #[serde(default)]
    pub edit_accepted: bool,
    /// Who pushed to its branch (keyroll aside): their approvals do not count.
    #[serde(default)]
    pub pushed_by: BTreeSet<String>,
    /// Checks that succeeded on a commit containing the merge.
    pub succeeded: BTreeSet<String>,
    /// Checks that failed there, with the reason.
    pub failed: BTreeMap<String, String>,
    /// Gates confirmed, with who confirmed them.
    pub confirmed: BTreeMap<String, String>,
}

/// Everything the rotation has learned.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Facts {
    pub locked: bool,
    pub lock_holder: Option<String>,
    /// Per planned pull request, by index.
    pub prs: BTreeMap<usize, PrFacts>,
    /// How many times preparing has been retried, per pull request (part of the effect key,
    /// so a retry really runs again).
    pub attempts: BTreeMap<usize, u32>,
    /// Inputs that named something not known yet (a merge of a pull request whose number has
    /// not arrived, a check after a merge commit not yet seen): kept, and recorded when it is.
    pub early: Vec<super::input::Input>,
}

/// One rotation of one credential.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rotation {
    pub id: String,
    pub credential: String,
    pub emergency: bool,
    /// Who asked for the rotation (`/keyroll rotate`); `None` for the schedule or the CLI.
    #[serde(default)]
    pub requested_by: Option<String>,
    pub phase: Phase,
    pub held: bool,
    /// The pull requests, in order; a rollback replaces those not yet merged.
    pub plan: Vec<PlannedPr>,
    pub facts: Facts,
    /// When the current rollout step began, for its timeout.
    #[serde(with = "time::serde::rfc3339")]
    pub step_since: OffsetDateTime,
}

impl Rotation {
    pub fn new(
        id: &str,
        credential: &str,
        emergency: bool,
        plan: Vec<PlannedPr>,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id: id.to_owned(),
            credential: credential.to_owned(),
            emergency,
            requested_by: None,
            phase: Phase::Requested,
            held: false,
            plan,
            facts: Facts::default(),
            step_since: now,
        }
    }

    pub(crate) fn pr_facts(&mut self, pr: usize) -> &mut PrFacts {
        self.facts.prs.entry(pr).or_default()
    }

    /// The planned pull request a GitHub number belongs to.
    pub fn pr_index(&self, number: u64) -> Option<usize> {
        self.facts
            .prs
            .iter()
            .find(|(_, f)| f.number == Some(number))
            .map(|(i, _)| *i)
    }

    /// The planned pull request whose merge commit is `sha`.
    pub fn pr_by_merge(&self, sha: &str) -> Option<usize> {
        self.facts
            .prs
            .iter()
            .find(|(_, f)| f.merge_sha.as_deref() == Some(sha))
            .map(|(i, _)| *i)
    }
}
