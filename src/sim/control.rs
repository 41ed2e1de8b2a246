//! The simulator's fault-injection interface: one command per line, on the
//! control port (`nc 127.0.0.1 PORT`) or on `drover sim`'s standard input.

use crate::sim::runtime::Sim;
use std::fmt::Write as _;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

pub const HELP: &str = "\
commands:
  status                     roles, synchronization and data loss per availability group and chat pool
  stop INSTANCE              stop a SQL Server instance (connections refused)
  start INSTANCE             start it again (answers after the restart latency)
  hang INSTANCE              accept connections but never answer
  unhang INSTANCE            answer again
  partition SITE SITE        cut every link between two sites
  heal                       restore every link
  pause INSTANCE             stall log transport to and from an instance
  unpause INSTANCE           let log flow again
  isolate INSTANCE           cut clients off from a running instance (their logins time out)
  unisolate INSTANCE         let clients reach it again
  forcequorum INSTANCE       force WSFC quorum on the instance's node (its side runs the cluster)
  workload on|off            start or stop committing transactions
  history [N]                the last N events (default 20)
  help                       this text";

/// A parsed control command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    Stop(String),
    Start(String),
    Hang(String),
    Unhang(String),
    Partition(String, String),
    Heal,
    Pause(String),
    Unpause(String),
    Isolate(String),
    Unisolate(String),
    ForceQuorum(String),
    Workload(bool),
    History(usize),
    Help,
}

impl Command {
    pub fn parse(line: &str) -> Result<Command, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let one = |w: &[&str]| match w {
            [_, x] => Ok(x.to_string()),
            _ => Err(format!("usage: {} INSTANCE", w[0])),
        };
        match words.first().map(|w| w.to_ascii_lowercase()).as_deref() {
            None => Err("empty command; try 'help'".into()),
            Some("status") => Ok(Command::Status),
            Some("stop") => one(&words).map(Command::Stop),
            Some("start") => one(&words).map(Command::Start),
            Some("hang") => one(&words).map(Command::Hang),
            Some("unhang") => one(&words).map(Command::Unhang),
            Some("pause") => one(&words).map(Command::Pause),
            Some("unpause") => one(&words).map(Command::Unpause),
            Some("isolate") => one(&words).map(Command::Isolate),
            Some("unisolate") => one(&words).map(Command::Unisolate),
            Some("forcequorum") => one(&words).map(Command::ForceQuorum),
            Some("heal") => Ok(Command::Heal),
            Some("help") => Ok(Command::Help),
            Some("partition") => match words.as_slice() {
                [_, a, b] => Ok(Command::Partition(a.to_string(), b.to_string())),
                _ => Err("usage: partition SITE SITE".into()),
            },
            Some("workload") => match words.get(1).map(|w| w.to_ascii_lowercase()).as_deref() {
                Some("on") => Ok(Command::Workload(true)),
                Some("off") => Ok(Command::Workload(false)),
                _ => Err("usage: workload on|off".into()),
            },
            Some("history") => match words.get(1) {
                None => Ok(Command::History(20)),
                Some(n) => n
                    .parse()
                    .map(Command::History)
                    .map_err(|_| "usage: history [N]".to_string()),
            },
            Some(other) => Err(format!("unknown command {other:?}; try 'help'")),
        }
    }
}

/// Carries out a command; the text is what to print back.
pub async fn execute(sim: &Arc<Sim>, cmd: &Command) -> Result<String, String> {
    match cmd {
        Command::Status => Ok(status(sim)),
        Command::Stop(i) => sim.stop_instance(i).await.map(|_| format!("{i} stopped")),
        Command::Start(i) => sim.start_instance(i).map(|_| format!("{i} starting")),
        Command::Hang(i) => sim.hang_instance(i).map(|_| format!("{i} hung")),
        Command::Unhang(i) => sim.unhang_instance(i).map(|_| format!("{i} answering")),
        Command::Partition(a, b) => sim.partition(a, b).map(|_| format!("{a} and {b} partitioned")),
        Command::Heal => {
            sim.heal();
            Ok("healed".into())
        }
        Command::Pause(i) => sim
            .pause_replication(i, true)
            .map(|_| format!("replication paused at {i}")),
        Command::Unpause(i) => sim
            .pause_replication(i, false)
            .map(|_| format!("replication resumed at {i}")),
        Command::Isolate(i) => sim
            .isolate_from_clients(i, true)
            .map(|_| format!("{i} isolated from clients")),
        Command::Unisolate(i) => sim
            .isolate_from_clients(i, false)
            .map(|_| format!("{i} reachable by clients")),
        Command::ForceQuorum(i) => sim.force_quorum(i).map(|_| format!("quorum forced on {i}")),
        Command::Workload(on) => {
            if *on {
                sim.start_workload();
            } else {
                sim.stop_workload();
            }
            Ok(format!("workload {}", if *on { "on" } else { "off" }))
        }
        Command::History(n) => Ok(sim.with_world(|w, _| {
            let h = w.history();
            h[h.len().saturating_sub(*n)..]
                .iter()
                .map(|e| format!("{:>9.3}s  {}", e.at.as_secs_f64(), e.text))
                .collect::<Vec<_>>()
                .join("\n")
        })),
        Command::Help => Ok(HELP.into()),
    }
}

/// A human-readable picture of the world now.
pub fn status(sim: &Arc<Sim>) -> String {
    let endpoints = sim.endpoints();
    sim.with_world(|w, now| {
        let mut out = String::new();
        let _ = writeln!(out, "t = {:.3}s", now.as_secs_f64());
        for (name, site, up) in w.instances() {
            let addr = endpoints
                .iter()
                .find(|e| e.0 == name)
                .map(|e| e.2.to_string())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "instance {name:<10} site {site:<10} {:<5} {addr}",
                if up { "up" } else { "DOWN" }
            );
        }
        if let Some(line) = w.quorum_line() {
            let _ = writeln!(out, "{line}");
        }
        let ags: Vec<String> = w.databases().into_iter().map(|(a, _)| a).collect();
        let mut seen = std::collections::BTreeSet::new();
        for ag in ags.into_iter().filter(|a| seen.insert(a.clone())) {
            let roles = w.roles(now, &ag);
            let roles: Vec<String> = roles
                .iter()
                .map(|(i, r)| format!("{i}={}", r.map_or("down", |r| r.desc())))
                .collect();
            let _ = writeln!(out, "availability group {ag}: {}", roles.join(" "));
            for (a, db) in w.databases().into_iter().filter(|(a, _)| *a == ag) {
                // Loss is measured against the one writable primary, if there is one.
                let lost = w
                    .lost_transactions(now, &a, &db)
                    .map_or("-".to_string(), |n| n.to_string());
                let _ = writeln!(
                    out,
                    "  database {db:<10} acknowledged {:>6}  lost {lost}",
                    w.acknowledged(&a, &db)
                );
            }
        }
        for pool in w.chat_pools() {
            let Some(p) = w.chat_pool(&pool) else { continue };
            // Loss is measured against the serving copy while it is ONLINE.
            let lost = w.chat_lost(&pool).map_or("-".to_string(), |n| n.to_string());
            let _ = writeln!(
                out,
                "chat pool {pool}: {:?}, serving {}, active [{}]  acknowledged {:>6}  lost {lost}",
                p.state,
                p.serving_instance,
                p.active_servers.join(", "),
                p.acked
            );
        }
        if !w.split_brain_moments().is_empty() {
            let _ = writeln!(out, "SPLIT BRAIN seen {} time(s)", w.split_brain_moments().len());
        }
        out.trim_end().to_string()
    })
}

/// Serves control commands from a line-oriented stream until it closes.
pub async fn serve_lines<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(sim: Arc<Sim>, reader: R, mut writer: W) {
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        let result = match Command::parse(&line) {
            Ok(c) => execute(&sim, &c).await,
            Err(e) => Err(e),
        };
        let reply = match result {
            Ok(text) => format!("ok {text}\n\n"),
            Err(e) => format!("error {e}\n\n"),
        };
        if writer.write_all(reply.as_bytes()).await.is_err() || writer.flush().await.is_err() {
            break;
        }
    }
}

/// Listens for control connections on `addr`; returns the bound address.
pub async fn listen(sim: Arc<Sim>, addr: std::net::SocketAddr) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (r, w) = stream.into_split();
            tokio::spawn(serve_lines(sim.clone(), r, w));
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command_and_rejects_junk() {
        assert_eq!(Command::parse("STOP SQL-A"), Ok(Command::Stop("SQL-A".into())));
        assert_eq!(
            Command::parse("partition site-a site-b"),
            Ok(Command::Partition("site-a".into(), "site-b".into()))
        );
        assert_eq!(Command::parse("workload off"), Ok(Command::Workload(false)));
        assert_eq!(Command::parse("history 5"), Ok(Command::History(5)));
        assert_eq!(
            Command::parse("forcequorum SQL-B"),
            Ok(Command::ForceQuorum("SQL-B".into()))
        );
        assert_eq!(Command::parse("isolate SQL-A"), Ok(Command::Isolate("SQL-A".into())));
        assert_eq!(
            Command::parse("unisolate SQL-A"),
            Ok(Command::Unisolate("SQL-A".into()))
        );
        assert!(Command::parse("forcequorum").is_err());
        assert!(Command::parse("stop").is_err());
        assert!(Command::parse("partition a").is_err());
        assert!(Command::parse("reboot everything").is_err());
        assert!(Command::parse("history x").is_err());
    }
}
