//! Executors: what carries the engine's effects out in the world. Each is find-or-create, so
//! an effect asked for twice (after a crash) is done once.
//!
//! - [`local::LocalExecutor`]: a local git checkout stands in for GitHub; pull requests are
//!   branches. The GitHub executor comes with the GitHub App.

pub mod local;
