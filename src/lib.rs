//! keyroll rotates credentials kept in SOPS-encrypted files in a GitOps repository.
//!
//! Data flows one way: an input (a webhook, a command, a tick) goes into the [`store`]'s
//! inbox; the [`runtime`] steps the [`engine`] (pure: state + input + time in, next state +
//! effects out), commits the step to the [`store`] in one transaction, and has the
//! [`effects`] executors carry the effects out, feeding their outcomes back as inputs.
//!
//! - [`engine`]: the rotation lifecycle as a pure state machine; start at `engine::Phase`.
//! - [`store`]: SQLite: inbox, rotations, outbox of effects, audit log, locks.
//! - [`runtime`]: the worker around the engine; the scheduler of due rotations.
//! - [`effects`]: executors (a local checkout now; GitHub next).
//! - [`github`]: webhook deliveries: signatures and the events keyroll reads.
//! - [`changeset`]: what each pull request of a rotation changes in which file.
//! - [`policy`]: the repository's `.keyroll.yaml` and the presets in `policies/`.
//! - [`generate`]: new values (random tokens, dates, dated names; checks on manual values).
//! - [`provider`]: where values are minted, observed and retired (AWS IAM access keys).
//! - [`plan`]: a change set rendered for people without showing a value.
//! - [`sops`]: the SOPS file format (read, verify, minimal-diff edits, create).
//! - [`repo`]: the repository on disk and the branches keyroll commits to.
//! - [`where_used`], [`fingerprint`]: finding values; naming them without showing them.
//! - [`cli`]: the command line.

pub mod changeset;
pub mod cli;
pub mod commands;
pub mod effects;
pub mod engine;
pub mod fingerprint;
pub mod generate;
pub mod github;
pub mod plan;
pub mod policy;
pub mod provider;
pub mod repo;
pub mod runtime;
pub mod server;
pub mod sops;
pub mod store;
pub mod where_used;
