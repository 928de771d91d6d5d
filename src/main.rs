use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match airlock::cli::Cli::try_parse() {
        Ok(cli) => airlock::cli::run(cli),
        // Help and --version are answers, not errors. A usage error exits 3 like every other
        // error: `airlock scan` gives 2 a meaning of its own (needs a human's approval).
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                ExitCode::from(airlock::cli::EXIT_ERROR)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
