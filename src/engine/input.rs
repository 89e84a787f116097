//! What the world tells a rotation. Each input is a fact; none is a request to act.

/// One input to [`super::step`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "input", rename_all = "kebab-case")]
pub enum Input {
    /// The credential's lock (and those of its files) was taken for this rotation.
    LockAcquired,
    /// Another rotation holds the credential or one of its files.
    LockBusy {
        holder: String,
    },
    /// Planned pull request `pr` exists on GitHub as `number`.
    PrOpened {
        pr: usize,
        number: u64,
    },
    /// Building planned pull request `pr` failed.
    PrepareFailed {
        pr: usize,
        reason: String,
    },
    PrMerged {
        number: u64,
        merge_sha: String,
    },
    PrClosed {
        number: u64,
    },
    PrReopened {
        number: u64,
    },
    /// Someone other than keyroll pushed to the pull request's branch.
    PushedByPerson {
        number: u64,
        login: String,
        /// The branch head after the push (each push is checked anew).
        #[serde(default)]
        head_sha: String,
    },
    /// A review of a pull request was submitted or dismissed: the gate counts approvals again.
    Reviewed {
        number: u64,
        review_id: u64,
    },
    /// The gate of an open pull request was evaluated on `head_sha` (by
    /// [`super::gate::evaluate`], on facts the shell fetched) and nothing stands in the way:
    /// what to do now.
    GateEvaluated {
        number: u64,
        head_sha: String,
        actions: Vec<super::gate::GateAction>,
        /// Which evaluation (the key of the status effect that made it): each one may try
        /// the merge again (GitHub may have refused it at this head before, while its own
        /// required checks were pending); a replayed one may not.
        #[serde(default)]
        evaluation: String,
    },
    /// A check run, commit status or deployment status concluded on a commit that contains
    /// the merge commit `merge_sha` (the runtime resolves ancestry; a check on an unrelated
    /// commit never becomes an input).
    Check {
        merge_sha: String,
        name: String,
        conclusion: Conclusion,
    },
    /// A command from a person whose permission was already checked.
    Command {
        command: Command,
        actor: String,
        pr_number: Option<u64>,
    },
    /// Time passed (timeouts, reminders).
    Tick,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Conclusion {
    Success,
    /// Failure, cancelled, timed out: with what GitHub said.
    Failure(String),
}

/// `/keyroll` verbs that act on a running rotation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    /// Confirm a manual gate.
    Confirm(String),
    /// Pause: facts are still recorded, nothing advances.
    Hold,
    Unhold,
    /// Try a stalled wave or a blocked preparation again.
    Retry,
    /// Open the reverse of the add pull request (only before remove merges).
    Rollback,
    /// Stop, closing keyroll's open pull requests.
    Abort,
}
