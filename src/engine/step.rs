//! `step`: record what an input says, then advance as far as the facts allow.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::confirm::{self, Confirmation};
use super::effect::{Effect, Planned};
use super::gate::GateAction;
use super::input::{Command, Conclusion, Input};
use super::lifecycle::{PlannedStep, with_rollback};
use super::state::{Phase, Rotation};
use crate::changeset::Phase as Change;

/// How many inputs may wait for what they refer to.
const MAX_EARLY: usize = 256;

/// The next state and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub next: Rotation,
    pub effects: Vec<Planned>,
}

/// Applies one input to a rotation. Pure: the same arguments always give the same result.
pub fn step(rotation: &Rotation, input: &Input, now: OffsetDateTime) -> Transition {
    let mut r = rotation.clone();
    let mut fx = Effects::new(&r.id);
    if r.phase.is_terminal() {
        return Transition {
            next: r,
            effects: Vec::new(),
        };
    }
    record(&mut r, input, now, &mut fx);
    if !r.held {
        settle(&mut r, now, &mut fx);
        if matches!(input, Input::Tick) {
            check_timeouts(&mut r, now, &mut fx);
        }
    }
    Transition {
        next: r,
        effects: fx.list,
    }
}

struct Effects {
    id: String,
    list: Vec<Planned>,
}

impl Effects {
    fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            list: Vec::new(),
        }
    }

    fn push(&mut self, key: &str, effect: Effect) {
        self.list.push(Planned {
            key: format!("{}/{key}", self.id),
            effect,
        });
    }
}

/// Records the fact an input carries (and handles commands that change course). An input
/// that refers to something not known yet waits in `facts.early`; every input that is
/// recorded gives the waiting ones another chance.
fn record(r: &mut Rotation, input: &Input, now: OffsetDateTime, fx: &mut Effects) {
    if !resolvable(r, input) {
        if !r.facts.early.contains(input) {
            r.facts.early.push(input.clone());
            // Checks on commits that never turn out to contain a merge would pile up: keep
            // the newest few.
            if r.facts.early.len() > MAX_EARLY {
                r.facts.early.remove(0);
            }
        }
        return;
    }
    record_known(r, input, now, fx);
    while let Some(i) = r.facts.early.iter().position(|e| resolvable(r, e)) {
        let waiting = r.facts.early.remove(i);
        record_known(r, &waiting, now, fx);
    }
}

/// Whether everything an input refers to is known.
fn resolvable(r: &Rotation, input: &Input) -> bool {
    match input {
        Input::PrMerged { number, .. }
        | Input::PrClosed { number }
        | Input::PrReopened { number }
        | Input::PushedByPerson { number, .. }
        | Input::Reviewed { number, .. }
        | Input::GateEvaluated { number, .. } => r.pr_index(*number).is_some(),
        Input::Check { merge_sha, .. } => r.pr_by_merge(merge_sha).is_some(),
        Input::Command {
            command: Command::Confirm(_),
            pr_number: Some(n),
            ..
        } => r.pr_index(*n).is_some(),
        _ => true,
    }
}

fn record_known(r: &mut Rotation, input: &Input, now: OffsetDateTime, fx: &mut Effects) {
    match input {
        Input::LockAcquired => r.facts.locked = true,
        Input::LockBusy { holder } => r.facts.lock_holder = Some(holder.clone()),
        // Only pull requests of the plan exist; anything else is noise.
        Input::PrOpened { pr, number } if *pr < r.plan.len() => {
            r.pr_facts(*pr).number = Some(*number)
        }
        Input::PrOpened { .. } => {}
        Input::PrepareFailed { pr, reason } => {
            if r.phase == (Phase::Preparing { pr: *pr }) {
                r.phase = Phase::Blocked {
                    pr: *pr,
                    reason: reason.clone(),
                };
                fx.push(
                    &format!("status/blocked/{pr}/{}", attempts(r, *pr)),
                    Effect::UpdateStatus {
                        text: format!("blocked: {reason}"),
                    },
                );
            }
        }
        Input::PrMerged { number, merge_sha } => {
            if let Some(pr) = r.pr_index(*number) {
                r.pr_facts(pr).merge_sha = Some(merge_sha.clone());
            }
        }
        Input::PrClosed { number } => {
            if let Some(pr) = r.pr_index(*number)
                && r.facts.prs.get(&pr).is_some_and(|f| f.merge_sha.is_none())
            {
                r.pr_facts(pr).closed_unmerged = true;
            }
        }
        Input::PrReopened { number } => {
            if let Some(pr) = r.pr_index(*number) {
                r.pr_facts(pr).closed_unmerged = false;
            }
        }
        Input::PushedByPerson {
            number,
            login,
            head_sha,
        } => {
            if let Some(pr) = r.pr_index(*number) {
                let first = !r.pr_facts(pr).edited_by_person;
                let f = r.pr_facts(pr);
                f.edited_by_person = true;
                f.edit_accepted = false;
                f.pushed_by.insert(login.to_ascii_lowercase());
                if first {
                    fx.push(
                        &format!("notify/edited/{pr}"),
                        Effect::Notify { text: format!("@{login} pushed to pull request #{number}; keyroll will not write to its branch again, checks the change, and goes on after `/keyroll retry`") },
                    );
                }
                if r.phase == (Phase::Open { pr }) {
                    fx.push(
                        &format!("status/pushed/{pr}/{head_sha}"),
                        Effect::UpdateStatus {
                            text: format!("@{login} pushed to the branch; keyroll checked the change (see the gate)"),
                        },
                    );
                }
            }
        }
        Input::Reviewed { number, review_id } => {
            // Only an open pull request's gate changes; approvals after the merge are moot.
            if let Some(pr) = r.pr_index(*number)
                && r.phase == (Phase::Open { pr })
            {
                fx.push(
                    &format!("status/review/{pr}/{review_id}"),
                    Effect::UpdateStatus {
                        text: format!("pull request #{number} was reviewed"),
                    },
                );
            }
        }
        Input::GateEvaluated {
            number,
            head_sha,
            actions,
            evaluation,
        } => gate_actions(r, *number, (head_sha, evaluation), actions, fx),
        Input::Check {
            merge_sha,
            name,
            conclusion,
        } => {
            if let Some(pr) = r.pr_by_merge(merge_sha) {
                let f = r.pr_facts(pr);
                match conclusion {
                    Conclusion::Success => {
                        f.succeeded.insert(name.clone());
                        f.failed.remove(name);
                    }
                    Conclusion::Failure(why) if !f.succeeded.contains(name) => {
                        f.failed.insert(name.clone(), why.clone());
                    }
                    Conclusion::Failure(_) => {}
                }
            }
        }
        Input::Command {
            command,
            actor,
            pr_number,
        } => command_input(r, command, actor, *pr_number, now, fx),
        Input::Tick => {}
    }
}

/// Turns what a gate evaluation decided into effects, while the pull request is still the
/// open one and nothing since put the rotation on hold or pushed a change not yet accepted
/// (the evaluation may be older than that fact: it comes back after its status effect).
fn gate_actions(
    r: &Rotation,
    number: u64,
    (head_sha, evaluation): (&str, &str),
    actions: &[GateAction],
    fx: &mut Effects,
) {
    let Some(pr) = r.pr_index(number) else { return };
    let unaccepted_push = r
        .facts
        .prs
        .get(&pr)
        .is_some_and(|f| f.edited_by_person && !f.edit_accepted);
    if r.held || unaccepted_push || r.phase != (Phase::Open { pr }) {
        return;
    }
    for action in actions {
        match action {
            GateAction::MarkReady => fx.push(&format!("ready/{pr}"), Effect::MarkReady { number }),
            // Keyed by the head and the evaluation: a push makes a new decision on the new
            // head, a later evaluation tries again what GitHub refused, a replay does not.
            GateAction::Merge { head_sha: at } if at == head_sha => fx.push(
                &format!("merge/{pr}/{at}/{evaluation}"),
                Effect::Merge {
                    number,
                    head_sha: at.clone(),
                },
            ),
            GateAction::Merge { .. } => {}
        }
    }
}

fn attempts(r: &Rotation, pr: usize) -> u32 {
    r.facts.attempts.get(&pr).copied().unwrap_or(0)
}

fn command_input(
    r: &mut Rotation,
    command: &Command,
    actor: &str,
    pr_number: Option<u64>,
    now: OffsetDateTime,
    fx: &mut Effects,
) {
    match command {
        Command::Confirm(gate) => match confirm::confirmation(r, pr_number, gate) {
            Confirmation::Open { pr } => {
                r.pr_facts(pr)
                    .confirmed
                    .entry(gate.clone())
                    .or_insert_with(|| actor.to_owned());
            }
            // Too early: kept, it would pass the gate later with nobody confirming then.
            Confirmation::NotYet { pr, opens } => {
                let on = pr_number.or_else(|| r.facts.prs.get(&pr).and_then(|f| f.number));
                if let Some(number) = on {
                    // Keyed by what it says too: an early confirm later on (same second, other
                    // waves left) is answered again, a replayed one is not.
                    let said: String = Sha256::digest(opens.as_bytes())
                        .iter()
                        .take(4)
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    fx.push(
                        &format!(
                            "reply/confirm-early/{gate}/{actor}/{}/{said}",
                            now.unix_timestamp()
                        ),
                        Effect::Reply {
                            number,
                            text: confirm::too_early(actor, gate, &opens),
                        },
                    );
                }
            }
            Confirmation::Passed { .. } | Confirmation::Unknown => {}
        },
        Command::Hold => {
            if !r.held {
                r.held = true;
                fx.push(
                    &format!("status/hold/{}", r.phase.label().replace(' ', "-")),
                    Effect::UpdateStatus {
                        text: format!("held by @{actor}; `/keyroll unhold` resumes"),
                    },
                );
            }
        }
        Command::Unhold => {
            if r.held {
                r.held = false;
                // Time spent on hold does not count against a wave's timeout.
                r.step_since = now;
                fx.push(
                    &format!("status/unhold/{}", r.phase.label().replace(' ', "-")),
                    Effect::UpdateStatus {
                        text: format!("resumed by @{actor}"),
                    },
                );
            }
        }
        Command::Retry => match r.phase.clone() {
            Phase::Stalled { pr, step, .. } => {
                let f = r.pr_facts(pr);
                f.failed.clear();
                r.phase = Phase::Rollout { pr, step };
                r.step_since = now;
                fx.push(
                    &format!("status/retry/{pr}.{step}/{}", now.unix_timestamp()),
                    Effect::UpdateStatus {
                        text: format!("retrying, by @{actor}"),
                    },
                );
            }
            // A person's push, checked by keyroll, accepted by an operator.
            Phase::Open { pr }
                if r.facts
                    .prs
                    .get(&pr)
                    .is_some_and(|f| f.edited_by_person && !f.edit_accepted) =>
            {
                r.pr_facts(pr).edit_accepted = true;
                fx.push(
                    &format!("status/accepted/{pr}/{}", now.unix_timestamp()),
                    Effect::UpdateStatus {
                        text: format!("@{actor} accepted the pushed change"),
                    },
                );
            }
            Phase::Blocked { pr, .. } => {
                *r.facts.attempts.entry(pr).or_insert(0) += 1;
                r.phase = Phase::Preparing { pr };
                open_pr(r, pr, fx);
            }
            _ => {}
        },
        Command::Rollback => rollback(r, actor, fx),
        Command::Abort => abort(r, &format!("aborted by @{actor}"), fx),
    }
}

/// Advances the phase while the facts allow it.
fn settle(r: &mut Rotation, now: OffsetDateTime, fx: &mut Effects) {
    loop {
        let before = r.phase.clone();
        match r.phase.clone() {
            Phase::Requested => {
                if r.facts.locked {
                    r.phase = Phase::Preparing { pr: 0 };
                    open_pr(r, 0, fx);
                } else if let Some(holder) = r.facts.lock_holder.clone() {
                    let reason =
                        format!("{holder} is rotating this credential (or one of its files)");
                    r.phase = Phase::Aborted {
                        reason: reason.clone(),
                    };
                    fx.push("notify/busy", Effect::Notify { text: reason });
                }
            }
            Phase::Preparing { pr } => {
                if r.facts.prs.get(&pr).is_some_and(|f| f.number.is_some()) {
                    r.phase = Phase::Open { pr };
                    let number = r
                        .facts
                        .prs
                        .get(&pr)
                        .and_then(|f| f.number)
                        .unwrap_or_default();
                    fx.push(
                        &format!("status/open/{pr}"),
                        Effect::UpdateStatus {
                            text: format!("pull request #{number} is open: waiting for its merge"),
                        },
                    );
                }
            }
            Phase::Open { pr } => {
                let f = r.facts.prs.get(&pr).cloned().unwrap_or_default();
                if f.merge_sha.is_some() {
                    r.phase = Phase::Rollout { pr, step: 0 };
                    r.step_since = now;
                } else if f.closed_unmerged {
                    abort(
                        r,
                        &format!(
                            "pull request #{} was closed without merging",
                            f.number.unwrap_or_default()
                        ),
                        fx,
                    );
                }
            }
            Phase::Rollout { pr, step } => advance_rollout(r, pr, step, now, fx),
            Phase::Stalled { .. }
            | Phase::Blocked { .. }
            | Phase::Done
            | Phase::Aborted { .. }
            | Phase::RolledBack => {}
        }
        if r.phase == before {
            return;
        }
    }
}

fn advance_rollout(
    r: &mut Rotation,
    pr: usize,
    step: usize,
    now: OffsetDateTime,
    fx: &mut Effects,
) {
    let f = r.facts.prs.get(&pr).cloned().unwrap_or_default();
    let Some(planned) = r.plan.get(pr).cloned() else {
        return;
    };
    let Some(current) = planned.steps.get(step) else {
        // Rolled out: the next pull request, or the end.
        if pr + 1 < r.plan.len() {
            r.phase = Phase::Preparing { pr: pr + 1 };
            open_pr(r, pr + 1, fx);
        } else {
            let rolled_back = planned.change == Change::Rollback;
            r.phase = if rolled_back {
                Phase::RolledBack
            } else {
                Phase::Done
            };
            fx.push(
                "status/finished",
                Effect::UpdateStatus {
                    text: if rolled_back {
                        "rolled back".into()
                    } else {
                        "done".into()
                    },
                },
            );
            if !rolled_back {
                fx.push("record", Effect::RecordRotated);
            }
            fx.push("unlock", Effect::ReleaseLock);
        }
        return;
    };
    match current {
        PlannedStep::Wave { name, checks, .. } => {
            if let Some((check, why)) = checks.iter().find_map(|c| f.failed.get(c).map(|w| (c, w)))
            {
                let reason = format!("wave {name}: {check} failed ({why})");
                fx.push(
                    &format!(
                        "status/stalled/{pr}.{step}/{check}/{}",
                        now.unix_timestamp()
                    ),
                    Effect::UpdateStatus {
                        text: format!(
                            "stalled: {reason}; the old value still works: retry, rollback or abort"
                        ),
                    },
                );
                r.phase = Phase::Stalled { pr, step, reason };
            } else if checks.iter().all(|c| f.succeeded.contains(c)) {
                r.phase = Phase::Rollout { pr, step: step + 1 };
                r.step_since = now;
            } else {
                let waiting: Vec<&str> = checks
                    .iter()
                    .filter(|c| !f.succeeded.contains(*c))
                    .map(String::as_str)
                    .collect();
                fx.push(
                    &format!("status/wave/{pr}.{step}/{}", waiting.join(",")),
                    Effect::UpdateStatus {
                        text: format!(
                            "wave {name}: waiting for {} on the merge commit",
                            waiting.join(", ")
                        ),
                    },
                );
            }
        }
        PlannedStep::Gate {
            name,
            confirm,
            instructions,
            ..
        } => {
            if let Some(by) = f.confirmed.get(name) {
                if let Some(number) = f.number {
                    fx.push(
                        &format!("gate-settled/{pr}/{name}"),
                        Effect::SettleGate {
                            number,
                            gate: name.clone(),
                            confirmed_by: Some(by.clone()),
                        },
                    );
                }
                r.phase = Phase::Rollout { pr, step: step + 1 };
                r.step_since = now;
            } else {
                fx.push(
                    &format!("status/gate/{pr}/{name}"),
                    Effect::UpdateStatus {
                        text: format!(
                            "gate {name}: {instructions}; then `/keyroll confirm {name}` ({})",
                            confirm.join(", ")
                        ),
                    },
                );
            }
        }
    }
}

fn check_timeouts(r: &mut Rotation, now: OffsetDateTime, fx: &mut Effects) {
    let Phase::Rollout { pr, step } = r.phase else {
        return;
    };
    let Some(current) = r.plan.get(pr).and_then(|p| p.steps.get(step)).cloned() else {
        return;
    };
    let waited = now - r.step_since;
    let timeout = current.timeout();
    if waited <= timeout {
        return;
    }
    match current {
        PlannedStep::Wave { name, .. } => {
            let reason = format!(
                "wave {name} timed out after {}",
                crate::policy::Span(timeout)
            );
            fx.push(
                &format!(
                    "status/stalled/{pr}.{step}/timeout/{}",
                    now.unix_timestamp()
                ),
                Effect::UpdateStatus {
                    text: format!(
                        "stalled: {reason}; the old value still works: retry, rollback or abort"
                    ),
                },
            );
            r.phase = Phase::Stalled { pr, step, reason };
        }
        PlannedStep::Gate { name, confirm, .. } => {
            // One reminder per timeout period.
            let period = waited.whole_seconds() / timeout.whole_seconds().max(1);
            fx.push(
                &format!("notify/remind/{pr}/{name}/{period}"),
                Effect::Notify {
                    text: format!(
                        "gate {name} has waited {}: {} please confirm or abort",
                        crate::policy::Span(time::Duration::seconds(waited.whole_seconds().max(1))),
                        confirm.join(", ")
                    ),
                },
            );
        }
    }
}

fn open_pr(r: &Rotation, pr: usize, fx: &mut Effects) {
    if let Some(planned) = r.plan.get(pr) {
        let branch = crate::changeset::branch::name(&r.credential, &r.id, planned.change);
        fx.push(
            &format!("open/{pr}/{}", attempts(r, pr)),
            Effect::OpenPullRequest {
                pr,
                change: planned.change,
                branch,
            },
        );
    }
}

/// A rotation leaving a manual gate without its confirmation (abort, rollback): the gate's
/// check run stops asking for one.
fn leave_gate(r: &Rotation, fx: &mut Effects) {
    let Phase::Rollout { pr, step } = r.phase else {
        return;
    };
    if let Some(PlannedStep::Gate { name, .. }) = r.plan.get(pr).and_then(|p| p.steps.get(step))
        && let Some(number) = r.facts.prs.get(&pr).and_then(|f| f.number)
    {
        fx.push(
            &format!("gate-settled/{pr}/{name}"),
            Effect::SettleGate {
                number,
                gate: name.clone(),
                confirmed_by: None,
            },
        );
    }
}

fn abort(r: &mut Rotation, reason: &str, fx: &mut Effects) {
    leave_gate(r, fx);
    for (pr, f) in &r.facts.prs {
        if let Some(number) = f.number
            && f.merge_sha.is_none()
            && !f.closed_unmerged
        {
            fx.push(&format!("close/{pr}"), Effect::ClosePullRequest { number });
        }
    }
    fx.push(
        "status/aborted",
        Effect::UpdateStatus {
            text: format!("aborted: {reason}"),
        },
    );
    fx.push("unlock", Effect::ReleaseLock);
    r.phase = Phase::Aborted {
        reason: reason.to_owned(),
    };
}

/// Rollback is allowed until a pull request that drops old values (remove, replace) merges:
/// until then the old values are still accepted, so going back is safe.
fn rollback(r: &mut Rotation, actor: &str, fx: &mut Effects) {
    let merged: Vec<usize> = r
        .facts
        .prs
        .iter()
        .filter(|(_, f)| f.merge_sha.is_some())
        .map(|(i, _)| *i)
        .collect();
    let too_late = merged.iter().any(|i| {
        r.plan.get(*i).is_some_and(|p| {
            matches!(
                p.change,
                Change::Remove | Change::Replace | Change::Rollback
            )
        })
    });
    if too_late {
        fx.push(
            "notify/rollback-refused",
            Effect::Notify {
                text:
                    "rollback refused: the old values are already removed; rotate forward instead"
                        .into(),
            },
        );
        return;
    }
    if merged.is_empty() {
        abort(
            r,
            &format!("rolled back by @{actor} before anything merged"),
            fx,
        );
        return;
    }
    leave_gate(r, fx);
    // Close what is open and not merged; then the reverse of add.
    for (pr, f) in &r.facts.prs {
        if let Some(number) = f.number
            && f.merge_sha.is_none()
            && !f.closed_unmerged
        {
            fx.push(&format!("close/{pr}"), Effect::ClosePullRequest { number });
        }
    }
    let keep = merged.iter().max().map_or(0, |m| m + 1);
    r.plan = with_rollback(&r.plan, keep);
    r.facts.prs.retain(|i, _| *i < keep);
    r.phase = Phase::Preparing { pr: keep };
    fx.push(
        "status/rollback",
        Effect::UpdateStatus {
            text: format!("rolling back, by @{actor}"),
        },
    );
    open_pr(r, keep, fx);
}
