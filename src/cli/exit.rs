//! Exit codes. Where a failure means the same as one of `sops`'s, keyroll uses sops's
//! number, so scripts written for sops keep working.

use crate::sops::SopsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Anything not listed below.
    Other = 1,
    /// A file cannot be read or written.
    Io = 3,
    /// The file is not valid YAML, JSON or dotenv.
    Syntax = 4,
    /// A config file (`.keyroll.yaml`, `.sops.yaml`) is invalid, or no creation rule matches.
    Config = 5,
    /// The file has no sops metadata, or the metadata is incomplete (e.g. no `version`).
    NotEncrypted = 6,
    /// An argument is invalid: a path or value for `set`/`unset` (sops: 7), a credential
    /// name, a phase that does not apply.
    InvalidInput = 7,
    /// A value does not decrypt: ciphertext changed or moved (sops: 25).
    ValueDecrypt = 25,
    /// MAC mismatch, or the MAC itself does not decrypt (sops: 51).
    Mac = 51,
    /// The path given to `unset` does not exist (sops: 91).
    PathNotFound = 91,
    /// No usable age identity for the file (sops: 128).
    NoKey = 128,
    /// `encrypt` was given a file that is already encrypted (sops: 203).
    AlreadyEncrypted = 203,
}

pub const EXIT_CODE_HELP: &str = "\
Exit codes (the same numbers as sops where the meaning is the same):
    0    success
    1    other error
    2    invalid command line
    3    a file cannot be read or written
    4    the file is not valid YAML, JSON or dotenv
    5    a config file (.keyroll.yaml, .sops.yaml) is invalid, or no creation rule matches
    6    the file has no sops metadata, or it is incomplete (no version, no mac)
    7    an invalid argument: path or value for set / unset, credential name, phase
   25    a value does not decrypt: the ciphertext was changed or moved
   51    MAC mismatch, or the MAC does not decrypt: values, mac or lastmodified were changed
   91    the path given to unset does not exist
  128    no usable age identity (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, --identity)
  203    the file is already encrypted";

impl Exit {
    pub fn for_error(e: &SopsError) -> Self {
        match e {
            SopsError::Syntax { .. } => Exit::Syntax,
            SopsError::NotEncrypted | SopsError::MissingVersion | SopsError::BadMetadata(_) => {
                Exit::NotEncrypted
            }
            SopsError::AlreadyEncrypted => Exit::AlreadyEncrypted,
            SopsError::NoUsableKey(_) | SopsError::Identity(_) => Exit::NoKey,
            SopsError::ValueDecrypt { .. } => Exit::ValueDecrypt,
            SopsError::MacMismatch | SopsError::MacUndecryptable => Exit::Mac,
            SopsError::PathNotFound(_) => Exit::PathNotFound,
            SopsError::InvalidPath(_) | SopsError::InvalidValue(_) => Exit::InvalidInput,
            SopsError::NoCreationRule(_) | SopsError::Config(_) => Exit::Config,
            SopsError::Unsupported { .. } | SopsError::Encrypt(_) => Exit::Other,
        }
    }
}
