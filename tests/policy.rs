//! `.keyroll.yaml`: the presets, the published schema, and the problems bad configs give.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::*;
use keyroll::policy::{self, presets, validate};
use keyroll::repo::WorkTree;
use keyroll::sops::Identities;

fn demo_identities() -> Identities {
    Identities::from_file(&fixture("demo-age-key.txt")).unwrap()
}

#[test]
fn every_preset_loads_and_is_used_by_the_demo_repository() {
    let demo = std::fs::read_to_string(fixture("demo-credentials/.keyroll.yaml")).unwrap();
    for name in presets::names() {
        presets::load(name)
            .unwrap()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            demo.contains(&format!("extends: {name}")),
            "the demo repository does not use preset {name}"
        );
    }
    let files: Vec<String> =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .collect();
    assert_eq!(
        files.len(),
        presets::names().len(),
        "a preset file is not registered in presets.rs: {files:?}"
    );
}

#[test]
fn the_demo_repository_validates() {
    let text = std::fs::read_to_string(fixture("demo-credentials/.keyroll.yaml")).unwrap();
    let config = policy::parse(".keyroll.yaml", &text).unwrap();
    let problems = validate::check(
        &config,
        ".keyroll.yaml",
        &text,
        &WorkTree::new(fixture("demo-credentials")),
        &demo_identities(),
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(config.credentials.len(), 6);
}

#[test]
fn the_published_schema_matches_the_types() {
    let published = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/schema.json"),
    )
    .unwrap();
    assert!(
        published == policy::json_schema(),
        "policies/schema.json is out of date: run `cargo run -- schema > policies/schema.json`"
    );
}

/// Problems found without the repository: each names file, line, column and field.
#[test]
fn config_problems_are_placed() {
    let cases: &[(&str, &str)] = &[
        (
            "unknown_field",
            "version: 1\ncredentials:\n  x:\n    owner: '@a'\n    extends: random-password\n    colour: blue\n    locations: [{ file: a.yaml, path: [a], role: use }]\n",
        ),
        (
            "bad_duration",
            "version: 1\ndefaults:\n  max_age: 90 days\ncredentials: {}\n",
        ),
        (
            "bad_role",
            "version: 1\ncredentials:\n  x:\n    extends: random-password\n    owner: '@a'\n    locations:\n      - { file: a.yaml, path: [a], role: reader }\n",
        ),
        (
            "unknown_preset",
            "version: 1\ncredentials:\n  x:\n    extends: api-tokens\n    owner: '@a'\n",
        ),
        (
            "slot_problems",
            "version: 1\ncredentials:\n  x:\n    extends: api-token-slots\n    owner: '@a'\n    locations:\n      - { file: a.yaml, path: [t], role: use, slot: A }\n      - { file: a.yaml, path: [u], role: use, slot: Q }\n      - { file: ../b.yaml, path: [u], role: accept }\n",
        ),
        (
            "rollout_problems",
            "version: 1\ncredentials:\n  x:\n    extends: random-password\n    owner: '@a'\n    locations: [{ file: a.yaml, path: [a], role: use }]\n    rollout:\n      - { wave: deploy }\n      - { gate: ok, checks: [c] }\n      - { instructions: huh }\n",
        ),
        (
            "pattern_problems",
            "version: 1\ncredentials:\n  x:\n    extends: terraform-rotated-date\n    owner: '@a'\n    locations:\n      - { file: main.tf, pattern: 'date = \"([^\"]*)\"', role: use }\n      - { file: main.tf, pattern: '(', role: use }\n",
        ),
        (
            "roles_loosen",
            "version: 1\nroles:\n  rotate: reader\n  abort: admin\ncredentials:\n  x:\n    extends: random-password\n    owner: '@a'\n    locations: [{ file: a.yaml, path: [a], role: use }]\n    roles: { abort: operator, hold: reader, unhold: admin }\n",
        ),
        (
            "roles_unknown_verb",
            "version: 1\nroles:\n  rotate: operator\n  deploy: owner\ncredentials: {}\n",
        ),
        (
            "roles_unknown_role",
            "version: 1\ncredentials:\n  x:\n    extends: random-password\n    owner: '@a'\n    locations: [{ file: a.yaml, path: [a], role: use }]\n    roles:\n      rotate: boss\n",
        ),
        (
            "missing_fields",
            "version: 2\ncredentials:\n  Bad_Name: {}\n  y: {}\n",
        ),
    ];
    for (name, text) in cases {
        let problems = policy::parse(".keyroll.yaml", text).expect_err(name);
        insta::assert_snapshot!(format!("config_{name}"), problems.to_string());
    }
}

/// Problems found against the repository's files.
#[test]
fn repository_problems_are_placed() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture("demo-credentials"), dir.path());
    let text = "version: 1\ndefaults: { max_age: 90d }\ncredentials:\n  x:\n    extends: random-password\n    owner: '@a'\n    locations:\n      - { file: vars/missing.yaml, path: [a], role: use }\n      - { file: vars/production.yaml, path: [database, nope], role: use }\n      - { file: vars/production.yaml, path: [database], role: use }\n      - { file: terraform/redis.tf, pattern: '(?P<value>nothing-like-this)', role: use }\n      - { file: secret.yaml, path: [a], role: use }\n";
    // A SOPS file keyroll's identity is not a recipient of.
    let k = keys();
    let other_only = keyroll::sops::encrypt(
        "a: b\n",
        keyroll::sops::Format::Yaml,
        &keyroll::sops::EncryptOptions::for_recipients(vec![k.other.clone()]),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    std::fs::write(dir.path().join("secret.yaml"), other_only).unwrap();
    let problems = match policy::parse(".keyroll.yaml", text) {
        Ok(config) => validate::check(
            &config,
            ".keyroll.yaml",
            text,
            &WorkTree::new(dir.path()),
            &demo_identities(),
        ),
        Err(p) => p.0,
    };
    let rendered: Vec<String> = problems
        .iter()
        .map(|p| {
            p.to_string()
                .replace(&k.other, "[OTHER]")
                .replace(&demo_identities().recipients()[0], "[DEMO]")
                .replace(fixture("demo-age-key.txt").to_str().unwrap(), "[DEMO_KEY]")
        })
        .collect();
    insta::assert_snapshot!("repository_problems", rendered.join("\n"));
}
