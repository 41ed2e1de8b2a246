//! More than one replica reports PRIMARY. Under CLUSTER_TYPE = NONE this is what SQL Server does
//! after a forced failover: the old primary, when it recovers, assumes the primary role too and
//! keeps taking writes until it is demoted with `SET (ROLE = SECONDARY)`. drover demotes the
//! stale one at once — the writes it still takes are the loss — and measures its divergent tail
//! afterwards, while its copies are suspended, before anything may resume (and roll back) it.
//! Under WSFC and EXTERNAL a cluster manager owns the roles: drover reports and waits.

use super::*;

impl Planner<'_> {
    pub(super) fn two_primaries(&mut self) -> Result<Decision, Decision> {
        let names: Vec<&str> = self.facts.primaries.iter().map(|&p| self.name(p)).collect();
        let all = names.join(", ");
        if self.spec().cluster_type != ClusterType::None {
            let how = match self.spec().cluster_type {
                ClusterType::External => {
                    "cluster type EXTERNAL: demote the stale one through the cluster manager (e.g. pcs resource move/clear)"
                }
                _ => "cluster type WSFC: the cluster keeps one primary; this is a transient or a misconfiguration",
            };
            return Err(blocked(
                format!("replicas {all} all report PRIMARY; drover will not act until only one does ({how})"),
                Phase::Degraded,
            ));
        }
        let fresh = match self.fresh_primary() {
            Ok(f) => f,
            Err(why) => {
                return Err(blocked(
                    format!(
                        "replicas {all} all report PRIMARY and {why}; demote the stale one by hand with ALTER AVAILABILITY GROUP [{}] SET (ROLE = SECONDARY) on it",
                        self.spec().group_name.replace(']', "]]")
                    ),
                    Phase::Degraded,
                ));
            }
        };
        let Some(stale) = self.facts.primaries.iter().copied().find(|&p| p != fresh) else {
            return Err(blocked(format!("replicas {all} all report PRIMARY"), Phase::Degraded));
        };
        let group = self.group()?;
        let (sn, fn_) = (self.name(stale), self.name(fresh));
        let next = self.step(
            stale,
            Action::DemoteToSecondary { group },
            format!(
                "demote {sn}: it came back PRIMARY after the forced failover to {fn_} (cluster type NONE) and may be taking writes that will be lost; its divergent log is measured once it is a suspended secondary, before anything resumes it"
            ),
            |_| {},
        );
        Ok((next, Phase::Degraded))
    }

    /// The primary that is not stale. The journal of the forced failover names it; the group's
    /// `sequence_number`, when both report one, must agree (a newer configuration has a higher one).
    fn fresh_primary(&self) -> Result<usize, String> {
        let forced_to = self
            .journal
            .last_failover
            .as_ref()
            .filter(|f| f.kind == TransitionKind::Failover)
            .map(|f| f.to_replica.as_str())
            .or_else(|| {
                self.journal
                    .transition
                    .as_ref()
                    .filter(|t| t.failover_issued && !t.fork.is_empty())
                    .map(|t| t.to_replica.as_str())
            });
        let journalled = forced_to.and_then(|n| self.facts.index_of_name(n));
        let by_sequence = self.newest_by_sequence();
        match (journalled, by_sequence) {
            (Some(j), Some(s)) if j != s => Err(format!(
                "the journal says {} was forced to primary but {} reports the newer configuration (sequence_number)",
                self.name(j),
                self.name(s)
            )),
            (Some(j), _) if self.facts.primaries.contains(&j) => Ok(j),
            (None, Some(s)) => Ok(s),
            _ => Err("drover journalled no forced failover that tells which one is stale".to_string()),
        }
    }

    /// The primary whose group reports the highest `sequence_number`, if every primary reports one
    /// and the highest is unique.
    fn newest_by_sequence(&self) -> Option<usize> {
        let seq = |p: usize| self.facts.sequence_number(p);
        let mut numbered: Vec<(i64, usize)> = Vec::new();
        for &p in &self.facts.primaries {
            numbered.push((seq(p)?, p));
        }
        numbered.sort();
        match numbered[..] {
            [.., (a, _), (b, p)] if b > a => Some(p),
            _ => None,
        }
    }
}
