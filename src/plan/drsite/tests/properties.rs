//! Properties over random component graphs, starting states and targets:
//! stops in reverse dependency order, starts in dependency order, no
//! `ActiveSite` component at two sites, no start before its databases are
//! writable, and convergence.

use super::*;
use crate::api::dr_site::DrPhase;
use proptest::prelude::*;

fn graph() -> impl Strategy<Value = Vec<Comp>> {
    (1usize..7).prop_flat_map(|n| {
        (
            proptest::collection::vec(any::<bool>(), n),
            proptest::collection::vec(proptest::collection::vec(any::<bool>(), n), n),
            proptest::collection::vec(any::<bool>(), n),
            proptest::collection::vec(any::<bool>(), n),
        )
            .prop_map(move |(active, edges, needs_ag, external)| {
                (0..n)
                    .map(|i| Comp {
                        name: format!("c{i}"),
                        placement: if active[i] {
                            Placement::ActiveSite
                        } else {
                            Placement::EverySite
                        },
                        // Only on earlier components: acyclic by construction.
                        deps: (0..i).filter(|&j| edges[i][j]).map(|j| format!("c{j}")).collect(),
                        needs_ag: needs_ag[i],
                        external: external[i],
                    })
                    .collect()
            })
    })
}

/// Checks the invariants an action must hold against the truth just before it runs.
fn check(w: &World, a: &Action) -> Result<(), String> {
    let target = w.spec.active_site.clone();
    let (component, site, up) = match a {
        Action::Scale {
            component,
            site,
            replicas,
            ..
        } => (component, site, *replicas > 0),
        Action::RunHook {
            component,
            site,
            action,
            ..
        } => (component, site, *action == HookAction::Start),
        Action::MoveChild { .. } => return Ok(()),
    };
    let c = w.spec.component(component).expect("declared");
    if up {
        for dep in &c.depends_on {
            let d = w.spec.component(dep).expect("declared");
            let at = match d.placement {
                Placement::EverySite => site.clone(),
                Placement::ActiveSite => target.clone(),
            };
            let t = w.truth[&(dep.clone(), at.clone())];
            if !(t.ready > 0 || t.alive) {
                return Err(format!("started {component}@{site} before {dep}@{at} ran"));
            }
        }
        if !c.requires_writable.is_empty() && w.ag_primary.as_deref() != Some(target.as_str()) {
            return Err(format!(
                "started {component}@{site} before ag1 was writable at {target}"
            ));
        }
        if c.placement == Placement::ActiveSite {
            if *site != target {
                return Err(format!("started ActiveSite {component} at {site}, not the active site"));
            }
            for other in SITES.iter().filter(|s| **s != site.as_str()) {
                if w.running(component, other) {
                    return Err(format!("started {component}@{site} while it runs at {other}"));
                }
            }
        }
    } else {
        for d in &w.spec.components {
            if d.placement == Placement::ActiveSite && d.depends_on.contains(component) && w.running(&d.name, site) {
                return Err(format!("stopped {component}@{site} before its dependent {}", d.name));
            }
        }
    }
    Ok(())
}

/// Steps with every action checked before it runs.
fn run(w: &mut World, limit: u32) -> Result<Plan, String> {
    for _ in 0..limit {
        let observed = w.observe();
        let p = plan(&Input {
            spec: &w.spec,
            name: "cc",
            observed: &observed,
            journal: &w.journal,
            now: w.now(),
            site_lost_token: w.confirm_token.as_deref(),
            site_lost_by: Some("tester"),
            tokens: crate::plan::confirm::Tokens::default(),
        });
        for a in &p.actions {
            check(w, a)?;
        }
        // The same reconcile, for real.
        let real = w.step();
        if real.actions != p.actions {
            return Err("the planner is not deterministic".into());
        }
        for c in &w.spec.components {
            if c.placement == Placement::ActiveSite && SITES.iter().all(|s| w.running(&c.name, s)) {
                return Err(format!("{} runs at two sites", c.name));
            }
        }
        if real.actions.is_empty() && !real.busy {
            return Ok(real);
        }
    }
    Err(format!("did not converge: {:#?}", w.last.as_ref().map(|p| &p.steps)))
}

fn converged(w: &World, p: &Plan) -> Result<(), String> {
    if p.phase != DrPhase::Steady {
        return Err(format!("ended {:?}: {:#?}", p.phase, p.conditions));
    }
    let target = w.spec.active_site.clone();
    for c in &w.spec.components {
        for s in SITES {
            let wanted = c.placement == Placement::EverySite || s == target;
            if w.running(&c.name, s) != wanted {
                return Err(format!("{}@{s}: running {} but wanted {wanted}", c.name, !wanted));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_start_converges_safely(
        comps in graph(),
        with_ag in any::<bool>(),
        ag_at_b in any::<bool>(),
        target_b in any::<bool>(),
        running in proptest::collection::vec(any::<(bool, bool)>(), 7),
    ) {
        let target = if target_b { "site-b" } else { "site-a" };
        let ag_at = if ag_at_b { "site-b" } else { "site-a" };
        let mut w = World::new(spec(&comps, with_ag, ag_at), ag_at);
        // Whatever ran before: a cold start, a half-done transition, both sites up.
        for (c, (a, b)) in comps.iter().zip(&running) {
            if *a { w.set_running(&c.name, "site-a"); }
            if *b && (c.placement == Placement::EverySite || !*a) { w.set_running(&c.name, "site-b"); }
        }
        // Adopt the group at its site first, then flip.
        let settled = run(&mut w, 60);
        prop_assert!(settled.is_ok(), "{:?}", settled.err());
        w.spec.active_site = target.into();
        let end = run(&mut w, 60);
        prop_assert!(end.is_ok(), "{:?}", end.as_ref().err());
        let end = end.unwrap_or_else(|_| unreachable!());
        prop_assert!(converged(&w, &end).is_ok(), "{:?}", converged(&w, &end).err());
    }

    #[test]
    fn a_flip_at_any_moment_is_safe_and_converges(
        comps in graph(),
        flip_after in 0u32..12,
    ) {
        let mut w = World::new(spec(&comps, true, "site-a"), "site-a");
        prop_assert!(run(&mut w, 60).is_ok());
        w.spec.active_site = "site-b".into();
        for _ in 0..flip_after {
            let observed = w.observe();
            let p = plan(&Input { spec: &w.spec, name: "cc", observed: &observed, journal: &w.journal, now: w.now(), site_lost_token: None, site_lost_by: None, tokens: crate::plan::confirm::Tokens::default() });
            for a in &p.actions {
                let ok = check(&w, a);
                prop_assert!(ok.is_ok(), "{:?}", ok.err());
            }
            w.step();
        }
        w.spec.active_site = "site-a".into();
        let end = run(&mut w, 80);
        prop_assert!(end.is_ok(), "{:?}", end.as_ref().err());
        let end = end.unwrap_or_else(|_| unreachable!());
        prop_assert!(converged(&w, &end).is_ok(), "{:?}", converged(&w, &end).err());
    }
}
