//! The phases beyond add and remove, on the demo repository's files: a separate switch, the
//! emergency replace, and rollback. Each result is read back by the real `sops -d`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::*;
use keyroll::changeset::{self, Base, ChangeError, ChangeSet, Phase};
use keyroll::fingerprint::FingerprintKey;
use keyroll::generate;
use keyroll::policy::{self, Config, Credential, Role};
use keyroll::repo::WorkTree;
use keyroll::sops::Identities;
use time::OffsetDateTime;

struct Repo {
    dir: tempfile::TempDir,
    config: Config,
    ids: Identities,
    key: Option<FingerprintKey>,
}

impl Repo {
    /// A copy of the demo repository, its config edited by `edit`.
    fn new(edit: impl Fn(String) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&fixture("demo-credentials"), dir.path());
        let text = edit(std::fs::read_to_string(dir.path().join(".keyroll.yaml")).unwrap());
        let config = policy::parse(".keyroll.yaml", &text).unwrap();
        let ids = Identities::from_file(&fixture("demo-age-key.txt")).unwrap();
        let key = FingerprintKey::load(&WorkTree::new(dir.path()), &ids).unwrap();
        Self {
            dir,
            config,
            ids,
            key,
        }
    }

    fn cred(&self, name: &str) -> &Credential {
        self.config.credential(name).unwrap()
    }

    fn build(
        &self,
        phase: Phase,
        cred: &str,
        new: Option<&generate::NewValues>,
    ) -> Result<ChangeSet, ChangeError> {
        let files = WorkTree::new(self.dir.path());
        let base = Base {
            files: &files,
            ids: &self.ids,
            now: OffsetDateTime::now_utc() + time::Duration::hours(1),
            fingerprint_key: self.key.as_ref(),
        };
        changeset::build(phase, self.cred(cred), new, base)
    }

    fn apply(&self, change: &ChangeSet) {
        for (path, content) in &change.files {
            std::fs::write(self.dir.path().join(path), content).unwrap();
        }
    }

    /// The values at each location, read by keyroll.
    fn values(&self, cred: &str) -> Vec<Vec<String>> {
        let files = WorkTree::new(self.dir.path());
        let base = Base {
            files: &files,
            ids: &self.ids,
            now: OffsetDateTime::now_utc(),
            fingerprint_key: self.key.as_ref(),
        };
        changeset::read_current(self.cred(cred), base)
            .unwrap()
            .per_location
            .iter()
            .map(|vs| {
                vs.iter()
                    .map(|v| v.expose_str().unwrap().to_owned())
                    .collect()
            })
            .collect()
    }

    /// Every SOPS file of the repository opens with the real sops.
    fn sops_reads_everything(&self) {
        for f in ["vars/production.yaml", "jenkins-vars/jenkins.yaml"] {
            let out = sops(self.dir.path(), &fixture("demo-age-key.txt"), &["-d", f]);
            assert!(
                out.status.success(),
                "sops -d {f}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn roles(&self, cred: &str) -> Vec<Role> {
        self.cred(cred).locations.iter().map(|l| l.role).collect()
    }
}

#[test]
fn a_separate_switch_moves_clients_only_after_the_accept_lists() {
    let repo = Repo::new(|t| {
        t.replace(
            "  search-api-tokens:\n",
            "  search-api-tokens:\n    switch: separate\n",
        )
    });
    let name = "search-api-tokens";
    assert_eq!(
        Phase::sequence(repo.cred(name)),
        vec![Phase::Add, Phase::Switch, Phase::Remove]
    );
    let before = repo.values(name);

    let err = repo.build(Phase::Switch, name, None).unwrap_err();
    assert!(
        matches!(err, ChangeError::NotApplicable { .. }),
        "switch before add: {err}"
    );

    let new = generate::generate(repo.cred(name), OffsetDateTime::now_utc()).unwrap();
    repo.apply(&repo.build(Phase::Add, name, Some(&new)).unwrap());
    let added = repo.values(name);
    for ((role, b), a) in repo.roles(name).iter().zip(&before).zip(&added) {
        match role {
            Role::Use => assert_eq!(
                a, b,
                "add must not switch clients when the switch is separate"
            ),
            Role::Accept => assert_eq!(a.len(), b.len() + 2),
        }
    }

    repo.apply(&repo.build(Phase::Switch, name, None).unwrap());
    let switched = repo.values(name);
    for ((role, a), s) in repo.roles(name).iter().zip(&added).zip(&switched) {
        match role {
            Role::Use => {
                assert_ne!(s, a, "switch moves clients");
                assert!(
                    added
                        .iter()
                        .flatten()
                        .filter(|v| !before.iter().flatten().any(|o| o == *v))
                        .any(|v| v == &s[0])
                );
            }
            Role::Accept => assert_eq!(s, a, "switch leaves the accept lists alone"),
        }
    }

    repo.apply(&repo.build(Phase::Remove, name, None).unwrap());
    let removed = repo.values(name);
    let in_use: Vec<String> = repo
        .roles(name)
        .iter()
        .zip(&removed)
        .filter(|(r, _)| **r == Role::Use)
        .map(|(_, v)| v[0].clone())
        .collect();
    for (role, r) in repo.roles(name).iter().zip(&removed) {
        if *role == Role::Accept {
            let mut got = r.clone();
            got.sort();
            let mut want = in_use.clone();
            want.sort();
            assert_eq!(got, want, "remove keeps exactly what clients use");
        }
    }
    repo.sops_reads_everything();

    // A credential that switches with add has no switch phase.
    let err = repo
        .build(Phase::Switch, "data-api-tokens", None)
        .unwrap_err();
    assert!(
        err.to_string().contains("switch in the add change"),
        "{err}"
    );
}

#[test]
fn replace_swaps_old_values_for_new_in_one_change() {
    let repo = Repo::new(|t| t);
    let name = "data-api-tokens";
    let before = repo.values(name);
    let new = generate::generate(repo.cred(name), OffsetDateTime::now_utc()).unwrap();
    repo.apply(&repo.build(Phase::Replace, name, Some(&new)).unwrap());
    let after = repo.values(name);
    let fresh: Vec<String> = new
        .0
        .values()
        .map(|v| v.expose_str().unwrap().to_owned())
        .collect();
    for ((role, b), a) in repo.roles(name).iter().zip(&before).zip(&after) {
        assert!(
            b.iter().all(|old| !a.contains(old)),
            "an old value survived replace"
        );
        match role {
            Role::Accept => {
                let mut got = a.clone();
                got.sort();
                let mut want = fresh.clone();
                want.sort();
                assert_eq!(got, want);
            }
            Role::Use => assert!(fresh.contains(&a[0])),
        }
    }
    repo.sops_reads_everything();
}

#[test]
fn rollback_returns_to_the_old_values() {
    let repo = Repo::new(|t| t);
    let name = "data-api-tokens";
    let before = repo.values(name);
    let new = generate::generate(repo.cred(name), OffsetDateTime::now_utc()).unwrap();
    repo.apply(&repo.build(Phase::Add, name, Some(&new)).unwrap());
    assert_ne!(repo.values(name), before);
    let rollback = repo.build(Phase::Rollback, name, None).unwrap();
    repo.apply(&rollback);
    assert_eq!(repo.values(name), before, "rollback is the reverse of add");
    repo.sops_reads_everything();

    // Nothing left to roll back: the accept lists hold one value per slot.
    let err = repo.build(Phase::Rollback, name, None).unwrap_err();
    assert!(matches!(err, ChangeError::NotApplicable { .. }), "{err}");
}

#[test]
fn remove_does_not_apply_without_accept_locations() {
    let repo = Repo::new(|t| t);
    let err = repo
        .build(Phase::Remove, "database-password", None)
        .unwrap_err();
    assert!(err.to_string().contains("no accept locations"), "{err}");
    // Writing what is already there is refused rather than committed as an empty change.
    let same = generate::NewValues(
        [(
            "default".to_owned(),
            keyroll::sops::PlainValue::str("old-database-password-c3f8"),
        )]
        .into_iter()
        .collect(),
    );
    let err = repo
        .build(Phase::Add, "database-password", Some(&same))
        .unwrap_err();
    assert!(
        matches!(err, ChangeError::NothingToChange(Phase::Add)),
        "{err}"
    );
}

/// An accept location written as a YAML list: add appends one item a slot, remove unsets the
/// old items; with `insert: start` the list is rewritten with the new values first.
#[test]
fn list_accept_locations_gain_and_lose_items() {
    for insert in ["end", "start"] {
        let repo = Repo::new(|t| {
            t + &"\n  list-tokens:\n    extends: api-token-slots\n    owner: \"@acme/platform\"\n    slots: [{ name: A, prefix: A }, { name: J, prefix: J }]\n    locations:\n      - { file: vars/lists.yaml, path: [api, accepted], role: accept, format: list, insert: INSERT }\n      - { file: vars/lists.yaml, path: [apps, token], role: use, slot: A }\n      - { file: vars/lists.yaml, path: [jenkins, token], role: use, slot: J }\n"
                .replace("INSERT", insert)
        });
        let plain = "api:\n    accepted:\n        - Aold-list-1\n        - Jold-list-2\n        - unrelated-value\napps:\n    token: Aold-list-1\njenkins:\n    token: Jold-list-2\n";
        let options = keyroll::sops::EncryptOptions::for_recipients(repo.ids.recipients());
        let encrypted = keyroll::sops::encrypt(
            plain,
            keyroll::sops::Format::Yaml,
            &options,
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        std::fs::write(repo.dir.path().join("vars/lists.yaml"), &encrypted).unwrap();

        let text = std::fs::read_to_string(repo.dir.path().join(".keyroll.yaml")).unwrap();
        let problems = policy::validate::check(
            &repo.config,
            ".keyroll.yaml",
            &text,
            &WorkTree::new(repo.dir.path()),
            &repo.ids,
        );
        assert!(problems.is_empty(), "{problems:?}");

        let name = "list-tokens";
        let new = generate::generate(repo.cred(name), OffsetDateTime::now_utc()).unwrap();
        let add = repo.build(Phase::Add, name, Some(&new)).unwrap();
        if insert == "end" {
            // Two appended items, two switched values, lastmodified and mac.
            assert_eq!(
                changed_lines(&encrypted, &add.files["vars/lists.yaml"]),
                (6, 4),
                "insert {insert}"
            );
        }
        repo.apply(&add);
        let added = repo.values(name);
        assert_eq!(added[0].len(), 5, "insert {insert}: {:?}", added[0]);
        let fresh: Vec<String> = new
            .0
            .values()
            .map(|v| v.expose_str().unwrap().to_owned())
            .collect();
        let head: Vec<String> = if insert == "start" {
            added[0][..2].to_vec()
        } else {
            added[0][3..].to_vec()
        };
        assert_eq!(
            head.iter().filter(|v| fresh.contains(v)).count(),
            2,
            "insert {insert}: {:?}",
            added[0]
        );

        repo.apply(&repo.build(Phase::Remove, name, None).unwrap());
        let mut left = repo.values(name)[0].clone();
        left.sort();
        let mut want = fresh.clone();
        want.push("unrelated-value".to_owned());
        want.sort();
        assert_eq!(
            left, want,
            "insert {insert}: remove keeps the new values and values of no slot"
        );
        let out = sops(
            repo.dir.path(),
            &fixture("demo-age-key.txt"),
            &["-d", "vars/lists.yaml"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("unrelated-value"));
    }
}

/// A value has one fingerprint wherever it is: the old Jenkins token is in the accept list
/// of vars/production.yaml and in jenkins-vars/jenkins.yaml. Another key gives other
/// fingerprints; no key gives none (and still tells changed locations from unchanged ones).
#[test]
fn a_value_has_one_fingerprint_in_every_file_under_the_repository_key() {
    let mut repo = Repo::new(|t| t);
    let name = "data-api-tokens";
    let new = generate::generate(repo.cred(name), OffsetDateTime::now_utc()).unwrap();
    let jenkins_before = |set: &ChangeSet| {
        let accept = &set.locations[0];
        let jenkins = &set.locations[2];
        assert!(jenkins.file.starts_with("jenkins-vars/"));
        let in_accept = accept
            .before
            .iter()
            .find(|s| s.slot.as_deref() == Some("J"))
            .unwrap()
            .fingerprint
            .clone();
        (in_accept, jenkins.before[0].fingerprint.clone())
    };

    let set = repo.build(Phase::Add, name, Some(&new)).unwrap();
    assert!(set.keyed);
    let (in_accept, in_jenkins) = jenkins_before(&set);
    assert!(in_accept.is_some());
    assert_eq!(in_accept, in_jenkins, "one value, one fingerprint");

    repo.key = Some(FingerprintKey::generate().unwrap());
    let other = repo.build(Phase::Add, name, Some(&new)).unwrap();
    let (other_accept, other_jenkins) = jenkins_before(&other);
    assert_eq!(other_accept, other_jenkins);
    assert_ne!(other_accept, in_accept, "another key, another fingerprint");

    repo.key = None;
    let unkeyed = repo.build(Phase::Add, name, Some(&new)).unwrap();
    assert!(!unkeyed.keyed);
    assert!(
        unkeyed
            .locations
            .iter()
            .flat_map(|l| l.before.iter().chain(&l.after))
            .all(|s| s.fingerprint.is_none())
    );
    let changed = |set: &ChangeSet| {
        set.locations
            .iter()
            .map(|l| l.changed())
            .collect::<Vec<_>>()
    };
    assert_eq!(changed(&unkeyed), changed(&set));
    assert!(
        changed(&unkeyed).iter().all(|c| *c),
        "add changes every location"
    );
}

/// The key file is never a credential's location: reading or changing it is refused.
#[test]
fn the_fingerprint_key_file_is_never_rotated() {
    let repo = Repo::new(|t| {
        t.replace(
            "credentials:\n",
            "credentials:\n  fingerprints:\n    extends: random-password\n    owner: \"@acme/platform\"\n    locations:\n      - { file: .keyroll/fingerprint-key.yaml, path: [fingerprint_key], role: use }\n    rollout:\n      - { wave: all-apps, checks: [deploy-frontends] }\n",
        )
    });
    let new = generate::generate(repo.cred("fingerprints"), OffsetDateTime::now_utc()).unwrap();
    let err = repo
        .build(Phase::Add, "fingerprints", Some(&new))
        .unwrap_err();
    assert!(matches!(err, ChangeError::FingerprintKeyFile(_)), "{err}");
    assert!(err.to_string().contains("never rotates"), "{err}");
}

/// A location holding more values than keyroll compares (an accept list grown by hand or by
/// an attacker) is refused with the limit, not worked through pairwise.
#[test]
fn a_location_with_more_values_than_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ids = Identities::from_file(&fixture("demo-age-key.txt")).unwrap();
    let n = policy::limits::MAX_VALUES_PER_LOCATION + 1;
    let plain: String = std::iter::once("tokens:\n".to_owned())
        .chain((0..n).map(|i| format!("  - token-{i}\n")))
        .collect();
    let encrypted = keyroll::sops::encrypt(
        &plain,
        keyroll::sops::Format::Yaml,
        &keyroll::sops::EncryptOptions::for_recipients(vec![ids.recipients()[0].clone()]),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    std::fs::write(dir.path().join("a.yaml"), encrypted).unwrap();
    let config = policy::parse(
        ".keyroll.yaml",
        "version: 1\ncredentials:\n  x:\n    extends: random-password\n    owner: '@a'\n    locations: [{ file: a.yaml, path: [tokens], role: accept, format: list }]\n",
    )
    .unwrap();
    let files = WorkTree::new(dir.path());
    let base = Base {
        files: &files,
        ids: &ids,
        now: OffsetDateTime::now_utc(),
        fingerprint_key: None,
    };
    let e = changeset::read_current(&config.credentials[0], base).unwrap_err();
    assert!(
        e.to_string().contains(&format!(
            "holds {n} values; keyroll handles at most {}",
            n - 1
        )),
        "{e}"
    );
}
