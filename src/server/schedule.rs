//! The schedule tick: starts the rotations that are due, a few at a time per repository.
//!
//! What "last rotated" and "due" mean is decided in `runtime::schedule`; this module only
//! gathers the evidence (finished rotations from the store, commits from GitHub). A
//! repository keyroll was just installed on is therefore not rotated all at once.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::github::rest::{CommitSummary, RepoApi};
use crate::policy::Credential;
use crate::runtime::schedule::{SOON, Urgency, commit_rotates, last_rotated as newest, plan};

use super::StartError;
use super::metrics::Metrics;
use super::repos::Repos;
use crate::runtime::Clock;
use crate::store::Store;

/// The server's settings the schedule tick follows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings<'a> {
    pub metrics: &'a Metrics,
    /// How many rotations may run at once in one repository.
    pub concurrent_rotations: usize,
}

/// The schedule tick for one repository (each runs in its repository's lane): starts what
/// is due and records how many credentials are overdue there.
pub(super) async fn tick(
    repos: &mut Repos,
    store: &Store,
    clock: &dyn Clock,
    settings: Settings<'_>,
    repo: &str,
) {
    match repository(repos, store, clock, settings.concurrent_rotations, repo).await {
        Ok(n) => settings.metrics.set_overdue(repo, n),
        Err(e) => tracing::warn!(repository = %repo, error = %e, "schedule: skipped"),
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
            // Nothing starts; the dashboard says why.
            super::dashboard::refresh(repos, store, clock, repo).await?;
            return Err(StartError::Config {
                repository: repo.to_owned(),
                problems,
            });
        }
    };
    let default = repos.default_branch(repo).await?;
    let api = repos.api(repo)?;
    // Read anew at every tick: a person may have rotated something by hand.
    let dates = commit_dates(&api, &default, &config.credentials).await?;
    repos.set_commit_dates(repo, dates);
    let last = last_rotated(repos, store, repo).await?;
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
    super::dashboard::refresh(repos, store, clock, repo).await?;
    Ok(i64::try_from(overdue).unwrap_or(i64::MAX))
}

/// When each credential was last rotated, by keyroll or by a person's commit (cached
/// commit dates, read at the last schedule tick or now).
pub(super) async fn last_rotated(
    repos: &mut Repos,
    store: &Store,
    repo: &str,
) -> Result<BTreeMap<String, OffsetDateTime>, StartError> {
    let cached = repos.commit_dates(repo);
    let dates = match cached {
        Some(d) => d,
        None => {
            let state = repos.config(repo).await?;
            let Ok(config) = state.config else {
                return Ok(BTreeMap::new());
            };
            let default = repos.default_branch(repo).await?;
            let api = repos.api(repo)?;
            let d = commit_dates(&api, &default, &config.credentials).await?;
            repos.set_commit_dates(repo, d.clone());
            d
        }
    };
    let mut last = dates;
    for (name, t) in store.last_rotated(repo).await? {
        let previous = last.get(&name).copied();
        if let Some(t) = newest(previous.into_iter().chain([t])) {
            last.insert(name, t);
        }
    }
    Ok(last)
}

async fn commit_dates(
    api: &RepoApi,
    branch: &str,
    credentials: &[Credential],
) -> Result<BTreeMap<String, OffsetDateTime>, crate::github::rest::RestError> {
    let mut out = BTreeMap::new();
    for cred in credentials {
        if let Some(t) = last_commit(api, branch, cred).await? {
            out.insert(cred.name.clone(), t);
        }
    }
    Ok(out)
}

/// The newest commit on the default branch that rotated `cred` (its trailer) or that a
/// person made to one of its files.
async fn last_commit(
    api: &RepoApi,
    branch: &str,
    cred: &Credential,
) -> Result<Option<OffsetDateTime>, crate::github::rest::RestError> {
    let files: BTreeSet<&str> = cred.locations.iter().map(|l| l.file.as_str()).collect();
    let mut found = Vec::new();
    for file in files {
        let commit = api
            .newest_commit_touching(branch, file, |c| {
                commit_rotates(&c.commit.message, c.parents.len(), &cred.name)
                    && committed_at(c).is_some()
            })
            .await?;
        found.extend(commit.as_ref().and_then(committed_at));
    }
    Ok(newest(found))
}

fn committed_at(c: &CommitSummary) -> Option<OffsetDateTime> {
    let date = c.commit.committer.as_ref()?.date.as_deref()?;
    OffsetDateTime::parse(date, &Rfc3339).ok()
}
