//! Whether `/keyroll confirm <gate>` counts now, pure. A manual gate stands for a step a
//! person does at one point of the rollout ("update Jenkins once every app runs the new
//! tokens"); a confirmation given before the rollout reaches the gate would let keyroll pass
//! it later without anyone confirming at that point. So only a gate that waits now takes a
//! confirmation; an early one is refused with what still comes first, and nothing is kept.

use super::lifecycle::PlannedStep;
use super::state::{Phase, Rotation};

/// What a confirmation of a gate comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// The rollout of pull request `pr` waits at the gate: record the confirmation.
    Open { pr: usize },
    /// The gate is not open yet: `opens` says what comes first, in the words people read.
    NotYet { pr: usize, opens: String },
    /// The rollout went past the gate already: nothing to do.
    Passed { pr: usize },
    /// The rotation has no gate of that name.
    Unknown,
}

/// Where a rotation is, in the order it walks its plan: pull request, then `None` before its
/// merge and `Some(step)` during its rollout. `None` once it ended.
fn position(phase: &Phase) -> Option<(usize, Option<usize>)> {
    match phase {
        Phase::Requested => Some((0, None)),
        Phase::Preparing { pr } | Phase::Open { pr } | Phase::Blocked { pr, .. } => {
            Some((*pr, None))
        }
        Phase::Rollout { pr, step } | Phase::Stalled { pr, step, .. } => Some((*pr, Some(*step))),
        Phase::Done | Phase::Aborted { .. } | Phase::RolledBack => None,
    }
}

/// Decides what a confirmation of `gate`, given on pull request `given_on` (if on one),
/// comes to for `r`.
pub fn confirmation(r: &Rotation, given_on: Option<u64>, gate: &str) -> Confirmation {
    let here = position(&r.phase);
    let places: Vec<(usize, usize)> = r
        .plan
        .iter()
        .enumerate()
        .flat_map(|(pr, p)| {
            p.steps.iter().enumerate().filter_map(move |(step, s)| {
                matches!(s, PlannedStep::Gate { name, .. } if name == gate).then_some((pr, step))
            })
        })
        .collect();
    let passed = |at: &(usize, usize)| here.is_none_or(|h| h > (at.0, Some(at.1)));
    // The gate of the pull request the command was given on; else the first one still ahead.
    let given = given_on.and_then(|n| r.pr_index(n));
    let place = places
        .iter()
        .find(|(pr, _)| Some(*pr) == given)
        .or_else(|| places.iter().find(|at| !passed(at)))
        .or(places.last());
    let Some(&(pr, step)) = place else {
        return Confirmation::Unknown;
    };
    match here {
        Some(h) if h == (pr, Some(step)) => Confirmation::Open { pr },
        Some(h) if h < (pr, Some(step)) => Confirmation::NotYet {
            pr,
            opens: still_ahead(r, h, (pr, step)),
        },
        _ => Confirmation::Passed { pr },
    }
}

/// What stands between position `from` and the gate at `gate`, joined as one sentence.
fn still_ahead(r: &Rotation, from: (usize, Option<usize>), gate: (usize, usize)) -> String {
    let mut items = Vec::new();
    for pr in from.0..=gate.0 {
        let Some(planned) = r.plan.get(pr) else { break };
        let facts = r.facts.prs.get(&pr).cloned().unwrap_or_default();
        let first_step = if pr == from.0 {
            match from.1 {
                Some(step) => step,
                None => {
                    items.push(match facts.number {
                        Some(n) => format!("pull request #{n} merges"),
                        None => format!("the {} pull request is opened and merges", planned.change),
                    });
                    0
                }
            }
        } else {
            items.push(format!(
                "the {} pull request is opened and merges",
                planned.change
            ));
            0
        };
        let last_step = if pr == gate.0 {
            gate.1
        } else {
            planned.steps.len()
        };
        for s in planned.steps.iter().take(last_step).skip(first_step) {
            match s {
                PlannedStep::Wave { name, checks, .. } => {
                    let waiting: Vec<&str> = checks
                        .iter()
                        .filter(|c| !facts.succeeded.contains(*c))
                        .map(String::as_str)
                        .collect();
                    if !waiting.is_empty() {
                        items.push(format!(
                            "wave `{name}` succeeds ({} on the merge commit or a later one)",
                            waiting.join(", ")
                        ));
                    }
                }
                PlannedStep::Gate { name, .. } => items.push(format!("gate `{name}` is confirmed")),
            }
        }
    }
    if items.is_empty() {
        // Every check of the waves before it has succeeded: the next step opens it.
        "the rollout takes its next step".to_owned()
    } else {
        items.join(", then ")
    }
}

/// The reply to a confirmation given too early.
pub fn too_early(actor: &str, gate: &str, opens: &str) -> String {
    format!(
        "@{actor} gate `{gate}` is not open yet: it opens after {opens}. Nothing was recorded: \
         once the status comment and the `keyroll/gate` check show the gate waiting, \
         `/keyroll confirm {gate}` counts."
    )
}
