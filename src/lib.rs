//! keyroll rotates credentials kept in SOPS-encrypted files in a GitOps repository.
//!
//! - [`sops`]: the SOPS file format (read, verify, minimal-diff edits, create).
//! - [`policy`]: the repository's `.keyroll.yaml` and the presets in `policies/`.
//! - [`generate`]: new values (random tokens, dates, dated names; manual values).
//! - [`changeset`]: what each phase of a rotation changes in which file, as pure functions.
//! - [`engine`]: the rotation lifecycle as a pure state machine (`step`).
//! - [`plan`]: that change, rendered for people without showing a value.
//! - [`repo`]: the repository on disk and the branches keyroll commits to.
//! - [`cli`]: the command line.

pub mod changeset;
pub mod cli;
pub mod effects;
pub mod engine;
pub mod fingerprint;
pub mod generate;
pub mod plan;
pub mod policy;
pub mod repo;
pub mod runtime;
pub mod sops;
pub mod store;
pub mod where_used;
