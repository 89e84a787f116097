//! Authenticating as the GitHub App: a short-lived JWT signed with the App's private key
//! (for the `/app` endpoints), and per-installation access tokens obtained with that JWT
//! and cached until shortly before they expire.
//!
//! Nothing here sends HTTP: [`TokenCache::token`] is handed the request that fetches a token,
//! so the client's retries, timeouts and metrics apply to token requests too.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::runtime::Clock;

/// How far `iat` is back-dated, so a GitHub clock slightly behind ours still accepts the JWT.
const JWT_BACKDATE: Duration = Duration::seconds(60);
/// How long a JWT lives; GitHub refuses any that lives longer than 10 minutes.
const JWT_LIFETIME: Duration = Duration::minutes(9);
/// A cached installation token is replaced this long before it expires, so a request that
/// starts with it never reaches GitHub after it has expired.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the GitHub App id (the JWT issuer) is empty")]
    EmptyAppId,
    /// The reason is a fixed phrase: the key's bytes are never repeated in an error.
    #[error("the GitHub App private key is not a usable RSA private key in PEM form: {reason}")]
    NotRsaPrivateKey { reason: &'static str },
    #[error("could not sign the GitHub App JWT: {reason}")]
    Sign { reason: &'static str },
    #[error("GitHub's installation token response is unusable: {reason}")]
    BadTokenResponse { reason: &'static str },
}

/// The App's identity: its id (the JWT issuer: the numeric App id or the client id) and its
/// RS256 signing key. Debug shows the id only.
pub struct AppKey {
    app_id: String,
    key: EncodingKey,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppKey")
            .field("app_id", &self.app_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iat: i64,
    exp: i64,
    iss: &'a str,
}

impl AppKey {
    /// Reads the App's private key (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`, as GitHub
    /// hands it out). The key is tried once by signing a throwaway JWT, so a public key or a
    /// key of another kind is refused here rather than on the first API call.
    pub fn from_pem(app_id: &str, pem: &[u8]) -> Result<AppKey, AuthError> {
        let app_id = app_id.trim();
        if app_id.is_empty() {
            return Err(AuthError::EmptyAppId);
        }
        let key = EncodingKey::from_rsa_pem(pem).map_err(|e| AuthError::NotRsaPrivateKey {
            reason: key_error_reason(e.kind()),
        })?;
        let app = AppKey {
            app_id: app_id.to_owned(),
            key,
        };
        app.sign(OffsetDateTime::UNIX_EPOCH).map_err(|e| match e {
            AuthError::Sign { reason } => AuthError::NotRsaPrivateKey { reason },
            other => other,
        })?;
        Ok(app)
    }

    /// The JWT issuer.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// A JWT for the `/app` endpoints, valid from a minute before `now` to nine minutes after.
    pub fn jwt(&self, now: OffsetDateTime) -> Result<Zeroizing<String>, AuthError> {
        self.sign(now)
    }

    fn sign(&self, now: OffsetDateTime) -> Result<Zeroizing<String>, AuthError> {
        let claims = Claims {
            iat: (now - JWT_BACKDATE).unix_timestamp(),
            exp: (now + JWT_LIFETIME).unix_timestamp(),
            iss: &self.app_id,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map(Zeroizing::new)
            .map_err(|e| AuthError::Sign {
                reason: key_error_reason(e.kind()),
            })
    }
}

/// A fixed description of a key or signing error. jsonwebtoken's own messages can quote
/// pieces of the input (a base64 decode error names the offending byte), so they are not
/// passed on.
fn key_error_reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidKeyFormat => "not a PEM-encoded RSA key",
        ErrorKind::InvalidRsaKey(_) => "the RSA key could not be read",
        ErrorKind::RsaFailedSigning | ErrorKind::Signing(_) => {
            "signing failed (is it a public key?)"
        }
        ErrorKind::Base64(_) => "the PEM body is not valid base64",
        ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => {
            "the key cannot sign RS256"
        }
        _ => "the key was refused",
    }
}

/// An installation access token and when it expires. Debug hides the token.
pub struct InstallationToken {
    pub token: Zeroizing<String>,
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallationToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl InstallationToken {
    /// Reads the body of `POST /app/installations/{id}/access_tokens`:
    /// `{"token": "...", "expires_at": "2026-11-24T10:00:00Z", ...}`.
    pub fn from_response(body: &serde_json::Value) -> Result<Self, AuthError> {
        let token = body
            .get("token")
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::BadTokenResponse {
                reason: "no `token` string",
            })?;
        let expires_at = body
            .get("expires_at")
            .and_then(serde_json::Value::as_str)
            .ok_or(AuthError::BadTokenResponse {
                reason: "no `expires_at` string",
            })?;
        let expires_at = OffsetDateTime::parse(expires_at, &Rfc3339).map_err(|_| {
            AuthError::BadTokenResponse {
                reason: "`expires_at` is not an RFC 3339 time",
            }
        })?;
        Ok(Self {
            token: Zeroizing::new(token.to_owned()),
            expires_at,
        })
    }

    fn usable_at(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at - REFRESH_BEFORE_EXPIRY
    }
}

/// One installation's cached token. The async mutex is held while a token is fetched, so
/// callers that arrive meanwhile wait for that token instead of fetching their own.
type Slot = Arc<tokio::sync::Mutex<Option<InstallationToken>>>;

/// Installation tokens by installation id. Debug shows which installations have a slot,
/// never a token.
#[derive(Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<u64, Slot>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let mut ids: Vec<&u64> = slots.keys().collect();
        ids.sort();
        f.debug_struct("TokenCache")
            .field("installations", &ids)
            .finish()
    }
}

impl TokenCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, installation_id: u64) -> Slot {
        // A panic elsewhere while holding this lock cannot leave the map half-updated
        // (every change is one insert), so a poisoned lock is still safe to use.
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.entry(installation_id).or_default().clone()
    }

    /// The installation's token: the cached one while it is more than
    /// [`REFRESH_BEFORE_EXPIRY`] from expiring, otherwise a new one from `fetch`. Concurrent
    /// callers for one installation share a single `fetch`; a failed fetch leaves the cache
    /// empty, so the next caller tries again.
    pub async fn token<F, Fut, E>(
        &self,
        installation_id: u64,
        clock: &dyn Clock,
        fetch: F,
    ) -> Result<Zeroizing<String>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<InstallationToken, E>>,
    {
        let slot = self.slot(installation_id);
        let mut cached = slot.lock().await;
        if let Some(current) = cached.as_ref()
            && current.usable_at(clock.now())
        {
            return Ok(current.token.clone());
        }
        *cached = None;
        let fresh = fetch().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets the installation's token if it is still `rejected` (GitHub answered 401 to
    /// it). A token another caller has fetched since is kept.
    pub async fn invalidate(&self, installation_id: u64, rejected: &str) {
        let slot = self.slot(installation_id);
        let mut cached = slot.lock().await;
        if cached
            .as_ref()
            .is_some_and(|t| t.token.as_str() == rejected)
        {
            *cached = None;
        }
    }
}
