use std::process::ExitCode;

fn main() -> ExitCode {
    keyroll::cli::main()
}
