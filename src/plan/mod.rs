//! A change set as people read it, in a terminal or a pull request body: what changes where
//! (values as fingerprints, never values), who can open the touched files, and what comes
//! after the merge.

mod manual;

use std::fmt::Write as _;

use crate::changeset::{ChangeSet, LocationChange, Phase, Shown};
use crate::fingerprint::{self, INIT_COMMAND, KEY_FILE};
use crate::policy::{Credential, Role, Step};

pub use manual::ManualPlan;

/// Everything a plan shows.
#[derive(Debug)]
pub struct Plan<'a> {
    pub credential: &'a Credential,
    pub rotation: &'a str,
    pub change: &'a ChangeSet,
    /// Instructions for a person, for manual credentials.
    pub instructions: Option<String>,
}

impl Plan<'_> {
    fn upcoming(&self) -> Vec<String> {
        upcoming(self.credential, self.change.phase)
    }

    /// The plan for a terminal.
    pub fn render_text(&self) -> String {
        let c = self.credential;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} · {} · rotation {}",
            c.name, self.change.phase, self.rotation
        );
        let _ = writeln!(
            out,
            "owner {} · max age {}{}",
            c.owner,
            c.max_age,
            c.preset
                .as_ref()
                .map(|p| format!(" · preset {p}"))
                .unwrap_or_default()
        );
        out.push_str("\nChanges\n");
        for l in &self.change.locations {
            let _ = writeln!(out, "  {}  ({})", l.location, role(l));
            if l.changed() {
                let _ = writeln!(out, "      before  {}", shown(&l.before));
                let _ = writeln!(out, "      after   {}", shown(&l.after));
            } else {
                let _ = writeln!(out, "      unchanged  {}", shown(&l.before));
            }
        }
        if !self.change.keyed {
            let _ = writeln!(
                out,
                "\nThis repository has no fingerprint key ({KEY_FILE}), so values are not \
                 fingerprinted; create it with `{INIT_COMMAND}`."
            );
        }
        if !self.change.recipients.is_empty() {
            out.push_str("\nRecipients of the changed files\n");
            for (file, rs) in &self.change.recipients {
                let _ = writeln!(out, "  {file}: {}", rs.join(", "));
            }
        }
        if let Some(i) = &self.instructions {
            let _ = write!(out, "\nFor a person\n  {}\n", i.replace('\n', "\n  "));
        }
        push_still_to_come(&mut out, &self.upcoming());
        out
    }

    /// The plan as Markdown, for pull request bodies.
    pub fn render_markdown(&self) -> String {
        let c = self.credential;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "### `{}`: {} (rotation `{}`)\n",
            c.name, self.change.phase, self.rotation
        );
        let _ = writeln!(
            out,
            "Owner {} · max age {}{}\n",
            c.owner,
            c.max_age,
            c.preset
                .as_ref()
                .map(|p| format!(" · preset `{p}`"))
                .unwrap_or_default()
        );
        out.push_str("| location | role | before | after |\n| --- | --- | --- | --- |\n");
        for l in &self.change.locations {
            let after = if l.changed() {
                shown_md(&l.after)
            } else {
                "unchanged".to_owned()
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                l.location,
                role(l),
                shown_md(&l.before),
                after
            );
        }
        if self.change.keyed {
            let _ = writeln!(
                out,
                "\nValues are shown as fingerprints: the first 12 hex digits of their \
                 HMAC-SHA-256 under the repository's fingerprint key (`{KEY_FILE}`)."
            );
        } else {
            let _ = writeln!(
                out,
                "\nThis repository has no fingerprint key (`{KEY_FILE}`), so values are not \
                 fingerprinted; create it with `{INIT_COMMAND}`."
            );
        }
        if !self.change.recipients.is_empty() {
            out.push_str("\n**Recipients of the changed files**\n\n");
            for (file, rs) in &self.change.recipients {
                let list: Vec<String> = rs.iter().map(|r| format!("`{r}`")).collect();
                let _ = writeln!(out, "- `{file}`: {}", list.join(", "));
            }
        }
        if let Some(i) = &self.instructions {
            let _ = write!(out, "\n**For a person**\n\n{i}\n");
        }
        let upcoming = self.upcoming();
        if !upcoming.is_empty() {
            out.push_str("\n**Still to come**\n\n");
            for (n, step) in upcoming.iter().enumerate() {
                let _ = writeln!(out, "{}. {step}", n + 1);
            }
        }
        out
    }
}

/// The steps after this change, numbered, under "Still to come" (nothing when none are).
pub(crate) fn push_still_to_come(out: &mut String, steps: &[String]) {
    if steps.is_empty() {
        return;
    }
    out.push_str("\nStill to come\n");
    for (n, step) in steps.iter().enumerate() {
        let _ = writeln!(out, "  {}. {step}", n + 1);
    }
}

/// The rollout after a phase's merge, then the phases that follow it.
pub(crate) fn upcoming(credential: &Credential, phase: Phase) -> Vec<String> {
    let mut out: Vec<String> = credential.rollout.iter().map(describe_step).collect();
    let phases = Phase::sequence(credential);
    let later: Vec<Phase> = match phases.iter().position(|p| *p == phase) {
        Some(i) => phases.into_iter().skip(i + 1).collect(),
        None => Vec::new(),
    };
    for p in later {
        out.push(match p {
            Phase::Switch => {
                "switch: use locations move to the new values, then the same rollout".to_owned()
            }
            Phase::Remove => {
                "remove: accept lists drop the old values, then the same rollout".to_owned()
            }
            other => other.to_string(),
        });
    }
    out
}

fn role(l: &LocationChange) -> String {
    match (l.role, &l.slot) {
        (Role::Accept, None) => "accept".into(),
        (Role::Accept, Some(s)) => format!("accept {s}"),
        (Role::Use, Some(s)) => format!("use {s}"),
        (Role::Use, None) => "use".into(),
    }
}

fn shown(values: &[Shown]) -> String {
    if values.is_empty() {
        return "(none)".into();
    }
    values
        .iter()
        .map(|v| match &v.slot {
            Some(s) if s != "default" => format!("{s} {}", fp(v)),
            _ => fp(v).to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn shown_md(values: &[Shown]) -> String {
    if values.is_empty() {
        return "(none)".into();
    }
    values
        .iter()
        .map(|v| match &v.slot {
            Some(s) if s != "default" => format!("{s} {}", fp_md(v)),
            _ => fp_md(v),
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn fp(v: &Shown) -> &str {
    fingerprint::text(v.fingerprint.as_ref())
}

/// A fingerprint as code; the no-key notice as plain text.
fn fp_md(v: &Shown) -> String {
    match &v.fingerprint {
        Some(f) => format!("`{f}`"),
        None => fingerprint::NO_KEY.to_owned(),
    }
}

fn describe_step(step: &Step) -> String {
    match step {
        Step::Wave {
            name,
            checks,
            timeout,
        } => format!("wave {name}: {} (timeout {timeout})", checks.join(", ")),
        Step::Gate {
            name,
            confirm,
            instructions,
            timeout,
        } => {
            let what = if instructions.is_empty() {
                String::new()
            } else {
                format!("; {instructions}")
            };
            format!(
                "gate {name}: confirmed by {}{what} (timeout {timeout})",
                confirm.join(", ")
            )
        }
    }
}
