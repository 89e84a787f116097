//! The credentials repository on disk: its files (in the working tree or at a commit), the
//! branches keyroll commits change sets to, and the history `status` reads.
//!
//! Commits are built from trees (git2), never through the working tree or the index, so a
//! rotation never disturbs what a person has checked out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository, Signature};

pub mod trailer;

/// Read access to a repository's files, by path relative to its root.
pub trait Files: Sync {
    fn read(&self, path: &str) -> Option<Vec<u8>>;
    /// Every file, relative paths with `/`.
    fn list(&self) -> Vec<String>;
}

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{0} is not a git repository (or has no commits yet)")]
    NotARepository(String),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("branch {0} exists already")]
    BranchExists(String),
}

/// The files of a folder on disk (the working tree), `.git` excluded.
#[derive(Debug, Clone)]
pub struct WorkTree {
    root: PathBuf,
}

impl WorkTree {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Files for WorkTree {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        if path.split('/').any(|p| p == "..") {
            return None;
        }
        std::fs::read(self.root.join(path)).ok()
    }

    fn list(&self) -> Vec<String> {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            let mut entries: Vec<_> = entries.flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let name = e.file_name().to_string_lossy().into_owned();
                if name == ".git" {
                    continue;
                }
                let rel = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}/{name}")
                };
                match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&e.path(), &rel, out),
                    Ok(t) if t.is_file() => out.push(rel),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, "", &mut out);
        out
    }
}

/// The files of one commit, read from git's object database.
pub struct CommitFiles {
    repo_path: PathBuf,
    commit: Oid,
    /// git2 handles are not `Sync`; each read opens its own (cheap for local repos).
    files: BTreeMap<String, Oid>,
}

impl std::fmt::Debug for CommitFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CommitFiles({} @ {})",
            self.repo_path.display(),
            self.commit
        )
    }
}

impl CommitFiles {
    pub fn commit(&self) -> Oid {
        self.commit
    }
}

impl Files for CommitFiles {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let oid = self.files.get(path)?;
        let repo = Repository::open(&self.repo_path).ok()?;
        let blob = repo.find_blob(*oid).ok()?;
        Some(blob.content().to_vec())
    }

    fn list(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }
}

/// A local git repository holding credentials.
pub struct Repo {
    repo: Repository,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Repo({})", self.repo.path().display())
    }
}

/// A commit keyroll made, and the branch pointing at it.
#[derive(Debug, Clone)]
pub struct Committed {
    pub branch: String,
    pub commit: Oid,
}

/// A commit that names a rotation in its trailers.
#[derive(Debug, Clone)]
pub struct RotationCommit {
    pub commit: Oid,
    pub time: time::OffsetDateTime,
    pub rotation: String,
    pub phase: Option<String>,
}

impl Repo {
    pub fn open(dir: &Path) -> Result<Self, RepoError> {
        let repo = Repository::open(dir)
            .map_err(|_| RepoError::NotARepository(dir.display().to_string()))?;
        if repo.head().is_err() {
            return Err(RepoError::NotARepository(dir.display().to_string()));
        }
        Ok(Self { repo })
    }

    /// The files of the commit `HEAD` points at.
    pub fn head_files(&self) -> Result<CommitFiles, RepoError> {
        let commit = self.repo.head()?.peel_to_commit()?;
        let mut files = BTreeMap::new();
        commit
            .tree()?
            .walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
                if entry.kind() == Some(git2::ObjectType::Blob)
                    && let Ok(name) = entry.name()
                {
                    files.insert(format!("{dir}{name}"), entry.id());
                }
                git2::TreeWalkResult::Ok
            })?;
        let repo_path = self.repo.path().to_path_buf();
        Ok(CommitFiles {
            repo_path,
            commit: commit.id(),
            files,
        })
    }

    /// Commits `changes` (path to new content) on top of `base` as a new branch. The working
    /// tree, the index and the checked-out branch are left alone.
    pub fn commit_branch(
        &self,
        base: Oid,
        branch: &str,
        changes: &BTreeMap<String, String>,
        message: &str,
    ) -> Result<Committed, RepoError> {
        let refname = format!("refs/heads/{branch}");
        if self.repo.find_reference(&refname).is_ok() {
            return Err(RepoError::BranchExists(branch.to_owned()));
        }
        let parent = self.repo.find_commit(base)?;
        let mut builder = git2::build::TreeUpdateBuilder::new();
        for (path, content) in changes {
            let blob = self.repo.blob(content.as_bytes())?;
            builder.upsert(path.as_str(), blob, git2::FileMode::Blob);
        }
        let tree_id = builder.create_updated(&self.repo, &parent.tree()?)?;
        let tree = self.repo.find_tree(tree_id)?;
        let signature = self
            .repo
            .signature()
            .or_else(|_| Signature::now("keyroll", "keyroll@localhost"))?;
        let commit = self
            .repo
            .commit(None, &signature, &signature, message, &tree, &[&parent])?;
        self.repo
            .reference(&refname, commit, false, "keyroll: rotation branch")?;
        Ok(Committed {
            branch: branch.to_owned(),
            commit,
        })
    }

    /// Names of local branches under `prefix` (e.g. `keyroll/`).
    pub fn branches(&self, prefix: &str) -> Result<Vec<String>, RepoError> {
        let mut out = Vec::new();
        for b in self.repo.branches(Some(git2::BranchType::Local))? {
            let (b, _) = b?;
            if let Some(name) = b.name()?
                && name.starts_with(prefix)
            {
                out.push(name.to_owned());
            }
        }
        Ok(out)
    }

    /// Commits reachable from HEAD whose trailers say they rotated `credential`, newest
    /// first.
    pub fn rotations_of(&self, credential: &str) -> Result<Vec<RotationCommit>, RepoError> {
        let mut walk = self.repo.revwalk()?;
        walk.push_head()?;
        let mut out = Vec::new();
        for oid in walk {
            let commit = self.repo.find_commit(oid?)?;
            let Ok(message) = commit.message() else {
                continue;
            };
            if let Some(t) = trailer::parse(message)
                && t.credential == credential
                && let Some(rotation) = t.rotation
            {
                out.push(RotationCommit {
                    commit: commit.id(),
                    time: commit_time(&commit),
                    rotation: rotation.to_owned(),
                    phase: t.phase.map(str::to_owned),
                });
            }
        }
        Ok(out)
    }

    /// The newest commit reachable from HEAD that changed any of `paths` and that `counts`
    /// accepts, given its message and its number of parents.
    pub fn last_change_to(
        &self,
        paths: &[&str],
        counts: impl Fn(&str, usize) -> bool,
    ) -> Result<Option<(Oid, time::OffsetDateTime)>, RepoError> {
        let mut walk = self.repo.revwalk()?;
        walk.push_head()?;
        for oid in walk {
            let commit = self.repo.find_commit(oid?)?;
            if !counts(commit.message().unwrap_or_default(), commit.parent_count()) {
                continue;
            }
            let tree = commit.tree()?;
            let parent_tree = commit.parent(0).ok().map(|p| p.tree()).transpose()?;
            for path in paths {
                let now = tree.get_path(Path::new(path)).ok().map(|e| e.id());
                let before = parent_tree
                    .as_ref()
                    .and_then(|t| t.get_path(Path::new(path)).ok())
                    .map(|e| e.id());
                if now.is_some() && now != before {
                    return Ok(Some((commit.id(), commit_time(&commit))));
                }
            }
        }
        Ok(None)
    }
}

fn commit_time(commit: &git2::Commit<'_>) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(commit.time().seconds())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
