//! What keyroll writes on GitHub for people to read: pull request titles and bodies, the
//! sticky status comment, the `keyroll/gate` check run. Pure functions of the rotation, so
//! each has a snapshot test and a replay writes the same text.
//!
//! Hidden HTML markers tie each text to its rotation, so keyroll finds what it wrote before
//! (find-or-create) instead of writing it twice.

use std::fmt::Write as _;

use crate::changeset::Phase as Change;
use crate::commands::{self, Place, Verb};
use crate::engine::{Phase, PlannedStep, Rotation};
use crate::github::rest::{CheckAction, CheckOutput};
use crate::policy::Credential;

/// The name of the check run that says whether a keyroll pull request may be merged.
pub const GATE_CHECK: &str = "keyroll/gate";
/// The name of the check run that reports on `.keyroll.yaml`.
pub const CONFIG_CHECK: &str = "keyroll/config";

/// Marks the body of planned pull request `pr` of `rotation`.
pub fn pr_marker(rotation: &str, pr: usize) -> String {
    format!("<!-- keyroll:pull-request rotation={rotation} pr={pr} -->")
}

/// Marks the sticky status comment of `rotation` on a pull request.
pub fn status_marker(rotation: &str) -> String {
    format!("<!-- keyroll:status rotation={rotation} -->")
}

/// The commands that work at `place`, generated from the command table (so a text never
/// lists a verb the table does not have, nor misses one it gained); `help` last, as the way
/// to learn who may run what.
pub fn command_list(place: Place) -> String {
    let help = commands::spec(Verb::Help);
    commands::TABLE
        .iter()
        .filter(|s| s.verb != Verb::Help && s.works_at(place))
        .chain([help])
        .map(|s| format!("`{}`", s.usage))
        .collect::<Vec<_>>()
        .join(", ")
}

fn change_words(change: Change) -> &'static str {
    match change {
        Change::Add => "add new",
        Change::Switch => "switch to new",
        Change::Remove => "remove old",
        Change::Replace => "replace now (emergency)",
        Change::Rollback => "roll back",
    }
}

/// A conventional-commit title: `chore(credentials): rotate data-api-tokens (add new)`.
pub fn pr_title(credential: &str, change: Change) -> String {
    format!(
        "chore(credentials): rotate {credential} ({})",
        change_words(change)
    )
}

/// The commit message of a pull request's commit, with trailers that tie it to the rotation.
pub fn commit_message(credential: &str, rotation: &str, change: Change) -> String {
    format!(
        "{}\n\n{}",
        pr_title(credential, change),
        crate::repo::trailer::write(credential, rotation, change)
    )
}

fn step_line(step: &PlannedStep) -> String {
    match step {
        PlannedStep::Wave {
            name,
            checks,
            timeout_secs,
        } => format!(
            "wave **{name}**: {} must succeed on the merge commit or a later one (timeout {})",
            checks
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", "),
            span(*timeout_secs)
        ),
        PlannedStep::Gate {
            name,
            confirm,
            instructions,
            ..
        } => format!(
            "gate **{name}**: {instructions}; then `/keyroll confirm {name}` ({})",
            confirm.join(", ")
        ),
    }
}

fn span(secs: i64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s => format!("{}m", s / 60),
    }
}

/// The body of planned pull request `pr`: the plan (fingerprints only), what follows the
/// merge, how to roll back, and the marker.
pub fn pr_body(
    rotation: &Rotation,
    pr: usize,
    plan_markdown: &str,
    manual: Option<&str>,
) -> String {
    let mut out = String::new();
    let change = rotation.plan.get(pr).map(|p| p.change);
    let _ = writeln!(
        out,
        "keyroll opened this pull request for rotation `{}` of `{}`{}.\n",
        rotation.id,
        rotation.credential,
        if rotation.emergency {
            " (emergency)"
        } else {
            ""
        }
    );
    if let Some(steps) = manual {
        let _ = writeln!(
            out,
            "**A person supplies the new value.** This pull request stays a draft until they do:\n\n{steps}\n"
        );
    }
    out.push_str(plan_markdown.trim_end());
    out.push_str("\n\n**After the merge**\n\n");
    match rotation.plan.get(pr) {
        Some(p) if !p.steps.is_empty() => {
            for (i, s) in p.steps.iter().enumerate() {
                let _ = writeln!(out, "{}. {}", i + 1, step_line(s));
            }
        }
        _ => out.push_str("Nothing to wait for: the rotation moves on at once.\n"),
    }
    if let Some(next) = rotation.plan.get(pr + 1) {
        let _ = writeln!(
            out,
            "\nThen keyroll opens the next pull request ({}).",
            change_words(next.change)
        );
    }
    out.push_str("\n**Rolling back**\n\n");
    match change {
        Some(Change::Add) => out.push_str(
            "Until the old values are removed, `/keyroll rollback` opens the reverse of this pull request; \
             the old values keep working meanwhile. Closing this pull request unmerged stops the rotation.\n",
        ),
        Some(Change::Replace) => out.push_str(
            "An emergency replacement removes the old values at once: there is nothing to roll back to.\n",
        ),
        _ => out.push_str(
            "Closing this pull request unmerged stops the rotation; the values already merged stay as they are.\n",
        ),
    }
    let _ = writeln!(
        out,
        "\nCommands (in a comment or a review): {}.",
        command_list(Place::PullRequest)
    );
    let _ = write!(out, "\n{}\n", pr_marker(&rotation.id, pr));
    out
}

/// The planned pull request a rotation is at (the last one with a number once it is over).
pub fn current_pr(rotation: &Rotation) -> Option<usize> {
    match &rotation.phase {
        Phase::Preparing { pr }
        | Phase::Open { pr }
        | Phase::Rollout { pr, .. }
        | Phase::Stalled { pr, .. }
        | Phase::Blocked { pr, .. } => Some(*pr),
        Phase::Requested => None,
        Phase::Done | Phase::Aborted { .. } | Phase::RolledBack => rotation
            .facts
            .prs
            .iter()
            .filter(|(_, f)| f.number.is_some())
            .map(|(i, _)| *i)
            .max(),
    }
}

fn step_state(rotation: &Rotation, pr: usize, i: usize, step: &PlannedStep) -> &'static str {
    let facts = rotation.facts.prs.get(&pr);
    let at = match &rotation.phase {
        Phase::Rollout { pr: p, step } | Phase::Stalled { pr: p, step, .. } => Some((*p, *step)),
        _ => None,
    };
    let merged = facts.is_some_and(|f| f.merge_sha.is_some());
    match at {
        Some((p, s)) if p == pr && s == i => match rotation.phase {
            Phase::Stalled { .. } => "stalled",
            _ => "in progress",
        },
        Some((p, s)) if p == pr && i < s => "done",
        Some((p, _)) if p > pr => "done",
        _ if rotation.phase.is_terminal() => final_step_state(rotation, pr, step),
        _ if merged && current_pr(rotation).is_some_and(|c| c > pr) => "done",
        _ => match step {
            PlannedStep::Gate { .. } | PlannedStep::Wave { .. } => "waiting",
        },
    }
}

/// A step's state once the rotation is over: a finished rotation's comment must not say
/// "waiting" about a step that will never run.
fn final_step_state(rotation: &Rotation, pr: usize, step: &PlannedStep) -> &'static str {
    let facts = rotation.facts.prs.get(&pr);
    let rolled_out = match rotation.phase {
        Phase::Done => true,
        // Only the rolled-out rollback pull request ends a rotation as RolledBack.
        Phase::RolledBack => rotation
            .plan
            .get(pr)
            .is_some_and(|p| p.change == Change::Rollback),
        _ => false,
    };
    let passed = facts.is_some_and(|f| match step {
        PlannedStep::Wave { checks, .. } => checks.iter().all(|c| f.succeeded.contains(c)),
        PlannedStep::Gate { name, .. } => f.confirmed.contains_key(name),
    });
    let merged = facts.is_some_and(|f| f.merge_sha.is_some());
    if merged && (rolled_out || passed) {
        "done"
    } else {
        "not finished"
    }
}

/// Where a rotation is, in words.
pub fn phase_words(rotation: &Rotation) -> String {
    let step_name = |pr: usize, step: usize| {
        rotation
            .plan
            .get(pr)
            .and_then(|p| p.steps.get(step))
            .map(|s| match s {
                PlannedStep::Wave { name, .. } => format!("wave {name}"),
                PlannedStep::Gate { name, .. } => format!("gate {name}"),
            })
            .unwrap_or_default()
    };
    match &rotation.phase {
        Phase::Requested => "waiting for the credential's lock".into(),
        Phase::Preparing { pr } => format!("preparing pull request {}", pr + 1),
        Phase::Open { pr } => format!("pull request {} open, waiting for its merge", pr + 1),
        Phase::Rollout { pr, step } => {
            format!("after pull request {}: {}", pr + 1, step_name(*pr, *step))
        }
        Phase::Done => "done".into(),
        Phase::Stalled { pr, step, reason } => format!(
            "stalled after pull request {} at {}: {reason}",
            pr + 1,
            step_name(*pr, *step)
        ),
        Phase::Blocked { pr, reason } => {
            format!("blocked preparing pull request {}: {reason}", pr + 1)
        }
        Phase::Aborted { reason } => format!("aborted: {reason}"),
        Phase::RolledBack => "rolled back".into(),
    }
}

/// Where a rotation is, coarsely (the dashboard): it changes when a pull request opens or
/// merges or the rotation stops, not at every wave, so the dashboard is edited seldom.
pub fn phase_summary(rotation: &Rotation) -> String {
    let pr_words = |pr: usize| {
        rotation
            .plan
            .get(pr)
            .map(|p| format!("pull request {} ({})", pr + 1, change_words(p.change)))
            .unwrap_or_default()
    };
    match &rotation.phase {
        Phase::Preparing { pr } | Phase::Open { pr } => format!("{} open", pr_words(*pr)),
        Phase::Rollout { pr, .. } => format!("{} merged, rolling out", pr_words(*pr)),
        _ => phase_words(rotation),
    }
}

/// The sticky status comment: [`status_text`] and the marker keyroll finds it by.
pub fn status_comment(rotation: &Rotation, news: &str) -> String {
    format!(
        "{}\n{}\n",
        status_text(rotation, news),
        status_marker(&rotation.id)
    )
}

/// Where the rotation is, every step with its state, and the latest news (also the reply
/// to `/keyroll status`, which must not carry the sticky comment's marker).
pub fn status_text(rotation: &Rotation, news: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "**keyroll** · rotation `{}` of `{}` · {}{}\n",
        rotation.id,
        rotation.credential,
        phase_words(rotation),
        if rotation.held { " · on hold" } else { "" }
    );
    let _ = writeln!(out, "> {}\n", news.replace('\n', " "));
    for (i, p) in rotation.plan.iter().enumerate() {
        let facts = rotation.facts.prs.get(&i);
        let number = facts
            .and_then(|f| f.number)
            .map(|n| format!("#{n}"))
            .unwrap_or_else(|| "not opened yet".into());
        let state = match facts {
            Some(f) if f.merge_sha.is_some() => "merged",
            Some(f) if f.closed_unmerged => "closed unmerged",
            Some(f) if f.number.is_some() => "open",
            _ => "to come",
        };
        let _ = writeln!(
            out,
            "- pull request {} ({}): {number}, {state}",
            i + 1,
            change_words(p.change)
        );
        for (s, step) in p.steps.iter().enumerate() {
            let _ = writeln!(
                out,
                "  - {} {}: {}",
                match step {
                    PlannedStep::Wave { .. } => "wave",
                    PlannedStep::Gate { .. } => "gate",
                },
                step.name(),
                step_state(rotation, i, s, step)
            );
        }
    }
    out
}

/// What one pull request of a finished rotation shows for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalView {
    pub number: u64,
    /// The sticky status comment, the same on every pull request of the rotation.
    pub comment: String,
    /// The `keyroll/gate` check run on the pull request's head.
    pub gate: CheckOutput,
}

/// What every pull request of a finished rotation shows: each one that was opened gets the
/// final status comment and a gate check saying how the rotation ended, so none keeps the
/// words it had when the rotation moved on from it ("waiting for deploy-scripts"). Empty
/// while the rotation runs: then only the current pull request's texts change.
pub fn final_views(rotation: &Rotation, news: &str) -> Vec<FinalView> {
    let Some(gate) = final_gate_output(rotation) else {
        return Vec::new();
    };
    let comment = status_comment(rotation, news);
    rotation
        .facts
        .prs
        .values()
        .filter_map(|f| f.number)
        .map(|number| FinalView {
            number,
            comment: comment.clone(),
            gate: gate.clone(),
        })
        .collect()
}

/// The `keyroll/gate` check run a finished rotation leaves: green when done, neutral (it
/// neither passes nor blocks anything) with the reason when it stopped or rolled back.
/// `None` while the rotation runs.
pub fn final_gate_output(rotation: &Rotation) -> Option<CheckOutput> {
    let of = format!("Rotation `{}` of `{}`", rotation.id, rotation.credential);
    let (conclusion, title, summary) = match &rotation.phase {
        Phase::Done => (
            "success",
            "Rotation done".to_owned(),
            format!("{of} is done: every pull request merged and rolled out."),
        ),
        Phase::Aborted { reason } => (
            "neutral",
            "Rotation aborted".to_owned(),
            format!(
                "{of} stopped: {reason}. Nothing more happens on this pull request; `/keyroll rotate {}` starts a new rotation.",
                rotation.credential
            ),
        ),
        Phase::RolledBack => (
            "neutral",
            "Rotation rolled back".to_owned(),
            format!(
                "{of} was rolled back: the reverse of its add pull request merged and rolled out, so the old values are the ones in use. `/keyroll rotate {}` starts a new rotation.",
                rotation.credential
            ),
        ),
        _ => return None,
    };
    Some(CheckOutput {
        name: GATE_CHECK.into(),
        conclusion: Some(conclusion),
        title,
        summary,
        // Nothing is left to confirm, hold or retry.
        actions: &[],
    })
}

/// The buttons on the gate check run; they run `/keyroll confirm <the gate waiting>`,
/// `hold` and `retry`, with the same permission check as comments.
pub const GATE_ACTIONS: &[CheckAction] = &[
    CheckAction {
        label: "Confirm gate",
        description: "Confirm the manual gate that waits",
        identifier: "confirm",
    },
    CheckAction {
        label: "Hold",
        description: "Stop the rotation where it is",
        identifier: "hold",
    },
    CheckAction {
        label: "Retry",
        description: "Retry a stalled wave or accept a push",
        identifier: "retry",
    },
];

/// The `keyroll/gate` check run for a list of unmet conditions.
pub fn gate_output(unmet: &[String]) -> CheckOutput {
    if unmet.is_empty() {
        return CheckOutput {
            name: GATE_CHECK.into(),
            conclusion: Some("success"),
            title: "Safe to merge".into(),
            summary: "Every condition keyroll checks is met.".into(),
            actions: GATE_ACTIONS,
        };
    }
    let mut summary = String::from("Before this pull request can be merged:\n\n");
    for u in unmet {
        let _ = writeln!(summary, "- [ ] {u}");
    }
    CheckOutput {
        name: GATE_CHECK.into(),
        conclusion: Some("failure"),
        title: match unmet.len() {
            1 => "1 condition is not met".into(),
            n => format!("{n} conditions are not met"),
        },
        summary,
        actions: GATE_ACTIONS,
    }
}

/// [`gate_output`], with notes that do not block (a disagreement with branch rules, say).
pub fn gate_output_noted(unmet: &[String], notes: &[String]) -> CheckOutput {
    let mut out = gate_output(unmet);
    for n in notes {
        let _ = write!(out.summary, "\n\n{n}");
    }
    out
}

/// The `keyroll/config` check run.
pub fn config_output(problems: Option<&str>) -> CheckOutput {
    match problems {
        None => CheckOutput {
            name: CONFIG_CHECK.into(),
            conclusion: Some("success"),
            title: ".keyroll.yaml is valid".into(),
            summary: "Every credential, location and rollout step checks out.".into(),
            actions: &[],
        },
        Some(p) => CheckOutput {
            name: CONFIG_CHECK.into(),
            conclusion: Some("failure"),
            title: ".keyroll.yaml has problems".into(),
            summary: format!(
                "keyroll starts no rotation while the default branch holds a config like this.\n\n```\n{p}\n```"
            ),
            actions: &[],
        },
    }
}

/// The owners to mention in a notice.
pub fn mention(cred: Option<&Credential>) -> String {
    cred.map(|c| format!(" (cc {})", c.owner))
        .unwrap_or_default()
}

/// Marks keyroll's dashboard issue.
pub const DASHBOARD_MARKER: &str = "<!-- keyroll:dashboard -->";
/// The dashboard issue's title.
pub const DASHBOARD_TITLE: &str = "keyroll: credentials and their rotations";

/// One credential's line on the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardRow {
    pub credential: String,
    pub owner: String,
    /// The day of its last rotation, when known.
    pub last_rotated: Option<time::Date>,
    pub due: Option<time::Date>,
    pub overdue: bool,
}

/// The dashboard: what needs people first (stalled or blocked rotations, overdue
/// credentials), then every credential, the rotations under way, the config's state and the
/// commands that work there. Dates, not ages, so the text changes only when something does.
pub fn dashboard(
    rows: &[DashboardRow],
    active: &[Rotation],
    config_problem: Option<&str>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "keyroll keeps this issue up to date; edits are overwritten. Commands go in comments.\n"
    );
    let rotation_of = |name: &str| active.iter().find(|r| r.credential == name);
    let stuck = |r: &Rotation| matches!(r.phase, Phase::Stalled { .. } | Phase::Blocked { .. });
    let mut attention = Vec::new();
    for r in active.iter().filter(|r| stuck(r)) {
        attention.push(format!(
            "- `{}` (`{}`): {}",
            r.credential,
            r.id,
            phase_summary(r)
        ));
    }
    for row in rows
        .iter()
        .filter(|r| r.overdue && rotation_of(&r.credential).is_none())
    {
        attention.push(format!(
            "- `{}` is overdue since {}: owner {}",
            row.credential,
            row.due
                .map_or("its first rotation".into(), |d| d.to_string()),
            row.owner
        ));
    }
    if !attention.is_empty() {
        out.push_str("### Needs attention\n\n");
        for a in &attention {
            let _ = writeln!(out, "{a}");
        }
        out.push('\n');
    }
    let mut sorted: Vec<&DashboardRow> = rows.iter().collect();
    sorted.sort_by_key(|r| {
        let rank = match rotation_of(&r.credential) {
            Some(rot) if stuck(rot) => 0,
            _ if r.overdue => 1,
            Some(_) => 2,
            None => 3,
        };
        (rank, r.due, r.credential.clone())
    });
    out.push_str("### Credentials\n\n| credential | owner | last rotated | due | now |\n| --- | --- | --- | --- | --- |\n");
    for r in sorted {
        let now = match rotation_of(&r.credential) {
            Some(rot) => format!("`{}`: {}", rot.id, phase_summary(rot)),
            None if r.overdue => "overdue".into(),
            None => "ok".into(),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            r.credential,
            r.owner,
            r.last_rotated.map_or("unknown".into(), |d| d.to_string()),
            r.due.map_or("now".into(), |d| d.to_string()),
            now
        );
    }
    if !active.is_empty() {
        out.push_str("\n### Rotations under way\n\n");
        for r in active {
            let prs: Vec<String> = r
                .facts
                .prs
                .values()
                .filter_map(|f| f.number.map(|n| format!("#{n}")))
                .collect();
            let _ = writeln!(
                out,
                "- `{}` of `{}`{}: {}{}",
                r.id,
                r.credential,
                if r.emergency { " (emergency)" } else { "" },
                phase_summary(r),
                if prs.is_empty() {
                    String::new()
                } else {
                    format!(" · {}", prs.join(", "))
                }
            );
        }
    }
    match config_problem {
        None => out.push_str("\n### Config\n\n`.keyroll.yaml` on the default branch is valid.\n"),
        Some(p) => {
            let _ = write!(
                out,
                "\n### Config\n\n`.keyroll.yaml` on the default branch has problems; no rotation starts until they are fixed:\n\n```\n{p}\n```\n"
            );
        }
    }
    let _ = writeln!(
        out,
        "\n### Commands here\n\n{}",
        command_list(Place::Dashboard)
    );
    let _ = write!(out, "\n{DASHBOARD_MARKER}\n");
    out
}
