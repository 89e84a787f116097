//! The server and the GitHub client against the simulated GitHub: whole rotations, people,
//! failures, supervision.
//!
//! One test binary for these files (each module is one of them), so the harness and
//! keyroll are linked once, not once a file.

mod common;
mod sim;
mod world;

mod e2e_failures;
mod e2e_fingerprint;
mod e2e_people;
mod e2e_rotation;
mod github_client;
mod github_sim;
mod serve;
mod supervision;
