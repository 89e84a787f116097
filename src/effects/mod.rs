//! Executors: what carries the engine's effects out in the world. Each is find-or-create, so
//! an effect asked for twice (after a crash) is done once. Executors fetch facts and carry
//! effects out; they decide nothing (the gate is decided by [`crate::engine::gate`], merges
//! and marking ready are effects the engine emits).
//!
//! - [`github::GitHubExecutor`]: pull requests, status comments and check runs on GitHub.
//! - [`local::LocalExecutor`]: a local git checkout stands in for GitHub; pull requests are
//!   branches.
//! - [`render`]: the texts people read (titles, bodies, status, gate), pure.

pub mod github;
pub mod local;
pub mod push_check;
pub mod render;
