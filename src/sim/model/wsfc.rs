//! The Windows Server Failover Cluster under the world's CLUSTER_TYPE = WSFC groups: which
//! nodes have quorum, the lease a primary holds only while its node has quorum, forced
//! quorum, and the cluster DMVs.
//!
//! One cluster per world. Its nodes are the instances that host a replica of a WSFC group
//! (node name and votes from `wsfc.nodes`, by default the instance's name and 1 vote), plus an
//! optional witness (`wsfc.witness`) at a site; a site no instance uses is a third location
//! (a cloud witness, a file share in a third data center). Groups of type NONE or EXTERNAL
//! are not in it, and instances that host only those are no nodes: their cluster views are
//! empty.
//!
//! Rules, re-derived at every change of the world (outage, partition, role change):
//!
//! - **Partitions.** The up nodes split into sets that reach each other (transitively,
//!   through links between their sites). The witness is reachable from a set when its site is
//!   one of the set's sites or not cut from one of them.
//! - **Witness arbitration** (a file share witness is a lock only one side can hold): when
//!   several sets reach the witness, it sides with one, chosen in this order: a set that is not
//!   stale (see below) over one that is; the set that alone already held it (it stays with its
//!   holder for as long as the holder reaches it); the set holding the node of the current
//!   primary (the newest-epoch primary replica that is up, of the first WSFC group that has
//!   one); the set that had quorum before; the set with the smallest node name
//!   (case-insensitive). So when a partition splits the cluster, the witness goes with the
//!   primary's side and stays there, even if the other side later gets a primary of its own.
//! - **Majority.** A set has quorum when its nodes' votes, plus the witness's vote if it sided
//!   with it, are a strict majority of every configured vote (the witness counts as one) —
//!   and it is not *stale*: one of its nodes saw the cluster's latest configuration or had
//!   quorum before. The configuration changes with every completed role change of a WSFC group
//!   and every forced quorum; a node with quorum takes it on. So a node that was away while
//!   another replica was forced to primary cannot form a cluster with the witness alone
//!   (the witness keeps the latest configuration's tag: no "partition in time").
//! - **Forced quorum** (`force_quorum`): the set holding that node has quorum, whatever its
//!   votes (`quorum_state_desc = FORCED_QUORUM`), and its configuration becomes the latest.
//!   Nodes that reach it later join it. Once it holds a majority again by the rule above
//!   (nodes back, partitions healed), the quorum is NORMAL again. A majority elsewhere that
//!   still had quorum when quorum was forced keeps it (two clusters, as with a real forced
//!   quorum while the other side still runs: the person forcing it answers for that).
//! - **Lease.** A primary whose node loses quorum stops committing at once and reports
//!   RESOLVING once `latencies.leaseTimeout` has passed (a node that comes up without quorum:
//!   at once); a secondary without quorum is RESOLVING. Their local replica's operational
//!   state is FAILED_NO_QUORUM. FAILOVER and FORCE_FAILOVER_ALLOW_DATA_LOSS on a node without
//!   quorum fail with 35220.
//! - **Rejoining.** When a set with quorum reaches a former primary (a partition heals, it
//!   starts again), the cluster's configuration wins: if another replica became primary
//!   meanwhile, the former primary comes back SECONDARY with its databases suspended
//!   (SUSPEND_FROM_PARTNER), its divergent tail kept until it is resumed.

use super::config::{ClusterType, WitnessKind, WsfcConfig};
use super::{SimTime, StoredRole, World};
use std::collections::BTreeSet;

/// One node of the cluster.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The instance it hosts.
    pub instance: String,
    /// The WSFC node name.
    pub name: String,
    pub votes: u8,
    /// The configuration sequence it last took on.
    pub seen: u64,
    /// Its quorum as of the last refresh: `None` without quorum.
    pub quorum: Option<QuorumKind>,
    /// Without quorum while up: from when a primary on it reports RESOLVING (lease expiry).
    pub resolving_from: Option<SimTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuorumKind {
    Normal,
    Forced,
}

/// The world's cluster (no nodes: no WSFC group in the world).
#[derive(Debug, Clone, Default)]
pub(crate) struct Wsfc {
    pub name: String,
    pub nodes: Vec<Node>,
    pub witness: Option<(String, WitnessKind)>,
    /// The latest configuration's sequence.
    pub seq: u64,
    /// Nodes quorum was forced on (the forced side's core); `None` under normal quorum.
    pub forced: Option<BTreeSet<usize>>,
    /// As of the last refresh: each node's part of the cluster (up nodes that reach each
    /// other), `None` for a node that is down.
    pub part: Vec<Option<usize>>,
    /// As of the last refresh: the nodes of the part the witness sided with.
    pub witness_part: BTreeSet<usize>,
}

impl Wsfc {
    /// The cluster for `instances` (names) hosting WSFC replicas, from the world's configuration.
    pub fn new(cfg: &WsfcConfig, instances: &[String]) -> Wsfc {
        let nodes: Vec<Node> = instances
            .iter()
            .map(|i| {
                let over = cfg.nodes.iter().find(|n| n.instance.eq_ignore_ascii_case(i));
                Node {
                    instance: i.clone(),
                    name: over.and_then(|n| n.node.clone()).unwrap_or_else(|| i.clone()),
                    votes: over.and_then(|n| n.votes).unwrap_or(1),
                    seen: 1,
                    quorum: None,
                    resolving_from: None,
                }
            })
            .collect();
        Wsfc {
            name: cfg.cluster_name.clone(),
            part: vec![None; nodes.len()],
            nodes,
            witness: cfg.witness.as_ref().map(|w| (w.site.clone(), w.kind)),
            seq: 1,
            forced: None,
            witness_part: BTreeSet::new(),
        }
    }

    /// Whether nodes `a` and `b` are up and in the same part of the cluster.
    pub fn same_part(&self, a: usize, b: usize) -> bool {
        matches!((self.part.get(a), self.part.get(b)), (Some(Some(x)), Some(Some(y))) if x == y)
    }

    fn total_votes(&self) -> u32 {
        self.nodes.iter().map(|n| u32::from(n.votes)).sum::<u32>() + u32::from(self.witness.is_some())
    }
}

impl World {
    /// The cluster node index of `instance`, if it is one.
    pub(crate) fn node_index(&self, instance: &str) -> Option<usize> {
        self.wsfc
            .nodes
            .iter()
            .position(|n| n.instance.eq_ignore_ascii_case(instance))
    }

    /// Whether replica `r` of group `a` may act as its role says: always outside WSFC; under
    /// WSFC only while its node has quorum.
    pub(crate) fn quorum_ok(&self, a: usize, r: usize) -> bool {
        if self.ags[a].cluster_type != ClusterType::Wsfc {
            return true;
        }
        self.node_index(&self.ags[a].replicas[r].instance)
            .is_some_and(|n| self.wsfc.nodes[n].quorum.is_some())
    }

    /// Under WSFC, whether the node hosting replica `r` runs under forced quorum.
    pub(crate) fn quorum_forced(&self, a: usize, r: usize) -> bool {
        self.ags[a].cluster_type == ClusterType::Wsfc
            && self
                .node_index(&self.ags[a].replicas[r].instance)
                .is_some_and(|n| self.wsfc.nodes[n].quorum == Some(QuorumKind::Forced))
    }

    /// Under WSFC, a primary without quorum whose lease ran out (it reports RESOLVING).
    pub(crate) fn lease_expired(&self, a: usize, r: usize) -> bool {
        self.ags[a].cluster_type == ClusterType::Wsfc
            && self
                .node_index(&self.ags[a].replicas[r].instance)
                .and_then(|n| self.wsfc.nodes[n].resolving_from)
                .is_some_and(|t| self.now >= t)
    }

    /// Whether the witness's site can be reached from `site`.
    fn witness_reachable_from(&self, site: &str) -> bool {
        let Some((w, _)) = &self.wsfc.witness else { return false };
        if w == site {
            return true;
        }
        let key = if site < w.as_str() {
            (site.to_string(), w.clone())
        } else {
            (w.clone(), site.to_string())
        };
        !self.cuts.contains(&key)
    }

    /// The up nodes, in sets that reach each other.
    fn node_sets(&self) -> Vec<Vec<usize>> {
        let up: Vec<usize> = (0..self.wsfc.nodes.len())
            .filter(|&n| self.is_up(&self.wsfc.nodes[n].instance))
            .collect();
        let mut sets: Vec<Vec<usize>> = Vec::new();
        let mut placed = BTreeSet::new();
        for &start in &up {
            if !placed.insert(start) {
                continue;
            }
            let mut set = vec![start];
            let mut i = 0;
            while i < set.len() {
                let me = &self.wsfc.nodes[set[i]].instance;
                for &other in &up {
                    if !placed.contains(&other) && self.linked(me, &self.wsfc.nodes[other].instance) {
                        placed.insert(other);
                        set.push(other);
                    }
                }
                i += 1;
            }
            set.sort_unstable();
            sets.push(set);
        }
        sets
    }

    /// The node hosting the current primary: the newest-epoch primary replica that is up, of
    /// the first WSFC group that has one.
    fn current_primary_node(&self) -> Option<usize> {
        self.ags
            .iter()
            .filter(|ag| ag.cluster_type == ClusterType::Wsfc)
            .find_map(|ag| {
                ag.replicas
                    .iter()
                    .filter(|r| r.role == StoredRole::Primary && self.is_up(&r.instance))
                    .max_by_key(|r| r.epoch)
            })
            .and_then(|r| self.node_index(&r.instance))
    }

    /// Re-derives every node's quorum (see the module's rules), takes the latest configuration
    /// on where there is quorum, starts and ends leases, and returns to NORMAL quorum once a
    /// forced side holds a majority again.
    pub(crate) fn refresh_quorum(&mut self, now: SimTime) {
        if self.wsfc.nodes.is_empty() {
            return;
        }
        let sets = self.node_sets();
        let seq = self.wsfc.seq;
        let nodes = &self.wsfc.nodes;
        let fresh = |set: &[usize]| set.iter().any(|&n| nodes[n].seen == seq || nodes[n].quorum.is_some());
        let sites = |set: &[usize]| -> Vec<String> {
            set.iter()
                .filter_map(|&n| self.site_of(&nodes[n].instance).map(str::to_string))
                .collect()
        };
        // Witness arbitration.
        let primary_node = self.current_primary_node();
        let held = &self.wsfc.witness_part;
        let holds = |set: &[usize]| set.iter().any(|n| held.contains(n));
        let witness_set = (0..sets.len())
            .filter(|&s| sites(&sets[s]).iter().any(|site| self.witness_reachable_from(site)))
            .min_by_key(|&s| {
                let set = &sets[s];
                // Held alone: the lock stays where it is.
                let held_alone = holds(set) && !sets.iter().any(|o| o != set && holds(o));
                (
                    !fresh(set),
                    !held_alone,
                    !primary_node.is_some_and(|p| set.contains(&p)),
                    !set.iter().any(|&n| nodes[n].quorum.is_some()),
                    set.iter().map(|&n| nodes[n].name.to_lowercase()).min(),
                )
            });
        let total = self.wsfc.total_votes();
        let mut quorum: Vec<Option<QuorumKind>> = vec![None; nodes.len()];
        let mut back_to_normal = false;
        for (s, set) in sets.iter().enumerate() {
            let votes = set.iter().map(|&n| u32::from(nodes[n].votes)).sum::<u32>() + u32::from(witness_set == Some(s));
            let majority = 2 * votes > total && fresh(set);
            let forced_here = self
                .wsfc
                .forced
                .as_ref()
                .is_some_and(|core| set.iter().any(|n| core.contains(n)));
            let kind = match (forced_here, majority) {
                (true, true) => {
                    back_to_normal = true;
                    Some(QuorumKind::Normal)
                }
                (true, false) => Some(QuorumKind::Forced),
                (false, true) => Some(QuorumKind::Normal),
                (false, false) => None,
            };
            for &n in set {
                quorum[n] = kind;
            }
        }
        let mut part = vec![None; nodes.len()];
        for (s, set) in sets.iter().enumerate() {
            for &n in set {
                part[n] = Some(s);
            }
        }
        self.wsfc.part = part;
        self.wsfc.witness_part = witness_set
            .map(|s| sets[s].iter().copied().collect())
            .unwrap_or_default();
        if back_to_normal {
            self.wsfc.forced = None;
            self.note(
                now,
                format!("cluster {}: a majority is back, quorum is NORMAL again", self.wsfc.name),
            );
        }
        let lease = self.cfg.latencies.lease_timeout;
        let mut lost = Vec::new();
        for (n, q) in quorum.into_iter().enumerate() {
            let up = self.is_up(&self.wsfc.nodes[n].instance);
            let node = &mut self.wsfc.nodes[n];
            let had = node.quorum.is_some();
            node.quorum = q;
            if q.is_some() {
                node.seen = seq;
                node.resolving_from = None;
            } else if !up {
                node.resolving_from = None;
            } else if had {
                node.resolving_from = Some(now + lease);
                lost.push(n);
            } else if node.resolving_from.is_none() {
                // Came up (or was already) without quorum: no lease to run out.
                node.resolving_from = Some(now);
            }
            // (Not at the world's start, where every node simply has quorum.)
            if had != q.is_some() && up && now > SimTime::ZERO {
                let text = format!(
                    "cluster {}: node {} {} quorum",
                    self.wsfc.name,
                    self.wsfc.nodes[n].name,
                    if had { "lost" } else { "has" }
                );
                self.note(now, text);
            }
        }
        // Commits in flight on a primary that lost quorum are never acknowledged.
        for n in lost {
            let instance = self.wsfc.nodes[n].instance.clone();
            for ag in self.ags.iter_mut().filter(|ag| ag.cluster_type == ClusterType::Wsfc) {
                for r in ag
                    .replicas
                    .iter_mut()
                    .filter(|r| r.instance.eq_ignore_ascii_case(&instance))
                {
                    for c in &mut r.copies {
                        c.pending_acks.clear();
                    }
                }
            }
        }
    }

    /// The cluster took on a new configuration (a role change completed): nodes with quorum
    /// take it on at the next refresh, nodes away are stale until they rejoin.
    pub(crate) fn bump_cluster_configuration(&mut self) {
        if !self.wsfc.nodes.is_empty() {
            self.wsfc.seq += 1;
        }
    }

    /// Forces quorum on `instance`'s node (`Start-ClusterNode -FixQuorum`, `net start clussvc
    /// /forcequorum`): the set of nodes it reaches runs the cluster with FORCED_QUORUM, and its
    /// configuration becomes the latest.
    pub fn force_quorum(&mut self, now: SimTime, instance: &str) -> Result<(), String> {
        self.advance(now);
        let n = self
            .node_index(instance)
            .ok_or_else(|| format!("{instance:?} is not a node of a WSFC cluster (no WSFC group on it)"))?;
        if !self.is_up(&self.wsfc.nodes[n].instance) {
            return Err(format!("{instance:?} is down: start it before forcing quorum on it"));
        }
        let core: BTreeSet<usize> = self
            .node_sets()
            .into_iter()
            .find(|s| s.contains(&n))
            .unwrap_or_default()
            .into_iter()
            .collect();
        self.wsfc.seq += 1;
        for &c in &core {
            self.wsfc.nodes[c].seen = self.wsfc.seq;
        }
        let names: Vec<String> = core.iter().map(|&c| self.wsfc.nodes[c].name.clone()).collect();
        self.wsfc.forced = Some(core);
        self.note(
            now,
            format!("cluster {}: quorum forced on {}", self.wsfc.name, names.join(", ")),
        );
        self.refresh(now);
        Ok(())
    }

    /// Quorum of `instance`'s node now: `None` without quorum or off the cluster.
    pub(crate) fn node_quorum(&self, instance: &str) -> Option<QuorumKind> {
        self.node_index(instance).and_then(|n| self.wsfc.nodes[n].quorum)
    }

    /// Whether `instance` has WSFC quorum (false when it is no cluster node).
    pub fn has_quorum(&mut self, now: SimTime, instance: &str) -> bool {
        self.advance(now);
        self.node_quorum(instance).is_some()
    }

    /// One line about the cluster for `status`: each node's quorum; `None` without a cluster.
    pub fn quorum_line(&self) -> Option<String> {
        if self.wsfc.nodes.is_empty() {
            return None;
        }
        let nodes: Vec<String> = self
            .wsfc
            .nodes
            .iter()
            .map(|n| {
                let q = match n.quorum {
                    Some(QuorumKind::Normal) => "NORMAL",
                    Some(QuorumKind::Forced) => "FORCED",
                    None => "no-quorum",
                };
                format!("{}={q}", n.name)
            })
            .collect();
        let witness = self
            .wsfc
            .witness
            .as_ref()
            .map_or(String::new(), |(site, _)| format!(", witness at {site}"));
        Some(format!("wsfc {}: {}{witness}", self.wsfc.name, nodes.join(" ")))
    }
}
