//! Where the pool stands, as status reports it: instances, databases and log shipping as
//! observed, the health of the serving site, and the phase, step line and conditions of a pass.

use super::*;

impl<'a> Planner<'a> {
    /// Instances, databases and log shipping as observed; the pool state inferred once.
    pub(super) fn observe_into_status(&mut self) {
        let spec = self.spec();
        let now = self.input.now;
        let mut instances = Vec::new();
        let mut databases = Vec::new();
        for dc in [&spec.primary, &spec.backup] {
            let members = std::iter::once((&dc.sql_instance, "sqlInstance"))
                .chain(dc.mirror_instance.as_ref().map(|m| (m, "mirrorInstance")));
            for (instance, role) in members {
                let server = &instance.server_name;
                let obs = self.observed().instance(server);
                instances.push(InstanceStatus {
                    server_name: server.clone(),
                    site: dc.site.clone(),
                    role: role.to_string(),
                    reachable: obs.is_ok(),
                    message: obs.as_ref().err().map(|e| crate::api::conditions::bounded(e)),
                });
                if let Ok(obs) = obs {
                    for name in [&spec.chat_database, &spec.compliance_database] {
                        let db = obs.database(name);
                        if db.is_none() && role == "mirrorInstance" {
                            continue;
                        }
                        databases.push(PoolDatabaseStatus {
                            server_name: server.clone(),
                            database: name.clone(),
                            state: db.map(|d| d.state.clone()),
                            mirroring_role: db.and_then(|d| d.mirroring_role.clone()),
                            mirroring_state: db.and_then(|d| d.mirroring_state.clone()),
                            mirroring_partner: db.and_then(|d| d.mirroring_partner.clone()),
                        });
                    }
                }
            }
        }
        self.status.instances = instances;
        self.status.databases = databases;
        let backup = self.backup().to_string();
        if let Ok(obs) = self.observed().instance(&backup) {
            let previous = self.status.log_shipping.clone().unwrap_or_default();
            self.status.log_shipping = Some(match &obs.log_shipping {
                Some(ls) => LogShippingStatus {
                    configured: ls.configured,
                    primary_server: Some(ls.primary_server.clone()),
                    secondary_server: Some(backup.clone()),
                    last_copied_file: ls.last_copied_file.clone(),
                    last_copied_at: ls.last_copied_at.map(Time),
                    last_restored_file: ls.last_restored_file.clone(),
                    last_restored_at: ls.last_restored_at.map(Time),
                },
                // Removed: keep the last files seen (they say where the chain stopped).
                None => LogShippingStatus {
                    configured: false,
                    ..previous
                },
            });
        }
        let primary = self.primary().to_string();
        if self.observed().instance(&primary).is_ok() {
            self.status.primary_unreachable_since = None;
        } else if self.status.primary_unreachable_since.is_none() {
            self.status.primary_unreachable_since = Some(Time(now));
        }
        if self.status.pool_state.is_none() {
            let p = self.chat(&primary).map(|d| (d.online(), d.restoring()));
            let b = self.chat(&backup).map(|d| (d.online(), d.restoring()));
            self.status.pool_state = match (p, b) {
                (Some((true, _)), Some((_, true)) | None) => Some(PoolState::Normal),
                (Some((false, _)) | None, Some((true, _))) => Some(PoolState::FailedOver),
                _ => None,
            };
        }
    }

    /// What is not as the runbook leaves it at the serving site.
    pub(super) fn health(&self, at_primary: bool) -> Option<String> {
        let spec = self.spec();
        let mut problems = Vec::new();
        for dc in [&spec.primary, &spec.backup] {
            if let Err(why) = self.observed().instance(&dc.sql_instance.server_name) {
                problems.push(format!("{} cannot be observed: {why}", dc.sql_instance.server_name));
            }
        }
        let serving = if at_primary { &spec.primary } else { &spec.backup };
        if serving.mirror_instance.is_some()
            && self.chat(&serving.sql_instance.server_name).is_some_and(|d| {
                !d.mirroring_role
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case("PRINCIPAL"))
            })
        {
            problems.push(format!("{} is not mirrored at {}", spec.chat_database, serving.site));
        }
        if at_primary
            && let Ok(obs) = self.observed().instance(self.backup())
            && !obs
                .log_shipping
                .as_ref()
                .is_some_and(|ls| ls.configured && ls.primary_server.eq_ignore_ascii_case(self.primary()))
        {
            problems.push(format!(
                "{} is not log-shipped from {} to {}",
                spec.chat_database,
                self.primary(),
                self.backup()
            ));
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    pub(super) fn finish(mut self, outcome: Outcome) -> Plan {
        let spec = self.input.spec;
        let (phase, step, desired): (PoolPhase, Option<String>, Vec<Desired<'_>>) = match &outcome {
            Outcome::Invalid(text) => (
                PoolPhase::Invalid,
                Some("invalid spec".into()),
                vec![
                    cond(conditions::READY, false, "Invalid", text),
                    cond(conditions::INVALID, true, "InvalidSpec", text),
                ],
            ),
            Outcome::Steady => (
                PoolPhase::Steady,
                None,
                vec![
                    cond(
                        conditions::READY,
                        true,
                        "Steady",
                        &format!("served from {}", self.status.active_site.as_deref().unwrap_or("?")),
                    ),
                    cond(conditions::PROGRESSING, false, "Steady", ""),
                    cond(conditions::DEGRADED, false, "Healthy", ""),
                ],
            ),
            Outcome::Degraded(why) => (
                PoolPhase::Degraded,
                Some(why.clone()),
                vec![
                    cond(conditions::READY, false, "Degraded", why),
                    cond(conditions::PROGRESSING, false, "Degraded", ""),
                    cond(conditions::DEGRADED, true, "Degraded", why),
                ],
            ),
            Outcome::Waiting(why) => (
                PoolPhase::Waiting,
                Some(why.clone()),
                vec![
                    cond(conditions::READY, false, "Waiting", why),
                    cond(conditions::PROGRESSING, false, "Waiting", why),
                    cond(conditions::DEGRADED, true, "Waiting", why),
                ],
            ),
            Outcome::Confirm(why) => (
                PoolPhase::AwaitingConfirmation,
                Some("waiting for data-loss confirmation".into()),
                vec![
                    cond(conditions::READY, false, "AwaitingConfirmation", why),
                    cond(conditions::PROGRESSING, false, "AwaitingConfirmation", why),
                    cond(conditions::CONFIRMATION_REQUIRED, true, "PrimaryUnreachable", why),
                ],
            ),
            Outcome::ConfirmDiscard(why) => (
                PoolPhase::AwaitingConfirmation,
                Some("waiting for consent to discard the old primary's data".into()),
                vec![
                    cond(conditions::READY, false, "AwaitingConfirmation", why),
                    cond(conditions::PROGRESSING, false, "AwaitingConfirmation", why),
                    cond(
                        conditions::CONFIRMATION_REQUIRED,
                        true,
                        "AwaitingDiscardConfirmation",
                        why,
                    ),
                ],
            ),
            Outcome::InTransition { kind, blocked, note } => {
                let t = self.status.transition.as_ref();
                let line = t.and_then(|t| {
                    let total = t.steps.len();
                    t.steps
                        .iter()
                        .position(|s| s.state != StepState::Done)
                        .map(|i| format!("{}/{total} {}@{}", i + 1, t.steps[i].name, t.steps[i].site))
                });
                let phase = match kind {
                    PoolTransitionKind::Switchover => PoolPhase::Switchover,
                    PoolTransitionKind::Failover => PoolPhase::Failover,
                    PoolTransitionKind::Failback => PoolPhase::Failback,
                };
                let mut progressing = format!("{} to {}", kind.as_str(), t.map_or("", |t| t.to_site.as_str()));
                if let Some(note) = note {
                    progressing = format!("{progressing}; {note}");
                }
                let mut d = vec![
                    cond(conditions::READY, false, "InTransition", &progressing),
                    cond(conditions::PROGRESSING, true, kind.as_str(), &progressing),
                ];
                match blocked {
                    Some(why) => {
                        d.push(cond(conditions::DEGRADED, true, "StepBlocked", why));
                        (PoolPhase::Waiting, line, d)
                    }
                    None => {
                        d.push(cond(conditions::DEGRADED, false, "Healthy", ""));
                        (phase, line, d)
                    }
                }
            }
        };
        let (phase, action) = if spec.suspend && !matches!(outcome, Outcome::Invalid(_)) {
            (PoolPhase::Suspended, None)
        } else {
            (phase, self.action.take())
        };
        let conditions_now = conditions::merge(
            &self.input.status.conditions,
            &desired,
            self.input.generation,
            &Time(self.input.now),
        );
        self.status.phase = Some(phase);
        self.status.step = step;
        self.status.conditions = conditions_now;
        let busy = self.status.transition.is_some();
        Plan {
            status: self.status,
            action,
            notices: self.notices,
            busy,
        }
    }
}

fn cond<'a>(type_: &'a str, status: bool, reason: &'a str, message: &str) -> Desired<'a> {
    Desired {
        type_,
        status,
        reason,
        message: message.to_string(),
    }
}
