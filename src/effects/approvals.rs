//! Counting approvals, pure: which reviews count for a keyroll pull request. Only an
//! APPROVED review on the pull request's current head commit, from someone the config names,
//! counts (a push voids earlier approvals); CHANGES_REQUESTED from such a person blocks until
//! they approve or it is dismissed. Each person's latest review decides; comments do not.

/// One review, with whether its author is someone the config names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewFact {
    pub login: String,
    pub state: String,
    pub commit: Option<String>,
    pub eligible: bool,
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
}

/// Tallies `reviews` (oldest first) for head commit `head`.
pub fn tally(
    reviews: &[ReviewFact],
    head: &str,
    required: u32,
    requester: Option<&str>,
    requester_counts: bool,
) -> Tally {
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
        let is_requester = requester.is_some_and(|q| q.eq_ignore_ascii_case(&r.login));
        match r.state.as_str() {
            "APPROVED" if !r.eligible || (is_requester && !requester_counts) => {
                t.not_counted.push(r.login.clone())
            }
            "APPROVED" if r.commit.as_deref() != Some(head) => t.stale.push(r.login.clone()),
            "APPROVED" => t.approved_by.push(r.login.clone()),
            "CHANGES_REQUESTED" if r.eligible => t.changes_requested_by.push(r.login.clone()),
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
