//! A commit of a credentials repository read through the API: its file listing, its
//! `.keyroll.yaml`, and the files a caller needs for that config. Only what is needed is
//! fetched (a blob per file), since a repository may hold far more than keyroll reads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::rest::{RepoApi, RestError, TreeEntry};
use crate::fingerprint;
use crate::policy::{self, CONFIG_FILE, Config, Problem};
use crate::repo::Files;
use crate::sops::Identities;

const SOPS_CONFIG_FILE: &str = ".sops.yaml";

/// How long checking a config may take (parsing it, checking it against its files). The
/// text comes from anyone who can open a pull request; past this, the check fails saying so.
pub const CHECK_TIME_LIMIT: Duration = Duration::from_secs(10);

/// What a check that ran out of time reports.
fn too_long() -> String {
    format!(
        "{CONFIG_FILE}: keyroll could not check this config within {} s: it took too long to check",
        CHECK_TIME_LIMIT.as_secs()
    )
}

/// Runs CPU work on a third party's text on a blocking thread, so it holds up no async
/// work, for at most `limit`: `None` past it (the thread finishes on its own). A panic in
/// it goes on in the caller, where the worker's supervision catches it.
async fn off_thread<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    match tokio::time::timeout(limit, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(Err(_)) | Err(_) => None,
    }
}

/// The files of one commit: the listing is complete; contents are those fetched.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub commit: String,
    pub tree: String,
    entries: Vec<TreeEntry>,
    contents: BTreeMap<String, Vec<u8>>,
}

impl Files for Snapshot {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.contents.get(path).cloned()
    }

    fn list(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.path.clone()).collect()
    }
}

impl Snapshot {
    /// The blob id of a file, to tell whether two commits hold the same text.
    pub fn blob_of(&self, path: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.path == path)
            .map(|e| e.sha.as_str())
    }

    /// The config text, when the commit has one.
    pub fn config_text(&self) -> Option<String> {
        self.read(CONFIG_FILE)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

/// Reads `commit`: the listing, the config, and the files `wanted` names for the parsed
/// config (and `.sops.yaml` when one of those is missing, so it can be created). The config
/// is `Err` with its problems, as people read them, when it does not parse.
pub async fn read(
    repo: &RepoApi,
    commit: &str,
    wanted: impl Fn(&Config) -> Vec<String>,
) -> Result<(Snapshot, Result<Config, String>), RestError> {
    let (tree, entries) = repo.files(commit).await?;
    let mut snap = Snapshot {
        commit: commit.to_owned(),
        tree,
        entries,
        contents: BTreeMap::new(),
    };
    let config = if fetch(repo, &mut snap, CONFIG_FILE).await? {
        let text = snap.config_text().unwrap_or_default();
        off_thread(CHECK_TIME_LIMIT, move || {
            policy::parse(CONFIG_FILE, &text).map_err(|p| p.to_string())
        })
        .await
        .unwrap_or_else(|| Err(too_long()))
    } else {
        Err(format!("there is no {CONFIG_FILE} in commit {commit}"))
    };
    if let Ok(c) = &config {
        let mut missing = false;
        for path in wanted(c) {
            missing |= !fetch(repo, &mut snap, &path).await?;
        }
        if missing {
            fetch(repo, &mut snap, SOPS_CONFIG_FILE).await?;
        }
    }
    Ok((snap, config))
}

/// Fetches one file into the snapshot; false when the commit has no such file.
async fn fetch(repo: &RepoApi, snap: &mut Snapshot, path: &str) -> Result<bool, RestError> {
    if snap.contents.contains_key(path) {
        return Ok(true);
    }
    let Some(sha) = snap.blob_of(path).map(str::to_owned) else {
        return Ok(false);
    };
    let bytes = repo.blob(&sha).await?;
    snap.contents.insert(path.to_owned(), bytes);
    Ok(true)
}

/// Reads `commit` and checks its config against its files: `None` when all is well, the
/// problems otherwise (file:line:column and what is wrong; never a value). The checking runs
/// off the async threads, within [`CHECK_TIME_LIMIT`].
pub async fn check_config(
    repo: &RepoApi,
    commit: &str,
    ids: &Arc<Identities>,
) -> Result<(Option<Config>, Option<String>), RestError> {
    let (mut snap, config) = read(repo, commit, |c| {
        c.credentials
            .iter()
            .flat_map(|cred| cred.locations.iter().map(|l| l.file.clone()))
            .collect()
    })
    .await?;
    let config = match config {
        Ok(c) => c,
        Err(problems) => return Ok((None, Some(problems))),
    };
    fetch(repo, &mut snap, fingerprint::KEY_FILE).await?;
    let ids = ids.clone();
    let checked = off_thread(CHECK_TIME_LIMIT, move || {
        let text = snap.config_text().unwrap_or_default();
        let problems: Vec<Problem> =
            policy::validate::check(&config, CONFIG_FILE, &text, &snap, &ids);
        // A missing key is not a problem (values are shown without fingerprints); a key file
        // that does not open, or that more people can read than the files it fingerprints, is.
        let key = fingerprint::check(&snap, &config, &ids);
        (config, problems, key)
    })
    .await;
    let Some((config, problems, key)) = checked else {
        return Ok((None, Some(too_long())));
    };
    if problems.is_empty() && key.problems.is_empty() && key.no_key.is_none() {
        Ok((Some(config), None))
    } else {
        let mut lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        lines.extend(key.problems);
        lines.extend(
            key.no_key
                .map(|cause| format!("{}: {cause}", fingerprint::KEY_FILE)),
        );
        Ok((None, Some(lines.join("\n"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_past_its_time_limit_is_given_up() {
        let slow = off_thread(Duration::from_millis(10), || {
            std::thread::sleep(Duration::from_millis(300));
            1
        })
        .await;
        assert_eq!(slow, None);
        let quick = off_thread(Duration::from_secs(10), || 2).await;
        assert_eq!(quick, Some(2));
        assert!(too_long().contains("took too long to check"));
    }
}
