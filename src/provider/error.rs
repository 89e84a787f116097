//! What can go wrong at a provider, sorted by what the caller does next: try again later
//! (`Transient`), stop and tell a person (`Refused`), or distrust the provider's answer
//! (`Invalid`). No variant carries a value: the texts come from the provider's error code
//! and message, or from a fixed description, never from a request or response body.

use std::fmt;

/// A refusal the engine blocks on, with the reason the provider gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A quota is reached (for AWS: two access keys per user).
    LimitExceeded,
    /// keyroll's own credentials may not do this (or are not accepted at all).
    AccessDenied,
    /// The user or key named does not exist.
    NoSuchEntity,
    /// Any other refusal, by the provider's own error code.
    Other(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LimitExceeded => f.write_str("limit exceeded"),
            Self::AccessDenied => f.write_str("access denied"),
            Self::NoSuchEntity => f.write_str("no such entity"),
            Self::Other(code) => write!(f, "refused ({code})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Worth trying again: a 5xx, throttling, a timeout or a network failure.
    #[error("{call}: temporary failure, to retry: {detail}")]
    Transient { call: &'static str, detail: String },
    /// The provider said no; trying again will not help until something changes.
    #[error("{call}: {refusal}: {message}")]
    Refused {
        call: &'static str,
        refusal: Refusal,
        message: String,
    },
    /// The provider answered something keyroll cannot read; the detail is fixed text.
    #[error("{call}: invalid answer: {detail}")]
    Invalid { call: &'static str, detail: String },
    /// keyroll's own credentials could not be had from the credential chain.
    #[error("no credentials for the provider: {0}")]
    Credentials(String),
    /// The provider's client cannot be made (no TLS roots on the machine).
    #[error("the provider's client cannot be set up: {0}")]
    Setup(String),
    /// A name given to the provider is not one it accepts (checked before any call).
    #[error("invalid {what}: {reason}")]
    BadInput { what: &'static str, reason: String },
}

/// An error and its causes on one line (the top error alone often says little).
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl ProviderError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }

    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Refused { refusal, .. } => Some(refusal),
            _ => None,
        }
    }
}
