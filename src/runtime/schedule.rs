//! Which credentials are due: a credential is due at its last rotation plus its max age.
//! Due ones start, a few at a time per repository, never two that share a file; those due
//! within a window are reported as due soon.

use std::collections::{BTreeMap, BTreeSet};

use time::{Duration, OffsetDateTime};

use crate::policy::Credential;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Urgency {
    Overdue,
    DueSoon,
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
            let due_at = last.get(&c.name).map_or(now, |t| c.due_at(*t));
            let urgency = if due_at <= now {
                Urgency::Overdue
            } else if due_at - now <= soon {
                Urgency::DueSoon
            } else {
                return None;
            };
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
