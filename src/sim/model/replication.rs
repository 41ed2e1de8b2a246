//! Time in the model: roles as the replicas see them, log flowing from
//! primaries to secondaries, commits and their acknowledgement, scheduled events.

use super::config::{AvailabilityMode, ClusterType};
use super::{EventKind, FIRST_LSN, LSN_STEP, LogRec, Role, SimTime, StoredRole, SuspendReason, SyncState, World};

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
            EventKind::LogShipping { job, index, generation } => self.run_log_shipping_job(at, job, index, generation),
        }
    }

    /// Whether replica `r` takes part in the role change under way: the target,
    /// and the old primaries that can see it (an isolated primary does not know,
    /// and under CLUSTER_TYPE NONE nothing tells a primary to step down when
    /// another replica is forced online).
    pub(crate) fn in_role_change(&self, a: usize, r: usize) -> bool {
        let ag = &self.ags[a];
        let Some(change) = &ag.pending else { return false };
        if change.target == r {
            return true;
        }
        let rep = &ag.replicas[r];
        rep.role == StoredRole::Primary
            && self.linked(&rep.instance, &ag.replicas[change.target].instance)
            && !(change.forced && ag.cluster_type == ClusterType::None)
    }

    /// The role a replica reports; `None` when its instance is down.
    pub(crate) fn effective_role(&self, a: usize, r: usize) -> Option<Role> {
        let ag = &self.ags[a];
        let rep = &ag.replicas[r];
        if !self.is_up(&rep.instance) {
            return None;
        }
        if self.in_role_change(a, r) {
            return Some(Role::Resolving);
        }
        // Under WSFC a node without quorum runs no replica: a primary until its lease runs
        // out (committing nothing meanwhile), a secondary at once.
        if !self.quorum_ok(a, r) {
            return match rep.role {
                StoredRole::Primary if !self.lease_expired(a, r) => Some(Role::Primary),
                _ => Some(Role::Resolving),
            };
        }
        match rep.role {
            StoredRole::Primary => Some(Role::Primary),
            // Under WSFC a secondary that cannot see a primary is RESOLVING;
            // without a cluster manager (NONE) it just stays SECONDARY.
            StoredRole::Secondary if ag.cluster_type == ClusterType::Wsfc && self.leader_for(a, r).is_none() => {
                Some(Role::Resolving)
            }
            StoredRole::Secondary => Some(Role::Secondary),
        }
    }

    /// Replicas that accept writes: stored primary, up, not in a role change, and under
    /// WSFC on a node with quorum.
    pub(crate) fn writable(&self, a: usize) -> Vec<usize> {
        let ag = &self.ags[a];
        (0..ag.replicas.len())
            .filter(|&r| ag.replicas[r].role == StoredRole::Primary && self.is_up(&ag.replicas[r].instance))
            .filter(|&r| !self.in_role_change(a, r) && self.quorum_ok(a, r))
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
        let rep = &self.ags[a].replicas[s];
        let copy = &rep.copies[d];
        if rep.role != StoredRole::Secondary || copy.suspended.is_some() || copy.reverting_until.is_some() {
            return false;
        }
        let Some(p) = self.leader_for(a, s) else { return false };
        let pcopy = &self.ags[a].replicas[p].copies[d];
        pcopy.suspended.is_none() && !pcopy.recovery_pending
    }

    /// Log transport between a secondary and its primary is stalled (`pause`):
    /// still connected, but nothing arrives.
    fn stalled(&self, a: usize, s: usize) -> bool {
        self.leader_for(a, s).is_some_and(|p| {
            self.is_paused(&self.ags[a].replicas[s].instance) || self.is_paused(&self.ags[a].replicas[p].instance)
        })
    }

    /// A stalled partner is dropped after the session timeout, as SQL Server
    /// does: until then commits wait for it; afterwards it is disconnected.
    pub(crate) fn session_expired(&self, a: usize, s: usize, d: usize, t: SimTime) -> bool {
        let timeout = self.cfg.latencies.session_timeout;
        self.ags[a].replicas[s].copies[d]
            .stalled_since
            .is_some_and(|since| t >= since + timeout)
    }

    /// Whether commits on the primary wait for this copy: a connected
    /// synchronous-commit partner, from the moment the pairing began.
    fn participant(&self, a: usize, s: usize, d: usize, t: SimTime) -> bool {
        let c = &self.ags[a].replicas[s].copies[d];
        c.sync_active && c.link_ok && !self.session_expired(a, s, d, t)
    }

    /// Re-derives link states after anything changed at `now`, settles role
    /// conflicts a cluster manager would settle, and records split brain.
    pub(crate) fn refresh(&mut self, now: SimTime) {
        self.refresh_quorum(now);
        self.settle_primaries(now);
        for a in 0..self.ags.len() {
            for s in 0..self.ags[a].replicas.len() {
                // A secondary takes on the configuration of the primary it follows.
                if let Some(p) = self.leader_for(a, s) {
                    let e = self.ags[a].replicas[p].epoch;
                    let rep = &mut self.ags[a].replicas[s];
                    if rep.role == StoredRole::Secondary && rep.epoch < e {
                        rep.epoch = e;
                    }
                }
                let stalled = self.stalled(a, s);
                let sync = self.leader_for(a, s).is_some_and(|p| self.sync_pair(a, p, s));
                for d in 0..self.ags[a].databases.len() {
                    let ok = self.link_should_be_ok(a, s, d);
                    let copy = &mut self.ags[a].replicas[s].copies[d];
                    if ok != copy.link_ok {
                        if ok {
                            copy.link_since = now;
                        } else {
                            // is_failover_ready: it had everything acknowledged when
                            // it lost its primary (until the primary commits without it).
                            copy.failover_ready = copy.synchronized;
                            copy.synchronized = false;
                        }
                        copy.link_ok = ok;
                    }
                    match (stalled, copy.stalled_since) {
                        (true, None) => copy.stalled_since = Some(now),
                        (false, Some(_)) => {
                            copy.stalled_since = None;
                            copy.link_since = now;
                        }
                        _ => {}
                    }
                    if sync && !copy.sync_active {
                        copy.sync_since = now;
                    }
                    copy.sync_active = sync;
                    if !sync {
                        copy.synchronized = false;
                    }
                }
            }
            self.track_split_brain(a, now);
        }
        self.refresh_pool(now);
        self.replicate(now);
    }

    /// Records each episode in which an AG has more than one writable primary.
    fn track_split_brain(&mut self, a: usize, now: SimTime) {
        let writable = self.writable(a).len();
        if writable > 1 && self.split_active.insert(a) {
            let name = self.ags[a].name.clone();
            self.split_brain.push((name.clone(), now));
            self.split_episodes.push(super::SplitEpisode {
                ag: name.clone(),
                start: now,
                end: None,
                on_return: self.returning,
            });
            self.note(
                now,
                format!("SPLIT BRAIN: availability group {name} has {writable} writable primaries"),
            );
        } else if writable <= 1 && self.split_active.remove(&a) {
            let name = &self.ags[a].name;
            if let Some(e) = self
                .split_episodes
                .iter_mut()
                .rev()
                .find(|e| &e.ag == name && e.end.is_none())
            {
                e.end = Some(now);
            }
        }
    }

    /// Under a cluster manager (WSFC, EXTERNAL), a primary that can see a
    /// newer-epoch primary steps down: it comes back as a secondary with its
    /// databases suspended (SUSPEND_FROM_PARTNER). Under NONE nothing does this.
    fn settle_primaries(&mut self, now: SimTime) {
        for a in 0..self.ags.len() {
            if self.ags[a].cluster_type == ClusterType::None {
                continue;
            }
            let n = self.ags[a].replicas.len();
            for r in 0..n {
                let rep = &self.ags[a].replicas[r];
                if rep.role != StoredRole::Primary || !self.is_up(&rep.instance) {
                    continue;
                }
                let newer = (0..n).any(|p| {
                    let other = &self.ags[a].replicas[p];
                    p != r
                        && other.role == StoredRole::Primary
                        && other.epoch > rep.epoch
                        && self.linked(&rep.instance, &other.instance)
                });
                if newer {
                    self.step_down(a, r);
                    let text = format!(
                        "{}: former primary {} rejoined as SECONDARY, databases suspended (SUSPEND_FROM_PARTNER)",
                        self.ags[a].name, self.ags[a].replicas[r].instance
                    );
                    self.note(now, text);
                }
            }
        }
    }

    /// A primary becomes a secondary whose copies wait to be resumed; commits
    /// it had not acknowledged are in doubt.
    fn step_down(&mut self, a: usize, r: usize) {
        let rep = &mut self.ags[a].replicas[r];
        rep.role = StoredRole::Secondary;
        for c in &mut rep.copies {
            c.suspended = Some(SuspendReason::Partner);
            c.pending_acks.clear();
            c.synchronized = false;
        }
    }

    /// Ships log to every open link up to `t` and acknowledges the commits
    /// every synchronous partner has hardened.
    pub(crate) fn replicate(&mut self, t: SimTime) {
        let latency = self.cfg.latencies.replication;
        for a in 0..self.ags.len() {
            for s in 0..self.ags[a].replicas.len() {
                let Some(p) = self.leader_for(a, s) else { continue };
                for d in 0..self.ags[a].databases.len() {
                    if !self.ags[a].replicas[s].copies[d].link_ok {
                        continue;
                    }
                    if self.ags[a].replicas[s].copies[d].stalled_since.is_some() {
                        if self.session_expired(a, s, d, t) {
                            self.ags[a].replicas[s].copies[d].synchronized = false;
                        }
                        continue;
                    }
                    let (src, dst) = pair_mut(&mut self.ags[a].replicas, p, s);
                    let (src, dst) = (&src.copies[d], &mut dst.copies[d]);
                    // Defensive: a copy that is not a prefix of its primary's
                    // log must never receive log; it waits to be resumed.
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
                    // SYNCHRONIZED once the backlog from before the pairing (or
                    // link) began is hardened; commits since then waited for it.
                    let since = dst.link_since.max(dst.sync_since);
                    let backlog = src.log.partition_point(|r| r.at <= since);
                    if dst.sync_active && dst.log.len() >= backlog && t >= since + latency {
                        dst.synchronized = true;
                    }
                }
            }
            self.acknowledge(a, t);
        }
        self.replicate_mirrors(t);
    }

    /// Acknowledges, on every primary that is up, the commits each current
    /// partner has hardened. An acknowledged commit a replica lacks makes that
    /// replica no longer failover-ready.
    fn acknowledge(&mut self, a: usize, t: SimTime) {
        for p in 0..self.ags[a].replicas.len() {
            let rep = &self.ags[a].replicas[p];
            // A primary without quorum completes no commit.
            if rep.role != StoredRole::Primary || !self.is_up(&rep.instance) || !self.quorum_ok(a, p) {
                continue;
            }
            let others: Vec<usize> = (0..self.ags[a].replicas.len()).filter(|&s| s != p).collect();
            for d in 0..self.ags[a].databases.len() {
                let waiting_on: Vec<usize> = others
                    .iter()
                    .copied()
                    .filter(|&s| self.leader_for(a, s) == Some(p) && self.participant(a, s, d, t))
                    .collect();
                while let Some(&(txn, idx)) = self.ags[a].replicas[p].copies[d].pending_acks.front() {
                    if !waiting_on
                        .iter()
                        .all(|&s| self.ags[a].replicas[s].copies[d].log.len() > idx)
                    {
                        break;
                    }
                    self.ags[a].replicas[p].copies[d].pending_acks.pop_front();
                    self.ags[a].databases[d].acked.insert(txn);
                    for &s in &others {
                        let c = &mut self.ags[a].replicas[s].copies[d];
                        if c.log.len() <= idx {
                            c.failover_ready = false;
                        }
                    }
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
            if copy.recovery_pending || copy.suspended.is_some() || synced < self.ags[a].required_sync {
                self.ags[a].databases[d].refused += 1;
                continue;
            }
            let txn = self.next_txn;
            self.next_txn += 1;
            let copy = &mut self.ags[a].replicas[p].copies[d];
            let lsn = copy.log.last().map_or(FIRST_LSN, |l| l.lsn + LSN_STEP);
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
            SyncState::Reverting
        } else if copy.suspended.is_some() || copy.recovery_pending {
            SyncState::NotSynchronizing
        } else if rep.role == StoredRole::Primary {
            SyncState::Synchronized
        } else if !copy.link_ok || self.session_expired(a, r, d, self.now) {
            SyncState::NotSynchronizing
        } else if copy.synchronized {
            SyncState::Synchronized
        } else {
            SyncState::Synchronizing
        }
    }

    /// Role change after an accepted (forced) failover.
    fn complete_role_change(&mut self, at: SimTime, a: usize) {
        let changing: Vec<usize> = (0..self.ags[a].replicas.len())
            .filter(|&r| self.in_role_change(a, r))
            .collect();
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
        if !self.quorum_ok(a, t) {
            self.note(
                at,
                format!("{ag_name}: failover to {target_name} failed: its WSFC node lost quorum"),
            );
            return;
        }
        if !change.forced {
            // A planned failover hands over only once the target hardened the
            // old primary's whole log: nothing is left in flight.
            for &r in changing.iter().filter(|&&r| r != t) {
                for d in 0..self.ags[a].databases.len() {
                    let old = self.ags[a].replicas[r].copies[d].log.clone();
                    let mine = &self.ags[a].replicas[t].copies[d].log;
                    if common_prefix(mine, &old) == mine.len() {
                        self.ags[a].replicas[t].copies[d].log = old;
                    }
                }
            }
        }
        let epoch = self.ags[a].replicas.iter().map(|r| r.epoch).max().unwrap_or(0) + 1;
        let rep = &mut self.ags[a].replicas[t];
        rep.role = StoredRole::Primary;
        rep.epoch = epoch;
        for c in &mut rep.copies {
            if c.reverting_until.take().is_some() {
                // Forced onto a REVERTING copy: it cannot be recovered.
                c.recovery_pending = true;
            }
            c.suspended = None;
            c.synchronized = false;
            c.pending_acks.clear();
        }
        let target_logs: Vec<Vec<LogRec>> = self.ags[a].replicas[t].copies.iter().map(|c| c.log.clone()).collect();
        for r in 0..self.ags[a].replicas.len() {
            let rep = &self.ags[a].replicas[r];
            if r == t || (rep.role == StoredRole::Primary && !changing.contains(&r)) {
                // An old primary that does not know of the change stays primary.
                continue;
            }
            let rep = &mut self.ags[a].replicas[r];
            rep.role = StoredRole::Secondary;
            for (d, c) in rep.copies.iter_mut().enumerate() {
                c.pending_acks.clear();
                c.synchronized = false;
                // After a forced failover every other copy waits to be resumed;
                // after a planned one only a copy that diverged (never silently
                // truncated: resuming it rolls the tail back, visibly).
                if change.forced || common_prefix(&c.log, &target_logs[d]) < c.log.len() {
                    c.suspended = Some(SuspendReason::Partner);
                }
            }
        }
        if self.ags[a].cluster_type == ClusterType::Wsfc {
            // The new owner is recorded in the cluster's configuration.
            self.bump_cluster_configuration();
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
