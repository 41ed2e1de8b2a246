//! `drover drill -f FILE… [--scenario …] [--report FILE.html] [-o text|json|yaml] [--speed X]`.
//! Exit codes: 0 the drill passed, 1 the scenario failed (an invariant, a stage not reached),
//! 2 bad input (nothing started).

use super::{Options, Scenario, run};
use crate::demo::cli::{Output, print};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The YAML files holding the DrSite and its AvailabilityGroup (repeatable).
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// The transitions to play after the cold start.
    #[arg(long, value_enum, default_value = "all")]
    pub scenario: Scenario,
    /// Write a self-contained HTML report (timeline, figures, every step) here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// The report's format; with json or yaml the live view goes to standard error.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Output,
    /// Divide every simulated latency by this.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub speed: f64,
}

/// Runs `drover drill` on `runtime`; the process's exit code.
pub fn main(runtime: &tokio::runtime::Runtime, args: &Args) -> ExitCode {
    let options = Options {
        files: args.files.clone(),
        scenario: args.scenario,
        speed: args.speed,
    };
    let result = match args.output {
        Output::Text => runtime.block_on(run(&options, std::io::stdout())),
        Output::Json | Output::Yaml => runtime.block_on(run(&options, std::io::stderr())),
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("drover drill: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    if let Some(path) = &args.report
        && let Err(e) = std::fs::write(path, report.html())
    {
        eprintln!("drover drill: cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    print(args.output, &report, || report.text(), "drover drill")
}
