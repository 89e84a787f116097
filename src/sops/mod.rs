//! The SOPS file format, implemented from its specification and checked against the real
//! `sops` CLI: reading (YAML, JSON, dotenv; age recipients; key groups with Shamir), MAC
//! verification, minimal-diff edits, and creating files from `.sops.yaml` rules.
//!
//! Reading: [`SopsFile::parse`] then [`SopsFile::open`]. Editing: [`OpenedFile::set`] and
//! [`OpenedFile::unset`] return the new file text. Creating: [`encrypt::encrypt`].

pub mod cipher;
pub mod creation_rules;
mod edit;
mod emit;
pub mod encrypt;
pub mod error;
mod file;
pub mod format;
pub mod keys;
pub mod mac;
pub mod metadata;
pub mod new_value;
pub mod path;
pub mod rules;
pub mod secret;
mod shamir;
pub mod strict;
pub mod tree;
pub mod value;

pub use emit::SOPS_FORMAT_VERSION;
pub use encrypt::{EncryptOptions, encrypt};
pub use error::SopsError;
pub use file::{OpenedFile, SopsFile};
pub use format::Format;
pub use keys::Identities;
pub use new_value::NewValue;
pub use path::TreePath;
pub use secret::{PlainValue, SecretText, ValueType};
