//! The pure core and its parsers: engine, decisions, commands, policy, plans, the runtime on a
//! local checkout, webhooks and texts.
//!
//! One test binary for these files (each module is one of them), so the harness and
//! keyroll are linked once, not once a file.

mod common;

mod answers;
mod changeset;
mod commands;
mod config_fuzz;
mod config_limits;
mod decisions;
mod engine;
mod github_texts;
mod policy;
mod rotation;
mod runtime;
mod webhooks;
