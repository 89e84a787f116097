//! Scenario transcripts: inputs in, phases and effects out, as text a person can read. The
//! scenario tests compare them with files under `fixtures/scenarios/`; `keyroll simulate`
//! prints one.

use std::fmt::Write as _;

use time::OffsetDateTime;

use super::input::{Command, Conclusion, Input};
use super::lifecycle::PlannedStep;
use super::state::Rotation;
use super::step::step;

/// Runs `inputs` (each with the minutes elapsed since the start) and writes the transcript.
pub fn run(
    mut rotation: Rotation,
    inputs: &[(i64, Input)],
    start: OffsetDateTime,
) -> (Rotation, String) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rotation {} of {}{}",
        rotation.id,
        rotation.credential,
        if rotation.emergency {
            " (emergency)"
        } else {
            ""
        }
    );
    for (i, pr) in rotation.plan.iter().enumerate() {
        let steps: Vec<String> = pr
            .steps
            .iter()
            .map(|s| match s {
                PlannedStep::Wave { name, checks, .. } => {
                    format!("wave {name} [{}]", checks.join(", "))
                }
                PlannedStep::Gate { name, .. } => format!("gate {name}"),
            })
            .collect();
        let _ = writeln!(
            out,
            "  pull request {i}: {} -> {}",
            pr.change,
            if steps.is_empty() {
                "(no rollout)".into()
            } else {
                steps.join(" -> ")
            }
        );
    }
    for (minutes, input) in inputs {
        let now = start + time::Duration::minutes(*minutes);
        let t = step(&rotation, input, now);
        let _ = writeln!(out, "\n+{minutes}m > {}", describe(input));
        let _ = writeln!(
            out,
            "    phase: {}{}",
            t.next.phase.label(),
            if t.next.held { " (held)" } else { "" }
        );
        for e in &t.effects {
            let _ = writeln!(
                out,
                "    effect {}: {}",
                e.key.trim_start_matches(&format!("{}/", rotation.id)),
                e.effect.describe()
            );
        }
        rotation = t.next;
    }
    (rotation, out)
}

/// One line for an input.
pub fn describe(input: &Input) -> String {
    match input {
        Input::LockAcquired => "lock acquired".into(),
        Input::LockBusy { holder } => format!("lock busy ({holder})"),
        Input::PrOpened { pr, number } => format!("pull request {pr} opened as #{number}"),
        Input::PrepareFailed { pr, reason } => {
            format!("preparing pull request {pr} failed: {reason}")
        }
        Input::PrMerged { number, merge_sha } => format!("#{number} merged as {merge_sha}"),
        Input::PrClosed { number } => format!("#{number} closed"),
        Input::PrReopened { number } => format!("#{number} reopened"),
        Input::PushedByPerson { number, login, .. } => format!("@{login} pushed to #{number}"),
        Input::Reviewed { number, review_id } => format!("#{number} reviewed ({review_id})"),
        Input::GateEvaluated {
            number,
            head_sha,
            actions,
            ..
        } => format!(
            "gate of #{number} met at {head_sha}{}",
            if actions.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    actions
                        .iter()
                        .map(|a| match a {
                            super::GateAction::MarkReady => "mark ready",
                            super::GateAction::Merge { .. } => "merge",
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
        Input::Check {
            merge_sha,
            name,
            conclusion,
        } => match conclusion {
            Conclusion::Success => format!("check {name} succeeded after {merge_sha}"),
            Conclusion::Failure(why) => format!("check {name} failed after {merge_sha}: {why}"),
        },
        Input::Command { command, actor, .. } => {
            let verb = match command {
                Command::Confirm(g) => format!("confirm {g}"),
                Command::Hold => "hold".into(),
                Command::Unhold => "unhold".into(),
                Command::Retry => "retry".into(),
                Command::Rollback => "rollback".into(),
                Command::Abort => "abort".into(),
            };
            format!("@{actor}: /keyroll {verb}")
        }
        Input::Tick => "tick".into(),
    }
}

/// The inputs of an uneventful rotation: the lock, each pull request opened and merged,
/// every check succeeding, every gate confirmed. Pull request `i` is `#100 + i`, its merge
/// commit `merge-i`; each input comes five minutes after the one before.
pub fn happy_path(rotation: &Rotation) -> Vec<(i64, Input)> {
    let mut inputs = vec![Input::LockAcquired];
    for (i, pr) in rotation.plan.iter().enumerate() {
        let number = 100 + i as u64;
        inputs.push(Input::PrOpened { pr: i, number });
        inputs.push(Input::PrMerged {
            number,
            merge_sha: format!("merge-{i}"),
        });
        for s in &pr.steps {
            match s {
                PlannedStep::Wave { checks, .. } => {
                    for c in checks {
                        inputs.push(Input::Check {
                            merge_sha: format!("merge-{i}"),
                            name: c.clone(),
                            conclusion: Conclusion::Success,
                        });
                    }
                }
                PlannedStep::Gate { name, confirm, .. } => inputs.push(Input::Command {
                    command: Command::Confirm(name.clone()),
                    actor: confirm
                        .first()
                        .map_or("someone", |c| c.trim_start_matches('@'))
                        .to_owned(),
                    pr_number: Some(number),
                }),
            }
        }
    }
    inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| (5 * i as i64, input))
        .collect()
}
