//! Every way reading or writing a SOPS file can fail, each a distinct kind so that callers
//! (and exit codes) can tell a tampered file from a missing key or a typo in a path.
//!
//! No variant carries a plaintext value: they name paths, lines and recipients only.

use std::fmt;

/// A syntax error in the document text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl SyntaxError {
    pub fn at(text: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = super::format::line_col(text, offset);
        Self {
            line,
            column,
            message: message.into(),
        }
    }
}

/// Where in a document a value sits: its key path and line, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: String,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "line {}", self.line)
        } else {
            write!(f, "{} (line {})", self.path, self.line)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    #[error("not valid {format}: {source}")]
    Syntax {
        format: &'static str,
        #[source]
        source: SyntaxError,
    },
    #[error("no sops metadata: the file is not encrypted with sops (no top-level `sops` entry)")]
    NotEncrypted,
    #[error("the sops metadata has no `version`; sops itself refuses such a file")]
    MissingVersion,
    #[error("bad sops metadata: {0}")]
    BadMetadata(String),
    #[error("already encrypted: the file has a top-level `sops` entry")]
    AlreadyEncrypted,
    #[error("no usable key: {0}")]
    NoUsableKey(String),
    #[error("cannot load age identities: {0}")]
    Identity(String),
    #[error("value at {at} does not decrypt: {reason}")]
    ValueDecrypt { at: Location, reason: String },
    #[error("MAC mismatch: values were changed, reordered or removed outside sops")]
    MacMismatch,
    #[error("the MAC does not decrypt: the `mac` or `lastmodified` field was changed")]
    MacUndecryptable,
    #[error("unsupported at {at}: {what}")]
    Unsupported { at: Location, what: String },
    #[error("path {0} not found")]
    PathNotFound(String),
    #[error("invalid path: {0}")]
    InvalidPath(String),
    #[error("invalid value: {0}")]
    InvalidValue(String),
    #[error("no creation rule: {0}")]
    NoCreationRule(String),
    #[error("bad .sops.yaml: {0}")]
    Config(String),
    #[error("encryption failed: {0}")]
    Encrypt(String),
}

impl SopsError {
    pub(crate) fn syntax(format: super::format::Format, source: SyntaxError) -> Self {
        SopsError::Syntax {
            format: format.name(),
            source,
        }
    }
}
