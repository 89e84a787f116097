//! `X-Hub-Signature-256`: an HMAC-SHA256 of the raw body with the webhook secret, checked
//! before anything parses the body. Several secrets are accepted at once, so the secret
//! itself can be rotated (new one added, deliveries move over, old one removed).

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The configured webhook secrets. Never printed.
pub struct Secrets(Vec<Zeroizing<Vec<u8>>>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets(<{} redacted>)", self.0.len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no X-Hub-Signature-256 header")]
    Missing,
    #[error("X-Hub-Signature-256 is not `sha256=` and 64 hex digits")]
    Malformed,
    #[error("the signature matches no configured webhook secret")]
    Mismatch,
    #[error("no webhook secret is configured")]
    NoSecrets,
}

impl Secrets {
    /// Secrets from a comma-separated list (`KEYROLL_WEBHOOK_SECRETS`); blanks are ignored.
    pub fn from_list(list: &str) -> Result<Self, SignatureError> {
        let secrets: Vec<Zeroizing<Vec<u8>>> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Zeroizing::new(s.as_bytes().to_vec()))
            .collect();
        if secrets.is_empty() {
            return Err(SignatureError::NoSecrets);
        }
        Ok(Self(secrets))
    }

    /// Checks a delivery's signature header against every secret, in constant time for each.
    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let hex = header
            .trim()
            .strip_prefix("sha256=")
            .ok_or(SignatureError::Malformed)?;
        let tag = decode_hex(hex).ok_or(SignatureError::Malformed)?;
        for secret in &self.0 {
            let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
                continue;
            };
            mac.update(body);
            if mac.verify_slice(&tag).is_ok() {
                return Ok(());
            }
        }
        Err(SignatureError::Mismatch)
    }

    /// The header value for a body, as GitHub computes it (for tests and the simulator).
    pub fn sign(secret: &[u8], body: &[u8]) -> String {
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
            return String::new();
        };
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        let mut out = String::from("sha256=");
        for b in tag.iter() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..32)
        .map(|i| {
            hex.get(2 * i..2 * i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn any_configured_secret_verifies_and_nothing_else_does() {
        let secrets = Secrets::from_list(" old-secret , new-secret ").unwrap();
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        assert_eq!(
            secrets.verify(Some(&Secrets::sign(b"new-secret", body)), body),
            Ok(())
        );
        assert_eq!(
            secrets.verify(Some(&Secrets::sign(b"old-secret", body)), body),
            Ok(())
        );
        assert_eq!(
            secrets.verify(Some(&Secrets::sign(b"other", body)), body),
            Err(SignatureError::Mismatch)
        );
        let mut changed = body.to_vec();
        changed[3] ^= 1;
        assert_eq!(
            secrets.verify(Some(&Secrets::sign(b"new-secret", body)), &changed),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(secrets.verify(None, body), Err(SignatureError::Missing));
        for bad in ["sha1=abc", "sha256=xyz", "sha256=", "sha256=00"] {
            assert_eq!(
                secrets.verify(Some(bad), body),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            Secrets::from_list(" , ").unwrap_err(),
            SignatureError::NoSecrets
        );
        assert!(!format!("{secrets:?}").contains("secret"));
    }

    /// The example from GitHub's documentation ("Validating webhook deliveries").
    #[test]
    fn matches_githubs_documented_example() {
        assert_eq!(
            Secrets::sign(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }
}
