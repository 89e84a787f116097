//! Bounded fuzzing of the SOPS engine without the real sops: `parse`, `open`, `set` and
//! `unset` on arbitrary and damaged input never panic and never hang; and the documented
//! input limits (size, nesting depth, keys and items, documents) are enforced with errors
//! naming them, without deep input reaching the stack.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, OnceLock, mpsc};
use std::time::Duration;

use age::secrecy::ExposeSecret;
use keyroll::sops::path::Segment;
use keyroll::sops::strict::{MAX_DEPTH, MAX_DOCUMENTS, MAX_FILE_BYTES, MAX_NODES};
use keyroll::sops::{EncryptOptions, Format, Identities, NewValue, SopsFile, TreePath, encrypt};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use time::OffsetDateTime;

/// A generous bound for one case: only a hang (or quadratic blow-up) comes near it.
const CASE_BOUND: Duration = Duration::from_secs(60);

/// Runs `f` on a thread of its own and fails if it panics or does not finish in time.
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(CASE_BOUND) {
        Ok(Ok(v)) => v,
        Ok(Err(_)) => panic!("{what}: panicked"),
        Err(_) => panic!("{what}: did not finish within {CASE_BOUND:?}"),
    }
}

struct Keys {
    identity: String,
    recipient: String,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let id = age::x25519::Identity::generate();
        Keys {
            recipient: id.to_public().to_string(),
            identity: id.to_string().expose_secret().to_owned(),
        }
    })
}

fn identities() -> Identities {
    Identities::from_text(&keys().identity, "test identity").unwrap()
}

const YAML: &str = "# top\na:\n  b: secret\n  n: 5\n  t: true\nlist:\n  - x\n  # mid\n  - {k: v}\nplain_unencrypted: clear\n";
const JSON: &str = r#"{"a": {"b": "secret", "n": 5, "f": 1.5, "t": true, "z": null}, "list": ["x", {"k": "v"}], "e": ""}"#;
const ENV: &str = "# top\nA=secret\nB=two\\nlines\nC=\n";

/// Valid files keyroll encrypted, to damage.
fn bases() -> Arc<Vec<(Format, String)>> {
    static BASES: OnceLock<Arc<Vec<(Format, String)>>> = OnceLock::new();
    BASES
        .get_or_init(|| {
            let opts = EncryptOptions::for_recipients(vec![keys().recipient.clone()]);
            let now = OffsetDateTime::now_utc();
            Arc::new(
                [
                    (Format::Yaml, YAML),
                    (Format::Json, JSON),
                    (Format::Dotenv, ENV),
                ]
                .iter()
                .map(|(f, t)| (*f, encrypt(t, *f, &opts, now).unwrap()))
                .collect(),
            )
        })
        .clone()
}

/// Everything a caller can do with a file's text: only panics and hangs are failures.
fn exercise(text: String, format: Format, ids: &Identities) {
    let Ok(file) = SopsFile::parse(text, format) else {
        return;
    };
    let _ = file.metadata();
    let Ok(opened) = file.open(ids) else { return };
    let _ = opened.plaintext();
    let _ = opened.values_with_paths();
    let now = OffsetDateTime::now_utc();
    let value = NewValue::from_json("\"new\"").unwrap();
    let paths = [
        TreePath::keys(&["a"]),
        TreePath::keys(&["a", "b"]),
        TreePath::keys(&["added", "deeper"]),
        TreePath(vec![Segment::Key("list".into()), Segment::Index(0)]),
        TreePath(vec![Segment::Key("list".into()), Segment::Index(9)]),
        TreePath::keys(&["A"]),
    ];
    for p in &paths {
        if let Ok(Some(after)) = opened.set(p, &value, now) {
            // What keyroll writes, keyroll reads back.
            let again = SopsFile::parse(after, format).expect("keyroll cannot parse its own edit");
            again.open(ids).expect("keyroll cannot open its own edit");
        }
        let _ = opened.unset(p, now);
        let _ = opened.get(p);
    }
}

#[derive(Debug, Clone)]
enum Damage {
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, String),
    Delete(prop::sample::Index, usize),
    DuplicateLine(prop::sample::Index),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<prop::sample::Index>(), 1u8..128).prop_map(|(i, x)| Damage::Flip(i, x)),
        (
            any::<prop::sample::Index>(),
            prop_oneof![
                Just("\n".to_owned()),
                Just("  ".to_owned()),
                Just("---\n".to_owned()),
                Just("#".to_owned()),
                Just("sops: {}\n".to_owned()),
                Just("\"sops\": 1,".to_owned()),
                Just("[[[[{{{{".to_owned()),
                "[ -~\n]{0,12}",
            ]
        )
            .prop_map(|(i, t)| Damage::Insert(i, t)),
        (any::<prop::sample::Index>(), 1usize..60).prop_map(|(i, n)| Damage::Delete(i, n)),
        any::<prop::sample::Index>().prop_map(Damage::DuplicateLine),
    ]
}

fn apply(text: &str, damage: &[Damage]) -> String {
    let mut b = text.as_bytes().to_vec();
    for d in damage {
        match d {
            Damage::Flip(i, x) if !b.is_empty() => {
                let at = i.index(b.len());
                b[at] ^= x;
            }
            Damage::Insert(i, t) => {
                let at = i.index(b.len() + 1);
                b.splice(at..at, t.bytes());
            }
            Damage::Delete(i, n) if !b.is_empty() => {
                let at = i.index(b.len());
                b.drain(at..(at + n).min(b.len()));
            }
            Damage::DuplicateLine(i) if !b.is_empty() => {
                let lines: Vec<&[u8]> = b.split_inclusive(|c| *c == b'\n').collect();
                let at = i.index(lines.len());
                let mut out = Vec::with_capacity(b.len() * 2);
                for (n, l) in lines.iter().enumerate() {
                    out.extend_from_slice(l);
                    if n == at {
                        out.extend_from_slice(l);
                    }
                }
                b = out;
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 500,
        ..Config::default()
    })
}

#[test]
fn open_set_unset_never_panic_or_hang_on_arbitrary_bytes() {
    runner(256)
        .run(&prop::collection::vec(any::<u8>(), 0..2048), |bytes| {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            bounded("arbitrary bytes", move || {
                let ids = identities();
                for format in [Format::Yaml, Format::Json, Format::Dotenv] {
                    exercise(text.clone(), format, &ids);
                }
            });
            Ok(())
        })
        .unwrap();
}

#[test]
fn open_set_unset_never_panic_or_hang_on_damaged_files() {
    let bases = bases();
    runner(384)
        .run(
            &(
                any::<prop::sample::Index>(),
                prop::collection::vec(damage(), 0..4),
            ),
            |(which, damages)| {
                let (format, text) = which.get(&bases).clone();
                let text = apply(&text, &damages);
                bounded("damaged file", move || {
                    exercise(text, format, &identities())
                });
                Ok(())
            },
        )
        .unwrap();
}

fn parse_error(text: String, format: Format) -> String {
    bounded("limit check", move || match SopsFile::parse(text, format) {
        Ok(_) => "parsed".to_owned(),
        Err(e) => e.to_string(),
    })
}

#[test]
fn a_file_over_the_size_limit_is_refused_naming_the_limit() {
    let line = "key_0123456789: value\n";
    let text = line.repeat(MAX_FILE_BYTES / line.len() + 1);
    let err = parse_error(text, Format::Yaml);
    assert!(err.contains(&MAX_FILE_BYTES.to_string()), "{err}");
}

#[test]
fn nesting_deeper_than_the_limit_is_refused_and_never_reaches_the_stack() {
    let limit = MAX_DEPTH.to_string();
    // Block YAML at the limit parses; one level more does not.
    let block = |levels: usize| -> String {
        let mut t = String::new();
        for i in 0..levels {
            t.push_str(&" ".repeat(i));
            t.push_str("a:\n");
        }
        t.push_str(&" ".repeat(levels));
        t.push_str("b: c\n");
        t
    };
    assert!(parse_error(block(MAX_DEPTH - 1), Format::Yaml).contains("no sops metadata"));
    assert!(parse_error(block(MAX_DEPTH + 5), Format::Yaml).contains(&limit));
    // Far deeper flow and JSON nesting is refused at the limit, not by a stack overflow.
    let deep = 1_000_000;
    let flow = format!("a: {}1{}\n", "[".repeat(deep), "]".repeat(deep));
    let err = parse_error(flow, Format::Yaml);
    assert!(err.contains(&limit), "{err}");
    let json = format!("{{\"a\": {}1{}}}", "[".repeat(deep), "]".repeat(deep));
    assert!(parse_error(json, Format::Json).contains(&limit));
    let objects = format!("{{{}}}", "\"a\": {".repeat(deep));
    assert!(parse_error(objects, Format::Json).contains(&limit));
    // dotenv metadata keys cannot nest deeply either.
    let env = format!("A=1\nsops_x{}=1\n", "__map_y".repeat(100_000));
    assert!(parse_error(env, Format::Dotenv).contains("nests deeper"));
}

#[test]
fn more_keys_and_items_than_the_limit_are_refused_naming_the_limit() {
    let items = vec!["0"; MAX_NODES + 1].join(",");
    let err = parse_error(format!("{{\"a\": [{items}]}}"), Format::Json);
    assert!(err.contains(&MAX_NODES.to_string()), "{err}");
}

#[test]
fn more_documents_than_the_limit_are_refused_naming_the_limit() {
    let text = "a: 1\n---\n".repeat(MAX_DOCUMENTS + 1);
    let err = parse_error(text, Format::Yaml);
    assert!(err.contains(&MAX_DOCUMENTS.to_string()), "{err}");
}

#[test]
fn long_lines_and_many_comments_are_read_in_linear_time() {
    // One line of 990,000 objects (3 MB): finding each object's column by scanning back to
    // the line start made this quadratic (minutes); it must stay within the case bound.
    let json = format!("{{\"a\": [{}]}}", vec!["{}"; 990_000].join(","));
    assert!(parse_error(json, Format::Json).contains("no sops metadata"));

    // A valid file with 20,000 encrypted comments: each comment's additional data was
    // found by walking the whole tree (quadratic).
    let mut plain = String::new();
    for i in 0..20_000 {
        plain.push_str(&format!("# note {i}\nk{i}: v\n"));
    }
    let opts = EncryptOptions::for_recipients(vec![keys().recipient.clone()]);
    let enc = bounded("encrypt many comments", move || {
        encrypt(&plain, Format::Yaml, &opts, OffsetDateTime::now_utc()).unwrap()
    });
    let count = bounded("open many comments", move || {
        let file = SopsFile::parse(enc, Format::Yaml).unwrap();
        file.open(&identities()).unwrap().value_count()
    });
    assert_eq!(count, 20_000);
}
