//! Counting approvals, pure: which reviews count for a keyroll pull request. Only an
//! APPROVED review on the pull request's current head commit, from someone the config names,
//! counts (a push voids earlier approvals); CHANGES_REQUESTED from such a person blocks until
//! they approve or it is dismissed. Each person's latest review decides; comments do not.
//! Separation of duties: an approval by someone who pushed to the pull request's branch does
//! not count (they would approve their own change), nor, unless the config says so, one by
//! the person who asked for the rotation.

/// One review, with whether its author is someone the config names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewFact {
    pub login: String,
    pub state: String,
    pub commit: Option<String>,
    /// Named by the config's `approvals.from` (the shell asks GitHub about teams).
    pub eligible: bool,
    /// A bot account: its reviews never count, whatever the config names.
    pub bot: bool,
}

/// What the reviews add up to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tally {
    pub required: u32,
    pub approved_by: Vec<String>,
    pub changes_requested_by: Vec<String>,
    /// Approvals given on an earlier head (voided by a push).
    pub stale: Vec<String>,
    /// Approvals that do not count: not named by the config, or the requester.
    pub not_counted: Vec<String>,
    /// Approvals by people who pushed to the pull request: they do not count.
    pub by_pushers: Vec<String>,
}

/// Whose approvals count, besides being named by the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rules<'a> {
    pub required: u32,
    /// Who asked for the rotation.
    pub requester: Option<&'a str>,
    /// Whether the requester's approval counts (config `requester_counts`).
    pub requester_counts: bool,
    /// Who pushed commits to the pull request's branch (keyroll aside).
    pub pushers: &'a [String],
}

/// Tallies `reviews` (oldest first) for head commit `head`.
pub fn tally(reviews: &[ReviewFact], head: &str, rules: &Rules<'_>) -> Tally {
    let Rules {
        required,
        requester,
        requester_counts,
        pushers,
    } = *rules;
    let mut latest: Vec<&ReviewFact> = Vec::new();
    for r in reviews
        .iter()
        .filter(|r| r.state != "COMMENTED" && r.state != "PENDING")
    {
        latest.retain(|l| !l.login.eq_ignore_ascii_case(&r.login));
        latest.push(r);
    }
    let mut t = Tally {
        required,
        ..Tally::default()
    };
    for r in latest {
        let eligible = r.eligible && !r.bot;
        let is_requester = requester.is_some_and(|q| q.eq_ignore_ascii_case(&r.login));
        let pushed = pushers.iter().any(|p| p.eq_ignore_ascii_case(&r.login));
        match r.state.as_str() {
            "APPROVED" if pushed => t.by_pushers.push(r.login.clone()),
            "APPROVED" if !eligible || (is_requester && !requester_counts) => {
                t.not_counted.push(r.login.clone())
            }
            "APPROVED" if r.commit.as_deref() != Some(head) => t.stale.push(r.login.clone()),
            "APPROVED" => t.approved_by.push(r.login.clone()),
            "CHANGES_REQUESTED" if eligible => t.changes_requested_by.push(r.login.clone()),
            _ => {}
        }
    }
    t
}

impl Tally {
    /// The conditions still unmet, for the gate check.
    pub fn unmet(&self, from: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for who in &self.changes_requested_by {
            out.push(format!(
                "@{who} requested changes: they approve, or a maintainer dismisses the review"
            ));
        }
        let have = u32::try_from(self.approved_by.len()).unwrap_or(u32::MAX);
        if have < self.required {
            let mut line = format!(
                "{} of {} approving review(s) on the current head commit, from {}",
                have,
                self.required,
                from.join(", ")
            );
            if !self.stale.is_empty() {
                line.push_str(&format!(
                    " (approvals by @{} were on an earlier commit)",
                    self.stale.join(", @")
                ));
            }
            if !self.by_pushers.is_empty() {
                line.push_str(&format!(
                    " (approvals by @{} do not count: they pushed to this pull request)",
                    self.by_pushers.join(", @")
                ));
            }
            if !self.not_counted.is_empty() {
                line.push_str(&format!(
                    " (approvals by @{} do not count here)",
                    self.not_counted.join(", @")
                ));
            }
            out.push(line);
        }
        out
    }
}
