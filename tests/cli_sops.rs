//! The `keyroll sops` command line: what people read (help, errors) is snapshotted, exit
//! codes are checked against the documented table, and no failure prints a plaintext value.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::path::Path;
use std::process::Output;

use common::*;
use keyroll::sops::Format;

/// Plaintext values of the fixtures that must never show up outside `decrypt`'s stdout.
const SECRETS: &[&str] = &[
    "hunter2",
    "deep value",
    "s3cr3t-token",
    "A1b2C3d4",
    "rotated-cli-value",
];

fn keyroll(cwd: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    run_keyroll(cwd, args, env, stdin)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_no_secret(context: &str, text: &str) {
    for s in SECRETS {
        assert!(
            !text.contains(s),
            "{context}: plaintext {s:?} appears in:\n{text}"
        );
    }
}

/// A folder with `secrets.yaml` encrypted by the real sops to the bot identity.
fn encrypted_fixture(fixture: &str) -> (tempfile::TempDir, String) {
    let (dir, plain) = scratch_with(&format!("sops/{fixture}"), fixture);
    let encrypted = sops_encrypt(&plain, &["--age", &keys().bot]);
    let name = format!("secrets.{}", fixture.rsplit('.').next().unwrap());
    std::fs::write(dir.path().join(&name), encrypted).unwrap();
    std::fs::remove_file(&plain).unwrap();
    (dir, name)
}

fn bot_env() -> Vec<(&'static str, &'static str)> {
    let path: &'static str = Box::leak(
        keys()
            .bot_file
            .to_str()
            .unwrap()
            .to_owned()
            .into_boxed_str(),
    );
    vec![("SOPS_AGE_KEY_FILE", path)]
}

fn redact(text: &str, dir: &Path) -> String {
    let mut t = text.replace(dir.to_str().unwrap(), "[DIR]");
    t = t
        .replace(&keys().bot, "[BOT]")
        .replace(&keys().other, "[OTHER]");
    t.replace(keys().other_file.to_str().unwrap(), "[OTHER_FILE]")
}

#[test]
fn help_text() {
    let dir = tempfile::tempdir().unwrap();
    insta::assert_snapshot!(
        "keyroll_help",
        stdout(&keyroll(dir.path(), &["--help"], &[], None))
    );
    insta::assert_snapshot!(
        "sops_help",
        stdout(&keyroll(dir.path(), &["sops", "--help"], &[], None))
    );
    insta::assert_snapshot!(
        "sops_set_help",
        stdout(&keyroll(dir.path(), &["sops", "set", "--help"], &[], None))
    );
}

#[test]
fn decrypt_matches_sops_with_every_identity_source() {
    for fixture in ["features.yaml", "basic.json", "app.env"] {
        let format = Format::from_path(Path::new(fixture)).unwrap();
        let (dir, name) = encrypted_fixture(fixture);
        let expected = data(&sops_decrypt(&dir.path().join(&name)), format);

        let by_file = keyroll(dir.path(), &["sops", "decrypt", &name], &bot_env(), None);
        assert_eq!(by_file.status.code(), Some(0), "{}", stderr(&by_file));
        assert_eq!(data(&stdout(&by_file), format), expected);

        let inline = std::fs::read_to_string(&keys().bot_file).unwrap();
        let by_env = keyroll(
            dir.path(),
            &["sops", "decrypt", &name],
            &[("SOPS_AGE_KEY", &inline)],
            None,
        );
        assert_eq!(
            data(&stdout(&by_env), format),
            expected,
            "{}",
            stderr(&by_env)
        );

        let flag = keys().bot_file.to_str().unwrap();
        let by_flag = keyroll(
            dir.path(),
            &["sops", "decrypt", "--identity", flag, &name],
            &[],
            None,
        );
        assert_eq!(
            data(&stdout(&by_flag), format),
            expected,
            "{}",
            stderr(&by_flag)
        );

        // The default sops location, ~/.config/sops/age/keys.txt.
        let home_keys = dir.path().join(".config/sops/age");
        std::fs::create_dir_all(&home_keys).unwrap();
        std::fs::copy(&keys().bot_file, home_keys.join("keys.txt")).unwrap();
        let by_default = keyroll(dir.path(), &["sops", "decrypt", &name], &[], None);
        assert_eq!(
            data(&stdout(&by_default), format),
            expected,
            "{}",
            stderr(&by_default)
        );
    }
}

#[test]
fn set_unset_and_verify_edit_in_place() {
    let (dir, name) = encrypted_fixture("features.yaml");
    let path = dir.path().join(&name);
    let before = std::fs::read_to_string(&path).unwrap();
    let out = keyroll(
        dir.path(),
        &[
            "sops",
            "set",
            &name,
            r#"["database"]["password"]"#,
            "--value-stdin",
        ],
        &bot_env(),
        Some("\"rotated-cli-value\"\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_no_secret("set stdout/stderr", &(stdout(&out) + &stderr(&out)));
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(changed_lines(&before, &after).0 <= 3);
    assert!(sops_decrypt(&path).contains("password: rotated-cli-value"));

    let out = keyroll(
        dir.path(),
        &["sops", "unset", &name, r#"["database"]["port"]"#],
        &bot_env(),
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!sops_decrypt(&path).contains("port:"));

    let out = keyroll(dir.path(), &["sops", "verify", &name], &bot_env(), None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!("verify_ok", redact(&stdout(&out), dir.path()));
}

#[test]
fn encrypt_from_flags_and_from_sops_yaml() {
    let (dir, plain) = scratch_with("sops/k8s-secret.yaml", "secret.yaml");
    let out = keyroll(
        dir.path(),
        &["sops", "encrypt", "--age", &keys().bot, "secret.yaml"],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_no_secret("encrypt stdout", &stdout(&out));
    let enc = dir.path().join("enc.yaml");
    std::fs::write(&enc, stdout(&out)).unwrap();
    assert_eq!(
        data(&sops_decrypt(&enc), Format::Yaml),
        data(&std::fs::read_to_string(&plain).unwrap(), Format::Yaml)
    );

    // No recipients and no .sops.yaml: a clear refusal.
    let out = keyroll(dir.path(), &["sops", "encrypt", "secret.yaml"], &[], None);
    assert_eq!(out.status.code(), Some(5));
    insta::assert_snapshot!("encrypt_no_rule", redact(&stderr(&out), dir.path()));

    // A .sops.yaml in a parent folder, found from the working directory as sops does.
    std::fs::write(
        dir.path().join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: secret\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {}\n", keys().bot),
    )
    .unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let out = keyroll(
        &sub,
        &["sops", "encrypt", "--in-place", "../secret.yaml"],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let encrypted = std::fs::read_to_string(&plain).unwrap();
    assert!(
        encrypted.contains(r#"encrypted_regex: "^(data|stringData)$""#)
            && encrypted.contains("name: data-api")
    );
    assert_no_secret("encrypted file", &encrypted);

    let out = keyroll(
        dir.path(),
        &["sops", "encrypt", "--age", &keys().bot, "secret.yaml"],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(203), "{}", stderr(&out));
}

/// Every documented failure: its exit code, and a message that names the file (and path)
/// and never a plaintext value.
#[test]
fn failures_have_distinct_exit_codes_and_clear_messages() {
    let (dir, name) = encrypted_fixture("features.yaml");
    let good = std::fs::read_to_string(dir.path().join(&name)).unwrap();
    let write = |file: &str, text: &str| std::fs::write(dir.path().join(file), text).unwrap();
    let password_line = good
        .lines()
        .find(|l| l.contains("password:"))
        .unwrap()
        .to_owned();
    let mut flipped = password_line.clone().into_bytes();
    let at = password_line.find("data:").unwrap() + 6;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    write(
        "tampered.yaml",
        &good.replace(&password_line, &String::from_utf8(flipped).unwrap()),
    );
    write(
        "mac.yaml",
        &good.replace("public_unencrypted: visible", "public_unencrypted: changed"),
    );
    write("plain.yaml", "a: b\n");
    write("broken.yaml", "a: b\n  c: [d\n");
    write("notes.txt", "hello\n");
    let other: &'static str = Box::leak(
        keys()
            .other_file
            .to_str()
            .unwrap()
            .to_owned()
            .into_boxed_str(),
    );

    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, i32);
    let cases: Vec<Case<'_>> = vec![
        ("no_identity", vec!["sops", "decrypt", &name], vec![], 128),
        (
            "wrong_identity",
            vec!["sops", "decrypt", &name],
            vec![("SOPS_AGE_KEY_FILE", other)],
            128,
        ),
        (
            "tampered_value",
            vec!["sops", "decrypt", "tampered.yaml"],
            bot_env(),
            25,
        ),
        (
            "mac_mismatch",
            vec!["sops", "verify", "mac.yaml"],
            bot_env(),
            51,
        ),
        (
            "not_encrypted",
            vec!["sops", "decrypt", "plain.yaml"],
            bot_env(),
            6,
        ),
        (
            "syntax_error",
            vec!["sops", "decrypt", "broken.yaml"],
            bot_env(),
            4,
        ),
        (
            "unknown_extension",
            vec!["sops", "decrypt", "notes.txt"],
            bot_env(),
            4,
        ),
        (
            "missing_file",
            vec!["sops", "decrypt", "absent.yaml"],
            bot_env(),
            3,
        ),
        (
            "bad_json_value",
            vec!["sops", "set", &name, r#"["a"]"#, "not json"],
            bot_env(),
            7,
        ),
        (
            "bad_path",
            vec!["sops", "set", &name, "database.password", r#""x""#],
            bot_env(),
            7,
        ),
        (
            "into_a_value",
            vec![
                "sops",
                "set",
                &name,
                r#"["database"]["password"]["x"]"#,
                r#""x""#,
            ],
            bot_env(),
            7,
        ),
        (
            "unset_missing",
            vec!["sops", "unset", &name, r#"["database"]["nope"]"#],
            bot_env(),
            91,
        ),
    ];
    for (label, args, env, code) in cases {
        let out = keyroll(dir.path(), &args, &env, None);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{label}: {err}");
        assert_no_secret(label, &(err.clone() + &stdout(&out)));
        insta::assert_snapshot!(format!("error_{label}"), redact(&err, dir.path()));
    }
    // A failed edit leaves the file as it was.
    assert_eq!(
        std::fs::read_to_string(dir.path().join(&name)).unwrap(),
        good
    );
}

/// The demo credentials repository opens with the demo key in both tools; its plaintext
/// view is what a person sees first, so it is snapshotted.
#[test]
fn demo_credentials_open_with_sops_and_keyroll() {
    let demo = fixture("demo-credentials");
    let key = fixture("demo-age-key.txt");
    for file in ["vars/production.yaml", "jenkins-vars/jenkins.yaml"] {
        let out = keyroll(
            &demo,
            &["sops", "decrypt", file],
            &[("SOPS_AGE_KEY_FILE", key.to_str().unwrap())],
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let by_sops = sops(&demo, &key, &["-d", file]);
        assert!(
            by_sops.status.success(),
            "{}",
            String::from_utf8_lossy(&by_sops.stderr)
        );
        let format = Format::Yaml;
        assert_eq!(
            data(&stdout(&out), format),
            data(&String::from_utf8_lossy(&by_sops.stdout), format)
        );
        insta::assert_snapshot!(
            format!("demo_decrypt_{}", file.replace('/', "_")),
            stdout(&out)
        );
    }
}
