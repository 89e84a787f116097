//! Differential fuzzing against the real `sops -d`: thousands of damaged copies of files the
//! real sops wrote, each read by both. keyroll must never read a file sops refuses, never
//! panic or hang, never print a plaintext value in an error, and every file keyroll's
//! `set`/`unset` writes must be read by sops with the expected values.
//!
//! Deterministic: the cases come from a seeded generator. `KEYROLL_FUZZ_CASES` sets how many
//! (default [`DEFAULT_CASES`]), `KEYROLL_FUZZ_SEED` the seed. Cases where keyroll is stricter
//! than sops are counted and printed, not failed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

use crate::common;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::*;
use keyroll::sops::{Format, Identities, NewValue, SopsError, SopsFile, TreePath};
use time::OffsetDateTime;

const DEFAULT_CASES: usize = 2000;
const DEFAULT_SEED: u64 = 0x6b65_7972_6f6c_6c21;
/// No single case may take longer than this (a hang, not a timing check).
const CASE_BOUND: Duration = Duration::from_secs(60);

/// Texts that only ever occur in plaintext values: an error that contains one leaked it.
const PLANTED: &[&str] = &["PLANTED", "hunter2", "s3cr3t", "abc123"];

const PLANTED_YAML: &str = "# head comment PLANTED-C0
api:
    token: PLANTED-A1-token
    port: 5432
    ratio: 0.75
    enabled: true
    created: 2024-01-15T10:20:30Z
    empty: \"\"
    nothing: null
list:
    - PLANTED-L1
    # between items PLANTED-C1
    - PLANTED-L2
maps:
    - name: PLANTED-M1
      secret: PLANTED-M2
public_unencrypted: visible
settings_unencrypted:
    region: eu-west-1
";

const PLANTED_JSON: &str = r#"{"api": {"token": "PLANTED-A1", "port": 5432, "ratio": 0.5, "on": true,
 "off": false, "none": null, "empty": ""}, "list": ["PLANTED-L1", 7, "PLANTED-L2"],
 "nested": {"deeper": {"k": "PLANTED-N1"}}, "public_unencrypted": "visible"}
"#;

const PLANTED_ENV: &str = "# PLANTED-C0 comment
API_TOKEN=PLANTED-A1
DB_URL=postgres://u:PLANTED-P1@db/app
MULTI=PLANTED-x\\nPLANTED-y
EMPTY=
PUBLIC_unencrypted=visible
";

/// One valid file the real sops wrote, and the paths the edits use on it.
struct Base {
    name: &'static str,
    format: Format,
    text: String,
    /// An existing value to change, and an entry to remove.
    set_path: &'static [&'static str],
    unset_path: &'static [&'static str],
}

/// How to make one base file: a fixture or inline plaintext, the `sops -e` flags, and the
/// paths the edits use.
struct Spec {
    name: &'static str,
    inline: Option<&'static str>,
    flags: &'static [&'static str],
    set_path: &'static [&'static str],
    unset_path: &'static [&'static str],
}

const SPECS: &[Spec] = &[
    Spec {
        name: "planted.yaml",
        inline: Some(PLANTED_YAML),
        flags: &[],
        set_path: &["api", "token"],
        unset_path: &["public_unencrypted"],
    },
    Spec {
        name: "planted.json",
        inline: Some(PLANTED_JSON),
        flags: &[],
        set_path: &["api", "token"],
        unset_path: &["api", "port"],
    },
    Spec {
        name: "planted.env",
        inline: Some(PLANTED_ENV),
        flags: &[],
        set_path: &["API_TOKEN"],
        unset_path: &["DB_URL"],
    },
    Spec {
        name: "features.yaml",
        inline: None,
        flags: &[],
        set_path: &["database", "password"],
        unset_path: &["nested", "level2"],
    },
    Spec {
        name: "multi.yaml",
        inline: None,
        flags: &[],
        set_path: &["token"],
        unset_path: &["first"],
    },
    Spec {
        name: "k8s-secret.yaml",
        inline: None,
        flags: &["--encrypted-regex", "^(data|stringData)$"],
        set_path: &["stringData", "token"],
        unset_path: &["data", "key"],
    },
    Spec {
        name: "mac-only.json",
        inline: Some(PLANTED_JSON),
        flags: &["--mac-only-encrypted"],
        set_path: &["api", "token"],
        unset_path: &["list"],
    },
];

fn bases(dir: &Path) -> Vec<Base> {
    SPECS
        .iter()
        .map(|spec| {
            let path = dir.join(spec.name);
            match spec.inline {
                Some(text) => std::fs::write(&path, text).unwrap(),
                None => {
                    std::fs::copy(fixture(&format!("sops/{}", spec.name)), &path).unwrap();
                }
            }
            let mut args: Vec<&str> = spec.flags.to_vec();
            args.extend(["--age", &keys().bot]);
            let text = sops_encrypt(&path, &args);
            Base {
                name: spec.name,
                format: Format::from_path(&path).unwrap(),
                text,
                set_path: spec.set_path,
                unset_path: spec.unset_path,
            }
        })
        .collect()
}

/// SplitMix64: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_owned).collect()
}

/// The metadata field names a mutation may edit, and the values it may write there.
const META_EDITS: &[(&str, &[&str])] = &[
    (
        "lastmodified",
        &[
            "2024-01-01T00:00:00Z",
            "FRACTION",
            "LOWER_T",
            "PLUS_ZERO",
            "LEADING_SPACE",
            "not a time",
            "",
        ],
    ),
    ("version", &["3.13.2", "", "3", "NUMBER", "3.11.0-beta"]),
    (
        "mac",
        &["", "MAC_TYPE_BYTES", "MAC_TYPE_COMMENT", "MAC_TYPE_INT"],
    ),
    ("unencrypted_suffix", &["_secret", "", "_unencrypted_x"]),
    (
        "recipient",
        &[
            "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq0ys3a",
            "",
        ],
    ),
];

/// Where a metadata field's value sits on its line, per format: (line index, value range).
fn meta_value(
    format: Format,
    ls: &[String],
    field: &str,
) -> Option<(usize, std::ops::Range<usize>)> {
    for (i, l) in ls.iter().enumerate() {
        let body = l.trim_end_matches('\n');
        let trimmed = body.trim_start();
        let indent = body.len() - trimmed.len();
        let found = match format {
            Format::Yaml => trimmed
                .strip_prefix("- ")
                .unwrap_or(trimmed)
                .strip_prefix(&format!("{field}: "))
                .map(|v| body.len() - v.len()),
            Format::Json => trimmed
                .strip_prefix(&format!("\"{field}\": "))
                .map(|_| indent + field.len() + 4),
            Format::Dotenv => {
                let key = body.split('=').next().unwrap_or("");
                (key.starts_with("sops_") && key.ends_with(field)).then(|| key.len() + 1)
            }
        };
        if let Some(start) = found {
            let end = if format == Format::Json {
                body.trim_end_matches(',').len()
            } else {
                body.len()
            };
            if start <= end {
                return Some((i, start..end));
            }
        }
    }
    None
}

/// Writes a replacement metadata value in the format's quoting.
fn meta_replacement(format: Format, old: &str, new: &str) -> String {
    let unquoted = old.trim_matches('"');
    let special = match new {
        "FRACTION" => Some(unquoted.replace('Z', ".5Z")),
        "LOWER_T" => Some(unquoted.replace('T', "t")),
        "PLUS_ZERO" => Some(unquoted.replace('Z', "+00:00")),
        "LEADING_SPACE" => Some(format!(" {unquoted}")),
        "MAC_TYPE_BYTES" => Some(unquoted.replace("type:str]", "type:bytes]")),
        "MAC_TYPE_COMMENT" => Some(unquoted.replace("type:str]", "type:comment]")),
        "MAC_TYPE_INT" => Some(unquoted.replace("type:str]", "type:int]")),
        "NUMBER" => {
            return match format {
                Format::Json => "3.11".to_owned(),
                _ => "3.11".to_owned(),
            };
        }
        _ => None,
    };
    let value = special.unwrap_or_else(|| new.to_owned());
    match format {
        Format::Json => format!("\"{value}\""),
        Format::Yaml if old.starts_with('"') => format!("\"{value}\""),
        _ => value,
    }
}

/// Adds a metadata field line next to `version`.
fn meta_add(format: Format, ls: &mut Vec<String>, rng: &mut Rng) {
    let Some((i, _)) = meta_value(format, ls, "version") else {
        return;
    };
    let (field, value) = *rng.pick(&[
        ("encrypted_regex", "^x$"),
        ("mac_only_encrypted", "true"),
        ("mac_only_encrypted", "\"true\""),
        ("shamir_threshold", "2"),
        ("key_groups", "[]"),
    ]);
    let indent: String = ls[i]
        .chars()
        .take_while(|c| c.is_whitespace() && *c != '\n')
        .collect();
    let line = match format {
        Format::Yaml => format!("{indent}{field}: {value}\n"),
        Format::Json => {
            let v = if value.starts_with('^') {
                format!("\"{value}\"")
            } else {
                value.to_owned()
            };
            format!("{indent}\"{field}\": {v},\n")
        }
        Format::Dotenv => format!("sops_{field}={}\n", value.trim_matches('"')),
    };
    ls.insert(i, line);
}

/// The `sops` section of a file, as text that can be pasted elsewhere in the same format.
fn sops_section(format: Format, text: &str) -> Option<String> {
    match format {
        Format::Yaml => {
            let start = text.find("\nsops:\n")? + 1;
            let rest = &text[start..];
            let end = rest.find("\n---").map_or(rest.len(), |e| e + 1);
            Some(rest[..end].to_owned())
        }
        Format::Json => {
            let start = text.find("\"sops\": {")?;
            let rest = &text[start..];
            let end = rest.rfind('}')?;
            let body = rest[..end].trim_end();
            Some(body.to_owned())
        }
        Format::Dotenv => Some(
            text.lines()
                .filter(|l| l.starts_with("sops_"))
                .map(|l| format!("{l}\n"))
                .collect(),
        ),
    }
}

const TYPES: &[&str] = &[
    "str", "int", "float", "bool", "time", "comment", "bytes", "blob",
];

/// Applies one random mutation.
fn mutate(format: Format, text: &mut String, rng: &mut Rng) -> &'static str {
    let kind = rng.below(14);
    match kind {
        0 if !text.is_empty() => {
            let mut bytes = std::mem::take(text).into_bytes();
            let at = rng.below(bytes.len());
            bytes[at] ^= (1 + rng.below(127)) as u8;
            *text = String::from_utf8_lossy(&bytes).into_owned();
            "flip a byte"
        }
        1 => {
            let at = rng.below(text.len() + 1);
            let b = *rng.pick(&[
                " ", "\n", "#", ":", "-", "\"", "'", "{", "}", "[", "]", ",", "=", "\\", "E", "\t",
                "&", "*",
            ]);
            let mut bytes = std::mem::take(text).into_bytes();
            bytes.splice(at..at, b.bytes());
            *text = String::from_utf8_lossy(&bytes).into_owned();
            "insert a byte"
        }
        2 if !text.is_empty() => {
            let at = rng.below(text.len());
            let end = (at + 1 + rng.below(40)).min(text.len());
            let mut bytes = std::mem::take(text).into_bytes();
            bytes.drain(at..end);
            *text = String::from_utf8_lossy(&bytes).into_owned();
            "delete bytes"
        }
        3 => {
            let at = rng.below(text.len() + 1);
            let mut bytes = std::mem::take(text).into_bytes();
            bytes.truncate(at);
            *text = String::from_utf8_lossy(&bytes).into_owned();
            "truncate"
        }
        4 | 5 => {
            let mut ls = lines(text);
            if !ls.is_empty() {
                let at = rng.below(ls.len());
                let l = ls[at].clone();
                let to = rng.below(ls.len() + 1);
                ls.insert(
                    to,
                    if l.ends_with('\n') {
                        l
                    } else {
                        format!("{l}\n")
                    },
                );
            }
            *text = ls.concat();
            "duplicate a line"
        }
        6 => {
            let mut ls = lines(text);
            if ls.len() > 1 {
                let (a, b) = (rng.below(ls.len()), rng.below(ls.len()));
                ls.swap(a, b);
                if !ls.last().unwrap().ends_with('\n') {
                    let last = ls.len() - 1;
                    ls[last].push('\n');
                }
            }
            *text = ls.concat();
            "swap lines"
        }
        7 => {
            let mut ls = lines(text);
            let (field, values) = *rng.pick(META_EDITS);
            if let Some((i, range)) = meta_value(format, &ls, field) {
                let new = *rng.pick(values);
                if new.is_empty() && rng.below(2) == 0 {
                    ls.remove(i);
                } else {
                    let old = ls[i][range.clone()].to_owned();
                    let repl = meta_replacement(format, &old, new);
                    ls[i].replace_range(range, &repl);
                }
            }
            *text = ls.concat();
            "edit a metadata field"
        }
        8 => {
            let mut ls = lines(text);
            meta_add(format, &mut ls, rng);
            *text = ls.concat();
            "add a metadata field"
        }
        9 => {
            let spots: Vec<usize> = text.match_indices(",type:").map(|(i, _)| i + 6).collect();
            if !spots.is_empty() {
                let at = *rng.pick(&spots);
                if let Some(end) = text[at..].find(']') {
                    let new = *rng.pick(TYPES);
                    text.replace_range(at..at + end, new);
                }
            }
            "change an ENC type"
        }
        10 => {
            let Some(section) = sops_section(format, text) else {
                return "no sops section";
            };
            match (format, rng.below(3)) {
                (Format::Yaml, 0) => *text = format!("{section}{text}"),
                (Format::Yaml, 1) => *text = format!("{section}---\n{text}"),
                (Format::Yaml, _) => *text = format!("{text}---\n{section}"),
                (Format::Json, _) => {
                    if let Some(open) = text.find('{') {
                        text.insert_str(open + 1, &format!("\n\t{section},"));
                    }
                }
                (Format::Dotenv, _) => *text = format!("{section}{text}"),
            }
            "add a second sops section"
        }
        11 => {
            let encs: Vec<(usize, usize)> = text
                .match_indices("ENC[")
                .filter_map(|(i, _)| text[i..].find(']').map(|e| (i, i + e + 1)))
                .collect();
            if encs.len() > 1 {
                let a = *rng.pick(&encs);
                let b = *rng.pick(&encs);
                let (first, second) = if a.0 < b.0 { (a, b) } else { (b, a) };
                if first.1 <= second.0 {
                    let ta = text[first.0..first.1].to_owned();
                    let tb = text[second.0..second.1].to_owned();
                    text.replace_range(second.0..second.1, &ta);
                    text.replace_range(first.0..first.1, &tb);
                }
            }
            "swap two ciphertexts"
        }
        12 => {
            // A data line copied (with its value) right below itself, or a key renamed to
            // its neighbour's name: a duplicate key either way.
            let mut ls = lines(text);
            let candidates: Vec<usize> = (0..ls.len())
                .filter(|&i| {
                    let l = ls[i].trim_start();
                    !l.starts_with("sops")
                        && !l.starts_with("\"sops")
                        && (l.contains(": ") || l.contains('='))
                })
                .collect();
            if candidates.len() > 1 {
                let a = *rng.pick(&candidates);
                let b = *rng.pick(&candidates);
                let key_of = |l: &str| -> String {
                    let sep = if format == Format::Dotenv { "=" } else { ": " };
                    l.split(sep).next().unwrap_or("").to_owned()
                };
                let (ka, kb) = (key_of(&ls[a]), key_of(&ls[b]));
                if !ka.is_empty() && !kb.is_empty() {
                    ls[a] = ls[a].replacen(&ka, &kb, 1);
                }
            }
            *text = ls.concat();
            "rename a key to another's name"
        }
        _ => {
            let at = rng.below(text.len() + 1);
            let t = *rng.pick(&[
                " ",
                "\n",
                "# c\n",
                "  ",
                "\t",
                "---\n",
                "\r\n",
                "\n\n",
                "x: 1\n",
                "\"k\": 1,",
            ]);
            let mut bytes = std::mem::take(text).into_bytes();
            bytes.splice(at..at, t.bytes());
            *text = String::from_utf8_lossy(&bytes).into_owned();
            "insert text"
        }
    }
}

struct Case {
    base: usize,
    text: String,
    what: Vec<&'static str>,
}

fn cases(bases: &[Base], count: usize, seed: u64) -> Vec<Case> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| {
            let base = rng.below(bases.len());
            let mut text = bases[base].text.clone();
            let mut what = Vec::new();
            for _ in 0..1 + rng.below(3) {
                what.push(mutate(bases[base].format, &mut text, &mut rng));
            }
            Case { base, text, what }
        })
        .collect()
}

/// `sops -d` of a file: its output, or `None` when sops refuses it.
fn sops_decrypt_opt(path: &Path) -> Option<String> {
    let mut child = Command::new(sops_bin())
        .args(["-d", path.to_str().unwrap()])
        .current_dir(path.parent().unwrap())
        .env("SOPS_AGE_KEY_FILE", &keys().bot_file)
        .env_remove("SOPS_AGE_KEY")
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + CASE_BOUND;
    let mut out = Vec::new();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sops -d {} did not finish", path.display());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let out = reader.join().unwrap();
    status
        .success()
        .then(|| String::from_utf8_lossy(&out).into_owned())
}

/// Copies a failing case (and the identity that opens it) to `KEYROLL_FUZZ_KEEP`, if set,
/// to replay it with the real sops by hand.
fn keep(path: &Path) {
    if let Some(dir) = std::env::var_os("KEYROLL_FUZZ_KEEP") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(path, dir.join(path.file_name().unwrap())).unwrap();
        std::fs::copy(&keys().bot_file, dir.join("bot-identity.txt")).unwrap();
    }
}

/// What keyroll made of a case.
enum Verdict {
    Opened {
        plaintext: String,
        /// Texts keyroll's edits wrote, with what sops must then read.
        writes: Vec<(String, Expect)>,
    },
    Refused(String),
}

#[derive(Debug, Clone)]
enum Expect {
    Value(Vec<String>, String),
    Absent(Vec<String>),
}

fn tree_path(keys: &[String]) -> TreePath {
    TreePath::keys(&keys.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Opens the case and, when keyroll reads it, edits it three ways. Errors become texts to
/// scan for leaked plaintext.
fn keyroll_verdict(
    base: &Base,
    text: String,
    n: usize,
    ids: &Identities,
) -> (Verdict, Vec<String>) {
    let mut errors = Vec::new();
    let describe = |e: &SopsError| format!("{e} / {e:?}");
    let file = match SopsFile::parse(text, base.format) {
        Ok(f) => f,
        Err(e) => {
            let d = describe(&e);
            return (Verdict::Refused(d.clone()), vec![d]);
        }
    };
    let opened = match file.open(ids) {
        Ok(o) => o,
        Err(e) => {
            let d = describe(&e);
            return (Verdict::Refused(d.clone()), vec![d]);
        }
    };
    let later = OffsetDateTime::now_utc() + time::Duration::hours(1);
    let new_key = if base.format == Format::Dotenv {
        "KEYROLL_ADDED"
    } else {
        "keyroll_added"
    };
    let owned = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut writes = Vec::new();
    for (path, value) in [
        (owned(base.set_path), format!("PLANTED-SET-{n}")),
        (vec![new_key.to_owned()], format!("PLANTED-NEW-{n}")),
    ] {
        let new = NewValue::from_json(&format!("\"{value}\"")).unwrap();
        match opened.set(&tree_path(&path), &new, later) {
            Ok(Some(t)) => writes.push((t, Expect::Value(path, value))),
            Ok(None) => {}
            Err(e) => errors.push(describe(&e)),
        }
    }
    match opened.unset(&tree_path(&owned(base.unset_path)), later) {
        Ok(t) => writes.push((t, Expect::Absent(owned(base.unset_path)))),
        Err(e) => errors.push(describe(&e)),
    }
    let plaintext = opened.plaintext().expose().to_owned();
    (Verdict::Opened { plaintext, writes }, errors)
}

/// The first document of a decrypted text as JSON, for comparing views and reading paths.
fn view(text: &str, format: Format) -> Option<serde_json::Value> {
    match format {
        Format::Yaml => {
            use serde::Deserialize;
            let first = serde_norway::Deserializer::from_str(text).next()?;
            let v = serde_norway::Value::deserialize(first).ok()?;
            serde_json::to_value(v).ok()
        }
        Format::Json => serde_json::from_str(text).ok(),
        Format::Dotenv => {
            let mut map = serde_json::Map::new();
            for l in text
                .lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                let (k, v) = l.split_once('=')?;
                map.insert(k.to_owned(), serde_json::Value::String(v.to_owned()));
            }
            Some(serde_json::Value::Object(map))
        }
    }
}

/// Numbers as floats: keyroll writes a float 5432 as `5432.0`, sops as `5432`; same value.
fn numbers_as_floats(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Number(n), Value::Number),
        Value::Array(a) => Value::Array(a.into_iter().map(numbers_as_floats).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, numbers_as_floats(v)))
                .collect(),
        ),
        other => other,
    }
}

fn lookup<'v>(v: &'v serde_json::Value, path: &[String]) -> Option<&'v serde_json::Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

#[derive(Default)]
struct Tally {
    both_refuse: usize,
    both_read: usize,
    stricter: BTreeMap<String, usize>,
    stricter_examples: Vec<String>,
    writes_checked: usize,
    failures: Vec<String>,
}

/// A short name for the kind of error, for counting the stricter cases.
fn error_kind(e: &str) -> String {
    let head: String = e
        .split(" / ")
        .next()
        .unwrap_or(e)
        .chars()
        .take(70)
        .collect();
    // Line/column numbers and key names vary per case; keep the message's shape.
    head.split(|c: char| c.is_ascii_digit() || c == '`')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned()
}

fn check_case(
    base: &Base,
    case: &Case,
    n: usize,
    dir: &Path,
    ids: &Identities,
    tally: &Mutex<Tally>,
) {
    let ext = match base.format {
        Format::Yaml => "yaml",
        Format::Json => "json",
        Format::Dotenv => "env",
    };
    let path = dir.join(format!("case{n}.{ext}"));
    std::fs::write(&path, &case.text).unwrap();

    // keyroll, on a thread of its own so that a hang is caught and a panic reported.
    let (tx, rx) = mpsc::channel();
    let text = case.text.clone();
    let ids_text = std::fs::read_to_string(&keys().bot_file).unwrap();
    let base_copy = Base {
        name: base.name,
        format: base.format,
        text: String::new(),
        set_path: base.set_path,
        unset_path: base.unset_path,
    };
    std::thread::spawn(move || {
        let ids = Identities::from_text(&ids_text, "bot").unwrap();
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
            keyroll_verdict(&base_copy, text, n, &ids)
        }));
        let _ = tx.send(r);
    });
    let _ = ids;
    let what = format!("case {n} ({}: {})", base.name, case.what.join(", "));
    let result = match rx.recv_timeout(CASE_BOUND) {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => {
            tally
                .lock()
                .unwrap()
                .failures
                .push(format!("{what}: keyroll panicked on:\n{}", case.text));
            return;
        }
        Err(_) => {
            tally
                .lock()
                .unwrap()
                .failures
                .push(format!("{what}: keyroll did not finish in {CASE_BOUND:?}"));
            return;
        }
    };
    let (verdict, errors) = result;
    let mut failures = Vec::new();
    for e in &errors {
        if let Some(m) = PLANTED.iter().find(|m| e.contains(*m)) {
            failures.push(format!("{what}: an error shows plaintext ({m}): {e}"));
        }
    }
    let sops_view = sops_decrypt_opt(&path);
    let mut t = Vec::new();
    match (&verdict, &sops_view) {
        (Verdict::Refused(_), None) => t.push(0),
        (Verdict::Refused(e), Some(_)) => {
            let mut tl = tally.lock().unwrap();
            let kind = error_kind(e);
            let n = tl.stricter.entry(kind).or_default();
            *n += 1;
            if *n == 1 {
                keep(&path);
                tl.stricter_examples
                    .push(format!("{what}: {}", e.split(" / ").next().unwrap_or(e)));
            }
        }
        (Verdict::Opened { .. }, None) => {
            keep(&path);
            failures.push(format!(
                "{what}: keyroll reads a file sops refuses:\n{}",
                case.text
            ));
        }
        (Verdict::Opened { plaintext, writes }, Some(by_sops)) => {
            t.push(1);
            let ours = view(plaintext, base.format).map(numbers_as_floats);
            let theirs = view(by_sops, base.format).map(numbers_as_floats);
            if theirs.is_some() && ours != theirs {
                failures.push(format!(
                    "{what}: keyroll reads other data than sops:\nkeyroll: {ours:?}\nsops:    {theirs:?}\nfile:\n{}",
                    case.text
                ));
            }
            for (i, (written, expect)) in writes.iter().enumerate() {
                let wpath = dir.join(format!("case{n}-w{i}.{ext}"));
                std::fs::write(&wpath, written).unwrap();
                let read = sops_decrypt_opt(&wpath).and_then(|t| view(&t, base.format));
                let ok = match (&read, expect) {
                    (Some(v), Expect::Value(p, want)) => {
                        lookup(v, p).and_then(|x| x.as_str()) == Some(want.as_str())
                    }
                    (Some(v), Expect::Absent(p)) => lookup(v, p).is_none(),
                    (None, _) => false,
                };
                if !ok {
                    failures.push(format!(
                        "{what}: sops does not read keyroll's edit ({expect:?}) as expected:\nbefore:\n{}\nafter:\n{written}",
                        case.text
                    ));
                }
                t.push(2);
            }
        }
    }
    let mut tl = tally.lock().unwrap();
    for x in t {
        match x {
            0 => tl.both_refuse += 1,
            1 => tl.both_read += 1,
            _ => tl.writes_checked += 1,
        }
    }
    tl.failures.extend(failures);
}

#[test]
fn keyroll_never_reads_what_sops_refuses() {
    let started = Instant::now();
    let count = std::env::var("KEYROLL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let seed = std::env::var("KEYROLL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let dir = tempfile::tempdir().unwrap();
    let bases = Arc::new(bases(dir.path()));
    let all = Arc::new(cases(&bases, count, seed));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let next = Arc::new(AtomicUsize::new(0));
    // sops -d is a process start and ~10 ms of work: a few in flight keep two cores busy.
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8)
        * 2;
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (bases, all, tally, next) =
                (bases.clone(), all.clone(), tally.clone(), next.clone());
            let dir: PathBuf = dir.path().to_owned();
            std::thread::spawn(move || {
                let ids = bot_identities();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = all.get(n) else { break };
                    check_case(&bases[case.base], case, n, &dir, &ids, &tally);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let t = tally.lock().unwrap();
    let stricter: usize = t.stricter.values().sum();
    eprintln!(
        "differential fuzz: {count} cases (seed {seed}) in {:.1?}: both refuse {}, both read {}, \
         keyroll stricter {stricter}, edits read back by sops {}, failures {}",
        started.elapsed(),
        t.both_refuse,
        t.both_read,
        t.writes_checked,
        t.failures.len()
    );
    for (kind, n) in &t.stricter {
        eprintln!("  stricter: {n:5} × {kind}");
    }
    for e in &t.stricter_examples {
        eprintln!("  e.g. {e}");
    }
    assert!(
        t.failures.is_empty(),
        "{} failures; the first ones:\n\n{}",
        t.failures.len(),
        t.failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n----\n\n")
    );
}
