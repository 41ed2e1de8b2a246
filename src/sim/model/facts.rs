//! Facts about the world for tests, the demo and benchmarks: roles, writable
//! primaries, split-brain moments, and data loss counted from the model.

use super::{Role, SimTime, World};
use std::collections::BTreeSet;

impl World {
    /// Instances (name, site, up).
    pub fn instances(&self) -> Vec<(String, String, bool)> {
        self.instances
            .iter()
            .map(|i| (i.name.clone(), i.site.clone(), i.up))
            .collect()
    }

    /// The role each replica of an AG would report now (None: instance down).
    pub fn roles(&mut self, now: SimTime, ag: &str) -> Vec<(String, Option<Role>)> {
        self.advance(now);
        let Some(a) = self.ag_index(ag) else { return Vec::new() };
        (0..self.ags[a].replicas.len())
            .map(|r| (self.ags[a].replicas[r].instance.clone(), self.effective_role(a, r)))
            .collect()
    }

    /// Instances that accept writes for the AG right now.
    pub fn writable_primaries(&mut self, now: SimTime, ag: &str) -> Vec<String> {
        self.advance(now);
        let Some(a) = self.ag_index(ag) else { return Vec::new() };
        self.writable(a)
            .into_iter()
            .map(|r| self.ags[a].replicas[r].instance.clone())
            .collect()
    }

    /// Every moment an AG had two writable primaries (invariant 1 of the design).
    pub fn split_brain_moments(&self) -> &[(String, SimTime)] {
        &self.split_brain
    }

    /// Every episode of more than one writable primary, with its cause and end.
    pub fn split_episodes(&self) -> &[super::SplitEpisode] {
        &self.split_episodes
    }

    /// Acknowledged transactions of `db` that the current primary does not have:
    /// committed data lost, counted from the model. `None` unless exactly one
    /// replica is writable (during a role change, or in split brain).
    pub fn lost_transactions(&mut self, now: SimTime, ag: &str, db: &str) -> Option<u64> {
        self.advance(now);
        let a = self.ag_index(ag)?;
        let d = self.ags[a]
            .databases
            .iter()
            .position(|x| x.name.eq_ignore_ascii_case(db))?;
        let [holder] = self.writable(a)[..] else { return None };
        let have: BTreeSet<u64> = self.ags[a].replicas[holder].copies[d]
            .log
            .iter()
            .map(|l| l.txn)
            .collect();
        Some(
            self.ags[a].databases[d]
                .acked
                .iter()
                .filter(|t| !have.contains(t))
                .count() as u64,
        )
    }

    /// Acknowledged transactions of `db` so far.
    pub fn acknowledged(&self, ag: &str, db: &str) -> u64 {
        self.ag_index(ag)
            .and_then(|a| self.ags[a].databases.iter().find(|d| d.name.eq_ignore_ascii_case(db)))
            .map_or(0, |d| d.acked.len() as u64)
    }

    /// The (AG, database, replica) indexes of `instance`'s copy of `db`.
    fn copy_at(&self, ag: &str, db: &str, instance: &str) -> Option<(usize, usize, usize)> {
        let a = self.ag_index(ag)?;
        let d = self.ags[a]
            .databases
            .iter()
            .position(|x| x.name.eq_ignore_ascii_case(db))?;
        let r = self.ags[a]
            .replicas
            .iter()
            .position(|x| x.instance.eq_ignore_ascii_case(instance))?;
        Some((a, d, r))
    }

    /// Length of the log of `db` on `instance` (None if it hosts no such copy).
    pub fn log_length(&self, ag: &str, db: &str, instance: &str) -> Option<usize> {
        let (a, d, r) = self.copy_at(ag, db, instance)?;
        Some(self.ags[a].replicas[r].copies[d].log.len())
    }

    /// How many transactions `instance`'s copy of `db` holds with an LSN in (`from`, `to`]:
    /// the model's count of what a log range contains.
    pub fn transactions_between(&self, ag: &str, db: &str, instance: &str, from: u128, to: u128) -> Option<usize> {
        let (a, d, r) = self.copy_at(ag, db, instance)?;
        let log = &self.ags[a].replicas[r].copies[d].log;
        Some(log.iter().filter(|l| l.lsn > from && l.lsn <= to).count())
    }

    /// Names of every AG database.
    pub fn databases(&self) -> Vec<(String, String)> {
        self.ags
            .iter()
            .flat_map(|a| a.databases.iter().map(|d| (a.name.clone(), d.name.clone())))
            .collect()
    }
}
