//! Every kind of edit, made by keyroll and by the real `sops set` / `sops unset` on copies of
//! the same file: both must decrypt to the same document, and keyroll's diff must be no
//! larger than sops's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::path::Path;

use common::*;
use keyroll::sops::{Format, NewValue, SopsError, SopsFile, TreePath};
use time::OffsetDateTime;

enum Op {
    Set(&'static str, &'static str),
    Unset(&'static str),
}

/// Encrypts `fixture` with sops, applies `op` with keyroll and with sops, and compares.
/// Returns keyroll's (added, removed) line counts.
fn compare(fixture: &str, op: &Op) -> (usize, usize) {
    let format = Format::from_path(Path::new(fixture)).unwrap();
    let (dir, plain) = scratch_with(&format!("sops/{fixture}"), fixture);
    let encrypted = sops_encrypt(&plain, &["--age", &keys().bot]);
    // sops stamps whole seconds: make sure its own edit lands in a later second.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let ours = {
        let file = SopsFile::parse(encrypted.clone(), format).unwrap();
        let opened = file.open(&bot_identities()).unwrap();
        let now = OffsetDateTime::now_utc();
        match op {
            Op::Set(path, json) => opened
                .set(
                    &TreePath::parse(path).unwrap(),
                    &NewValue::from_json(json).unwrap(),
                    now,
                )
                .unwrap()
                .unwrap_or_else(|| encrypted.clone()),
            Op::Unset(path) => opened.unset(&TreePath::parse(path).unwrap(), now).unwrap(),
        }
    };
    let ours_path = dir.path().join(format!("ours.{fixture}"));
    std::fs::write(&ours_path, &ours).unwrap();

    let theirs_path = dir.path().join(format!("theirs.{fixture}"));
    std::fs::write(&theirs_path, &encrypted).unwrap();
    let target = theirs_path.to_str().unwrap();
    let args: Vec<&str> = match op {
        Op::Set(path, json) => vec!["set", target, path, json],
        Op::Unset(path) => vec!["unset", target, path],
    };
    let out = sops(dir.path(), &keys().bot_file, &args);
    assert!(
        out.status.success(),
        "sops {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = std::fs::read_to_string(&theirs_path).unwrap();

    let ours_plain = sops_decrypt(&ours_path);
    let theirs_plain = sops_decrypt(&theirs_path);
    assert_eq!(
        data(&ours_plain, format),
        data(&theirs_plain, format),
        "{fixture}: documents differ after the edit"
    );
    assert_eq!(
        data(&keyroll_decrypt(&ours, format), format),
        data(&theirs_plain, format),
        "{fixture}: keyroll reads its own edit differently"
    );

    let our_diff = changed_lines(&encrypted, &ours);
    let their_diff = changed_lines(&encrypted, &theirs);
    assert!(
        our_diff.0 <= their_diff.0 && our_diff.1 <= their_diff.1,
        "{fixture}: keyroll changed {our_diff:?} lines, sops {their_diff:?}\n--- ours\n{ours}"
    );
    our_diff
}

#[test]
fn yaml_set_existing_value_is_three_lines() {
    assert_eq!(
        compare(
            "features.yaml",
            &Op::Set(r#"["database"]["password"]"#, r#""n3w-p4ss""#)
        ),
        (3, 3)
    );
}

#[test]
fn yaml_set_changes_type_and_quoting() {
    compare("features.yaml", &Op::Set(r#"["database"]["port"]"#, "6543"));
    compare(
        "features.yaml",
        &Op::Set(r#"["database"]["enabled"]"#, "false"),
    );
    compare(
        "features.yaml",
        &Op::Set(r#"["unicode"]"#, r#""ünï 🔑 \"q\" \n two lines""#),
    );
}

#[test]
fn yaml_set_new_keys_and_maps() {
    assert_eq!(
        compare(
            "features.yaml",
            &Op::Set(r#"["database"]["new_key"]"#, r#""v""#)
        ),
        (3, 2)
    );
    compare(
        "features.yaml",
        &Op::Set(r#"["brand"]["new"]["deep"]"#, r#""v""#),
    );
    compare(
        "features.yaml",
        &Op::Set(
            r#"["nested"]["level2"]["obj"]"#,
            r#"{"a": "1", "b": [true, 2, {"c": "d"}]}"#,
        ),
    );
}

#[test]
fn yaml_set_replaces_a_map_with_a_value_and_back() {
    compare("features.yaml", &Op::Set(r#"["nested"]"#, r#""flat now""#));
    compare("features.yaml", &Op::Set(r#"["multi"]"#, r#"{"x": "y"}"#));
}

#[test]
fn yaml_lists_append_replace_and_remove() {
    compare(
        "features.yaml",
        &Op::Set(r#"["list_of_strings"][3]"#, r#""appended""#),
    );
    compare(
        "features.yaml",
        &Op::Set(r#"["list_of_strings"][0]"#, r#""replaced""#),
    );
    compare(
        "features.yaml",
        &Op::Set(r#"["list_of_maps"][2]"#, r#"{"name": "c", "secret": "s3"}"#),
    );
    compare(
        "features.yaml",
        &Op::Set(r#"["empty_list"][0]"#, r#""first""#),
    );
    compare("features.yaml", &Op::Set(r#"["empty_map"]["k"]"#, r#""v""#));
    compare("features.yaml", &Op::Unset(r#"["list_of_maps"][0]"#));
    compare("features.yaml", &Op::Unset(r#"["list_of_maps"][1]"#));
}

#[test]
fn yaml_unset_removes_only_the_entry() {
    assert_eq!(
        compare("features.yaml", &Op::Unset(r#"["database"]["port"]"#)),
        (2, 3)
    );
    compare("features.yaml", &Op::Unset(r#"["nested"]"#));
    compare("features.yaml", &Op::Unset(r#"["settings_unencrypted"]"#));
    compare(
        "features.yaml",
        &Op::Unset(r#"["list_of_maps"][0]["name"]"#),
    );
    compare(
        "features.yaml",
        &Op::Unset(r#"["list_of_maps"][1]["secret"]"#),
    );
    compare(
        "features.yaml",
        &Op::Unset(r#"["nested"]["level2"]["level3"]["deep_key"]"#),
    );
    compare("features.yaml", &Op::Unset(r#"["public_unencrypted"]"#));
}

#[test]
fn yaml_multi_document_edits_restamp_every_document() {
    let (added, removed) = compare("multi.yaml", &Op::Set(r#"["token"]"#, r#""rotated""#));
    assert_eq!(
        (added, removed),
        (7, 7),
        "the value line plus lastmodified and mac in each of 3 documents"
    );
}

#[test]
fn json_edits() {
    assert_eq!(
        compare(
            "basic.json",
            &Op::Set(r#"["nested"]["token"]"#, r#""rotated""#)
        ),
        (3, 3)
    );
    compare("basic.json", &Op::Set(r#"["new_key"]"#, r#""v""#));
    compare(
        "basic.json",
        &Op::Set(r#"["nested"]["inner"]["more"]"#, r#"{"a": [1, "two"]}"#),
    );
    compare("basic.json", &Op::Set(r#"["list"][4]"#, r#""appended""#));
    compare("basic.json", &Op::Set(r#"["empty_obj"]["k"]"#, r#""v""#));
    compare("basic.json", &Op::Set(r#"["empty_arr"][0]"#, r#""first""#));
    compare("basic.json", &Op::Unset(r#"["name"]"#));
    compare("basic.json", &Op::Unset(r#"["ratio"]"#));
    compare("basic.json", &Op::Unset(r#"["empty_arr"]"#));
    compare("basic.json", &Op::Unset(r#"["list"][0]"#));
    compare("basic.json", &Op::Unset(r#"["list"][3]"#));
}

#[test]
fn dotenv_edits() {
    assert_eq!(
        compare("app.env", &Op::Set(r#"["API_TOKEN"]"#, r#""rotated""#)),
        (3, 3)
    );
    compare("app.env", &Op::Set(r#"["NEW_TOKEN"]"#, r#""v""#));
    compare("app.env", &Op::Set(r#"["MULTILINE"]"#, r#""a\nb""#));
    compare("app.env", &Op::Unset(r#"["QUOTED"]"#));
}

#[test]
fn setting_the_same_value_writes_nothing() {
    let (_dir, plain) = scratch_with("sops/features.yaml", "features.yaml");
    let encrypted = sops_encrypt(&plain, &["--age", &keys().bot]);
    let file = SopsFile::parse(encrypted, Format::Yaml).unwrap();
    let opened = file.open(&bot_identities()).unwrap();
    let same = opened
        .set(
            &TreePath::parse(r#"["database"]["password"]"#).unwrap(),
            &NewValue::from_json(r#""hunter2""#).unwrap(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    assert!(same.is_none());
}

#[test]
fn bad_paths_are_named() {
    let (_dir, plain) = scratch_with("sops/features.yaml", "features.yaml");
    let encrypted = sops_encrypt(&plain, &["--age", &keys().bot]);
    let file = SopsFile::parse(encrypted, Format::Yaml).unwrap();
    let opened = file.open(&bot_identities()).unwrap();
    let now = OffsetDateTime::now_utc();
    let v = NewValue::from_json(r#""x""#).unwrap();
    let err = opened
        .set(
            &TreePath::parse(r#"["database"]["password"]["deeper"]"#).unwrap(),
            &v,
            now,
        )
        .unwrap_err();
    assert!(
        matches!(err, SopsError::InvalidPath(_))
            && err.to_string().contains(r#"["database"]["password"]"#),
        "{err}"
    );
    let err = opened
        .set(&TreePath::parse(r#"["database"][0]"#).unwrap(), &v, now)
        .unwrap_err();
    assert!(matches!(err, SopsError::InvalidPath(_)), "{err}");
    let err = opened
        .unset(&TreePath::parse(r#"["database"]["missing"]"#).unwrap(), now)
        .unwrap_err();
    assert!(
        matches!(err, SopsError::PathNotFound(_)) && err.to_string().contains("missing"),
        "{err}"
    );
    let err = opened
        .unset(&TreePath::parse(r#"["list_of_strings"][9]"#).unwrap(), now)
        .unwrap_err();
    assert!(matches!(err, SopsError::PathNotFound(_)), "{err}");
}
