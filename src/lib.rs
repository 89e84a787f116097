//! keyroll rotates credentials kept in SOPS-encrypted files in a GitOps repository.
//!
//! This crate holds the SOPS engine ([`sops`]) and the command line ([`cli`]). The rotation
//! engine, store and GitHub App build on these.

pub mod cli;
pub mod sops;
