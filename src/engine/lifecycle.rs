//! Which pull requests a rotation of a credential opens, and what each waits for after its
//! merge.

use crate::changeset::Phase as Change;
use crate::policy::{Credential, Step};

/// One pull request of a rotation and the rollout that follows its merge.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedPr {
    pub change: Change,
    pub steps: Vec<PlannedStep>,
}

/// A wave (checks, with a timeout) or a gate (who confirms).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PlannedStep {
    Wave {
        name: String,
        checks: Vec<String>,
        timeout_secs: i64,
    },
    Gate {
        name: String,
        confirm: Vec<String>,
        instructions: String,
        timeout_secs: i64,
    },
}

impl PlannedStep {
    pub fn name(&self) -> &str {
        match self {
            PlannedStep::Wave { name, .. } | PlannedStep::Gate { name, .. } => name,
        }
    }

    pub fn timeout(&self) -> time::Duration {
        match self {
            PlannedStep::Wave { timeout_secs, .. } | PlannedStep::Gate { timeout_secs, .. } => {
                time::Duration::seconds(*timeout_secs)
            }
        }
    }
}

fn steps(cred: &Credential, gates: bool) -> Vec<PlannedStep> {
    cred.rollout
        .iter()
        .filter(|s| gates || matches!(s, Step::Wave { .. }))
        .map(|s| match s {
            Step::Wave {
                name,
                checks,
                timeout,
            } => PlannedStep::Wave {
                name: name.clone(),
                checks: checks.clone(),
                timeout_secs: timeout.0.whole_seconds(),
            },
            Step::Gate {
                name,
                confirm,
                instructions,
                timeout,
            } => PlannedStep::Gate {
                name: name.clone(),
                confirm: confirm.clone(),
                instructions: instructions.clone(),
                timeout_secs: timeout.0.whole_seconds(),
            },
        })
        .collect()
}

/// The pull requests of a rotation. Routine: add (then switch, then remove, as the
/// credential needs), each followed by the whole rollout; manual gates follow the first pull
/// request only (the step a person does once). Emergency: one `replace` pull request.
pub fn plan_for(cred: &Credential, emergency: bool) -> Vec<PlannedPr> {
    if emergency {
        return vec![PlannedPr {
            change: Change::Replace,
            steps: steps(cred, true),
        }];
    }
    Change::sequence(cred)
        .into_iter()
        .enumerate()
        .map(|(i, change)| PlannedPr {
            change,
            steps: steps(cred, i == 0),
        })
        .collect()
}

/// The plan after a rollback: what merged stays, then the reverse of add with its waves.
pub(crate) fn with_rollback(plan: &[PlannedPr], merged: usize) -> Vec<PlannedPr> {
    let mut out: Vec<PlannedPr> = plan.iter().take(merged).cloned().collect();
    let waves = plan
        .first()
        .map(|p| {
            p.steps
                .iter()
                .filter(|s| matches!(s, PlannedStep::Wave { .. }))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    out.push(PlannedPr {
        change: Change::Rollback,
        steps: waves,
    });
    out
}
