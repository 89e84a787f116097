//! What a step asks the shell to do. Each effect has an idempotency key: the executor runs a
//! key once, and every effect is find-or-create on GitHub (deterministic branch names, hidden
//! markers), so replaying after a crash creates nothing twice.

use crate::changeset::Phase as Change;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum Effect {
    /// Build the change set of planned pull request `pr` on `branch` and open the pull request
    /// (or find the one already open).
    OpenPullRequest {
        pr: usize,
        change: Change,
        branch: String,
    },
    ClosePullRequest {
        number: u64,
    },
    /// Rewrite the sticky status comment and the `keyroll/gate` check run.
    UpdateStatus {
        text: String,
    },
    /// Mark a draft pull request ready for review (one already ready counts as done).
    MarkReady {
        number: u64,
    },
    /// Merge a pull request at `head_sha`, as its gate decided (one already merged counts
    /// as merged; a branch that moved is not merged).
    Merge {
        number: u64,
        head_sha: String,
    },
    /// Tell the owner (a comment mentioning them).
    Notify {
        text: String,
    },
    /// Answer a person on pull request or issue `number` (a comment, found again by the
    /// effect's key if it was posted before a crash).
    Reply {
        number: u64,
        text: String,
    },
    /// The manual gate `gate` of pull request `number` waits no more: its check run stops
    /// asking for a confirmation (`confirmed_by`: who confirmed it; `None`: the rotation
    /// stopped at the gate).
    SettleGate {
        number: u64,
        gate: String,
        confirmed_by: Option<String>,
    },
    /// Record the rotation as done: rotated-at, next due date.
    RecordRotated,
    /// Release the credential's lock.
    ReleaseLock,
}

/// An effect and the key that makes it run once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Planned {
    pub key: String,
    pub effect: Effect,
}

impl Effect {
    /// One line, for transcripts and logs (never a value: effects carry none).
    pub fn describe(&self) -> String {
        match self {
            Effect::OpenPullRequest { pr, change, branch } => {
                format!("open pull request {pr} ({change}) on {branch}")
            }
            Effect::ClosePullRequest { number } => format!("close pull request #{number}"),
            Effect::UpdateStatus { text } => format!("status: {text}"),
            Effect::MarkReady { number } => format!("mark pull request #{number} ready"),
            Effect::Merge { number, head_sha } => {
                format!("merge pull request #{number} at {head_sha}")
            }
            Effect::Notify { text } => format!("notify: {text}"),
            Effect::Reply { number, text } => format!("reply on #{number}: {text}"),
            Effect::SettleGate {
                number,
                gate,
                confirmed_by,
            } => match confirmed_by {
                Some(by) => format!("gate {gate} of #{number}: confirmed by @{by}"),
                None => format!("gate {gate} of #{number}: no longer waits"),
            },
            Effect::RecordRotated => "record the rotation as done".into(),
            Effect::ReleaseLock => "release the lock".into(),
        }
    }
}
