//! The `keyroll` command line. Each subcommand family lives in its own module; this one
//! parses arguments, runs the command and turns its error into an exit code.

mod exit;
mod sops;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use exit::Exit;

/// Rotates credentials kept in SOPS-encrypted files in a GitOps repository.
#[derive(Debug, Parser)]
#[command(name = "keyroll", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
