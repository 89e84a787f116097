//! The gate of an open keyroll pull request, pure: from the facts the shell fetched (reviews
//! on the current head, who pushed to the branch, what the push check found, the draft
//! state, the config) to the conditions still unmet (what the `keyroll/gate` check run and
//! the status comment show) and what to do once none is left (mark a manual credential's
//! draft ready, merge at the head that was evaluated when the config lets keyroll merge).
//!
//! The shell carries the actions out only through the engine (see [`super::Input::GateEvaluated`]),
//! as outbox effects, so an action is done once and never after a hold or a push.

use super::approvals::{self, ReviewFact, Rules};
use super::state::Rotation;

/// What the config says about a credential's pull requests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatePolicy {
    /// Approving reviews needed on the current head.
    pub required: u32,
    /// Who may approve (`login` or `@org/team`), for the text; eligibility is in the facts.
    pub from: Vec<String>,
    /// Whether the approval of the person who asked for the rotation counts.
    pub requester_counts: bool,
    /// Whether keyroll merges once nothing is unmet.
    pub automerge: bool,
}

/// What the shell found out about the pull request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GateFacts<'a> {
    /// The head commit the facts are about: approvals count only on it, and a merge is asked
    /// at it (GitHub refuses the merge if the branch moved meanwhile).
    pub head_sha: &'a str,
    pub open: bool,
    pub draft: bool,
    /// What is wrong with the config on the default branch, if anything.
    pub config_problem: Option<&'a str>,
    /// The credential is manual: a person pushes its new values onto keyroll's branch.
    pub manual_credential: bool,
    /// What the push check found (`None`: nobody but keyroll pushed).
    pub push_problems: Option<&'a [String]>,
    /// Reviews, oldest first, with whether each author is named by the config.
    pub reviews: &'a [ReviewFact],
    /// The credential's policy; `None` when the config does not name the credential (then
    /// nothing is merged or marked ready).
    pub policy: Option<&'a GatePolicy>,
}

/// What to do once no condition is unmet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum GateAction {
    /// A manual credential's draft: its value checks out, reviewers may now look.
    MarkReady,
    /// Merge at this head commit.
    Merge { head_sha: String },
}

/// The outcome of evaluating a gate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GateDecision {
    /// Conditions still unmet, in the words people read.
    pub unmet: Vec<String>,
    /// In order: mark ready first, then merge.
    pub actions: Vec<GateAction>,
}

/// The conditions that do not depend on reviews: hold, config, manual value, a person's push.
pub fn conditions(
    rotation: &Rotation,
    pr: usize,
    config_problem: Option<&str>,
    awaiting_manual_value: bool,
    push_problems: Option<&[String]>,
) -> Vec<String> {
    let mut unmet = Vec::new();
    if rotation.held {
        unmet.push("the rotation is on hold: `/keyroll unhold` lets it go on".to_owned());
    }
    if let Some(p) = config_problem {
        unmet.push(format!(
            "`.keyroll.yaml` on the default branch does not validate: {p}"
        ));
    }
    if awaiting_manual_value {
        unmet.push(
            "a person must push the new value to this branch (`sops set`), as the instructions say"
                .to_owned(),
        );
    }
    let accepted = rotation.facts.prs.get(&pr).is_some_and(|f| f.edit_accepted);
    match push_problems {
        Some(problems) if !problems.is_empty() => {
            for p in problems {
                unmet.push(format!("the pushed change: {p}"));
            }
        }
        Some(_) if !accepted => unmet.push(
            "a person pushed to this branch and keyroll found nothing wrong: `/keyroll retry` (operator) accepts the change"
                .to_owned(),
        ),
        _ => {}
    }
    unmet
}

/// Evaluates the gate of planned pull request `pr` of `rotation`.
pub fn evaluate(rotation: &Rotation, pr: usize, facts: &GateFacts<'_>) -> GateDecision {
    // A manual credential's pull request that needs new values waits for a person's push.
    let awaiting_manual_value = facts.manual_credential
        && rotation
            .plan
            .get(pr)
            .is_some_and(|p| p.change.needs_new_values())
        && !rotation
            .facts
            .prs
            .get(&pr)
            .is_some_and(|f| f.edited_by_person);
    let mut unmet = conditions(
        rotation,
        pr,
        facts.config_problem,
        awaiting_manual_value,
        facts.push_problems,
    );
    let Some(policy) = facts.policy else {
        return GateDecision {
            unmet,
            actions: Vec::new(),
        };
    };
    let pushers: Vec<String> = rotation
        .facts
        .prs
        .get(&pr)
        .map(|f| f.pushed_by.iter().cloned().collect())
        .unwrap_or_default();
    let tally = approvals::tally(
        facts.reviews,
        facts.head_sha,
        &Rules {
            required: policy.required,
            requester: rotation.requested_by.as_deref(),
            requester_counts: policy.requester_counts,
            pushers: &pushers,
        },
    );
    unmet.extend(tally.unmet(&policy.from));
    let mut actions = Vec::new();
    if unmet.is_empty() && facts.open {
        if facts.draft {
            actions.push(GateAction::MarkReady);
        }
        if policy.automerge {
            actions.push(GateAction::Merge {
                head_sha: facts.head_sha.to_owned(),
            });
        }
    }
    GateDecision { unmet, actions }
}
