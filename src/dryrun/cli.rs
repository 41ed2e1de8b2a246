//! `drover plan`'s command line: the arguments, the access they describe, the run and its exit
//! code.

use super::{Access, BadInput, EXIT_BAD_INPUT, EXIT_OK, plan_files, render};
use crate::sql::{Credentials, Timeouts};
use jiff::Timestamp;
use std::path::PathBuf;

/// `drover plan`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// The YAML files (multi-document) declaring AvailabilityGroups, PersistentChatPools and
    /// DrSites; documents of other API groups (Secrets, Namespaces) are skipped.
    #[arg(short = 'f', long = "file", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: render::Format,
    /// The SQL login (the specs' credentials Secret cannot be read offline).
    #[arg(long)]
    pub username: Option<String>,
    /// The name of the environment variable holding the login's password (never the password
    /// itself: command lines are visible to other users).
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// Connect without TLS whatever the specs say (the simulator, a test server).
    #[arg(long)]
    pub tls_off: bool,
    /// The PEM CA bundle for specs that name `tls.caSecret`.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Seconds allowed to connect to and log in to each server.
    #[arg(long, default_value_t = 5)]
    pub connect_timeout: u64,
}

/// What `drover plan` prints and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: u8,
    pub stdout: String,
    pub stderr: String,
}

impl PlanArgs {
    /// The access the arguments describe; a missing variable or CA file is bad input.
    pub fn access(&self) -> Result<Access, BadInput> {
        let mut errors = Vec::new();
        let credentials = match (&self.username, &self.password_env) {
            (None, None) => None,
            (Some(user), Some(var)) => match std::env::var(var) {
                Ok(password) => Some(Credentials {
                    user: user.clone(),
                    password,
                }),
                Err(_) => {
                    errors.push(format!(
                        "--password-env: the environment variable {var} is not set (or not UTF-8)"
                    ));
                    None
                }
            },
            (Some(_), None) => {
                errors.push("--username needs --password-env VAR (the variable holding the password)".into());
                None
            }
            (None, Some(_)) => {
                errors.push("--password-env needs --username".into());
                None
            }
        };
        let ca_bundle_pem = match &self.ca_file {
            None => None,
            Some(path) => match std::fs::read(path) {
                Ok(pem) => Some(pem),
                Err(e) => {
                    errors.push(format!("--ca-file: cannot read {}: {e}", path.display()));
                    None
                }
            },
        };
        let connect = std::time::Duration::from_secs(self.connect_timeout.max(1));
        let timeouts = Timeouts {
            connect,
            handshake: connect * 2,
            ..Timeouts::default()
        };
        if errors.is_empty() {
            Ok(Access {
                credentials,
                tls_off: self.tls_off,
                ca_bundle_pem,
                timeouts,
            })
        } else {
            Err(BadInput(errors))
        }
    }
}

/// `drover plan` at `now`: the report on stdout, problems on stderr.
pub async fn run(args: &PlanArgs, now: Timestamp) -> Outcome {
    let bad = |BadInput(errors): BadInput| Outcome {
        code: EXIT_BAD_INPUT,
        stdout: String::new(),
        stderr: errors.iter().map(|e| format!("drover plan: {e}\n")).collect(),
    };
    let access = match args.access() {
        Ok(a) => a,
        Err(e) => return bad(e),
    };
    let report = match plan_files(&args.files, &access, now).await {
        Ok(r) => r,
        Err(e) => return bad(e),
    };
    match render::render(&report, args.output) {
        Ok(stdout) => Outcome {
            code: EXIT_OK,
            stdout,
            stderr: String::new(),
        },
        Err(e) => Outcome {
            code: 1,
            stdout: String::new(),
            stderr: format!("drover plan: {e}\n"),
        },
    }
}

/// `drover plan` as the binary runs it: prints, and returns the exit code.
pub async fn main(args: PlanArgs) -> u8 {
    let outcome = run(&args, Timestamp::now()).await;
    print!("{}", outcome.stdout);
    eprint!("{}", outcome.stderr);
    outcome.code
}
