//! When each credential was last rotated: the evidence the schedule and the dashboard read
//! (rotations keyroll finished, from the store; commits that rotated a credential or that a
//! person made to its files, from GitHub). What counts, and which is newest, is decided in
//! `runtime::schedule`; this module only gathers.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::StartError;
use super::repos::Repos;
use crate::github::rest::{CommitSummary, RepoApi, RestError};
use crate::policy::Credential;
use crate::runtime::schedule::{commit_rotates, last_rotated as newest};
use crate::store::Store;

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

pub(super) async fn commit_dates(
    api: &RepoApi,
    branch: &str,
    credentials: &[Credential],
) -> Result<BTreeMap<String, OffsetDateTime>, RestError> {
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
) -> Result<Option<OffsetDateTime>, RestError> {
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
