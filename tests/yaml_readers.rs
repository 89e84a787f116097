//! The fast reader for sops's own YAML layout must build exactly the tree the general reader
//! builds, spans included, wherever it accepts a text; and it must accept what sops writes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::*;
use keyroll::sops::format::yaml::parse_both;
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn agree(name: &str, text: &str) -> bool {
    match parse_both(text) {
        Some((fast, general)) => {
            assert_eq!(fast, general, "{name}: the readers disagree on:\n{text}");
            true
        }
        None => false,
    }
}

#[test]
fn readers_agree_on_every_fixture_and_the_fast_one_takes_sops_files() {
    let k = keys();
    for name in [
        "features.yaml",
        "multi.yaml",
        "k8s-secret.yaml",
        "suffixes.yaml",
    ] {
        let (_dir, plain) = scratch_with(&format!("sops/{name}"), name);
        let text = std::fs::read_to_string(&plain).unwrap();
        agree(name, &text);
        let by_sops = sops_encrypt(&plain, &["--age", &k.bot]);
        assert!(
            agree(&format!("{name} encrypted by sops"), &by_sops),
            "{name}: the fast reader declines a file sops wrote"
        );
        let by_keyroll = keyroll::sops::encrypt(
            &text,
            keyroll::sops::Format::Yaml,
            &keyroll::sops::EncryptOptions::for_recipients(vec![k.bot.clone()]),
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
        agree(&format!("{name} encrypted by keyroll"), &by_keyroll);
    }
    for file in [
        "vars/production.yaml",
        "jenkins-vars/jenkins.yaml",
        ".keyroll.yaml",
        ".sops.yaml",
    ] {
        let text = std::fs::read_to_string(fixture("demo-credentials").join(file)).unwrap();
        agree(file, &text);
    }
}

/// Small YAML documents in the shapes both readers meet: nesting, lists, lists of maps,
/// quoting, comments, blank lines, empty collections, literal blocks.
fn yaml_doc() -> impl Strategy<Value = String> {
    let key = "[a-z][a-z0-9_]{0,6}";
    let scalar = prop_oneof![
        "[a-zA-Z0-9_./=+-]{1,12}",
        "\"[a-z #:'\\\\n]{0,10}\"",
        "'[a-z #:\"]{0,8}'",
        Just("\"\"".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("true".to_owned()),
        Just("12".to_owned()),
        Just("null".to_owned()),
        Just("x # trailing comment".to_owned()),
    ];
    let line = prop_oneof![
        (key, scalar.clone()).prop_map(|(k, v)| format!("{k}: {v}\n")),
        (key, key, scalar.clone()).prop_map(|(k, k2, v)| format!("{k}:\n    {k2}: {v}\n")),
        (key, scalar.clone(), scalar.clone())
            .prop_map(|(k, a, b)| format!("{k}:\n    - {a}\n    # c\n    - {b}\n")),
        (key, key, scalar.clone(), key, scalar.clone())
            .prop_map(|(k, a, va, b, vb)| format!("{k}:\n  - {a}: {va}\n    {b}: {vb}\n")),
        (key, "[a-z ]{1,10}").prop_map(|(k, t)| format!("{k}: |\n    {t}\n    more\n")),
        Just("# a comment\n".to_owned()),
        Just("\n".to_owned()),
    ];
    prop::collection::vec(line, 1..8).prop_map(|lines| lines.concat())
}

/// 512 random documents (a fixed seed, so a failure reproduces): the readers agree on every
/// one the fast reader takes, and it takes most of them (or the test would prove nothing).
#[test]
fn readers_agree_on_random_documents() {
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = yaml_doc();
    let (mut taken, total) = (0, 512);
    for _ in 0..total {
        let doc = strategy.new_tree(&mut runner).unwrap().current();
        if agree("random", &doc) {
            taken += 1;
        }
        agree("random, two documents", &format!("{doc}---\n{doc}"));
    }
    assert!(
        taken * 2 > total,
        "the fast reader took only {taken} of {total} documents"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn fast_reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_both(&text);
    }
}
