//! Short fingerprints that stand for values wherever people or logs see them: the first 12
//! hex digits of the value's SHA-256. Enough to tell values apart and to match one against a
//! value someone holds; not enough to recover a random token.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::sops::PlainValue;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Fingerprint(String);

/// Hex digits kept: 48 bits.
const LEN: usize = 12;

impl Fingerprint {
    pub fn of(value: &PlainValue) -> Self {
        Self::of_bytes(value.expose())
    }

    pub fn of_bytes(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut hex = String::with_capacity(LEN);
        for b in digest.iter().take(LEN / 2) {
            hex.push_str(&format!("{b:02x}"));
        }
        Self(hex)
    }

    /// Whether a fingerprint someone typed (a prefix, `sha256:` optional) matches.
    pub fn matches(&self, query: &str) -> bool {
        let q = query
            .trim()
            .trim_start_matches("sha256:")
            .to_ascii_lowercase();
        q.len() >= 6 && self.0.starts_with(&q)
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
