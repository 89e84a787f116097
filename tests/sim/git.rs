//! Real git objects in the simulation's bare repository: the initial commit from a fixture
//! folder, commits (signed the way GitHub signs the ones it makes), trees built from path
//! updates, merges, ancestry and history.

use std::collections::HashSet;
use std::path::Path;

use git2::{FileMode, ObjectType, Oid, Repository, Signature, Time};
use time::OffsetDateTime;

/// The signature GitHub puts on commits it creates (API commits of Apps, merges).
pub const SIM_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----\n\nwsBcBAABCAAQBQJzaW11bGF0ZWQtZ2l0aHViLXNpZ25hdHVyZQ==\n=SIMU\n-----END PGP SIGNATURE-----";

pub fn parse_oid(s: &str) -> Option<Oid> {
    if s.len() != 40 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Oid::from_str(s).ok()
}

pub fn branch_head(repo: &Repository, branch: &str) -> Option<Oid> {
    repo.find_reference(&format!("refs/heads/{branch}"))
        .ok()
        .and_then(|r| r.target())
}

/// Any ref (`refs/...`) and its target.
pub fn ref_target(repo: &Repository, full: &str) -> Option<Oid> {
    repo.find_reference(full).ok().and_then(|r| r.target())
}

pub fn set_ref(repo: &Repository, full: &str, oid: Oid) {
    repo.reference(full, oid, true, "simulated GitHub")
        .expect("the bare repository takes the ref");
}

pub fn delete_ref(repo: &Repository, full: &str) {
    if let Ok(mut r) = repo.find_reference(full) {
        r.delete().expect("the bare repository deletes the ref");
    }
}

pub fn branches(repo: &Repository) -> Vec<(String, Oid)> {
    let mut out = Vec::new();
    if let Ok(refs) = repo.references_glob("refs/heads/*") {
        for r in refs.flatten() {
            if let (Ok(name), Some(oid)) = (r.name(), r.target()) {
                out.push((name.trim_start_matches("refs/heads/").to_owned(), oid));
            }
        }
    }
    out.sort();
    out
}

pub fn is_commit(repo: &Repository, oid: Oid) -> bool {
    repo.find_commit(oid).is_ok()
}

/// A commit named as GitHub accepts it: a full sha, an abbreviated one, a branch, a tag or a
/// full ref name.
pub fn resolve_commit(repo: &Repository, name: &str) -> Option<Oid> {
    if let Some(oid) = parse_oid(name) {
        return repo.find_commit(oid).ok().map(|c| c.id());
    }
    for candidate in [
        format!("refs/heads/{name}"),
        format!("refs/tags/{name}"),
        format!("refs/{name}"),
        name.to_owned(),
    ] {
        if let Ok(r) = repo.find_reference(&candidate)
            && let Ok(c) = r.peel_to_commit()
        {
            return Some(c.id());
        }
    }
    if name.len() >= 7 && name.len() < 40 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return repo
            .revparse_single(name)
            .ok()
            .and_then(|o| o.peel_to_commit().ok())
            .map(|c| c.id());
    }
    None
}

/// A tree named by its sha, a commit's sha, or a branch.
pub fn resolve_tree(repo: &Repository, name: &str) -> Option<Oid> {
    if let Some(oid) = parse_oid(name)
        && let Ok(obj) = repo.find_object(oid, None)
    {
        return obj.peel_to_tree().ok().map(|t| t.id());
    }
    resolve_commit(repo, name)
        .and_then(|c| repo.find_commit(c).ok())
        .map(|c| c.tree_id())
}

pub fn signature(name: &str, email: &str, at: OffsetDateTime) -> Signature<'static> {
    let offset = at.offset().whole_minutes();
    Signature::new(
        name,
        email,
        &Time::new(at.unix_timestamp(), i32::from(offset)),
    )
    .expect("a valid git signature")
}

pub fn time_of(t: Time) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.seconds()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Writes a commit object (no ref moves), signed like GitHub's own when `signed`.
pub fn write_commit(
    repo: &Repository,
    author: &Signature<'_>,
    committer: &Signature<'_>,
    message: &str,
    tree: Oid,
    parents: &[Oid],
    signed: bool,
) -> Result<Oid, git2::Error> {
    let tree = repo.find_tree(tree)?;
    let parents: Vec<git2::Commit<'_>> = parents
        .iter()
        .map(|p| repo.find_commit(*p))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    if signed {
        let buf = repo.commit_create_buffer(author, committer, message, &tree, &refs)?;
        let content = std::str::from_utf8(&buf).unwrap_or_default().to_owned();
        repo.commit_signed(&content, SIM_SIGNATURE, None)
    } else {
        repo.commit(None, author, committer, message, &tree, &refs)
    }
}

/// The signature and signed payload of a commit, when it has one.
pub fn commit_signature(repo: &Repository, oid: Oid) -> Option<(String, String)> {
    let (sig, payload) = repo.extract_signature(&oid, None).ok()?;
    Some((
        String::from_utf8_lossy(&sig).into_owned(),
        String::from_utf8_lossy(&payload).into_owned(),
    ))
}

/// A tree holding the files under `dir` (recursively), plus `extra` files on top.
pub fn tree_from_dir(repo: &Repository, dir: &Path) -> Oid {
    fn walk(repo: &Repository, dir: &Path) -> Oid {
        let mut builder = repo.treebuilder(None).expect("a tree builder");
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if path.is_dir() {
                let sub = walk(repo, &path);
                builder
                    .insert(&name, sub, i32::from(FileMode::Tree))
                    .expect("tree entry");
            } else {
                let bytes = std::fs::read(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                let blob = repo.blob(&bytes).expect("blob written");
                let mode = if is_executable(&path) {
                    FileMode::BlobExecutable
                } else {
                    FileMode::Blob
                };
                builder
                    .insert(&name, blob, i32::from(mode))
                    .expect("blob entry");
            }
        }
        builder.write().expect("tree written")
    }
    walk(repo, dir)
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    false
}

/// One change of `POST git/trees`.
#[derive(Debug, Clone)]
pub enum TreeChange {
    Upsert {
        path: String,
        oid: Oid,
        mode: FileMode,
    },
    Remove {
        path: String,
    },
}

pub fn empty_tree(repo: &Repository) -> Oid {
    repo.treebuilder(None)
        .and_then(|b| b.write())
        .expect("empty tree written")
}

/// `base` (or an empty tree) with the changes applied; paths with slashes reach into (and
/// create) subtrees, like GitHub's create-tree.
pub fn update_tree(
    repo: &Repository,
    base: Option<Oid>,
    changes: &[TreeChange],
) -> Result<Oid, String> {
    let base = base.unwrap_or_else(|| empty_tree(repo));
    let base_tree = repo.find_tree(base).map_err(|e| e.message().to_owned())?;
    let mut update = git2::build::TreeUpdateBuilder::new();
    for c in changes {
        match c {
            TreeChange::Upsert { path, oid, mode } => {
                update.upsert(path.as_str(), *oid, *mode);
            }
            TreeChange::Remove { path } => {
                if base_tree.get_path(Path::new(path)).is_err() {
                    // GitHub refuses to delete what is not there.
                    return Err(format!("tree.path {path} does not exist in the base tree"));
                }
                update.remove(path.as_str());
            }
        }
    }
    update
        .create_updated(repo, &base_tree)
        .map_err(|e| e.message().to_owned())
}

/// One entry of a tree listing.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: String,
    pub mode: String,
    pub kind: &'static str,
    pub sha: String,
    pub size: Option<usize>,
}

pub fn mode_string(mode: i32) -> String {
    format!("{mode:06o}")
}

pub fn list_tree(repo: &Repository, tree: Oid, recursive: bool) -> Vec<Entry> {
    let Ok(tree) = repo.find_tree(tree) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let describe = |root: &str, e: &git2::TreeEntry<'_>| {
        let kind = match e.kind() {
            Some(ObjectType::Tree) => "tree",
            Some(ObjectType::Commit) => "commit",
            _ => "blob",
        };
        let size = if kind == "blob" {
            repo.find_blob(e.id()).ok().map(|b| b.size())
        } else {
            None
        };
        Entry {
            path: format!("{root}{}", e.name().unwrap_or_default()),
            mode: mode_string(e.filemode()),
            kind,
            sha: e.id().to_string(),
            size,
        }
    };
    if recursive {
        let _ = tree.walk(git2::TreeWalkMode::PreOrder, |root, e| {
            out.push(describe(root, e));
            git2::TreeWalkResult::Ok
        });
    } else {
        for e in tree.iter() {
            out.push(describe("", &e));
        }
    }
    out
}

/// The entry id at `path` in a commit's tree.
pub fn entry_at(repo: &Repository, commit: Oid, path: &str) -> Option<Oid> {
    let c = repo.find_commit(commit).ok()?;
    let tree = c.tree().ok()?;
    if path.is_empty() {
        return Some(tree.id());
    }
    tree.get_path(Path::new(path)).ok().map(|e| e.id())
}

/// `(kind, oid, mode)` of the object at `path` in a commit.
pub fn object_at(repo: &Repository, commit: Oid, path: &str) -> Option<(ObjectType, Oid, i32)> {
    let c = repo.find_commit(commit).ok()?;
    let tree = c.tree().ok()?;
    let path = path.trim_matches('/');
    if path.is_empty() {
        return Some((ObjectType::Tree, tree.id(), i32::from(FileMode::Tree)));
    }
    let e = tree.get_path(Path::new(path)).ok()?;
    Some((e.kind()?, e.id(), e.filemode()))
}

/// The commits `git log <start> -- <path>` shows (with git's default history
/// simplification), newest first; every commit when `path` is `None`.
pub fn log(repo: &Repository, start: Oid, path: Option<&str>) -> Vec<Oid> {
    let mut included: HashSet<Oid> = HashSet::new();
    let mut reachable: HashSet<Oid> = HashSet::new();
    let mut stack = vec![start];
    while let Some(oid) = stack.pop() {
        if !reachable.insert(oid) {
            continue;
        }
        let Ok(c) = repo.find_commit(oid) else {
            continue;
        };
        let parents: Vec<Oid> = c.parent_ids().collect();
        let Some(path) = path else {
            included.insert(oid);
            stack.extend(parents);
            continue;
        };
        let mine = entry_at(repo, oid, path);
        if parents.is_empty() {
            if mine.is_some() {
                included.insert(oid);
            }
            continue;
        }
        let same: Vec<Oid> = parents
            .iter()
            .copied()
            .filter(|p| entry_at(repo, *p, path) == mine)
            .collect();
        if parents.len() == 1 {
            if same.is_empty() {
                included.insert(oid);
            }
            stack.extend(parents);
        } else if let Some(first) = same.first() {
            stack.push(*first);
        } else {
            included.insert(oid);
            stack.extend(parents);
        }
    }
    let mut walk = repo.revwalk().expect("a revwalk");
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
        .expect("sorting");
    walk.push(start).expect("start commit");
    walk.flatten().filter(|o| included.contains(o)).collect()
}

/// Commits in `head` that are not in `base`, oldest first.
pub fn commits_between(repo: &Repository, base: Oid, head: Oid) -> Vec<Oid> {
    let mut walk = repo.revwalk().expect("a revwalk");
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
        .expect("sorting");
    walk.push(head).expect("head commit");
    let _ = walk.hide(base);
    walk.flatten().collect()
}

/// `(ahead, behind)` of `head` relative to `base`.
pub fn ahead_behind(repo: &Repository, base: Oid, head: Oid) -> (usize, usize) {
    repo.graph_ahead_behind(head, base).unwrap_or((0, 0))
}

/// The tree a three-way merge of `head` into `base` gives, or the conflicting paths.
pub fn merge_tree(repo: &Repository, base: Oid, head: Oid) -> Result<Oid, Vec<String>> {
    let ancestor = repo
        .merge_base(base, head)
        .ok()
        .and_then(|a| repo.find_commit(a).ok())
        .and_then(|c| c.tree().ok());
    let ours = repo
        .find_commit(base)
        .and_then(|c| c.tree())
        .map_err(|e| vec![e.message().to_owned()])?;
    let theirs = repo
        .find_commit(head)
        .and_then(|c| c.tree())
        .map_err(|e| vec![e.message().to_owned()])?;
    let empty = repo
        .find_tree(empty_tree(repo))
        .map_err(|e| vec![e.message().to_owned()])?;
    let ancestor = ancestor.unwrap_or(empty);
    let mut index = repo
        .merge_trees(&ancestor, &ours, &theirs, None)
        .map_err(|e| vec![e.message().to_owned()])?;
    if index.has_conflicts() {
        let mut paths = Vec::new();
        if let Ok(conflicts) = index.conflicts() {
            for c in conflicts.flatten() {
                let entry = c.our.or(c.their).or(c.ancestor);
                if let Some(e) = entry {
                    paths.push(String::from_utf8_lossy(&e.path).into_owned());
                }
            }
        }
        return Err(paths);
    }
    index
        .write_tree_to(repo)
        .map_err(|e| vec![e.message().to_owned()])
}

/// Replays `commits` onto `onto` (a rebase merge); the new head, or conflicting paths.
pub fn replay(
    repo: &Repository,
    onto: Oid,
    commits: &[Oid],
    committer: &Signature<'_>,
) -> Result<Oid, Vec<String>> {
    let mut head = onto;
    for oid in commits {
        let pick = repo
            .find_commit(*oid)
            .map_err(|e| vec![e.message().to_owned()])?;
        let ours = repo
            .find_commit(head)
            .map_err(|e| vec![e.message().to_owned()])?;
        let mut index = repo
            .cherrypick_commit(&pick, &ours, 0, None)
            .map_err(|e| vec![e.message().to_owned()])?;
        if index.has_conflicts() {
            return Err(vec![format!("conflict replaying {oid}")]);
        }
        let tree = index
            .write_tree_to(repo)
            .map_err(|e| vec![e.message().to_owned()])?;
        head = write_commit(
            repo,
            &pick.author(),
            committer,
            pick.message().unwrap_or_default(),
            tree,
            &[head],
            true,
        )
        .map_err(|e| vec![e.message().to_owned()])?;
    }
    Ok(head)
}

/// What changed between two trees: `(path, status, additions, deletions, old sha, new sha)`.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: String,
    pub status: &'static str,
    pub additions: usize,
    pub deletions: usize,
    pub sha: String,
}

pub fn diff(repo: &Repository, from: Option<Oid>, to: Oid) -> Vec<FileChange> {
    let old = from.and_then(|t| repo.find_tree(t).ok());
    let Ok(new) = repo.find_tree(to) else {
        return Vec::new();
    };
    let Ok(diff) = repo.diff_tree_to_tree(old.as_ref(), Some(&new), None) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, delta) in diff.deltas().enumerate() {
        let status = match delta.status() {
            git2::Delta::Added => "added",
            git2::Delta::Deleted => "removed",
            git2::Delta::Renamed => "renamed",
            _ => "modified",
        };
        let path = delta
            .new_file()
            .path()
            .or(delta.old_file().path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (mut additions, mut deletions) = (0, 0);
        if let Ok(Some(patch)) = git2::Patch::from_diff(&diff, i)
            && let Ok((_, a, d)) = patch.line_stats()
        {
            additions = a;
            deletions = d;
        }
        out.push(FileChange {
            path,
            status,
            additions,
            deletions,
            sha: delta.new_file().id().to_string(),
        });
    }
    out
}

/// Base64 as GitHub sends blob and file contents: lines of 60 characters, each ending in `\n`.
pub fn wrapped_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    let plain = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(plain.len() + plain.len() / 60 + 1);
    let chars: Vec<char> = plain.chars().collect();
    for chunk in chars.chunks(60) {
        out.extend(chunk.iter());
        out.push('\n');
    }
    out
}
