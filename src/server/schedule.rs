//! The schedule tick: starts the rotations that are due, a few at a time per repository.
//!
//! A credential's last rotation is the newest of: a rotation keyroll finished, a commit
//! with its `Keyroll-Credential` trailer, or a person's commit to one of its files (a hand
//! rotation counts; another credential's keyroll commit to a shared file does not). A
//! repository keyroll was just installed on is therefore not rotated all at once.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::github::rest::RepoApi;
use crate::policy::Credential;
use crate::runtime::schedule::{Urgency, plan};

use super::worker::Worker;

/// Credentials due within this window are reported as due soon.
const SOON: time::Duration = time::Duration::days(14);

/// The schedule tick for one repository (each runs in its repository's lane): starts what
/// is due and records how many credentials are overdue there.
pub(super) async fn tick(worker: &mut Worker, repo: &str) {
    match repository(worker, repo).await {
        Ok(n) => worker.s.metrics.set_overdue(repo, n),
        Err(e) => tracing::warn!(repository = %repo, error = %e, "schedule: skipped"),
    }
}

/// Starts what is due in one repository; returns how many credentials are overdue.
async fn repository(worker: &mut Worker, repo: &str) -> Result<i64, super::StartError> {
    let state = worker.config(repo).await?;
    let config = match state.config {
        Ok(c) => c,
        Err(problems) => {
            // Nothing starts; the dashboard says why.
            super::dashboard::refresh(worker, repo).await?;
            return Err(super::StartError::Config {
                repository: repo.to_owned(),
                problems,
            });
        }
    };
    let default = worker.default_branch(repo).await?;
    let api = worker
        .api(repo)
        .ok_or_else(|| super::StartError::NotInstalled(repo.to_owned()))?;
    // Read anew at every tick: a person may have rotated something by hand.
    let dates = commit_dates(&api, &default, &config.credentials).await?;
    if let Some(state) = worker.repos.get_mut(repo) {
        state.commit_dates = Some(dates);
    }
    let last = last_rotated(worker, repo).await?;
    let active: BTreeSet<String> = worker
        .s
        .store
        .active_rotations(repo)
        .await?
        .into_iter()
        .map(|r| r.credential)
        .collect();
    let now = worker.s.clock.now();
    let due = plan(
        &config.credentials,
        &last,
        &active,
        now,
        worker.s.concurrent_rotations,
        SOON,
    );
    let overdue = due
        .report
        .iter()
        .filter(|d| d.urgency == Urgency::Overdue)
        .count();
    for name in &due.start {
        match worker.start(repo, name, false, None).await {
            Ok(id) => {
                tracing::info!(repository = repo, credential = %name, rotation = %id, "due: rotation started")
            }
            Err(e) => {
                tracing::warn!(repository = repo, credential = %name, error = %e, "due, but could not start")
            }
        }
    }
    super::dashboard::refresh(worker, repo).await?;
    Ok(i64::try_from(overdue).unwrap_or(i64::MAX))
}

/// When each credential was last rotated, by keyroll or by a person's commit (cached
/// commit dates, read at the last schedule tick or now).
pub(super) async fn last_rotated(
    worker: &mut Worker,
    repo: &str,
) -> Result<BTreeMap<String, OffsetDateTime>, super::StartError> {
    let cached = worker.repos.get(repo).and_then(|r| r.commit_dates.clone());
    let dates = match cached {
        Some(d) => d,
        None => {
            let state = worker.config(repo).await?;
            let Ok(config) = state.config else {
                return Ok(BTreeMap::new());
            };
            let default = worker.default_branch(repo).await?;
            let api = worker
                .api(repo)
                .ok_or_else(|| super::StartError::NotInstalled(repo.to_owned()))?;
            let d = commit_dates(&api, &default, &config.credentials).await?;
            if let Some(state) = worker.repos.get_mut(repo) {
                state.commit_dates = Some(d.clone());
            }
            d
        }
    };
    let mut last = dates;
    for (name, t) in worker.s.store.last_rotated(repo).await? {
        let entry = last.entry(name).or_insert(t);
        *entry = (*entry).max(t);
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
    let mine = format!("Keyroll-Credential: {}", cred.name);
    let mut newest: Option<OffsetDateTime> = None;
    for file in files {
        for c in api.commits_touching(branch, file, 30).await? {
            let message = &c.commit.message;
            let keyroll_commit = message.contains("Keyroll-Credential: ");
            if keyroll_commit && !message.lines().any(|l| l.trim() == mine) {
                continue;
            }
            let Some(at) = c
                .commit
                .committer
                .as_ref()
                .and_then(|s| s.date.as_deref())
                .and_then(|d| OffsetDateTime::parse(d, &Rfc3339).ok())
            else {
                continue;
            };
            newest = Some(newest.map_or(at, |n| n.max(at)));
            break;
        }
    }
    Ok(newest)
}
