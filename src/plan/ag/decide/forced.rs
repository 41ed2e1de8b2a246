//! No replica reports PRIMARY: wait for a role change drover started, finish NONE's verified
//! demote-then-force, or a forced failover as the policy allows.

use super::*;
use crate::api::availability_group::{AgHook, HookRun, HookState};
use crate::components::JobPhase;
use crate::plan::ag::HookStep;

/// Where a fence or force-quorum hook stands.
enum HookProgress {
    NotDeclared,
    /// Create its Job, or wait for it.
    Pending(Decision),
    /// Its Job (named) succeeded.
    Succeeded(String),
    /// Its Job failed, why.
    Failed(String),
}

/// How long a NONE switch waits for a just-demoted replica that stopped answering before it falls
/// back to the forced-failover path, unless `forcedFailover.minUnreachableSeconds` says otherwise.
const DEMOTED_SILENT_GRACE_SECONDS: i64 = 60;

impl Planner<'_> {
    /// No replica reports PRIMARY.
    pub(super) fn without_primary(&mut self, target: usize) -> Result<Decision, Decision> {
        let tn = self.name(target);
        if let Some(t) = &self.journal.transition
            && t.failover_issued
            && t.to_replica.eq_ignore_ascii_case(tn)
        {
            let role = self.facts.replicas[target]
                .role()
                .map_or("unreachable".to_string(), |r| r.to_string());
            return Ok(wait(
                format!("waiting for {tn} to finish becoming primary (now {role})"),
                phase_of(t.kind),
            ));
        }
        if self.spec().cluster_type == ClusterType::External {
            return Err(blocked(
                "no primary, and cluster type EXTERNAL: fail over through the cluster manager",
                Phase::Unmanaged,
            ));
        }
        if let Some(decision) = self.lossless_force_after_demote(target)? {
            return Ok(decision);
        }
        if self.facts.replicas.iter().all(|r| !r.usable()) {
            // Nothing observed is not evidence of a lost primary (wrong login, drover's own network).
            return Ok(blocked(
                "no replica can be observed (see status.replicas); drover acts on nothing it cannot see",
                Phase::Waiting,
            ));
        }
        let lost = self.note_primary_lost();
        let old = lost.replica.as_deref().and_then(|n| self.facts.index_of_name(n));
        if old == Some(target) {
            return Ok(blocked(
                format!(
                    "the primary {tn} at the desired site is unreachable; waiting for it (set primarySite to another site to fail over)"
                ),
                Phase::Waiting,
            ));
        }
        let tr = &self.facts.replicas[target];
        if let Some(problem) = &tr.problem {
            return Ok(blocked(
                format!("no replica reports PRIMARY and the target {tn} cannot be used: {problem}"),
                Phase::Waiting,
            ));
        }
        let mut estimate = loss::estimate(&self.facts, target, Some(&lost));
        estimate.old_primary_fenced = self.old_primary_fenced(old, target);
        self.estimate = Some(estimate.clone());
        match tr.role() {
            Some(Role::Secondary | Role::Resolving) => {}
            other => {
                let role = other.map_or("no role".to_string(), |r| r.to_string());
                return Ok(wait(format!("target {tn} reports {role}"), Phase::Failover));
            }
        }
        if tr.connected() {
            return Ok(wait(
                format!(
                    "{tn} is still connected to a primary drover cannot reach; forcing now could make two primaries"
                ),
                Phase::Waiting,
            ));
        }
        // The policy's own gates come before any hook runs: Never runs none, Automatic only once
        // it would force (the primary gone long enough, the loss within its bound).
        let hooks_allowed = match self.spec().forced_failover.policy {
            ForcePolicy::Never => false,
            ForcePolicy::Confirm => true,
            ForcePolicy::Automatic => self.automatic_would_force(&lost, &estimate),
        };
        let mut fence_failed = None;
        if hooks_allowed
            && estimate.old_primary_fenced.is_none()
            && let Some(o) = old.filter(|&o| o != target)
        {
            match self.run_hook(AgHook::Fence, o, target, &lost) {
                HookProgress::NotDeclared => {}
                HookProgress::Pending(decision) => return Ok(decision),
                HookProgress::Succeeded(job) => {
                    estimate.old_primary_fenced =
                        Some(format!("the fence hook Job {job} for {} succeeded", self.name(o)));
                    self.estimate = Some(estimate.clone());
                }
                HookProgress::Failed(why) => fence_failed = Some(why),
            }
        }
        if self.spec().cluster_type == ClusterType::Wsfc && self.facts.quorum(target).is_none() {
            let remedy = format!(
                "{tn}'s WSFC node has no quorum (sys.dm_hadr_cluster returns no row), so it cannot be forced to primary (SQL Server refuses with 35220). Only if the other side is down or fenced: force quorum on a surviving node of {tn}'s side (PowerShell: Start-ClusterNode -Name <node> -FixQuorum, or net start clussvc /forcequorum); drover then goes on under forcedFailover.policy. Forcing quorum while the other side still runs makes two clusters and two primaries"
            );
            if hooks_allowed && self.spec().replicas[target].force_quorum_hook.is_some() {
                // The same consent as the forced failover: evidence that the old side cannot
                // commit, else a person's token (which the forced failover then consumes).
                if estimate.old_primary_fenced.is_none() {
                    let what = format!(
                        "{}; drover will first run {tn}'s forceQuorumHook",
                        self.failover_text(target, old, &estimate, fence_failed.as_deref())
                    );
                    let outage = lost.detected_at.as_ref().map_or_else(String::new, |t| t.0.to_string());
                    if let Err(decision) = self.consent(target, &estimate, &outage, &what) {
                        return Ok(decision);
                    }
                }
                return Ok(match self.run_hook(AgHook::ForceQuorum, target, target, &lost) {
                    HookProgress::Pending(decision) => decision,
                    HookProgress::Succeeded(job) => wait(
                        format!(
                            "the force-quorum hook Job {job} succeeded; waiting for {tn}'s WSFC node to report quorum"
                        ),
                        Phase::Waiting,
                    ),
                    HookProgress::Failed(why) => blocked(
                        format!("{tn}'s forceQuorumHook failed ({why}). {remedy}"),
                        Phase::Waiting,
                    ),
                    HookProgress::NotDeclared => blocked(remedy, Phase::Waiting),
                });
            }
            return Ok(blocked(remedy, Phase::Waiting));
        }
        for (d, db) in self.spec().databases.iter().enumerate() {
            match self.facts.sync_state(target, d) {
                Some(SyncState::Reverting | SyncState::Initializing) => {
                    return Ok(wait(
                        format!(
                            "{db} on {tn} is {}; never forced onto",
                            self.facts.sync_state(target, d).map_or("", |s| s.as_str())
                        ),
                        Phase::Waiting,
                    ));
                }
                None => return Ok(wait(format!("{db} on {tn} is not reported"), Phase::Waiting)),
                Some(_) => {}
            }
        }
        let from = old.filter(|&o| o != target);
        self.begin(TransitionKind::Failover, from, target);
        let outage = lost.detected_at.as_ref().map_or_else(String::new, |t| t.0.to_string());
        let known = estimate
            .known_loss_seconds
            .map_or_else(|| "unknown".to_string(), |s| format!("{s} s"));
        let window = self.window_text(target, old, &estimate);
        let what_all = self.failover_text(target, old, &estimate, fence_failed.as_deref());
        let policy = &self.spec().forced_failover;
        match policy.policy {
            ForcePolicy::Never => Ok(blocked(
                format!(
                    "the primary is unreachable and forcedFailover.policy is Never: waiting for it to return (a forced failover to {tn} would lose {known}{window})"
                ),
                Phase::Waiting,
            )),
            ForcePolicy::Confirm => Ok(self.ask_confirmation(target, &estimate, &outage, &what_all)),
            ForcePolicy::Automatic => {
                let (Some(min_down), Some(max_loss)) = (policy.min_unreachable_seconds, policy.max_data_loss_seconds)
                else {
                    return Err(blocked("forcedFailover: Automatic needs both bounds", Phase::Invalid));
                };
                let down_for = lost.detected_at.as_ref().map_or(0, |t| seconds_between(t, &self.now()));
                if down_for < i64::from(min_down) {
                    return Ok(wait(
                        format!(
                            "the primary has been unreachable for {down_for} s; policy Automatic waits {min_down} s"
                        ),
                        Phase::Waiting,
                    ));
                }
                if estimate.old_primary_fenced.is_none() {
                    // Automatic acts alone only on evidence; without it the decision is a person's.
                    let what = format!(
                        "{what_all} (policy Automatic forces alone only when the old primary is shown unable to commit)"
                    );
                    return Ok(self.ask_confirmation(target, &estimate, &outage, &what));
                }
                match estimate.known_loss_seconds {
                    Some(s) if s <= i64::from(max_loss) => Ok((self.force(target, None), Phase::Failover)),
                    Some(s) => Ok(blocked(
                        format!(
                            "a forced failover to {tn} would lose {s} s, more than maxDataLossSeconds {max_loss}: waiting"
                        ),
                        Phase::Waiting,
                    )),
                    None => Ok(blocked(
                        format!(
                            "the loss of a forced failover to {tn} is unknown, so policy Automatic cannot bound it: waiting"
                        ),
                        Phase::Waiting,
                    )),
                }
            }
        }
    }

    /// What a forced failover to `target` would lose, for a person's confirmation: the known loss,
    /// the unknown window, and whether the old primary may still take writes (and why a fence
    /// hook did not settle it).
    fn failover_text(
        &self,
        target: usize,
        old: Option<usize>,
        estimate: &LossEstimate,
        fence_failed: Option<&str>,
    ) -> String {
        let known = estimate
            .known_loss_seconds
            .map_or_else(|| "unknown".to_string(), |s| format!("{s} s"));
        let window = self.window_text(target, old, estimate);
        let fence = fence_failed.map_or_else(String::new, |why| format!(". Its fence hook failed: {why}"));
        let unfenced = match (&estimate.old_primary_fenced, old.map(|o| self.name(o))) {
            (Some(_), _) => String::new(),
            (None, Some(o)) => format!(
                "{fence}. drover cannot tell whether {o} still accepts writes: it cannot be reached and nothing shows it lost its role or its WSFC quorum; confirm only once it is stopped or cut off from its clients"
            ),
            (None, None) => ". drover does not know which replica was primary, so it cannot tell whether it still accepts writes; confirm only once the old primary is stopped or cut off from its clients".to_string(),
        };
        format!("{known}{window}{unfenced}")
    }

    /// The part of the loss drover cannot measure.
    fn window_text(&self, target: usize, old: Option<usize>, estimate: &LossEstimate) -> String {
        let acked_kept = old.and_then(|o| self.commits_need_target(o, target)).is_some();
        match &estimate.unknown_since {
            _ if acked_kept => format!(
                "; no acknowledged commit is lost: every commit waited for {} to harden it (REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT)",
                self.name(target)
            ),
            Some(since) => format!(
                ", plus anything committed since {} (when drover last saw the primary)",
                since.0
            ),
            None => ", plus everything since an unknown time (drover did not see the primary before it was lost)"
                .to_string(),
        }
    }

    /// Policy Automatic: whether it would force now, given evidence (the primary unreachable long
    /// enough, the known loss within its bound). Until then no hook runs for it.
    fn automatic_would_force(&self, lost: &PrimarySnapshot, estimate: &LossEstimate) -> bool {
        let policy = &self.spec().forced_failover;
        let (Some(min_down), Some(max_loss)) = (policy.min_unreachable_seconds, policy.max_data_loss_seconds) else {
            return false;
        };
        let down_for = lost.detected_at.as_ref().map_or(0, |t| seconds_between(t, &self.now()));
        down_for >= i64::from(min_down) && estimate.known_loss_seconds.is_some_and(|s| s <= i64::from(max_loss))
    }

    /// Where `replica`'s `hook` stands in this outage: not declared; done (journalled or its Job
    /// seen finished); or still to do (create its Job, or wait for it).
    fn run_hook(&mut self, hook: AgHook, replica: usize, target: usize, lost: &PrimarySnapshot) -> HookProgress {
        let spec = &self.spec().replicas[replica];
        let declared = match hook {
            AgHook::Fence => spec.fence_hook.is_some(),
            AgHook::ForceQuorum => spec.force_quorum_hook.is_some(),
        };
        if !declared {
            return HookProgress::NotDeclared;
        }
        let name = self.name(replica).to_string();
        let site = spec.site.clone();
        let started = lost.detected_at.as_ref().map_or(jiff::Timestamp::UNIX_EPOCH, |t| t.0);
        let run = crate::components::hook::run_label(started, 0, &site);
        let same = |h: &HookRun| h.hook == hook && h.run == run && h.replica.eq_ignore_ascii_case(&name);
        if let Some(done) = self.journal.hooks.iter().find(|h| same(h)) {
            match done.state {
                HookState::Succeeded => return HookProgress::Succeeded(done.job.clone().unwrap_or_default()),
                HookState::Failed => {
                    return HookProgress::Failed(done.message.clone().unwrap_or_else(|| "the Job failed".into()));
                }
                HookState::Running => {}
            }
        }
        let site_label = crate::components::hook::label_value(&site);
        let seen = self
            .input
            .jobs
            .iter()
            .find(|j| j.hook == hook && j.run == run && j.site == site_label)
            .cloned();
        let what = match hook {
            AgHook::Fence => format!("make {name} unable to commit"),
            AgHook::ForceQuorum => format!("force WSFC quorum on {name}'s side"),
        };
        let Some(job) = seen else {
            let record = HookRun {
                hook,
                replica: name.clone(),
                site: site.clone(),
                run: run.clone(),
                job: None,
                state: HookState::Running,
                message: None,
            };
            let mut after = self.journal.clone();
            after.hooks.retain(|h| !same(h));
            after.hooks.push(record);
            return HookProgress::Pending((
                Next::Hook(Box::new(HookStep {
                    hook,
                    replica: name.clone(),
                    site,
                    target: self.name(target).to_string(),
                    run,
                    reason: format!("run {name}'s {} Job to {what}", hook.field()),
                    after,
                })),
                Phase::Failover,
            ));
        };
        let (state, message) = match &job.phase {
            JobPhase::Running => (HookState::Running, None),
            JobPhase::Succeeded => (HookState::Succeeded, None),
            JobPhase::Failed(why) => (HookState::Failed, Some(why.clone())),
        };
        self.journal.hooks.retain(|h| !same(h));
        self.journal.hooks.push(HookRun {
            hook,
            replica: name.clone(),
            site,
            run,
            job: Some(job.name.clone()),
            state,
            message: message.clone(),
        });
        if state != HookState::Running {
            self.notices.push(Notice::HookFinished {
                hook,
                job: job.name.clone(),
                replica: name.clone(),
                failed: message.clone(),
            });
        }
        match (state, message) {
            (HookState::Succeeded, _) => HookProgress::Succeeded(job.name),
            (HookState::Failed, why) => HookProgress::Failed(why.unwrap_or_default()),
            (HookState::Running, _) => HookProgress::Pending(wait(
                format!("{name}'s {} Job {} is running ({what})", hook.field(), job.name),
                Phase::Failover,
            )),
        }
    }

    /// Asks a person to confirm a forced failover to `target` (or takes the confirmation given and
    /// forces). `what` says what would be lost, and whether the old primary may still take writes.
    fn ask_confirmation(&mut self, target: usize, estimate: &LossEstimate, outage: &str, what: &str) -> Decision {
        match self.consent(target, estimate, outage, what) {
            Ok(token) => (self.force(target, Some(token)), Phase::Failover),
            Err(decision) => decision,
        }
    }

    /// The person's consent to a forced failover to `target`: `Ok(token)` when the current token
    /// was given, else the request (or the refusal of a stale token) as the decision.
    fn consent(
        &mut self,
        target: usize,
        estimate: &LossEstimate,
        outage: &str,
        what: &str,
    ) -> Result<String, Decision> {
        let tn = self.name(target);
        let (token, issued) = self.data_loss_token(estimate, outage);
        let request = ConfirmationRequest {
            token: token.clone(),
            target: tn.to_string(),
            known_loss_seconds: estimate.known_loss_seconds,
            unknown_since: estimate.unknown_since.clone(),
            command: format!(
                "kubectl annotate sqlag {} {}={token} --overwrite",
                self.input.resource_name,
                crate::api::availability_group::CONFIRM_ANNOTATION
            ),
            issued: Some(issued),
        };
        if self.journal.confirmation.as_ref() != Some(&request) {
            self.notices.push(Notice::ConfirmationRequested {
                token: token.clone(),
                target: tn.to_string(),
            });
            self.journal.confirmation = Some(request.clone());
        }
        match self.input.confirmation {
            Some(given) if given == token => Ok(token),
            Some(given) => {
                self.notices.push(Notice::ConfirmationStale {
                    given: given.to_string(),
                    current: token.clone(),
                });
                Err(blocked(
                    format!(
                        "the confirmation token {given:?} is not the current one (the target or the estimate changed); a forced failover to {tn} would lose {what}; confirm with: {}",
                        request.command
                    ),
                    Phase::AwaitingConfirmation,
                ))
            }
            None => Err(blocked(
                format!(
                    "a forced failover to {tn} would lose {what}; confirm with: {}",
                    request.command
                ),
                Phase::AwaitingConfirmation,
            )),
        }
    }

    /// What shows that the unreachable old primary `old` cannot be taking writes, if anything:
    /// it answers and reports it is no longer primary, or (WSFC) the target's side holds normal
    /// quorum without the old primary's node, so that node is in a minority that cannot commit.
    pub(super) fn old_primary_fenced(&self, old: Option<usize>, target: usize) -> Option<String> {
        let o = old?;
        let r = &self.facts.replicas[o];
        if r.usable()
            && let Some(role) = r.role()
            && *role != Role::Primary
        {
            return Some(format!("{} answers and reports {role}", r.name()));
        }
        self.facts
            .quorum_excludes(target, o)
            .or_else(|| self.commits_need_target(o, target))
    }

    /// REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = n (as the target's copy of the group's
    /// configuration says) and fewer than n synchronous replicas besides the target could harden
    /// the old primary's log: with the target cut off from it, the old primary cannot commit.
    /// Replicas drover cannot observe are counted as able to, to stay on the safe side.
    fn commits_need_target(&self, old: usize, target: usize) -> Option<String> {
        let n = self.facts.replicas[target].group?.required_synchronized_secondaries?;
        if n < 1 || self.facts.replicas[target].connected() {
            return None;
        }
        let others = (0..self.facts.replicas.len())
            .filter(|&r| r != old && r != target)
            .filter(|&r| !self.facts.replicas[r].usable() || is_sync(self.facts.mode(r)))
            .count();
        (others < usize::try_from(n).unwrap_or(usize::MAX)).then(|| {
            format!(
                "REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = {n} and only {others} other synchronous replica(s) besides {}, which is cut off from it: {} cannot commit",
                self.name(target),
                self.name(old)
            )
        })
    }

    /// Records the lost primary the first time no primary is seen.
    pub(super) fn note_primary_lost(&mut self) -> PrimarySnapshot {
        if let Some(lost) = &self.journal.primary_lost {
            return lost.clone();
        }
        let snapshot = match self.input.last_seen_primary {
            Some(seen) => PrimarySnapshot {
                detected_at: Some(self.now()),
                ..seen.clone()
            },
            None => {
                // Never saw it: if exactly one replica cannot be used, that one was the primary.
                let unusable: Vec<usize> = (0..self.facts.replicas.len())
                    .filter(|&r| !self.facts.replicas[r].usable())
                    .collect();
                let guess = match unusable[..] {
                    [only] => Some(only),
                    _ => None,
                };
                PrimarySnapshot {
                    replica: guess.map(|r| self.name(r).to_string()),
                    site: guess.map(|r| self.spec().replicas[r].site.clone()),
                    detected_at: Some(self.now()),
                    last_seen: None,
                    databases: Vec::new(),
                }
            }
        };
        self.notices.push(Notice::PrimaryLost {
            replica: snapshot.replica.clone().unwrap_or_else(|| "unknown".into()),
        });
        self.journal.primary_lost = Some(snapshot.clone());
        snapshot
    }

    /// Cluster type NONE, after drover demoted the old primary: forcing the target loses nothing
    /// when its log holds everything the demoted replica has. Verified, not assumed.
    pub(super) fn lossless_force_after_demote(&mut self, target: usize) -> Result<Option<Decision>, Decision> {
        let Some(t) = self.journal.transition.clone() else {
            return Ok(None);
        };
        let here = |name: &str| name.eq_ignore_ascii_case(self.name(target));
        let forward = here(&t.to_replica);
        // primarySite set back to the demoted replica's site before anything was forced: force it
        // back, under the same checks, with the journal turned around (write-ahead).
        let back = t.demoted && !t.failover_issued && t.from_replica.as_deref().is_some_and(here);
        if self.spec().cluster_type != ClusterType::None || t.kind == TransitionKind::Failover || !(forward || back) {
            return Ok(None);
        }
        let other = if forward {
            t.from_replica.clone()
        } else {
            Some(t.to_replica.clone())
        };
        let Some(old) = other.as_deref().and_then(|n| self.facts.index_of_name(n)) else {
            return Ok(None);
        };
        if forward && t.demoted && !t.failover_issued && !self.facts.replicas[old].usable() {
            // Demoted a moment ago and now silent: most often a blip. Forcing without its log to
            // compare would turn a lossless switch into a lossy failover, so give it time first.
            let since = self.note_primary_lost().detected_at.unwrap_or_else(|| self.now());
            let grace = self
                .spec()
                .forced_failover
                .min_unreachable_seconds
                .map_or(DEMOTED_SILENT_GRACE_SECONDS, i64::from);
            let silent = seconds_between(&since, &self.now());
            if silent < grace {
                return Ok(Some(wait(
                    format!(
                        "{} was demoted and has not answered for {silent} s; waiting up to {grace} s to check that {} holds all of its log before forcing, after which a forced failover is offered under forcedFailover.policy",
                        self.name(old),
                        self.name(target)
                    ),
                    phase_of(t.kind),
                )));
            }
        }
        let (o, tr) = (&self.facts.replicas[old], &self.facts.replicas[target]);
        if !o.usable() || !tr.usable() || o.role() != Some(&Role::Secondary) {
            return Ok(None);
        }
        let tn = self.name(target);
        if !matches!(tr.role(), Some(Role::Secondary | Role::Resolving)) {
            let role = tr.role().map_or("no role".to_string(), |r| r.to_string());
            return Ok(Some(wait(format!("target {tn} reports {role}"), phase_of(t.kind))));
        }
        if tr.connected() {
            return Ok(Some(wait(
                format!("{tn} is still connected to a primary drover cannot see; forcing now could make two primaries"),
                phase_of(t.kind),
            )));
        }
        for (d, db) in self.spec().databases.iter().enumerate() {
            if let Some(state @ (SyncState::Reverting | SyncState::Initializing)) = self.facts.sync_state(target, d) {
                return Ok(Some(wait(
                    format!("{db} on {tn} is {state}; never forced onto"),
                    phase_of(t.kind),
                )));
            }
        }
        let end = |r: usize, d: usize| {
            self.facts
                .copy(r, d)
                .and_then(|c| c.end_of_log_lsn.or(c.last_hardened_lsn))
        };
        let complete = (0..self.spec().databases.len()).all(|d| match (end(target, d), end(old, d)) {
            (Some(a), Some(b)) => a >= b,
            _ => false,
        });
        if !complete {
            return Ok(Some(wait(
                format!(
                    "{} is demoted; waiting until {} has all of its log before forcing",
                    self.name(old),
                    self.name(target)
                ),
                phase_of(t.kind),
            )));
        }
        if forward {
            // The old primary answers SECONDARY: it was demoted, even if the process that demoted
            // it stopped before journalling so (chaos seed 132). Journalled before the force, so
            // its copies are resumed when the switch finishes.
            self.set_transition(|t| t.demoted = true);
        }
        if back {
            let (to_site, to_replica) = (self.spec().replicas[target].site.clone(), self.name(target).to_string());
            let (from_site, from_replica) = (self.spec().replicas[old].site.clone(), self.name(old).to_string());
            self.set_transition(|t| {
                t.to_site = to_site;
                t.to_replica = to_replica;
                t.from_site = Some(from_site);
                t.from_replica = Some(from_replica);
            });
        }
        let group = self.group()?;
        let next = self.step(
            target,
            Action::ForcedFailover { group },
            format!(
                "force {} to primary (cluster type NONE): it holds all of {}'s log, so nothing is lost",
                self.name(target),
                self.name(old)
            ),
            |j| {
                if let Some(t) = j.transition.as_mut() {
                    t.failover_issued = true;
                }
            },
        );
        Ok(Some((next, phase_of(t.kind))))
    }

    /// FORCE_FAILOVER_ALLOW_DATA_LOSS on the target. The fork point and the token are journalled
    /// before the statement runs, so the loss can be measured even if drover stops right after.
    pub(super) fn force(&mut self, target: usize, token: Option<String>) -> Next {
        let fork = self.facts.last_commits(target);
        self.set_transition(|t| {
            t.fork = fork;
            t.confirmed_token = token;
        });
        let group = match self.group() {
            Ok(g) => g,
            Err((next, _)) => return next,
        };
        let tn = self.name(target);
        let known = self
            .estimate
            .as_ref()
            .and_then(|e| e.known_loss_seconds)
            .map_or_else(|| "an unknown amount".to_string(), |s| format!("{s} s"));
        self.step(
            target,
            Action::ForcedFailover { group },
            format!("forced failover to {tn} (the primary is unreachable; estimated loss {known})"),
            |j| {
                j.confirmation = None;
                if let Some(t) = j.transition.as_mut() {
                    t.failover_issued = true;
                }
            },
        )
    }
}
