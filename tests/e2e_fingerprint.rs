//! End to end: the fingerprints the GitHub App shows are keyed by the repository's
//! fingerprint key, read from the default branch head; a repository without one gets no
//! fingerprints (never an unkeyed hash), and a key keyroll cannot open blocks the rotation
//! with the reason instead of being skipped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;
use crate::sim;
use crate::world;

use sha2::Digest;
use sim::SimOptions;
use world::{World, leaves, pete};

/// The first 12 hex digits of a value's plain SHA-256: what fingerprints were before.
fn unkeyed(value: &str) -> String {
    sha2::Sha256::digest(value.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_the_pull_request_shows_no_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_tree(&common::fixture("demo-credentials"), dir.path());
    std::fs::remove_dir_all(dir.path().join(".keyroll")).unwrap();
    let w = World::start_with(SimOptions {
        fixture: dir.path().to_owned(),
        ..SimOptions::default()
    })
    .await;
    let old = leaves(&w.decrypted("main", "vars/production.yaml"))["database.password"].clone();
    w.tick().await;
    w.say(
        w.dashboard(),
        &pete(),
        "/keyroll rotate database-password -- test",
    )
    .await;
    let pull = w.open_pull();
    assert!(
        pull.body
            .contains("| (no fingerprint key) | (no fingerprint key) |"),
        "{}",
        pull.body
    );
    assert!(
        pull.body
            .contains("create it with `keyroll fingerprint-key init`"),
        "{}",
        pull.body
    );
    assert!(!pull.body.contains(&unkeyed(&old)) && !pull.body.contains(&old));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_keyroll_cannot_open_blocks_the_rotation_with_the_reason() {
    let w = World::start().await;
    // keyroll knows the default branch's config before the key file changes under it, and
    // the push's webhook is lost: the config check did not see the key (it would refuse
    // it, see below), so the rotation is where keyroll meets it.
    w.tick().await;
    let foreign = key_only_for(&common::keys().other);
    w.sim.drop_next_webhooks(1);
    w.sim
        .push_to_branch(
            "main",
            &[(".keyroll/fingerprint-key.yaml", &foreign)],
            &pete(),
        )
        .await;
    w.settle().await;
    w.say(
        w.dashboard(),
        &pete(),
        "/keyroll rotate database-password -- test",
    )
    .await;
    let ids = w.rotation_ids().await;
    let id = ids
        .last()
        .unwrap_or_else(|| panic!("{}", w.last_reply(w.dashboard())))
        .clone();
    let phase = w.phase(&id).await;
    assert!(phase.starts_with("blocked"), "{phase}");
    assert!(
        w.open_pulls().is_empty(),
        "no pull request without fingerprints"
    );
    w.tick().await;
    let dashboard = w
        .sim
        .issues()
        .into_iter()
        .find(|i| i.number == w.dashboard())
        .unwrap()
        .body;
    assert!(
        dashboard.contains(".keyroll/fingerprint-key.yaml: "),
        "{dashboard}"
    );
}

/// The config check reads the key file too: a key keyroll cannot open, or one more people
/// can read than the credential files, is a problem of the default branch's config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_check_names_a_bad_key_file() {
    let w = World::start().await;
    let other = common::keys().other.clone();
    let foreign = key_only_for(&other);
    w.sim
        .push_to_branch(
            "main",
            &[(".keyroll/fingerprint-key.yaml", &foreign)],
            &pete(),
        )
        .await;
    w.settle().await;
    w.tick().await;
    w.say(
        w.dashboard(),
        &pete(),
        "/keyroll rotate database-password -- test",
    )
    .await;
    assert!(w.rotation_ids().await.is_empty());
    let reply = w.last_reply(w.dashboard());
    assert!(
        reply.contains("has problems")
            && reply.contains(&format!(
                ".keyroll/fingerprint-key.yaml: recipient {other} cannot decrypt vars/production.yaml"
            )),
        "{reply}"
    );
}

/// A pull request that changes only the fingerprint key is checked like one that changes
/// the config: the check reads the key too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_changing_only_the_key_gets_a_config_check() {
    let w = World::start().await;
    w.tick().await;
    let other = common::keys().other.clone();
    let foreign = key_only_for(&other);
    let head = w
        .sim
        .push_to_branch(
            "new-key",
            &[(".keyroll/fingerprint-key.yaml", &foreign)],
            &pete(),
        )
        .await;
    w.sim
        .open_pull("new-key", "main", "A new fingerprint key", &pete())
        .await;
    w.settle().await;
    let runs = w.sim.check_runs(&head);
    let config = runs
        .iter()
        .find(|c| c.name == "keyroll/config")
        .expect("a keyroll/config check on a pull request that changes the key");
    assert_eq!(config.conclusion.as_deref(), Some("failure"));
    assert!(
        config.summary.contains(&format!(
            ".keyroll/fingerprint-key.yaml: recipient {other} cannot decrypt"
        )),
        "{}",
        config.summary
    );
}

/// A fingerprint key file encrypted to `recipient` alone (not to keyroll's identity).
fn key_only_for(recipient: &str) -> String {
    keyroll::sops::encrypt(
        keyroll::fingerprint::FingerprintKey::generate()
            .unwrap()
            .to_plaintext()
            .expose(),
        keyroll::sops::Format::Yaml,
        &keyroll::sops::EncryptOptions::for_recipients(vec![recipient.to_owned()]),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap()
}
