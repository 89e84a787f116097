//! Rotations of a local checkout through the CLI, on a git copy of the demo credentials
//! repository: every preset's credential goes through add, a merge, and remove; every file
//! keyroll writes is read back by the real `sops -d`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use common::*;
use keyroll::fingerprint::{Fingerprint, FingerprintKey};
use keyroll::policy::{self, Role, Target};
use keyroll::repo::WorkTree;
use keyroll::sops::Identities;
use sha2::Digest;

/// Every plaintext value of the demo repository, to check no output ever shows one.
const DEMO_SECRETS: &[&str] = &[
    "old-app-token-6f1c",
    "old-jenkins-token-93ad",
    "old-dev-token-0b7e",
    "old-search-app-2d41",
    "latest-session-key-4b1d",
    "old-database-password-c3f8",
    "PRODUCTION-2026-05-01-5d2f0c",
    "LIVE-2026-05-01-a9e3",
];

struct Demo {
    dir: tempfile::TempDir,
    repo: git2::Repository,
    /// `master` or `main`, as this machine's git configuration makes it.
    default_branch: String,
}

impl Demo {
    fn new() -> Self {
        let (dir, repo) = demo_git_repo();
        let default_branch = repo.head().unwrap().shorthand().unwrap().to_owned();
        Self {
            dir,
            repo,
            default_branch,
        }
    }

    /// The demo repository as it was before it had a fingerprint key.
    fn without_fingerprint_key() -> Self {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&fixture("demo-credentials"), dir.path());
        std::fs::remove_dir_all(dir.path().join(".keyroll")).unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        commit_all(&repo, "demo credentials without a fingerprint key");
        let mut config = repo.config().unwrap();
        config.set_str("user.name", "demo").unwrap();
        config.set_str("user.email", "demo@example.com").unwrap();
        let default_branch = repo.head().unwrap().shorthand().unwrap().to_owned();
        Self {
            dir,
            repo,
            default_branch,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn keyroll(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut all = args.to_vec();
        let repo = self.path().to_str().unwrap();
        all.extend(["--repo", repo]);
        let key = fixture("demo-age-key.txt");
        run_keyroll(
            self.path(),
            &all,
            &[("SOPS_AGE_KEY_FILE", key.to_str().unwrap())],
            stdin,
        )
    }

    fn head(&self) -> git2::Oid {
        self.repo.head().unwrap().peel_to_commit().unwrap().id()
    }

    fn file_at(&self, commit: git2::Oid, path: &str) -> String {
        let tree = self.repo.find_commit(commit).unwrap().tree().unwrap();
        let entry = tree.get_path(Path::new(path)).unwrap();
        String::from_utf8(self.repo.find_blob(entry.id()).unwrap().content().to_vec()).unwrap()
    }

    fn branch(&self, name: &str) -> git2::Oid {
        self.repo
            .find_branch(name, git2::BranchType::Local)
            .unwrap()
            .get()
            .peel_to_commit()
            .unwrap()
            .id()
    }

    /// "Merges" a branch: the default branch moves to it (a fast-forward).
    fn merge(&self, commit: git2::Oid) {
        let head = self.repo.head().unwrap();
        let name = head.name().unwrap().to_owned();
        self.repo
            .reference(&name, commit, true, "test merge")
            .unwrap();
        self.repo
            .checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
            .unwrap();
    }

    /// The real `sops -d` of a file at a commit.
    fn sops_decrypt_at(&self, commit: git2::Oid, path: &str) -> String {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join(Path::new(path).file_name().unwrap());
        std::fs::write(&file, self.file_at(commit, path)).unwrap();
        let out = sops(
            tmp.path(),
            &fixture("demo-age-key.txt"),
            &["-d", file.to_str().unwrap()],
        );
        assert!(
            out.status.success(),
            "sops -d {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every value at every location of a credential at a commit, read by the real sops
    /// (SOPS files) or from the text (pattern files).
    fn values_at(&self, commit: git2::Oid, cred: &policy::Credential) -> Vec<Vec<String>> {
        cred.locations
            .iter()
            .map(|l| match &l.target {
                Target::Sops(path) => {
                    let doc: serde_norway::Value =
                        serde_norway::from_str(&self.sops_decrypt_at(commit, &l.file)).unwrap();
                    let mut node = &doc;
                    for seg in &path.0 {
                        node = match seg {
                            keyroll::sops::path::Segment::Key(k) => &node[k.as_str()],
                            keyroll::sops::path::Segment::Index(i) => &node[*i],
                        };
                    }
                    let text = node.as_str().unwrap().to_owned();
                    match &l.format {
                        policy::ValueFormat::Delimited(sep) => {
                            text.split(sep.as_str()).map(str::to_owned).collect()
                        }
                        _ => vec![text],
                    }
                }
                Target::Pattern(re) => {
                    vec![re.captures(&self.file_at(commit, &l.file)).unwrap()["value"].to_owned()]
                }
            })
            .collect()
    }

    fn config(&self) -> policy::Config {
        policy::parse(
            ".keyroll.yaml",
            &std::fs::read_to_string(self.path().join(".keyroll.yaml")).unwrap(),
        )
        .unwrap()
    }

    fn assert_clean(&self) {
        let statuses = self.repo.statuses(None).unwrap();
        assert_eq!(statuses.len(), 0, "the working tree changed");
        assert_eq!(
            self.repo.head().unwrap().shorthand().ok(),
            Some(self.default_branch.as_str()),
            "the checked-out branch changed"
        );
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn branch_from(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .split_whitespace()
        .skip_while(|w| *w != "branch")
        .nth(1)
        .unwrap_or_else(|| panic!("no branch in: {stdout}"))
        .to_owned()
}

/// The manual credential's new values, named as its preset asks (by today's date).
fn manual_values() -> String {
    let today = keyroll::generate::format_date(time::OffsetDateTime::now_utc(), "%Y-%m-%d");
    format!(
        r#"{{"A": "APPLICATION-PRODUCTION-{today}-7e1f3c", "J": "JENKINS-LIVE-{today}-0a9b2d"}}"#
    )
}

/// Lines changed between two texts: (added, removed).
fn diff(before: &str, after: &str) -> (usize, usize) {
    changed_lines(before, after)
}

#[test]
fn every_credential_rotates_through_add_and_remove() {
    let demo = Demo::new();
    let config = demo.config();
    let mut outputs = String::new();
    let mut new_values_seen = Vec::new();
    for cred in &config.credentials {
        let base = demo.head();
        let before = demo.values_at(base, cred);
        let stdin = (cred.name == "notify-api-keys").then(manual_values);
        let mut args = vec!["rotate", cred.name.as_str(), "--phase", "add"];
        if stdin.is_some() {
            args.push("--value-stdin");
        }
        let out = demo.keyroll(&args, stdin.as_deref());
        assert_eq!(out.status.code(), Some(0), "{}: {}", cred.name, text(&out));
        outputs.push_str(&text(&out));
        demo.assert_clean();
        let branch = branch_from(&out);
        assert!(
            branch.starts_with(&format!("keyroll/{}/R-", cred.name)) && branch.ends_with("/add"),
            "{branch}"
        );
        let added = demo.branch(&branch);
        let after = demo.values_at(added, cred);

        // Use locations switched to a new value with the slot's prefix; accept lists kept
        // every old value and gained the new ones.
        let mut new_by_slot: BTreeMap<String, String> = BTreeMap::new();
        for ((loc, b), a) in cred.locations.iter().zip(&before).zip(&after) {
            match loc.role {
                Role::Use => {
                    let slot = cred.slot(loc.slot.as_deref().unwrap_or("default")).unwrap();
                    assert_ne!(a, b, "{}: {} did not change", cred.name, loc.describe());
                    assert!(
                        a[0].starts_with(&slot.prefix),
                        "{}: new value lacks prefix {}",
                        cred.name,
                        slot.prefix
                    );
                    new_by_slot.insert(slot.name.clone(), a[0].clone());
                }
                Role::Accept => {
                    for old in b {
                        assert!(
                            a.contains(old),
                            "{}: add dropped an old value from {}",
                            cred.name,
                            loc.describe()
                        );
                    }
                    assert_eq!(
                        a.len(),
                        b.len() + cred.slots.len(),
                        "{}: {}",
                        cred.name,
                        loc.describe()
                    );
                }
            }
        }
        new_values_seen.extend(
            after
                .iter()
                .flatten()
                .filter(|v| !before.iter().flatten().any(|o| o == *v))
                .cloned(),
        );

        // Only the lines that must change did: each changed value's line, plus
        // `lastmodified` and `mac` in SOPS files.
        let mut per_file: BTreeMap<&str, usize> = BTreeMap::new();
        for ((loc, b), a) in cred.locations.iter().zip(&before).zip(&after) {
            if a != b {
                *per_file.entry(loc.file.as_str()).or_default() += 1;
            }
        }
        for (file, changed) in per_file {
            let (old, new) = (demo.file_at(base, file), demo.file_at(added, file));
            // `mac` always changes; `lastmodified` only when a second has passed since the
            // last write (sops stamps whole seconds, like keyroll).
            let stamp = |t: &str| {
                t.lines()
                    .find(|l| l.contains("lastmodified:"))
                    .map(str::to_owned)
            };
            let expected = match stamp(&old) {
                Some(s) if Some(s.clone()) == stamp(&new) => changed + 1,
                Some(_) => changed + 2,
                None => changed,
            };
            assert_eq!(
                diff(&old, &new),
                (expected, expected),
                "{}: {file}",
                cred.name
            );
        }

        demo.merge(added);
        if !cred.has_accept_locations() {
            let out = demo.keyroll(&["rotate", &cred.name, "--phase", "remove"], None);
            assert_eq!(
                out.status.code(),
                Some(7),
                "{}: remove must not apply: {}",
                cred.name,
                text(&out)
            );
            outputs.push_str(&text(&out));
            continue;
        }
        let out = demo.keyroll(&["rotate", &cred.name, "--phase", "remove"], None);
        assert_eq!(out.status.code(), Some(0), "{}: {}", cred.name, text(&out));
        outputs.push_str(&text(&out));
        let remove_branch = branch_from(&out);
        assert_eq!(
            remove_branch.replace("/remove", "/add"),
            branch,
            "remove continues the same rotation"
        );
        let removed = demo.branch(&remove_branch);
        let final_values = demo.values_at(removed, cred);
        for ((loc, a), f) in cred.locations.iter().zip(&after).zip(&final_values) {
            match loc.role {
                Role::Use => assert_eq!(f, a, "{}: remove changed {}", cred.name, loc.describe()),
                Role::Accept => {
                    // Exactly the values add introduced stay: the ones clients use now, and
                    // for a slot no use location holds (D), its newest value.
                    let b = &before[cred
                        .locations
                        .iter()
                        .position(|l| std::ptr::eq(l, loc))
                        .unwrap()];
                    let mut expected: Vec<String> =
                        a.iter().filter(|v| !b.contains(v)).cloned().collect();
                    for v in new_by_slot.values() {
                        assert!(
                            expected.contains(v),
                            "{}: the value in use is not in {}",
                            cred.name,
                            loc.describe()
                        );
                    }
                    let mut got = f.clone();
                    got.sort();
                    expected.sort();
                    assert_eq!(
                        got,
                        expected,
                        "{}: remove left the wrong values in {}",
                        cred.name,
                        loc.describe()
                    );
                }
            }
        }
        demo.merge(removed);
    }
    for secret in DEMO_SECRETS
        .iter()
        .map(|s| s.to_string())
        .chain(new_values_seen)
    {
        assert!(
            !outputs.contains(&secret),
            "output shows a plaintext value:\n{outputs}"
        );
    }
}

/// The plan a person reads first, pinned. New values are random, so their fingerprints are
/// masked; the old values' fingerprints are fixed by the fixtures.
#[test]
fn plan_output() {
    let demo = Demo::new();
    for (name, args) in [
        ("plan_data_api_tokens_add", vec!["plan", "data-api-tokens"]),
        (
            "plan_session_secret_add_markdown",
            vec!["plan", "session-secret", "--markdown"],
        ),
        ("plan_redis_auth_add", vec!["plan", "redis-auth"]),
    ] {
        let out = demo.keyroll(&args, None);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let plain = String::from_utf8_lossy(&out.stdout);
        for v in DEMO_OLD_VALUES {
            assert!(
                !plain.contains(&unkeyed(v)),
                "an unkeyed fingerprint of {v}"
            );
        }
        let shown = mask(&plain);
        insta::assert_snapshot!(name, shown);
    }
}

/// A manual credential's plan: nobody has supplied the new values yet, so it shows where they
/// go, what each location holds now and what a person runs, and succeeds (it used to fail
/// with exit 7, as `rotate` without values still does).
#[test]
fn plan_of_a_manual_credential_tells_a_person_what_to_do() {
    let demo = Demo::new();
    let out = demo.keyroll(&["plan", "notify-api-keys"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plain = String::from_utf8_lossy(&out.stdout).into_owned();
    for secret in DEMO_SECRETS {
        assert!(
            !plain.contains(secret),
            "a plaintext value in the plan:\n{plain}"
        );
    }
    let date = regex::Regex::new(r"\d{4}-\d{2}-\d{2}").unwrap();
    let shown = date.replace_all(&mask(&plain), "YYYY-MM-DD").into_owned();
    insta::assert_snapshot!("plan_notify_api_keys_add_manual", shown);

    let out = demo.keyroll(&["plan", "notify-api-keys", "--markdown"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.starts_with("### `notify-api-keys`: add"), "{md}");
    assert!(
        md.contains("keyroll rotate notify-api-keys --phase add --value-stdin"),
        "{md}"
    );
}

/// `validate` without a usable identity says so once per cause, naming every file it cannot
/// open once, and exits with sops's "no key" code (128), not the invalid-config code: it
/// used to print the same cause at each of the ten locations and exit 5.
#[test]
fn validate_without_a_usable_identity_says_so_once() {
    use age::secrecy::ExposeSecret;
    let demo = Demo::new();
    let files = [
        "vars/production.yaml",
        "jenkins-vars/jenkins.yaml",
        ".keyroll/fingerprint-key.yaml",
    ];

    let out = run_keyroll(demo.path(), &["validate", "--repo", "."], &[], None);
    assert_eq!(out.status.code(), Some(128), "{}", text(&out));
    let msg = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(msg.contains("no age identity was found"), "{msg}");
    for f in files {
        assert_eq!(msg.matches(f).count(), 1, "{f} once:\n{msg}");
    }

    // An identity that is none of the files' recipients: the same, with that cause.
    let other = demo.path().join("other-key.txt");
    let id = age::x25519::Identity::generate();
    std::fs::write(&other, id.to_string().expose_secret()).unwrap();
    let out = run_keyroll(
        demo.path(),
        &["validate", "--repo", "."],
        &[("SOPS_AGE_KEY_FILE", other.to_str().unwrap())],
        None,
    );
    assert_eq!(out.status.code(), Some(128), "{}", text(&out));
    let msg = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(msg.contains("none of the file's age recipients"), "{msg}");
    for f in files {
        assert_eq!(msg.matches(f).count(), 1, "{f} once:\n{msg}");
    }

    // With the key, the same repository is valid.
    let out = demo.keyroll(&["validate"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// The demo repository's fingerprint key, decrypted with the demo identity.
fn demo_key() -> FingerprintKey {
    let ids = Identities::from_file(&fixture("demo-age-key.txt")).unwrap();
    FingerprintKey::load(&WorkTree::new(fixture("demo-credentials")), &ids)
        .unwrap()
        .expect("the demo repository has a fingerprint key")
}

/// The first 12 hex digits of a value's plain SHA-256: what fingerprints were before they
/// were keyed, and what nobody may ever see again.
fn unkeyed(value: &str) -> String {
    sha2::Sha256::digest(value.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Masks what changes from run to run: new values' fingerprints, the year in rotation ids,
/// today's date.
fn mask(text: &str) -> String {
    let key = demo_key();
    let old: Vec<String> = DEMO_OLD_VALUES
        .iter()
        .map(|v| Fingerprint::of_bytes(v.as_bytes(), &key).to_string())
        .collect();
    let fp = regex::Regex::new(r"\b[0-9a-f]{12}\b").unwrap();
    let masked = fp.replace_all(text, |c: &regex::Captures<'_>| {
        if old.contains(&c[0].to_owned()) {
            c[0].to_owned()
        } else {
            "[new]".to_owned()
        }
    });
    let year = regex::Regex::new(r"R-\d{4}-").unwrap();
    year.replace_all(&masked, "R-YYYY-").into_owned()
}

const DEMO_OLD_VALUES: &[&str] = &[
    "Aold-app-token-6f1c",
    "Jold-jenkins-token-93ad",
    "Dold-dev-token-0b7e",
    "latest-session-key-4b1d",
    "previous-session-key-9e02",
    "01-05-2026",
    "APPLICATION-PRODUCTION-2026-05-01-5d2f0c",
    "JENKINS-LIVE-2026-05-01-a9e3",
];

#[test]
fn manual_values_are_checked() {
    let demo = Demo::new();
    let out = demo.keyroll(&["rotate", "notify-api-keys", "--phase", "add"], None);
    assert_eq!(out.status.code(), Some(7));
    let msg = text(&out);
    assert!(
        msg.contains("APPLICATION-PRODUCTION-") && msg.contains("--value-stdin"),
        "{msg}"
    );

    let same =
        r#"{"A": "APPLICATION-PRODUCTION-2026-05-01-5d2f0c", "J": "JENKINS-LIVE-2026-05-01-a9e3"}"#;
    let out = demo.keyroll(
        &[
            "rotate",
            "notify-api-keys",
            "--phase",
            "add",
            "--value-stdin",
        ],
        Some(same),
    );
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("must be the key named") || msg.contains("the one it should replace"),
        "{msg}"
    );
    assert!(
        !msg.contains("5d2f0c"),
        "the message shows the value: {msg}"
    );

    let out = demo.keyroll(
        &[
            "rotate",
            "notify-api-keys",
            "--phase",
            "add",
            "--value-stdin",
        ],
        Some(r#"{"A": "nope"}"#),
    );
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let args = [
        "rotate",
        "notify-api-keys",
        "--phase",
        "add",
        "--value-stdin",
    ];
    let out = demo.keyroll(&args, Some(r#"{"A": true, "J": 7}"#));
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(text(&out).contains("must be a string"), "{}", text(&out));
    assert!(
        demo.repo.branches(None).unwrap().count() == 1,
        "nothing was committed"
    );
}

#[test]
fn tampered_files_and_bad_configs_write_nothing() {
    let demo = Demo::new();
    // Tamper with a value of vars/production.yaml and commit it.
    let path = demo.path().join("vars/production.yaml");
    let good = std::fs::read_to_string(&path).unwrap();
    let line = good
        .lines()
        .find(|l| l.contains("data_api_token:"))
        .unwrap();
    let at = line.find("data:").unwrap() + 7;
    let mut bytes = line.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(
        &path,
        good.replace(line, std::str::from_utf8(&bytes).unwrap()),
    )
    .unwrap();
    commit_all(&demo.repo, "tamper");
    let out = demo.keyroll(&["rotate", "data-api-tokens", "--phase", "add"], None);
    assert_eq!(out.status.code(), Some(25), "{}", text(&out));
    assert!(
        text(&out).contains("vars/production.yaml") && text(&out).contains("apps.data_api_token"),
        "{}",
        text(&out)
    );

    std::fs::write(&path, good).unwrap();
    std::fs::write(
        demo.path().join(".keyroll.yaml"),
        "version: 1\ncredentials:\n  x: { colour: blue }\n",
    )
    .unwrap();
    commit_all(&demo.repo, "bad config");
    let out = demo.keyroll(&["rotate", "data-api-tokens", "--phase", "add"], None);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains(".keyroll.yaml:3:"), "{}", text(&out));
    let validate = demo.keyroll(&["validate"], None);
    assert_eq!(validate.status.code(), Some(5));
    assert_eq!(
        demo.repo.branches(None).unwrap().count(),
        1,
        "no branch was created"
    );
}

#[test]
fn status_and_where_used() {
    let demo = Demo::new();
    let out = demo.keyroll(&["rotate", "database-password", "--phase", "add"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    demo.merge(demo.branch(&branch_from(&out)));

    let out = demo.keyroll(&["status", "--json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 6);
    let db = rows
        .iter()
        .find(|r| r["credential"] == "database-password")
        .unwrap();
    assert_eq!(db["source"], "keyroll");
    assert!(db["rotation"].as_str().unwrap().starts_with("R-"));
    assert_eq!(db["state"], "ok");
    assert!(
        rows.iter()
            .filter(|r| r["credential"] != "database-password")
            .all(|r| r["source"] == "history")
    );

    let out = demo.keyroll(&["where-used", "data-api-tokens"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    insta::assert_snapshot!(
        "where_used_data_api_tokens",
        String::from_utf8_lossy(&out.stdout)
    );

    let fp = Fingerprint::of_bytes(b"Jold-search-jenkins-77c0", &demo_key()).to_string();
    let out = demo.keyroll(&["where-used", "--fingerprint", &fp], None);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("vars/production.yaml: search_api.auth_tokens")
            && shown
                .contains("jenkins-vars/jenkins.yaml: jenkins_env_variables.DM_SEARCH_API_TOKEN"),
        "{shown}"
    );

    let out = demo.keyroll(
        &["where-used", "--value-stdin"],
        Some("old-database-password-c3f8\n"),
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("0 places"),
        "the old password is gone after the rotation"
    );
    assert!(!text(&out).contains("c3f8"));
}

/// Without a fingerprint key nothing is hashed: plans show "(no fingerprint key)" and how to
/// create the key, rotations still work, `validate` names the command, and a fingerprint
/// cannot be looked up. `fingerprint-key init` then creates a key the real sops opens, and
/// plans show keyed fingerprints from the next commit on.
#[test]
fn without_a_fingerprint_key_values_are_not_fingerprinted_until_init() {
    let demo = Demo::without_fingerprint_key();
    let out = demo.keyroll(&["plan", "data-api-tokens"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(plan.contains("before  A (no fingerprint key)"), "{plan}");
    assert!(plan.contains("keyroll fingerprint-key init"), "{plan}");
    let hex = regex::Regex::new(r"\b[0-9a-f]{12}\b").unwrap();
    assert!(
        !hex.is_match(&plan),
        "a hash in a plan without a key:\n{plan}"
    );
    let out = demo.keyroll(&["plan", "session-secret", "--markdown"], None);
    let md = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        md.contains("| (no fingerprint key)<br>(no fingerprint key) |"),
        "{md}"
    );
    assert!(!md.contains("SHA-256") && !hex.is_match(&md), "{md}");

    let out = demo.keyroll(&["validate"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("no fingerprint key")
            && text(&out).contains("keyroll fingerprint-key init"),
        "{}",
        text(&out)
    );
    let out = demo.keyroll(&["where-used", "--fingerprint", "abcdef123456"], None);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("no fingerprint key"), "{}", text(&out));
    let out = demo.keyroll(&["fingerprint-key", "of"], Some("x"));
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));

    // A rotation still goes through; its commit touches no key.
    let out = demo.keyroll(&["rotate", "database-password", "--phase", "add"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // init writes the key file into the working tree, encrypted by .sops.yaml's rule.
    let out = demo.keyroll(&["fingerprint-key", "init"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let key_file = demo.path().join(".keyroll/fingerprint-key.yaml");
    let by_sops = sops(
        demo.path(),
        &fixture("demo-age-key.txt"),
        &["-d", ".keyroll/fingerprint-key.yaml"],
    );
    assert!(
        by_sops.status.success(),
        "{}",
        String::from_utf8_lossy(&by_sops.stderr)
    );
    let plaintext = String::from_utf8(by_sops.stdout).unwrap();
    let hex_key = plaintext
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint_key: "))
        .unwrap()
        .to_owned();
    assert_eq!(hex_key.len(), 64);
    assert!(!text(&out).contains(&hex_key));
    // Never replaced.
    let before = std::fs::read_to_string(&key_file).unwrap();
    let out = demo.keyroll(&["fingerprint-key", "init"], None);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), before);

    // Committed, it keys every fingerprint; `fingerprint-key of` gives the same ones.
    commit_all(&demo.repo, "fingerprint key");
    let out = demo.keyroll(&["plan", "data-api-tokens"], None);
    let plan = String::from_utf8_lossy(&out.stdout).into_owned();
    let ids = Identities::from_file(&fixture("demo-age-key.txt")).unwrap();
    let key = FingerprintKey::load(&WorkTree::new(demo.path()), &ids)
        .unwrap()
        .unwrap();
    let fp = Fingerprint::of_bytes(b"Aold-app-token-6f1c", &key).to_string();
    assert!(plan.contains(&format!("before  A {fp}")), "{plan}");
    assert_ne!(
        fp,
        Fingerprint::of_bytes(b"Aold-app-token-6f1c", &demo_key()).to_string()
    );
    let out = demo.keyroll(&["fingerprint-key", "of"], Some("Aold-app-token-6f1c\n"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{fp}\n"));
    let out = demo.keyroll(&["where-used", "--value-stdin"], Some(&hex_key));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("0 places in 2 SOPS files"),
        "the key file is never searched: {}",
        text(&out)
    );
    assert!(!plan.contains(&hex_key));
}

/// init refuses recipients that could fingerprint values they cannot read, and a
/// repository whose .sops.yaml has no rule for the key file; validate refuses a key file
/// that keyroll cannot open and a credential that points at the key file.
#[test]
fn fingerprint_key_readers_and_uses_are_checked() {
    let demo = Demo::without_fingerprint_key();
    let other = &keys().other;
    let out = demo.keyroll(&["fingerprint-key", "init", "--age", other], None);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "recipient {other} cannot decrypt vars/production.yaml"
        )),
        "{}",
        text(&out)
    );
    assert!(!demo.path().join(".keyroll/fingerprint-key.yaml").exists());

    std::fs::write(
        demo.path().join(".sops.yaml"),
        "creation_rules:\n  - path_regex: ^vars/.*$\n    age: age1cmfvel96zepq34yy3terpqfgr2mfytajwyh3xh9e3rq4er4fyczq0atr5l\n",
    )
    .unwrap();
    let out = demo.keyroll(&["fingerprint-key", "init"], None);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("path_regex: ^\\.keyroll/fingerprint-key\\.yaml$"),
        "{}",
        text(&out)
    );

    // A key file only someone else can open.
    let demo_recipient = "age1cmfvel96zepq34yy3terpqfgr2mfytajwyh3xh9e3rq4er4fyczq0atr5l";
    let out = demo.keyroll(
        &[
            "fingerprint-key",
            "init",
            "--age",
            &format!("{demo_recipient},{other}"),
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(5),
        "wider readers are refused: {}",
        text(&out)
    );
    let key_file = demo.path().join(".keyroll/fingerprint-key.yaml");
    std::fs::create_dir_all(key_file.parent().unwrap()).unwrap();
    let foreign = keyroll::sops::encrypt(
        FingerprintKey::generate().unwrap().to_plaintext().expose(),
        keyroll::sops::Format::Yaml,
        &keyroll::sops::EncryptOptions::for_recipients(vec![other.clone()]),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    std::fs::write(&key_file, foreign).unwrap();
    let out = demo.keyroll(&["validate"], None);
    // keyroll's identity cannot open the key file: sops's "no key" code, before the rest.
    assert_eq!(out.status.code(), Some(128), "{}", text(&out));
    assert!(
        text(&out).contains(".keyroll/fingerprint-key.yaml: ")
            && text(&out).contains(&format!("recipient {other} cannot decrypt")),
        "{}",
        text(&out)
    );
    commit_all(&demo.repo, "a key keyroll cannot open");
    let out = demo.keyroll(&["plan", "database-password"], None);
    assert_ne!(
        out.status.code(),
        Some(0),
        "never shown without fingerprints instead"
    );
    assert!(
        text(&out).contains(".keyroll/fingerprint-key.yaml: "),
        "{}",
        text(&out)
    );
    std::fs::copy(
        fixture("demo-credentials/.keyroll/fingerprint-key.yaml"),
        &key_file,
    )
    .unwrap();

    // A credential pointing at the key file.
    let config = std::fs::read_to_string(demo.path().join(".keyroll.yaml")).unwrap();
    std::fs::write(
        demo.path().join(".keyroll.yaml"),
        config.replace(
            "      - { file: vars/production.yaml, path: [database, password], role: use }",
            "      - { file: .keyroll/fingerprint-key.yaml, path: [fingerprint_key], role: use }",
        ),
    )
    .unwrap();
    let out = demo.keyroll(&["validate"], None);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains(".keyroll/fingerprint-key.yaml: holds keyroll's fingerprint key"),
        "{}",
        text(&out)
    );
    commit_all(&demo.repo, "a credential on the key file");
    let out = demo.keyroll(&["plan", "database-password"], None);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("never rotates or shows"),
        "{}",
        text(&out)
    );
}

/// `keyroll sops` never shows or changes the key file (a changed key would make every
/// fingerprint shown so far stop matching); `verify` still checks it.
#[test]
fn keyroll_never_shows_or_changes_the_fingerprint_key() {
    let demo = Demo::new();
    let file = ".keyroll/fingerprint-key.yaml";
    let before = std::fs::read_to_string(demo.path().join(file)).unwrap();
    let key = fixture("demo-age-key.txt");
    let env = [("SOPS_AGE_KEY_FILE", key.to_str().unwrap())];
    let absolute = demo.path().join(file);
    for args in [
        vec!["sops", "decrypt", file],
        vec!["sops", "decrypt", absolute.to_str().unwrap()],
        vec!["sops", "set", file, "[\"fingerprint_key\"]", "\"00\""],
        vec!["sops", "unset", file, "[\"fingerprint_key\"]"],
    ] {
        let out = run_keyroll(demo.path(), &args, &env, None);
        assert_eq!(out.status.code(), Some(7), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("never shows or changes the fingerprint key"));
        assert!(!text(&out).contains("fingerprint_key:"), "{}", text(&out));
    }
    assert_eq!(
        std::fs::read_to_string(demo.path().join(file)).unwrap(),
        before
    );
    let out = run_keyroll(demo.path(), &["sops", "verify", file], &env, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Found from outside: `max_age: 2914000d` passed validate and panicked later. validate
/// refuses it at its line; and what validate accepts, status and plan handle: history dated
/// at the calendar's end with the longest max age, and a rotation branch numbered u32::MAX.
#[test]
fn what_validate_accepts_status_and_plan_handle() {
    let demo = Demo::new();
    let config = demo.path().join(".keyroll.yaml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        good.replace("  max_age: 90d\n", "  max_age: 2914000d\n"),
    )
    .unwrap();
    let out = demo.keyroll(&["validate"], None);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains(".keyroll.yaml:6:12: defaults.max_age:")
            && text(&out).contains("3650d (10 years)"),
        "{}",
        text(&out)
    );

    // The longest max age, and a person's commit dated far ahead (git keeps commit times
    // below 2^32 seconds, so the year 2106; the calendar's end is in tests/config_limits.rs).
    std::fs::write(
        &config,
        good.replace("  max_age: 90d\n", "  max_age: 3650d\n"),
    )
    .unwrap();
    let tf = demo.path().join("terraform/redis.tf");
    let mut redis = std::fs::read_to_string(&tf).unwrap();
    redis.push_str("# touched\n");
    std::fs::write(&tf, redis).unwrap();
    let mut index = demo.repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = demo.repo.find_tree(index.write_tree().unwrap()).unwrap();
    let year_9999 = git2::Time::new(253_402_300_000, 0);
    let sig = git2::Signature::new("demo", "demo@example.com", &year_9999).unwrap();
    let parent = demo.repo.head().unwrap().peel_to_commit().unwrap();
    demo.repo
        .commit(Some("HEAD"), &sig, &sig, "far future", &tree, &[&parent])
        .unwrap();
    let out = demo.keyroll(&["validate"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = demo.keyroll(&["status", "--json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let redis = rows
        .iter()
        .find(|r| r["credential"] == "redis-auth")
        .unwrap();
    assert_eq!(redis["state"], "ok", "{redis}");

    // A rotation branch someone pushed with the highest number there is.
    let year = time::OffsetDateTime::now_utc().year();
    let head = demo.repo.head().unwrap().peel_to_commit().unwrap();
    demo.repo
        .branch(
            &format!("keyroll/database-password/R-{year}-4294967295/add"),
            &head,
            false,
        )
        .unwrap();
    let out = demo.keyroll(&["plan", "database-password"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("used up"), "{}", text(&out));
}

/// Commits a change to `path` with `message`, dated `at` (seconds since the epoch).
fn commit_dated(demo: &Demo, path: &str, message: &str, at: i64) {
    let file = demo.path().join(path);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!("# touched at {at}\n"));
    std::fs::write(&file, text).unwrap();
    let mut index = demo.repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = demo.repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::new("demo", "demo@example.com", &git2::Time::new(at, 0)).unwrap();
    let parent = demo.repo.head().unwrap().peel_to_commit().unwrap();
    demo.repo
        .commit(Some("HEAD"), &sig, &sig, message, &tree, &[&parent])
        .unwrap();
}

fn status_row(demo: &Demo, credential: &str) -> serde_json::Value {
    let out = demo.keyroll(&["status", "--json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter()
        .find(|r| r["credential"] == credential)
        .unwrap()
}

/// `status` reads "last rotated" by the same rule as the schedule and the dashboard
/// (runtime::schedule): a person's rotation after keyroll's counts, and another
/// credential's keyroll commit to a shared file does not.
#[test]
fn status_reads_last_rotated_like_the_schedule() {
    let demo = Demo::new();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let day = 86_400;

    // redis-auth: keyroll rotated it 400 days ago, a person did by hand today.
    let trailer = keyroll::repo::trailer::write("redis-auth", "R-2025-0001", "replace");
    commit_dated(
        &demo,
        "terraform/redis.tf",
        &format!("keyroll: redis-auth replace\n\n{trailer}"),
        now - 400 * day,
    );
    commit_dated(&demo, "terraform/redis.tf", "rotate redis by hand", now);
    let redis = status_row(&demo, "redis-auth");
    assert_eq!(redis["source"], "history", "{redis}");
    assert_eq!(redis["state"], "ok", "{redis}");

    // data-api-tokens' keyroll commit to vars/production.yaml (dated in 2100) is not a
    // rotation of database-password, which keeps its file there.
    let trailer = keyroll::repo::trailer::write("data-api-tokens", "R-2100-0001", "add");
    commit_dated(
        &demo,
        "vars/production.yaml",
        &format!("keyroll: data-api-tokens add\n\n{trailer}"),
        4_102_444_800,
    );
    let db = status_row(&demo, "database-password");
    assert!(
        !db["last_rotated"].as_str().unwrap().starts_with("2100"),
        "{db}"
    );
    let tokens = status_row(&demo, "data-api-tokens");
    assert_eq!(tokens["source"], "keyroll", "{tokens}");
}
