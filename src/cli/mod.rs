//! The `keyroll` command line. Each subcommand family lives in its own module; this one
//! parses arguments, runs the command and turns its error into an exit code.

mod context;
mod exit;
mod fingerprint_key;
mod rotate;
mod serve;
mod simulate;
mod sops;
mod status;
mod validate;
mod where_used;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use exit::Exit;

/// Rotates credentials kept in SOPS-encrypted files in a GitOps repository.
#[derive(Debug, Parser)]
#[command(name = "keyroll", version, about, propagate_version = true, after_help = exit::EXIT_CODE_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check .keyroll.yaml against the repository: every problem at file:line:column.
    Validate(validate::ValidateArgs),
    /// Show what a phase of a rotation would change (values as fingerprints); writes nothing.
    Plan(rotate::PlanArgs),
    /// Commit a phase's change set on a new branch.
    ///
    /// The branch is keyroll/<credential>/<rotation>/<phase>, made from HEAD; the checked-out
    /// branch and the working tree are left untouched.
    Rotate(rotate::RotateArgs),
    /// Each credential's last rotation and due date, overdue first.
    Status(status::StatusArgs),
    /// The lifecycle a rotation of a credential walks, when all goes well; writes nothing.
    Simulate(simulate::SimulateArgs),
    /// Run the GitHub App: receive webhooks, open and follow pull requests, start due rotations.
    Serve(Box<serve::ServeArgs>),
    /// Every file and path that holds a value.
    WhereUsed(where_used::WhereUsedArgs),
    /// Print the JSON Schema of .keyroll.yaml.
    Schema,
    /// Create the key fingerprints are made with, or fingerprint a value.
    ///
    /// A fingerprint is the first 12 hex digits of a value's HMAC-SHA-256 under the key in
    /// .keyroll/fingerprint-key.yaml (SOPS-encrypted), so only its readers can compute or
    /// compare fingerprints, and a short value cannot be guessed from its fingerprint.
    FingerprintKey {
        #[command(subcommand)]
        command: fingerprint_key::FingerprintKeyCommand,
    },
    /// Read, check and edit SOPS files (age recipients), with minimal diffs.
    #[command(after_long_help = exit::EXIT_CODE_HELP, after_help = exit::EXIT_CODE_HELP)]
    Sops {
        #[command(subcommand)]
        command: sops::SopsCommand,
    },
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sops { command } => sops::run(command),
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => rotate::plan(args),
        Command::Rotate(args) => rotate::rotate(args),
        Command::Status(args) => status::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::WhereUsed(args) => where_used::run(args),
        Command::Serve(args) => serve::run(*args),
        Command::Schema => rotate::print(&crate::policy::json_schema()),
        Command::FingerprintKey { command } => fingerprint_key::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "keyroll: {}", failure.message);
            ExitCode::from(failure.exit as u8)
        }
    }
}

/// A failed command: what to tell the person, and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}
