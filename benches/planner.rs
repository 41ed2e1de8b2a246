//! Planner cost (issue 8, part 4): one call of the DrSite planner (`drover::plan::drsite::plan`,
//! pure, no I/O) for component graphs of growing size, at steady state and at the flip that starts
//! a switchover. Criterion; its report is under `target/criterion/`.
//!
//! The graphs: the contact-center example (8 components), then `n` generated components in layers
//! of 4, each depending on every component of the layer before; the first half `ActiveSite`, the
//! rest `EverySite`; each a Deployment at both sites.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use drover::api::dr_site::{DrSite, DrSiteSpec, Placement};
use drover::components::WorkloadObs;
use drover::demo::world;
use drover::plan::drsite::{ChildKind, ChildObs, Input, Instance, Journal, Observed, plan};
use serde_json::json;
use std::hint::black_box;
use std::time::Duration;

const SITES: [&str; 2] = ["site-a", "site-b"];

/// The example's DrSite with `n` generated components (`None`: the example's own).
fn spec(n: Option<usize>) -> DrSiteSpec {
    let drs = world::example().expect("the example parses");
    let Some(n) = n else {
        return drs.spec;
    };
    let mut value = serde_json::to_value(&drs).expect("a DrSite serializes");
    let components: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let layer = i / 4;
            let depends: Vec<String> = if layer == 0 {
                Vec::new()
            } else {
                ((layer - 1) * 4..layer * 4).map(|j| format!("c{j}")).collect()
            };
            json!({
                "name": format!("c{i}"),
                "placement": if i < n / 2 { "ActiveSite" } else { "EverySite" },
                "dependsOn": depends,
                "sites": SITES.iter().map(|s| json!({"site": s, "workload": {"kind": "Deployment", "name": format!("c{i}"), "replicas": 2}})).collect::<Vec<_>>(),
            })
        })
        .collect();
    value["spec"]["components"] = json!(components);
    let drs: DrSite = serde_json::from_value(value).expect("the generated DrSite parses");
    drs.spec
}

/// Everything running at site-a (and `EverySite` components at both), the group primary there.
fn steady_at_a(spec: &DrSiteSpec) -> Observed {
    let mut o = Observed::default();
    for s in SITES {
        o.sites.insert(s.to_string(), Ok(()));
    }
    for c in &spec.components {
        for s in SITES {
            let runs = c.placement == Placement::EverySite || s == "site-a";
            let instance = match c.at(s).and_then(|a| a.workload.as_ref()) {
                Some(w) => {
                    let n = if runs { w.replicas } else { 0 };
                    Instance::Workload(Some(WorkloadObs {
                        desired: n,
                        ready: n,
                        current: n,
                        up_to_date: true,
                    }))
                }
                // A server outside Kubernetes, judged by its probe.
                None if runs => Instance::External(Ok(())),
                None => Instance::External(Err("connection refused".into())),
            };
            o.instances.insert((c.name.clone(), s.to_string()), instance);
        }
    }
    for g in &spec.availability_groups {
        let mut child = ChildObs::absent(ChildKind::AvailabilityGroup);
        child.found = true;
        child.desired_site = Some("site-a".into());
        child.active_site = Some("site-a".into());
        child.settled = true;
        child.sites = SITES.iter().map(|s| s.to_string()).collect();
        o.children.insert(ChildKind::AvailabilityGroup.key(&g.name), child);
    }
    o
}

fn planner(c: &mut Criterion) {
    let now = jiff::Timestamp::now();
    let journal = Journal {
        active_site: Some("site-a".into()),
        ..Journal::default()
    };
    let mut group = c.benchmark_group("drsite_plan");
    for n in [None, Some(50), Some(200), Some(1000)] {
        let steady = spec(n);
        let size = steady.components.len();
        let observed = steady_at_a(&steady);
        let mut flipped = steady.clone();
        flipped.active_site = "site-b".into();
        for (what, spec) in [("steady", &steady), ("switchover", &flipped)] {
            let input = Input {
                spec,
                name: "bench",
                observed: &observed,
                journal: &journal,
                now,
                site_lost_token: None,
                site_lost_by: None,
                tokens: drover::plan::confirm::Tokens::default(),
            };
            // A plan that is not what the case means would make the figure meaningless.
            let first = plan(&input);
            assert_eq!(
                first.busy,
                what == "switchover",
                "{what} with {size} components: {first:?}"
            );
            group.bench_with_input(BenchmarkId::new(what, size), &input, |b, input| {
                b.iter(|| plan(black_box(input)))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the suite stays within minutes on two cores.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = planner
}
criterion_main!(benches);
