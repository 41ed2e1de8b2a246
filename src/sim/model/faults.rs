//! Faults injected from outside (the control interface, tests): outages,
//! partitions between sites, stalled log transport.

use super::{SimTime, World};

impl World {
    /// Stops an instance: its endpoint goes away, its links break.
    pub fn stop_instance(&mut self, now: SimTime, name: &str) -> Result<(), String> {
        self.advance(now);
        let i = self
            .instance_index(name)
            .ok_or_else(|| format!("no instance named {name:?}"))?;
        self.instances[i].up = false;
        // Commits it had not acknowledged when it went down are in doubt.
        let stopped = self.instances[i].name.clone();
        for ag in &mut self.ags {
            for r in ag.replicas.iter_mut().filter(|r| r.instance == stopped) {
                for c in &mut r.copies {
                    c.pending_acks.clear();
                }
            }
        }
        self.note(now, format!("instance {} stopped", self.instances[i].name));
        self.refresh(now);
        Ok(())
    }

    /// Brings an instance back (the caller applies the restart latency first).
    pub fn start_instance(&mut self, now: SimTime, name: &str) -> Result<(), String> {
        self.advance(now);
        let i = self
            .instance_index(name)
            .ok_or_else(|| format!("no instance named {name:?}"))?;
        self.instances[i].up = true;
        self.note(now, format!("instance {} started", self.instances[i].name));
        self.returning = true;
        self.refresh(now);
        self.returning = false;
        Ok(())
    }

    /// Cuts every link between two sites.
    pub fn partition(&mut self, now: SimTime, a: &str, b: &str) -> Result<(), String> {
        self.advance(now);
        for s in [a, b] {
            let witness = self.wsfc.witness.as_ref().is_some_and(|(w, _)| w == s);
            if !witness && !self.instances.iter().any(|i| i.site == s) {
                return Err(format!("no site named {s:?}"));
            }
        }
        if a == b {
            return Err("a site cannot be partitioned from itself".into());
        }
        let key = if a < b {
            (a.to_string(), b.to_string())
        } else {
            (b.to_string(), a.to_string())
        };
        self.cuts.insert(key);
        self.note(now, format!("sites {a} and {b} partitioned"));
        self.refresh(now);
        Ok(())
    }

    /// Restores every cut link.
    pub fn heal(&mut self, now: SimTime) {
        self.advance(now);
        self.cuts.clear();
        self.note(now, "all partitions healed".into());
        self.returning = true;
        self.refresh(now);
        self.returning = false;
    }

    /// Makes an instance unreachable for clients (drover's logins and batches) or reachable
    /// again. The instance keeps running: its replicas keep their roles and links, and the
    /// workload keeps committing on it wherever it may (a primary with quorum under WSFC).
    /// The endpoint's behaviour is the runtime's (`Sim::isolate_from_clients`).
    pub fn set_client_isolation(&mut self, now: SimTime, name: &str, isolated: bool) -> Result<(), String> {
        self.advance(now);
        let i = self
            .instance_index(name)
            .ok_or_else(|| format!("no instance named {name:?}"))?;
        self.instances[i].isolated = isolated;
        let verb = if isolated {
            "isolated from clients"
        } else {
            "reachable by clients again"
        };
        self.note(now, format!("instance {} {verb}", self.instances[i].name));
        Ok(())
    }

    /// Whether clients are cut off from `name`.
    pub fn is_isolated_from_clients(&self, name: &str) -> bool {
        self.instance_index(name).is_some_and(|i| self.instances[i].isolated)
    }

    /// Stalls (or restarts) log transport to and from an instance.
    pub fn set_replication_paused(&mut self, now: SimTime, name: &str, paused: bool) -> Result<(), String> {
        self.advance(now);
        let i = self
            .instance_index(name)
            .ok_or_else(|| format!("no instance named {name:?}"))?;
        self.instances[i].paused = paused;
        let verb = if paused { "paused" } else { "resumed" };
        self.note(now, format!("replication to/from {} {verb}", self.instances[i].name));
        self.refresh(now);
        Ok(())
    }
}
