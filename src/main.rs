use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    airlock::cli::run(airlock::cli::Cli::parse())
}
