//! Files the real `sops` refuses, keyroll refuses too: a second `sops` section, duplicated
//! keys, an `ENC[...]` whose type was edited, metadata a writer would leave stale. And the
//! identity file rule: lines keyroll cannot use are skipped, with one warning.
//!
//! Each case is first shown to be refused by the real `sops -d` (or, for the writing cases,
//! to lead to a file it refuses), then keyroll is held to the same answer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::*;
use keyroll::sops::{Format, Identities, NewValue, SopsError, SopsFile, TreePath};
use time::OffsetDateTime;

/// A fixture encrypted by the real sops for the bot, in a scratch folder.
fn encrypted(fixture: &str) -> (tempfile::TempDir, String) {
    let (dir, plain) = scratch_with(&format!("sops/{fixture}"), fixture);
    let text = sops_encrypt(&plain, &["--age", &keys().bot]);
    (dir, text)
}

/// Whether the real `sops -d` reads `text` (written as `name` into `dir`).
fn sops_reads(dir: &Path, name: &str, text: &str) -> bool {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = sops(dir, &keys().bot_file, &["-d", path.to_str().unwrap()]);
    out.status.success()
}

/// keyroll's verdict on `text`: opened, or the error.
fn keyroll_opens(text: &str, format: Format) -> Result<(), SopsError> {
    let file = SopsFile::parse(text.to_owned(), format)?;
    file.open(&bot_identities()).map(|_| ())
}

/// Asserts that sops refuses `text` and that keyroll does too.
fn both_refuse(dir: &Path, name: &str, text: &str, what: &str) {
    let format = Format::from_path(Path::new(name)).unwrap();
    assert!(
        !sops_reads(dir, name, text),
        "{what}: expected the real sops to refuse:\n{text}"
    );
    if keyroll_opens(text, format).is_ok() {
        panic!("{what}: keyroll opened a file sops refuses:\n{text}");
    }
}

/// The `sops:` block of a YAML file sops wrote (it is the last top-level entry).
fn yaml_sops_block(text: &str) -> &str {
    let at = text.find("\nsops:\n").unwrap() + 1;
    &text[at..]
}

#[test]
fn a_second_sops_section_is_refused() {
    let (dir, yaml) = encrypted("features.yaml");
    let prepended = format!("{}{yaml}", yaml_sops_block(&yaml));
    both_refuse(
        dir.path(),
        "twice.yaml",
        &prepended,
        "YAML, sops block prepended",
    );

    let (dir, json) = encrypted("basic.json");
    let at = json.find("\n\t\"sops\": {").unwrap();
    let block = json[at + 1..].trim_end().trim_end_matches('}').trim_end();
    let twice = format!("{{\n{block},{}", &json[1..]);
    // sops reads this one (Go's JSON decoder keeps the last member); keyroll refuses the
    // duplicated member, which is stricter.
    assert!(
        keyroll_opens(&twice, Format::Json).is_err(),
        "JSON, sops member twice:\n{twice}"
    );
    let _ = dir;
}

#[test]
fn duplicate_keys_are_refused() {
    // YAML: a data key at the top level, a nested one, and a metadata field.
    let (dir, yaml) = encrypted("features.yaml");
    let dup_line = |text: &str, starts: &str| -> String {
        let line = text.lines().find(|l| l.starts_with(starts)).unwrap();
        text.replacen(&format!("{line}\n"), &format!("{line}\n{line}\n"), 1)
    };
    both_refuse(
        dir.path(),
        "top.yaml",
        &dup_line(&yaml, "colon_value:"),
        "YAML, top-level key twice",
    );
    let mut nested = yaml.clone();
    let pw = nested
        .lines()
        .find(|l| l.starts_with("    password:"))
        .unwrap()
        .to_owned();
    nested = nested.replacen(&format!("{pw}\n"), &format!("{pw}\n{pw}\n"), 1);
    // sops does not look for duplicates below the top level (its MAC then fails, as the
    // value is counted twice); keyroll refuses the file before that.
    assert!(matches!(
        keyroll_opens(&nested, Format::Yaml),
        Err(SopsError::Syntax { .. } | SopsError::BadMetadata(_))
    ));
    both_refuse(
        dir.path(),
        "meta.yaml",
        &dup_line(&yaml, "    version:"),
        "YAML, metadata field twice",
    );

    // JSON: sops keeps the last of two members; keyroll must not read the first.
    let json = r#"{"a": "x", "a": "y"}"#;
    assert!(matches!(
        SopsFile::parse(json.to_owned(), Format::Json),
        Err(SopsError::Syntax { .. })
    ));

    // dotenv: two values for one name.
    let (_d, env) = encrypted("app.env");
    let line = env.lines().find(|l| l.starts_with("API_TOKEN=")).unwrap();
    let twice = env.replacen(&format!("{line}\n"), &format!("{line}\n{line}\n"), 1);
    assert!(keyroll_opens(&twice, Format::Dotenv).is_err());
}

/// Changes the `type:` of the `ENC[...]` on the first line starting with `line_start`.
fn retype(text: &str, line_start: &str, to: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(line_start))
        .unwrap();
    let at = line.rfind(",type:").unwrap();
    let new = format!("{},type:{to}]", &line[..at]);
    text.replacen(line, &new, 1)
}

#[test]
fn an_edited_enc_type_is_refused() {
    let (dir, yaml) = encrypted("features.yaml");
    // `hunter2` does not parse as an int, a float, a bool or a time: sops fails to decrypt.
    for to in ["int", "float", "bool", "time"] {
        both_refuse(
            dir.path(),
            "retyped.yaml",
            &retype(&yaml, "password:", to),
            &format!("password retyped as {to}"),
        );
    }
    // `0.75` read as an int fails; `5432` read as a bool fails.
    both_refuse(
        dir.path(),
        "r.yaml",
        &retype(&yaml, "ratio:", "int"),
        "ratio as int",
    );
    both_refuse(
        dir.path(),
        "r.yaml",
        &retype(&yaml, "port:", "bool"),
        "port as bool",
    );
    // `True` read as a string: the MAC covers `True` either way, so sops reads it, and so
    // does keyroll (the type is not authenticated; only what it decodes to is).
    let as_str = retype(&yaml, "enabled:", "str");
    assert!(sops_reads(dir.path(), "s.yaml", &as_str));
    keyroll_opens(&as_str, Format::Yaml).unwrap();
}

#[test]
fn set_refuses_a_json_file_with_a_duplicated_lastmodified() {
    let (dir, json) = encrypted("basic.json");
    let line = json
        .lines()
        .find(|l| l.trim_start().starts_with("\"lastmodified\""))
        .unwrap();
    let twice = json.replacen(&format!("{line}\n"), &format!("{line}\n{line}\n"), 1);
    // sops reads the file (the last member wins) …
    assert!(sops_reads(dir.path(), "dup.json", &twice));
    // … but a keyroll edit that restamped only one of the two would leave sops a file it
    // cannot read; keyroll refuses the file instead.
    match SopsFile::parse(twice.clone(), Format::Json) {
        Err(e) => assert!(e.to_string().contains("lastmodified"), "{e}"),
        Ok(file) => {
            let opened = file.open(&bot_identities()).unwrap();
            let after = opened
                .set(
                    &TreePath::keys(&["name"]),
                    &NewValue::from_json("\"changed\"").unwrap(),
                    OffsetDateTime::now_utc() + time::Duration::hours(1),
                )
                .unwrap()
                .unwrap();
            assert!(
                sops_reads(dir.path(), "after.json", &after),
                "keyroll wrote a file sops cannot read:\n{after}"
            );
        }
    }
}

/// Collects every tracing event's text, to see what a call logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn with_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

fn identity_file(dir: &Path, lines: &[&str]) -> PathBuf {
    let path = dir.join("keys.txt");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn identity_lines_keyroll_cannot_use_are_skipped_with_one_warning() {
    let bot = std::fs::read_to_string(&keys().bot_file).unwrap();
    let bot_line = bot
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap();
    let pq = "AGE-SECRET-KEY-PQ-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
    let plugin = "AGE-PLUGIN-YUBIKEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
    let dir = tempfile::tempdir().unwrap();
    let path = identity_file(dir.path(), &["# created: now", pq, bot_line, plugin]);
    let (ids, logs) = with_logs(|| Identities::from_file(&path));
    let ids = ids.unwrap();
    assert_eq!(ids.recipients(), vec![keys().bot.clone()]);
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "exactly one warning expected:\n{logs}");
    let w = warnings[0];
    assert!(
        w.contains(&path.display().to_string()),
        "names the file: {w}"
    );
    assert!(w.contains("2, 4"), "names the lines: {w}");
    assert!(
        !w.contains("QQQQ") && !w.contains(bot_line),
        "no key material: {w}"
    );

    // The file still opens what sops encrypted for the bot.
    let (_d, yaml) = encrypted("features.yaml");
    SopsFile::parse(yaml, Format::Yaml)
        .unwrap()
        .open(&ids)
        .unwrap();

    // A file with nothing keyroll can use is an error naming the file.
    let only_pq = identity_file(dir.path(), &[pq, plugin]);
    let err = Identities::from_file(&only_pq).unwrap_err().to_string();
    assert!(
        err.contains(&only_pq.display().to_string()) && !err.contains("QQQQ"),
        "{err}"
    );
}

#[test]
fn other_damage_sops_refuses_is_refused() {
    let (dir, yaml) = encrypted("features.yaml");
    let comment_line = yaml.lines().find(|l| l.starts_with("#ENC[")).unwrap();
    // A key that YAML reads as a number: sops refuses a non-string key.
    let plain = dir.path().join("k.yaml");
    std::fs::write(&plain, "\"1\": one\nb: two\n").unwrap();
    let quoted_key = sops_encrypt(&plain, &["--age", &keys().bot]);
    // Found by the differential fuzz (tests/sops_differential.rs); every case is checked and
    // all that keyroll opens are reported together.
    let cases = [
        ("a value of type bytes", retype(&yaml, "password:", "bytes")),
        (
            "a control character in a comment",
            yaml.replacen("#ENC[AES256_GCM", "#ENC[AES256_GC\u{8}", 1),
        ),
        ("version 3", yaml.replace("version: 3.11.0", "version: 3")),
        (
            "a comment encrypted as a string",
            yaml.replacen(
                comment_line,
                &comment_line.replace("type:comment]", "type:str]"),
                1,
            ),
        ),
        (
            "a value tagged !!int",
            yaml.replacen("    password: ENC[", "    password: !!int ENC[", 1),
        ),
        ("the key 1", quoted_key.replacen("\"1\":", "1:", 1)),
    ];
    let mut opened = Vec::new();
    for (what, text) in &cases {
        assert!(
            !sops_reads(dir.path(), "case.yaml", text),
            "{what}: expected the real sops to refuse:\n{text}"
        );
        if keyroll_opens(text, Format::Yaml).is_ok() {
            opened.push(*what);
        }
    }
    assert!(
        opened.is_empty(),
        "keyroll opened files sops refuses: {opened:?}"
    );
}

#[test]
fn set_refuses_keys_that_would_make_a_file_sops_cannot_read() {
    let later = OffsetDateTime::now_utc() + time::Duration::hours(1);
    let value = NewValue::from_json("\"v\"").unwrap();
    let cases: [(&str, &[&str], &str); 10] = [
        ("features.yaml", &["sops"], "a second sops entry"),
        ("basic.json", &["sops"], "a second sops member"),
        ("app.env", &["sops_mac"], "a metadata line"),
        ("app.env", &["A=B"], "a key with ="),
        ("app.env", &["#A"], "a comment"),
        ("app.env", &["A\nB"], "a key with a newline"),
        ("app.env", &[""], "an empty key"),
        ("features.yaml", &["1"], "an int key"),
        ("features.yaml", &["true"], "a bool key"),
        ("features.yaml", &["nested", "2024-01-15"], "a date key"),
    ];
    for (fixture, path, what) in cases {
        let (dir, text) = encrypted(fixture);
        let format = Format::from_path(Path::new(fixture)).unwrap();
        let file = SopsFile::parse(text, format).unwrap();
        let opened = file.open(&bot_identities()).unwrap();
        match opened.set(&TreePath::keys(path), &value, later) {
            Err(_) => {}
            Ok(None) => panic!("{what}: nothing written"),
            Ok(Some(after)) => assert!(
                sops_reads(dir.path(), fixture, &after),
                "{what}: keyroll wrote a file sops cannot read:\n{after}"
            ),
        }
    }
}
