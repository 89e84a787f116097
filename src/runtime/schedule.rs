//! Which credentials are due, the one home of the rule every view uses (the schedule tick,
//! the dashboard issue, `keyroll status`):
//!
//! - A credential was **last rotated** at the newest of: a rotation keyroll finished, a commit
//!   whose trailer names it, or a person's commit to one of its files (a hand rotation
//!   counts; another credential's keyroll commit to a shared file does not). See
//!   [`commit_rotates`] and [`last_rotated`].
//! - It is **due** at its last rotation plus its max age; one never rotated is due now.
//! - It is **overdue** from its due date on (inclusive), **due soon** within [`SOON`] of it.
//!
//! Due ones start, a few at a time per repository, never two that share a file.

use std::collections::{BTreeMap, BTreeSet};

use time::{Duration, OffsetDateTime};

use crate::policy::Credential;
use crate::repo::trailer;

/// Credentials due within this window are reported as due soon.
pub const SOON: Duration = Duration::days(14);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Overdue,
    DueSoon,
}

/// Whether a commit (with `parents` parents) that changed one of `credential`'s files
/// rotated it: a keyroll commit for it, or a commit without keyroll's trailer (a person's
/// hand rotation); never a merge commit.
pub fn commit_rotates(message: &str, parents: usize, credential: &str) -> bool {
    // A merge changes nothing of its own: the commits it brings in (a person's, or keyroll's
    // with their trailers) are the evidence, and are read on their own.
    if parents > 1 {
        return false;
    }
    let named = trailer::credentials_named(message);
    named.is_empty() || named.contains(&credential)
}

/// The last rotation from every piece of evidence found (keyroll's finished rotations,
/// commits for which [`commit_rotates`] holds): the newest one.
pub fn last_rotated(evidence: impl IntoIterator<Item = OffsetDateTime>) -> Option<OffsetDateTime> {
    evidence.into_iter().max()
}

/// When a credential is due: its last rotation plus its max age (saturating), or now if it
/// was never rotated.
pub fn due_at(
    cred: &Credential,
    last: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> OffsetDateTime {
    last.map_or(now, |t| cred.due_at(t))
}

/// How urgent a due date is at `now`: overdue from the due date on, due soon within
/// `soon` of it, `None` while it is further away.
pub fn urgency(due_at: OffsetDateTime, now: OffsetDateTime, soon: Duration) -> Option<Urgency> {
    if due_at <= now {
        Some(Urgency::Overdue)
    } else if due_at <= now.saturating_add(soon) {
        Some(Urgency::DueSoon)
    } else {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub credential: String,
    pub due_at: OffsetDateTime,
    pub urgency: Urgency,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schedule {
    /// Credentials to start now, most overdue first.
    pub start: Vec<String>,
    /// Every credential due now or within the window, most urgent first.
    pub report: Vec<Due>,
}

/// Decides what to start. `last` holds each credential's last rotation (absent: never
/// rotated, so due now); `active` the credentials with a rotation under way; `cap` how many
/// rotations may run in the repository at once.
pub fn plan(
    credentials: &[Credential],
    last: &BTreeMap<String, OffsetDateTime>,
    active: &BTreeSet<String>,
    now: OffsetDateTime,
    cap: usize,
    soon: Duration,
) -> Schedule {
    let mut report: Vec<Due> = credentials
        .iter()
        .filter_map(|c| {
            let due_at = due_at(c, last.get(&c.name).copied(), now);
            let urgency = urgency(due_at, now, soon)?;
            Some(Due {
                credential: c.name.clone(),
                due_at,
                urgency,
            })
        })
        .collect();
    report.sort_by_key(|d| (d.due_at, d.credential.clone()));

    let files_of = |name: &str| -> BTreeSet<String> {
        credentials
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.locations.iter().map(|l| l.file.clone()).collect())
            .unwrap_or_default()
    };
    let mut busy_files: BTreeSet<String> = active.iter().flat_map(|a| files_of(a)).collect();
    let mut running = active.len();
    let mut start = Vec::new();
    for d in report.iter().filter(|d| d.urgency == Urgency::Overdue) {
        if running >= cap {
            break;
        }
        let files = files_of(&d.credential);
        if active.contains(&d.credential) || !files.is_disjoint(&busy_files) {
            continue;
        }
        busy_files.extend(files);
        running += 1;
        start.push(d.credential.clone());
    }
    Schedule { start, report }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::trailer;

    fn at(days: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH.saturating_add(Duration::days(days))
    }

    #[test]
    fn a_commit_rotates_its_own_credential_or_is_a_persons() {
        let keyroll = format!("rotate\n\n{}", trailer::write("db", "R-2026-0001", "add"));
        assert!(commit_rotates(&keyroll, 1, "db"));
        assert!(
            !commit_rotates(&keyroll, 1, "api"),
            "another credential's keyroll commit"
        );
        assert!(commit_rotates("rotate db by hand", 1, "api"));
    }

    #[test]
    fn a_merge_or_a_squash_of_keyrolls_commits_is_no_hand_rotation_of_another_credential() {
        let merge = "Merge pull request #12 from acme/keyroll/db/R-2026-0001/add\n\nrotate db";
        assert!(!commit_rotates(merge, 2, "api"), "a merge commit");
        let squash = format!(
            "rotate db (#12)\n\n* rotate\n\n{}\n* sops set\n\nCo-authored-by: Rita <rita@example.com>\n",
            trailer::write("db", "R-2026-0001", "add")
        );
        assert!(commit_rotates(&squash, 1, "db"));
        assert!(!commit_rotates(&squash, 1, "api"), "trailer mid-message");
        assert!(commit_rotates(
            "fix: value\n\nNote: not a trailer line here",
            1,
            "api"
        ));
    }

    #[test]
    fn the_newest_evidence_is_the_last_rotation() {
        assert_eq!(last_rotated([at(3), at(9), at(5)]), Some(at(9)));
        assert_eq!(last_rotated([]), None);
    }

    #[test]
    fn overdue_from_the_due_date_on_and_due_soon_within_the_window() {
        let soon = Duration::days(14);
        assert_eq!(urgency(at(10), at(10), soon), Some(Urgency::Overdue));
        assert_eq!(urgency(at(9), at(10), soon), Some(Urgency::Overdue));
        assert_eq!(urgency(at(24), at(10), soon), Some(Urgency::DueSoon));
        assert_eq!(urgency(at(25), at(10), soon), None);
    }
}
