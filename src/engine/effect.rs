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
    /// Tell the owner (a comment mentioning them).
    Notify {
        text: String,
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
            Effect::Notify { text } => format!("notify: {text}"),
            Effect::RecordRotated => "record the rotation as done".into(),
            Effect::ReleaseLock => "release the lock".into(),
        }
    }
}
