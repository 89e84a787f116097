//! The schedule tick: starts the rotations that are due, a few at a time per repository.
//!
//! What "last rotated" and "due" mean is decided in `runtime::schedule`; the evidence is
//! gathered by [`super::rotated`] (finished rotations from the store, commits from GitHub).
//! A repository keyroll was just installed on is therefore not rotated all at once. The
//! worker writes the dashboard after the tick.

use std::collections::BTreeSet;

use super::StartError;
use super::metrics::Metrics;
use super::repos::Repos;
use super::rotated;
use crate::runtime::Clock;
use crate::runtime::schedule::{SOON, Urgency, plan};
use crate::store::Store;

/// The server's settings the schedule tick follows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings<'a> {
    pub metrics: &'a Metrics,
    /// How many rotations may run at once in one repository.
    pub concurrent_rotations: usize,
}

/// The schedule tick for one repository (each runs in its repository's lane): starts what
/// is due and records how many credentials are overdue there. Whether the dashboard has
/// something to show for it: what started, or the config's problems that start nothing (not
/// when GitHub could not be read: the next tick tries again).
pub(super) async fn tick(
    repos: &mut Repos,
    store: &Store,
    clock: &dyn Clock,
    settings: Settings<'_>,
    repo: &str,
) -> bool {
    match repository(repos, store, clock, settings.concurrent_rotations, repo).await {
        Ok(n) => {
            settings.metrics.set_overdue(repo, n);
            true
        }
        Err(e) => {
            tracing::warn!(repository = %repo, error = %e, "schedule: skipped");
            matches!(e, StartError::Config { .. })
        }
    }
}

/// Starts what is due in one repository; returns how many credentials are overdue.
async fn repository(
    repos: &mut Repos,
    store: &Store,
    clock: &dyn Clock,
    concurrent_rotations: usize,
    repo: &str,
) -> Result<i64, StartError> {
    let state = repos.config(repo).await?;
    let config = match state.config {
        Ok(c) => c,
        Err(problems) => {
            // Nothing starts; the dashboard (written after the tick) says why.
            return Err(StartError::Config {
                repository: repo.to_owned(),
                problems,
            });
        }
    };
    let default = repos.default_branch(repo).await?;
    let api = repos.api(repo)?;
    // Read anew at every tick: a person may have rotated something by hand.
    let dates = rotated::commit_dates(&api, &default, &config.credentials).await?;
    repos.set_commit_dates(repo, dates);
    let last = rotated::last_rotated(repos, store, repo).await?;
    let active: BTreeSet<String> = store
        .active_rotations(repo)
        .await?
        .into_iter()
        .map(|r| r.credential)
        .collect();
    let now = clock.now();
    let due = plan(
        &config.credentials,
        &last,
        &active,
        now,
        concurrent_rotations,
        SOON,
    );
    let overdue = due
        .report
        .iter()
        .filter(|d| d.urgency == Urgency::Overdue)
        .count();
    for name in &due.start {
        match repos.start(repo, name, false).await {
            Ok(id) => {
                tracing::info!(repository = repo, credential = %name, rotation = %id, "due: rotation started")
            }
            Err(e) => {
                tracing::warn!(repository = repo, credential = %name, error = %e, "due, but could not start")
            }
        }
    }
    Ok(i64::try_from(overdue).unwrap_or(i64::MAX))
}
