//! Time in the model: roles as the replicas see them, log flowing from
//! primaries to secondaries, commits and their acknowledgement, scheduled events.

use super::config::{AvailabilityMode, ClusterType};
use super::{
    EventKind, FIRST_LSN, LSN_FORK, LSN_STEP, LogRec, Role, SimTime, StoredRole, SuspendReason, SyncState, World,
};

impl World {
    /// Brings the world up to `now`: scheduled events in time order, with log
    /// shipped up to each event's moment before it applies.
    pub fn advance(&mut self, now: SimTime) {
        let now = now.max(self.now);
        while let Some((&(at, seq), _)) = self.events.iter().next() {
            if at > now {
                break;
            }
            let Some(kind) = self.events.remove(&(at, seq)) else {
                break;
            };
            self.replicate(at);
            self.now = at;
            self.apply_event(at, kind);
            self.refresh(at);
        }
        self.replicate(now);
        self.now = now;
    }

    fn apply_event(&mut self, at: SimTime, kind: EventKind) {
        match kind {
            EventKind::CompleteRoleChange { ag } => self.complete_role_change(at, ag),
            EventKind::FinishRevert { ag, replica, db } => self.finish_revert(at, ag, replica, db),
        }
    }

    /// The role a replica reports; `None` when its instance is down.
    pub(crate) fn effective_role(&self, a: usize, r: usize) -> Option<Role> {
        let ag = &self.ags[a];
        let rep = &ag.replicas[r];
        if !self.is_up(&rep.instance) {
            return None;
        }
        if let Some(p) = &ag.pending {
            let is_old_primary = rep.role == StoredRole::Primary;
            if p.target == r || is_old_primary {
                return Some(Role::Resolving);
            }
        }
        match rep.role {
            StoredRole::Primary => Some(Role::Primary),
            StoredRole::Secondary => {
                // Under WSFC a secondary that cannot see a primary is RESOLVING;
                // without a cluster manager (NONE) it just stays SECONDARY.
                if ag.cluster_type == ClusterType::Wsfc && self.leader_for(a, r).is_none() {
                    Some(Role::Resolving)
                } else {
                    Some(Role::Secondary)
                }
            }
        }
    }

    /// Replicas that accept writes: stored primary, up, no role change under way.
    pub(crate) fn writable(&self, a: usize) -> Vec<usize> {
        let ag = &self.ags[a];
        if ag.pending.is_some() {
            return Vec::new();
        }
        (0..ag.replicas.len())
            .filter(|&r| ag.replicas[r].role == StoredRole::Primary && self.is_up(&ag.replicas[r].instance))
            .collect()
    }

    /// The primary a secondary follows: the newest-epoch primary it can reach.
    pub(crate) fn leader_for(&self, a: usize, r: usize) -> Option<usize> {
        let ag = &self.ags[a];
        let me = &ag.replicas[r].instance;
        (0..ag.replicas.len())
            .filter(|&p| p != r && ag.replicas[p].role == StoredRole::Primary)
            .filter(|&p| self.linked(me, &ag.replicas[p].instance))
            .max_by_key(|&p| ag.replicas[p].epoch)
    }

    /// Commits wait for a secondary only if both ends are synchronous-commit.
    pub(crate) fn sync_pair(&self, a: usize, p: usize, s: usize) -> bool {
        let ag = &self.ags[a];
        ag.replicas[p].mode == AvailabilityMode::SynchronousCommit
            && ag.replicas[s].mode == AvailabilityMode::SynchronousCommit
    }

    fn link_should_be_ok(&self, a: usize, s: usize, d: usize) -> bool {
        let ag = &self.ags[a];
        let rep = &ag.replicas[s];
        if rep.role != StoredRole::Secondary {
            return false;
        }
        let copy = &rep.copies[d];
        if copy.suspended.is_some() || copy.reverting_until.is_some() {
            return false;
        }
        let Some(p) = self.leader_for(a, s) else { return false };
        let pcopy = &ag.replicas[p].copies[d];
        pcopy.suspended.is_none() && !pcopy.recovery_pending
    }

    /// Log transport between a secondary and its primary is stalled (`pause`):
    /// still connected (SYNCHRONIZING), but nothing arrives, and commits stop
    /// waiting for it (as after a session timeout).
    fn stalled(&self, a: usize, s: usize, p: usize) -> bool {
        self.is_paused(&self.ags[a].replicas[s].instance) || self.is_paused(&self.ags[a].replicas[p].instance)
    }

    /// Re-derives link states after anything changed at `now`, and settles
    /// role conflicts between primaries that can see each other again.
    pub(crate) fn refresh(&mut self, now: SimTime) {
        self.settle_primaries(now);
        for a in 0..self.ags.len() {
            for s in 0..self.ags[a].replicas.len() {
                for d in 0..self.ags[a].databases.len() {
                    let ok = self.link_should_be_ok(a, s, d);
                    let stalled = self.leader_for(a, s).is_some_and(|p| self.stalled(a, s, p));
                    let sync = self.leader_for(a, s).is_some_and(|p| self.sync_pair(a, p, s));
                    let copy = &mut self.ags[a].replicas[s].copies[d];
                    if ok != copy.link_ok {
                        if ok {
                            copy.link_since = now;
                        } else {
                            copy.failover_ready = copy.synchronized;
                            copy.synchronized = false;
                        }
                        copy.link_ok = ok;
                    }
                    if sync && !copy.sync_active {
                        copy.sync_since = now;
                    }
                    copy.sync_active = sync;
                    if !sync || stalled {
                        copy.synchronized = false;
                    }
                }
            }
            let writable = self.writable(a);
            if writable.len() > 1 {
                let name = self.ags[a].name.clone();
                if self.split_brain.last().is_none_or(|(n, _)| n != &name) {
                    self.split_brain.push((name.clone(), now));
                    self.note(
                        now,
                        format!(
                            "SPLIT BRAIN: availability group {name} has {} writable primaries",
                            writable.len()
                        ),
                    );
                }
            }
        }
        self.replicate(now);
    }

    /// A primary that can see a newer-epoch primary steps down: it comes back
    /// as a secondary with its databases suspended (SUSPEND_FROM_PARTNER).
    fn settle_primaries(&mut self, now: SimTime) {
        for a in 0..self.ags.len() {
            let n = self.ags[a].replicas.len();
            for r in 0..n {
                if self.ags[a].replicas[r].role != StoredRole::Primary || !self.is_up(&self.ags[a].replicas[r].instance)
                {
                    continue;
                }
                let newer = (0..n).any(|p| {
                    p != r
                        && self.ags[a].replicas[p].role == StoredRole::Primary
                        && self.ags[a].replicas[p].epoch > self.ags[a].replicas[r].epoch
                        && self.linked(&self.ags[a].replicas[r].instance, &self.ags[a].replicas[p].instance)
                });
                if newer {
                    let rep = &mut self.ags[a].replicas[r];
                    rep.role = StoredRole::Secondary;
                    for c in &mut rep.copies {
                        c.suspended = Some(SuspendReason::Partner);
                        c.pending_acks.clear();
                        c.synchronized = false;
                    }
                    let text = format!(
                        "{}: former primary {} rejoined as SECONDARY, databases suspended (SUSPEND_FROM_PARTNER)",
                        self.ags[a].name, self.ags[a].replicas[r].instance
                    );
                    self.note(now, text);
                }
            }
        }
    }

    /// Ships log to every open link up to `t` and acknowledges the commits
    /// every synchronous partner has hardened.
    pub(crate) fn replicate(&mut self, t: SimTime) {
        let latency = self.cfg.latencies.replication;
        for a in 0..self.ags.len() {
            for s in 0..self.ags[a].replicas.len() {
                let Some(p) = self.leader_for(a, s) else { continue };
                if self.stalled(a, s, p) {
                    continue;
                }
                let sync = self.sync_pair(a, p, s);
                for d in 0..self.ags[a].databases.len() {
                    if !self.ags[a].replicas[s].copies[d].link_ok {
                        continue;
                    }
                    let (src, dst) = pair_mut(&mut self.ags[a].replicas, p, s);
                    let (src, dst) = (&src.copies[d], &mut dst.copies[d]);
                    // Defensive: a non-prefix copy must never receive log.
                    let n = dst.log.len();
                    if n > 0 && src.log.get(n - 1).map(|x| x.txn) != dst.log.last().map(|x| x.txn) {
                        dst.suspended = Some(SuspendReason::Partner);
                        dst.link_ok = false;
                        dst.synchronized = false;
                        continue;
                    }
                    for rec in &src.log[n..] {
                        if rec.at.max(dst.link_since) + latency > t {
                            break;
                        }
                        dst.log.push(*rec);
                    }
                    // Caught up: the backlog from before the pairing (or link) began
                    // has been hardened; from then on commits wait for this copy.
                    let since = dst.link_since.max(dst.sync_since);
                    let backlog = src.log.partition_point(|r| r.at <= since);
                    if sync && dst.log.len() >= backlog && t >= since + latency {
                        dst.synchronized = true;
                    }
                }
            }
            self.acknowledge(a);
        }
    }

    fn acknowledge(&mut self, a: usize) {
        for p in 0..self.ags[a].replicas.len() {
            if self.ags[a].replicas[p].role != StoredRole::Primary {
                continue;
            }
            let partners: Vec<usize> = (0..self.ags[a].replicas.len())
                .filter(|&s| s != p && self.leader_for(a, s) == Some(p))
                .collect();
            for d in 0..self.ags[a].databases.len() {
                while let Some(&(txn, idx)) = self.ags[a].replicas[p].copies[d].pending_acks.front() {
                    let hardened_everywhere = partners.iter().all(|&s| {
                        let c = &self.ags[a].replicas[s].copies[d];
                        !c.synchronized || c.log.len() > idx
                    });
                    if !hardened_everywhere {
                        break;
                    }
                    self.ags[a].replicas[p].copies[d].pending_acks.pop_front();
                    self.ags[a].databases[d].acked.insert(txn);
                }
            }
        }
    }

    /// Commits one transaction of `db` on every writable primary (clients at
    /// each site keep writing where they can). Returns how many were accepted.
    pub fn commit(&mut self, now: SimTime, ag: &str, db: &str) -> usize {
        self.advance(now);
        let Some(a) = self.ag_index(ag) else { return 0 };
        let Some(d) = self.ags[a]
            .databases
            .iter()
            .position(|x| x.name.eq_ignore_ascii_case(db))
        else {
            return 0;
        };
        let mut accepted = 0;
        for p in self.writable(a) {
            let synced = (0..self.ags[a].replicas.len())
                .filter(|&s| s != p && self.leader_for(a, s) == Some(p))
                .filter(|&s| self.ags[a].replicas[s].copies[d].synchronized)
                .count() as u32;
            let copy = &self.ags[a].replicas[p].copies[d];
            if copy.recovery_pending || synced < self.ags[a].required_sync {
                self.ags[a].databases[d].refused += 1;
                continue;
            }
            let txn = self.next_txn;
            self.next_txn += 1;
            let copy = &mut self.ags[a].replicas[p].copies[d];
            let lsn = copy
                .log
                .last()
                .map_or(FIRST_LSN, |l| l.lsn + LSN_STEP)
                .max(copy.lsn_floor);
            copy.log.push(LogRec { lsn, txn, at: now });
            let idx = copy.log.len() - 1;
            copy.pending_acks.push_back((txn, idx));
            accepted += 1;
        }
        self.replicate(now);
        accepted
    }

    /// The state a copy reports in `synchronization_state_desc`.
    pub(crate) fn sync_state(&self, a: usize, r: usize, d: usize) -> SyncState {
        let rep = &self.ags[a].replicas[r];
        let copy = &rep.copies[d];
        if copy.reverting_until.is_some() {
            return SyncState::Reverting;
        }
        if copy.suspended.is_some() || copy.recovery_pending {
            return SyncState::NotSynchronizing;
        }
        if rep.role == StoredRole::Primary {
            return SyncState::Synchronized;
        }
        if !copy.link_ok {
            SyncState::NotSynchronizing
        } else if copy.synchronized {
            SyncState::Synchronized
        } else {
            SyncState::Synchronizing
        }
    }

    /// Role change after an accepted (forced) failover.
    fn complete_role_change(&mut self, at: SimTime, a: usize) {
        let Some(change) = self.ags[a].pending.take() else {
            return;
        };
        let t = change.target;
        let ag_name = self.ags[a].name.clone();
        let target_name = self.ags[a].replicas[t].instance.clone();
        if !self.is_up(&target_name) {
            self.note(
                at,
                format!("{ag_name}: failover to {target_name} failed: the instance went down"),
            );
            return;
        }
        let old: Vec<usize> = (0..self.ags[a].replicas.len())
            .filter(|&r| r != t && self.ags[a].replicas[r].role == StoredRole::Primary)
            .collect();
        let epoch = self.ags[a].replicas.iter().map(|r| r.epoch).max().unwrap_or(0) + 1;
        {
            let rep = &mut self.ags[a].replicas[t];
            rep.role = StoredRole::Primary;
            rep.epoch = epoch;
            for c in &mut rep.copies {
                if c.reverting_until.is_some() {
                    // Forced onto a REVERTING copy: it cannot be recovered.
                    c.recovery_pending = true;
                    c.reverting_until = None;
                }
                c.suspended = None;
                c.synchronized = false;
                c.pending_acks.clear();
                if change.forced {
                    // A forced failover starts a new recovery fork: LSNs jump ahead
                    // so they never repeat those of the abandoned tail.
                    let last = c.log.last().map_or(FIRST_LSN, |l| l.lsn);
                    c.lsn_floor = (last / LSN_FORK + 1) * LSN_FORK + 100_001;
                }
            }
        }
        for r in 0..self.ags[a].replicas.len() {
            if r == t {
                continue;
            }
            let reachable = self.linked(&self.ags[a].replicas[r].instance, &target_name);
            let was_primary = old.contains(&r);
            if was_primary && !reachable {
                // It does not know yet: it stays primary on its side.
                continue;
            }
            let target_logs: Vec<Vec<LogRec>> = self.ags[a].replicas[t].copies.iter().map(|c| c.log.clone()).collect();
            let rep = &mut self.ags[a].replicas[r];
            rep.role = StoredRole::Secondary;
            rep.epoch = epoch;
            for (d, c) in rep.copies.iter_mut().enumerate() {
                c.pending_acks.clear();
                c.synchronized = false;
                if change.forced {
                    c.suspended = Some(SuspendReason::Partner);
                } else {
                    // Planned: whatever the target lacks was never acknowledged.
                    let keep = common_prefix(&c.log, &target_logs[d]);
                    c.log.truncate(keep);
                }
            }
        }
        let kind = if change.forced { "forced failover" } else { "failover" };
        self.note(at, format!("{ag_name}: {kind} complete, {target_name} is PRIMARY"));
    }

    fn finish_revert(&mut self, at: SimTime, a: usize, r: usize, d: usize) {
        let Some(until) = self.ags[a].replicas[r].copies[d].reverting_until else {
            return;
        };
        if until > at {
            return;
        }
        let Some(p) = self.leader_for(a, r) else {
            // No primary in sight: try again later.
            let retry = at + self.cfg.latencies.revert;
            self.ags[a].replicas[r].copies[d].reverting_until = Some(retry);
            self.schedule(
                retry,
                EventKind::FinishRevert {
                    ag: a,
                    replica: r,
                    db: d,
                },
            );
            return;
        };
        let keep = common_prefix(
            &self.ags[a].replicas[r].copies[d].log,
            &self.ags[a].replicas[p].copies[d].log,
        );
        let c = &mut self.ags[a].replicas[r].copies[d];
        let dropped = c.log.len() - keep;
        c.log.truncate(keep);
        c.reverting_until = None;
        c.suspended = None;
        let text = format!(
            "{}: {} on {} rolled back {dropped} divergent transactions, now SYNCHRONIZING",
            self.ags[a].name, self.ags[a].databases[d].name, self.ags[a].replicas[r].instance
        );
        self.note(at, text);
    }
}

/// Length of the longest common prefix of two logs, by transaction identity.
pub(crate) fn common_prefix(a: &[LogRec], b: &[LogRec]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x.txn == y.txn).count()
}

/// Two distinct mutable elements of a slice.
fn pair_mut<T>(v: &mut [T], i: usize, j: usize) -> (&mut T, &mut T) {
    assert_ne!(i, j, "pair_mut needs two distinct indices");
    if i < j {
        let (l, r) = v.split_at_mut(j);
        (&mut l[i], &mut r[0])
    } else {
        let (l, r) = v.split_at_mut(i);
        (&mut r[0], &mut l[j])
    }
}
