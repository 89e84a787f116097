//! Short fingerprints that stand for values wherever people or logs see them (plans, pull
//! request bodies, `where-used --fingerprint`): the first 12 hex digits of an HMAC-SHA-256 of
//! the value under the repository's fingerprint key.
//!
//! Why keyed: an unkeyed hash of a value with little entropy (a short password, a dated name
//! like `APPLICATION-PRODUCTION-2026-12-03`) gives the value back to anyone who guesses
//! candidates and hashes them. Under a random 256-bit key nobody without the key can compute
//! a candidate's fingerprint, so a fingerprint says nothing about the value to them. The key
//! is one per repository, so a value has the same fingerprint in every file.
//!
//! The key lives in the repository itself, SOPS-encrypted, at [`KEY_FILE`]: whoever can
//! decrypt it (the repository's recipients) can compute and compare fingerprints. There is no
//! unkeyed fallback: without the key, values are shown as [`NO_KEY`].

use std::fmt;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::policy::Config;
use crate::repo::Files;
use crate::sops::{Format, Identities, PlainValue, SecretText, SopsError, SopsFile, TreePath};

/// Where the key lives in a credentials repository.
pub const KEY_FILE: &str = ".keyroll/fingerprint-key.yaml";

/// The one value of [`KEY_FILE`]: 64 hex digits.
pub const KEY_FIELD: &str = "fingerprint_key";

/// What people see instead of a fingerprint when the repository has no key.
pub const NO_KEY: &str = "(no fingerprint key)";

/// The command that creates the key, for messages.
pub const INIT_COMMAND: &str = "keyroll fingerprint-key init";

/// Bytes of key: 256 bits.
const KEY_BYTES: usize = 32;

/// Hex digits kept: 48 bits, enough to tell values apart and to match one against a value
/// someone holds.
const LEN: usize = 12;

/// Hex digits someone must type to look a value up by fingerprint.
const MIN_QUERY: usize = 6;

/// The repository's fingerprint key. Wiped on drop, never printed.
#[derive(Clone)]
pub struct FingerprintKey(Zeroizing<[u8; KEY_BYTES]>);

impl fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{KEY_FILE}: {0}")]
    Sops(#[source] SopsError),
    #[error("{KEY_FILE}: not UTF-8 text")]
    NotText,
    #[error("{KEY_FILE}: no `{KEY_FIELD}` value")]
    NoValue,
    #[error("{KEY_FILE}: `{KEY_FIELD}` must be {} hex digits (a 256-bit key)", KEY_BYTES * 2)]
    Malformed,
    #[error("the OS random number generator failed")]
    Random,
}

impl FingerprintKey {
    /// A new random key from the OS CSPRNG.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        getrandom::getrandom(bytes.as_mut_slice()).map_err(|_| KeyError::Random)?;
        Ok(Self(bytes))
    }

    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key file's plaintext (YAML), to be encrypted before it is written anywhere.
    pub fn to_plaintext(&self) -> SecretText {
        // Room for the whole text up front: a reallocation would leave a copy behind.
        let mut text = String::with_capacity(512);
        text.push_str(
            "# keyroll's fingerprint key: fingerprints of values are HMAC-SHA-256 under it.\n\
             # Never rotate or copy it out of this file; see `keyroll fingerprint-key --help`.\n",
        );
        text.push_str(KEY_FIELD);
        text.push_str(": ");
        for b in self.0.iter() {
            text.push(hex_digit(b >> 4));
            text.push(hex_digit(b & 0x0f));
        }
        text.push('\n');
        SecretText::new(text)
    }

    /// The key held in a decrypted `fingerprint_key` value.
    pub fn from_value(value: &PlainValue) -> Result<Self, KeyError> {
        let hex = value.expose();
        if hex.len() != KEY_BYTES * 2 {
            return Err(KeyError::Malformed);
        }
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        for (out, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let (Some(&hi), Some(&lo)) = (pair.first(), pair.get(1)) else {
                return Err(KeyError::Malformed);
            };
            let (Some(hi), Some(lo)) = (hex_value(hi), hex_value(lo)) else {
                return Err(KeyError::Malformed);
            };
            *out = (hi << 4) | lo;
        }
        Ok(Self(bytes))
    }

    /// Reads and decrypts the key from a repository's files: `None` when the repository has
    /// no key file; an error when it has one that does not open or holds no key (never a
    /// silent fallback).
    pub fn load(files: &dyn Files, ids: &Identities) -> Result<Option<Self>, KeyError> {
        let Some(bytes) = files.read(KEY_FILE) else {
            return Ok(None);
        };
        Self::from_file_text(bytes, ids).map(Some)
    }

    /// The key in the encrypted text of a key file.
    pub fn from_file_text(bytes: Vec<u8>, ids: &Identities) -> Result<Self, KeyError> {
        let text = String::from_utf8(bytes).map_err(|_| KeyError::NotText)?;
        let file = SopsFile::parse(text, Format::Yaml).map_err(KeyError::Sops)?;
        let opened = file.open(ids).map_err(KeyError::Sops)?;
        let value = opened
            .get(&TreePath::keys(&[KEY_FIELD]))
            .map_err(|_| KeyError::NoValue)?
            .ok_or(KeyError::NoValue)?;
        Self::from_value(value)
    }

    fn mac(&self, bytes: &[u8]) -> Option<[u8; LEN / 2]> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_slice()).ok()?;
        mac.update(bytes);
        let tag = mac.finalize().into_bytes();
        let mut out = [0u8; LEN / 2];
        for (o, t) in out.iter_mut().zip(tag.iter()) {
            *o = *t;
        }
        Some(out)
    }
}

/// Whether `path` is the key file, which keyroll never rotates, searches or shows.
pub fn is_key_file(path: &str) -> bool {
    path.trim_start_matches("./") == KEY_FILE
}

/// A value's fingerprint: 12 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn of(value: &PlainValue, key: &FingerprintKey) -> Self {
        Self::of_bytes(value.expose(), key)
    }

    pub fn of_bytes(bytes: &[u8], key: &FingerprintKey) -> Self {
        // HMAC-SHA-256 takes keys of any length, so this never falls to the empty string in
        // practice; an empty fingerprint would match no query either.
        let mut hex = String::with_capacity(LEN);
        if let Some(tag) = key.mac(bytes) {
            for b in tag {
                hex.push(hex_digit(b >> 4));
                hex.push(hex_digit(b & 0x0f));
            }
        }
        Self(hex)
    }

    /// Whether a fingerprint someone typed (a prefix of 6 or more hex digits) matches.
    pub fn matches(&self, query: &str) -> bool {
        let q = query.trim().to_ascii_lowercase();
        q.len() >= MIN_QUERY && !self.0.is_empty() && self.0.starts_with(&q)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value as shown to people: its fingerprint under `key`, or none when the repository has
/// no key (rendered as [`NO_KEY`]).
pub fn shown(value: &PlainValue, key: Option<&FingerprintKey>) -> Option<Fingerprint> {
    key.map(|k| Fingerprint::of(value, k))
}

/// The text for an optional fingerprint.
pub fn text(fp: Option<&Fingerprint>) -> &str {
    fp.map_or(NO_KEY, Fingerprint::as_str)
}

/// The age recipients of the key file (its encrypted text) that are not recipients of every
/// file in `paths`: each could compute fingerprints of values it cannot decrypt, and guess
/// short ones. Empty when the key's readers are among every file's readers. Files that are
/// missing or not SOPS files are left out (`validate` reports those).
pub fn readers_beyond(
    key_file_text: String,
    files: &dyn Files,
    paths: &[&str],
) -> Result<Vec<(String, String)>, KeyError> {
    let key_file = SopsFile::parse(key_file_text, Format::Yaml).map_err(KeyError::Sops)?;
    let key_readers: Vec<String> = key_file
        .metadata()
        .age_recipients()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for path in paths {
        if seen.contains(path) {
            continue;
        }
        seen.push(path);
        let Some(format) = Format::from_path(std::path::Path::new(path)) else {
            continue;
        };
        let Some(text) = files.read(path).and_then(|b| String::from_utf8(b).ok()) else {
            continue;
        };
        let Ok(file) = SopsFile::parse(text, format) else {
            continue;
        };
        let readers = file.metadata().age_recipients();
        for r in &key_readers {
            if !readers.contains(&r.as_str()) {
                out.push((r.clone(), (*path).to_owned()));
            }
        }
    }
    Ok(out)
}

/// What a repository's fingerprint key looks like to `validate` and the App's config check.
#[derive(Debug, Default)]
pub struct KeyCheck {
    /// What is wrong, one line each, naming the file (never a value).
    pub problems: Vec<String>,
    /// The repository has no key file: values are shown without fingerprints.
    pub missing: bool,
    /// Why keyroll's identity cannot open the key file (no identity, or none of its
    /// recipients'), kept apart from `problems` so a caller can say it once for every file
    /// with the same cause.
    pub no_key: Option<String>,
}

impl KeyCheck {
    /// The line that tells people how to create the key, when it is missing.
    pub fn note(&self) -> Option<String> {
        self.missing.then(|| {
            format!(
                "{KEY_FILE}: no fingerprint key, so plans and pull requests show values as \
                 \"{NO_KEY}\"; create it with `{INIT_COMMAND}` and commit it"
            )
        })
    }
}

/// Every file the config's locations name, once each.
pub fn location_files(config: &Config) -> Vec<&str> {
    let mut out: Vec<&str> = config
        .credentials
        .iter()
        .flat_map(|c| c.locations.iter().map(|l| l.file.as_str()))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Checks a repository's key file against the files its config names: no credential may use
/// the key file, keyroll's identity must open it, and its readers must be readers of every
/// one of those files.
pub fn check(files: &dyn Files, config: &Config, ids: &Identities) -> KeyCheck {
    let location_files = location_files(config);
    let mut out = KeyCheck::default();
    for f in location_files.iter().filter(|f| is_key_file(f)) {
        out.problems.push(format!(
            "{f}: holds keyroll's fingerprint key, which no credential may use (keyroll never \
             rotates or shows it)"
        ));
    }
    let Some(bytes) = files.read(KEY_FILE) else {
        out.missing = true;
        return out;
    };
    match FingerprintKey::from_file_text(bytes.clone(), ids) {
        Err(KeyError::Sops(e)) if crate::policy::validate::is_no_key(&e) => {
            out.no_key = Some(e.to_string());
        }
        Err(e) => out.problems.push(e.to_string()),
        Ok(_) => {}
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return out;
    };
    let others: Vec<&str> = location_files
        .iter()
        .copied()
        .filter(|f| !is_key_file(f))
        .collect();
    match readers_beyond(text, files, &others) {
        Ok(beyond) => {
            for (recipient, file) in beyond {
                out.problems.push(format!(
                    "{KEY_FILE}: recipient {recipient} cannot decrypt {file}, yet could compute \
                     the fingerprints of its values; encrypt the key to the recipients every \
                     credential file shares"
                ));
            }
        }
        Err(e) => out.problems.push(e.to_string()),
    }
    out.problems.dedup();
    out
}

fn hex_digit(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use sha2::Digest;

    use super::*;

    fn key(n: u8) -> FingerprintKey {
        FingerprintKey::from_bytes([n; KEY_BYTES])
    }

    #[test]
    fn same_value_same_key_same_fingerprint() {
        let v = PlainValue::str("hunter2");
        assert_eq!(Fingerprint::of(&v, &key(1)), Fingerprint::of(&v, &key(1)));
        assert_eq!(Fingerprint::of(&v, &key(1)).as_str().len(), LEN);
    }

    #[test]
    fn different_keys_different_fingerprints() {
        let v = PlainValue::str("hunter2");
        assert_ne!(Fingerprint::of(&v, &key(1)), Fingerprint::of(&v, &key(2)));
    }

    #[test]
    fn never_the_unkeyed_sha256_prefix() {
        for value in ["", "a", "hunter2", "APPLICATION-PRODUCTION-2026-12-03"] {
            let unkeyed: String = Sha256::digest(value.as_bytes())
                .iter()
                .take(LEN / 2)
                .map(|b| format!("{b:02x}"))
                .collect();
            let fp = Fingerprint::of(&PlainValue::str(value), &key(7));
            assert_ne!(fp.as_str(), unkeyed, "{value:?}");
        }
    }

    #[test]
    fn a_short_value_is_not_found_by_guessing_without_the_key() {
        // A four-digit PIN: 10,000 candidates, hashed with a wrong key, find nothing.
        let secret = PlainValue::str("4711");
        let shown = Fingerprint::of(&secret, &key(3));
        let wrong = key(4);
        let found = (0..10_000)
            .map(|n| format!("{n:04}"))
            .filter(|c| Fingerprint::of_bytes(c.as_bytes(), &wrong) == shown)
            .count();
        assert_eq!(found, 0);
        // With the key, the same search finds it: the test would notice a broken search.
        let right = key(3);
        let found: Vec<String> = (0..10_000)
            .map(|n| format!("{n:04}"))
            .filter(|c| Fingerprint::of_bytes(c.as_bytes(), &right) == shown)
            .collect();
        assert_eq!(found, ["4711"]);
    }

    #[test]
    fn key_text_round_trips_and_bad_keys_are_refused() {
        let k = FingerprintKey::generate().unwrap();
        let text = k.to_plaintext();
        let hex = text
            .expose()
            .lines()
            .find_map(|l| l.strip_prefix("fingerprint_key: "))
            .unwrap();
        let back = FingerprintKey::from_value(&PlainValue::str(hex)).unwrap();
        let v = PlainValue::str("x");
        assert_eq!(Fingerprint::of(&v, &k), Fingerprint::of(&v, &back));
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(63), &"a".repeat(66)] {
            assert!(
                FingerprintKey::from_value(&PlainValue::str(bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let shown = format!("{:?}", key(0xab));
        assert_eq!(shown, "FingerprintKey(<redacted>)");
    }

    #[test]
    fn queries_need_six_hex_digits() {
        let fp = Fingerprint::of(&PlainValue::str("v"), &key(1));
        assert!(fp.matches(&fp.as_str()[..6]));
        assert!(fp.matches(&fp.as_str().to_ascii_uppercase()));
        assert!(!fp.matches(&fp.as_str()[..5]));
        assert!(!fp.matches("zzzzzz"));
    }

    #[test]
    fn no_key_is_shown_as_such() {
        assert_eq!(text(shown(&PlainValue::str("v"), None).as_ref()), NO_KEY);
    }
}
