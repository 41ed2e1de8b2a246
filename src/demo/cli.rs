//! `drover demo [--speed X] [-o text|json|yaml]`: runs the demo and prints its report. The live
//! view goes to standard output with the text report, to standard error when the report is for
//! machines. Exit codes: 0 success, 1 the scenario failed (an invariant, a stage not reached),
//! 2 bad input.

use super::{Options, run};
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Divide every simulated latency by this (1: the demo takes about half a minute).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub speed: f64,
    /// The report's format; with json or yaml the live view goes to standard error.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Output,
}

/// Runs `drover demo` on `runtime`; the process's exit code.
pub fn main(runtime: &tokio::runtime::Runtime, args: &Args) -> ExitCode {
    let options = Options { speed: args.speed };
    let result = match args.output {
        Output::Text => runtime.block_on(run(&options, std::io::stdout())),
        Output::Json | Output::Yaml => runtime.block_on(run(&options, std::io::stderr())),
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("drover demo: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    print(args.output, &report, || report.text(), "drover demo")
}

/// Prints `report` on standard output as `output` asks (`text` for the human form); the exit
/// code. `command` prefixes the complaint when it cannot.
pub fn print<T: serde::Serialize>(
    output: Output,
    report: &T,
    text: impl FnOnce() -> String,
    command: &str,
) -> ExitCode {
    let printed = match output {
        Output::Text => Ok(format!("\n{}", text())),
        Output::Json => serde_json::to_string_pretty(report)
            .map(|j| j + "\n")
            .map_err(|e| e.to_string()),
        Output::Yaml => serde_saphyr::to_string(report).map_err(|e| e.to_string()),
    };
    match printed {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{command}: cannot write the report: {e}");
            ExitCode::FAILURE
        }
    }
}
