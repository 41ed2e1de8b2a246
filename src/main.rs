//! The `drover` command line.

#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use drover::runtime::LeaseConfig;
use drover::runtime::operator::{self, Options};
use drover::runtime::telemetry::{self, LogFormat};
use drover::sim::Sim;
use drover::sim::control;
use drover::sim::model::config::WorldConfig;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "drover",
    version,
    about = "Cross-site disaster recovery for SQL Server-backed application stacks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines are written (to standard error; RUST_LOG filters them, default `warn`).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Print every CustomResourceDefinition drover serves, as YAML (what `crds/` holds).
    Crd,
    /// Run the controllers against the cluster in KUBECONFIG / the pod's service account, until
    /// Ctrl-C or SIGTERM.
    Run(RunArgs),
    /// Dry run: observe the servers the files declare (SELECTs only) and print the step drover
    /// would take now. Exit 0: planned; 2: bad input (nothing contacted).
    Plan(drover::dryrun::PlanArgs),
    /// Play the contact-center example against the simulated two-site world: cold start, site A
    /// lost, failover, site A restored, failback; then a summary.
    Demo(drover::demo::cli::Args),
    /// Drill the DrSite and AvailabilityGroup of the files on a simulated twin: switchover,
    /// failover, failback (or all); the plan, a timeline, optionally an HTML report. Exit 0:
    /// passed; 1: an invariant failed; 2: bad input.
    Drill(drover::drill::cli::Args),
    /// Run the simulated SQL Server world (default: two sites, AG `ag1`) until Ctrl-C.
    Sim {
        /// A world description in YAML (see examples/sim-two-sites.yaml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The control port; instances whose configured port is 0 get the
        /// following ports. 0 picks free ports for everything.
        #[arg(long, default_value_t = 21433)]
        base_port: u16,
        /// Do not read control commands from standard input.
        #[arg(long)]
        no_stdin: bool,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Watch only these namespaces (repeat, or separate with commas; default: all namespaces).
    #[arg(long = "namespace", value_delimiter = ',', env = "DROVER_WATCH_NAMESPACES")]
    namespaces: Vec<String>,
    /// Elect a leader on a Lease so that several replicas can run and only one acts.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// The Lease's namespace (default: $POD_NAMESPACE, else the kubeconfig's namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// The Lease's name.
    #[arg(long, default_value = drover::runtime::lease::DEFAULT_LEASE_NAME)]
    lease_name: String,
    /// Seconds a follower waits on an unrenewed lease before taking it.
    #[arg(long, default_value_t = 15)]
    lease_duration: u64,
    /// Seconds after its last renewal at which a leader that cannot renew stops acting.
    #[arg(long, default_value_t = 10)]
    renew_deadline: u64,
    /// Seconds between renewals (and between a follower's looks).
    #[arg(long, default_value_t = 2)]
    retry_period: u64,
    /// Where to serve /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: std::net::SocketAddr,
    /// Seconds a confirmation token (data loss, site lost, discard) stays good, at most a day; an expired request
    /// is replaced by a new one with a new token.
    #[arg(long, env = "DROVER_CONFIRMATION_TTL_SECONDS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    confirmation_ttl_seconds: u64,
    /// A ServiceAccount name that Job templates (DrSite and pool hooks, fence and force-quorum
    /// hooks) may name in `serviceAccountName`; repeat for more. None by default: a template naming
    /// one is refused (Invalid).
    #[arg(long = "hook-service-account", value_name = "NAME")]
    hook_service_accounts: Vec<String>,
    /// Lockdown: a DrSite acts only in its own namespace, whatever the target namespace's
    /// `allow-from.drover.dev/<namespace>` label says (sites in other clusters are unaffected).
    #[arg(long, env = "DROVER_NO_CROSS_NAMESPACE_REFS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    no_cross_namespace_refs: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `drover run` says what it does (leadership, shutdown); the other commands only complain.
    let default_filter = match cli.command {
        Command::Run(_) => "info",
        // The demo's SQL runs without TLS against the simulator on purpose: tiberius need not say so.
        Command::Demo(_) | Command::Drill(_) => "warn,tiberius=error",
        // `--tls-off` asked for it (the report says so once); a warning per connection is noise.
        Command::Plan(ref args) if args.tls_off => "warn,tiberius=error",
        _ => "warn",
    };
    telemetry::init(cli.log_format, default_filter);
    // tiberius (aws-lc-rs) and, later, kube (ring) both use rustls: pick one provider once.
    drover::sql::install_crypto_provider();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("drover: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Crd => drover::api::all_crds_yaml().map(|yaml| print!("{yaml}")),
        Command::Run(args) => runtime.block_on(run_operator(args)),
        Command::Plan(args) => return ExitCode::from(runtime.block_on(drover::dryrun::main(args))),
        Command::Demo(args) => return drover::demo::cli::main(&runtime, &args),
        Command::Drill(args) => return drover::drill::cli::main(&runtime, &args),
        Command::Sim {
            config,
            base_port,
            no_stdin,
        } => runtime.block_on(run_sim(config, base_port, no_stdin)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drover: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run_sim(config: Option<PathBuf>, base_port: u16, no_stdin: bool) -> Result<(), String> {
    let mut cfg = match &config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            WorldConfig::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => WorldConfig::two_sites(),
    };
    if base_port != 0 {
        for (n, inst) in cfg.instances.iter_mut().enumerate().filter(|(_, i)| i.port == 0) {
            inst.port = base_port.checked_add(1 + n as u16).ok_or("--base-port is too high")?;
        }
    }
    let sim = Sim::start(cfg).await?;
    let control_addr = control::listen(sim.clone(), SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), base_port))
        .await
        .map_err(|e| format!("cannot listen for control commands on port {base_port}: {e}"))?;
    let (user, password) = sim.login();
    println!("drover simulator running (encryption not supported; connect with TLS off)");
    for (name, site, addr) in sim.endpoints() {
        println!("  instance {name:<8} site {site:<8} tds://{addr}");
    }
    println!("  login    user {user:?} password {password:?}");
    println!(
        "  control  {control_addr}  (one command per line, e.g. `echo status | nc -q1 {} {}`)",
        control_addr.ip(),
        control_addr.port()
    );
    if let Some((_, _, addr)) = sim.endpoints().first() {
        println!(
            "  try      TDSVER=7.4 tsql -H {} -p {} -U {user} -P '{password}'",
            addr.ip(),
            addr.port()
        );
    }
    println!("{}", control::HELP);
    if !no_stdin {
        tokio::spawn(control::serve_lines(
            sim.clone(),
            tokio::io::stdin(),
            tokio::io::stdout(),
        ));
    }
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    sim.shutdown();
    println!("drover simulator stopped");
    Ok(())
}

async fn run_operator(args: RunArgs) -> Result<(), String> {
    let client = drover::runtime::client::infer().await?;
    let instance = std::env::var("POD_NAME").ok();
    let lease = args.leader_election.then(|| {
        let namespace = args
            .lease_namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string());
        let mut lease = LeaseConfig::new(namespace, args.lease_name.clone(), identity(instance.as_deref()));
        lease.lease_duration = Duration::from_secs(args.lease_duration);
        lease.renew_deadline = Duration::from_secs(args.renew_deadline);
        lease.retry_period = Duration::from_secs(args.retry_period);
        lease
    });
    let options = Options {
        namespaces: args.namespaces.into_iter().filter(|n| !n.is_empty()).collect(),
        lease,
        config: drover::controller::Config {
            confirmation_ttl: Duration::from_secs(args.confirmation_ttl_seconds),
            jobs: drover::components::jobs::JobPolicy {
                // Read once at start-up and kept for the life of the process.
                allowed_service_accounts: Box::leak(args.hook_service_accounts.into_boxed_slice()),
            },
            tenancy: drover::components::tenancy::Policy {
                no_cross_namespace_refs: args.no_cross_namespace_refs,
            },
            ..drover::controller::Config::default()
        },
        instance,
        metrics_addr: Some(args.metrics_addr),
    };
    operator::run(client, options, |_| {}, shutdown_signal()).await
}

/// Unique per process: the pod name (or host name) and a random suffix, so a restarted container
/// is a new candidate rather than an impostor of the old one.
fn identity(pod: Option<&str>) -> String {
    let host = pod
        .map(str::to_string)
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "drover".to_string());
    // std's hasher keys are random per process: enough to tell two processes apart.
    let suffix = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), host.as_str());
    format!("{host}_{:08x}", suffix as u32)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lockdown(args: &[&str]) -> Option<bool> {
        let cli = Cli::try_parse_from(args).ok()?;
        match cli.command {
            Command::Run(run) => Some(run.no_cross_namespace_refs),
            _ => None,
        }
    }

    #[test]
    fn the_lockdown_flag_is_off_by_default_and_set_bare_or_with_a_value() {
        assert_eq!(lockdown(&["drover", "run"]), Some(false));
        assert_eq!(lockdown(&["drover", "run", "--no-cross-namespace-refs"]), Some(true));
        // The chart passes it with its value.
        assert_eq!(
            lockdown(&["drover", "run", "--no-cross-namespace-refs=true"]),
            Some(true)
        );
        assert_eq!(
            lockdown(&["drover", "run", "--no-cross-namespace-refs=false"]),
            Some(false)
        );
        assert_eq!(lockdown(&["drover", "run", "--no-cross-namespace-refs=maybe"]), None);
    }
}
