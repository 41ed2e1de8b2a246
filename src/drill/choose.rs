//! What a drill plays, chosen from the loaded files: a DrSite with every child it lists, or with
//! no DrSite a pool or a group alone under a DrSite the drill makes for it. Bad input (a child
//! missing from the files, two of a kind where one is played) is refused before anything starts.

use super::twin;
use crate::api::availability_group::AvailabilityGroup;
use crate::api::dr_site::DrSite;
use crate::api::persistent_chat_pool::PersistentChatPool;
use crate::demo::{Error, Setup};
use crate::dryrun::load::{self, Resource};
use std::path::PathBuf;

/// What the twin plays.
pub(super) enum Subject {
    /// A DrSite and its children.
    DrSite(Box<Setup>),
    /// A group or a pool alone, under a DrSite the drill made for it (no components).
    Made(Box<Setup>),
}

/// What to drill, and what is left out.
pub(super) struct Chosen {
    pub subject: Subject,
    pub notes: Vec<String>,
    pub not_drilled: Vec<String>,
}

/// `namespace/name`.
pub(super) fn key(m: &kube::api::ObjectMeta) -> String {
    format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default()
    )
}

/// The DrSite the drill makes to move a child alone: no components, the child's `sites`, active
/// at `active`, named and placed like the child. It only sets the child's desired site, as a
/// person would; the child's controller does the rest exactly as without it.
fn made_drsite(child: &kube::api::ObjectMeta, sites: &[&str], active: &str, pool: bool) -> DrSite {
    use crate::api::dr_site::{ChildRef, DrSiteSpec, SiteSpec};
    let name = child.name.clone().unwrap_or_default();
    let namespace = child.namespace.clone().unwrap_or_default();
    let mut unique: Vec<&str> = Vec::new();
    for s in sites {
        if !unique.contains(s) {
            unique.push(s);
        }
    }
    let refs = vec![ChildRef { name: name.clone() }];
    let (availability_groups, persistent_chat_pools) = if pool { (Vec::new(), refs) } else { (refs, Vec::new()) };
    let mut drs = DrSite::new(
        &name,
        DrSiteSpec {
            sites: unique
                .iter()
                .map(|s| SiteSpec {
                    name: (*s).to_string(),
                    namespace: namespace.clone(),
                    kubeconfig: None,
                })
                .collect(),
            active_site: active.to_string(),
            availability_groups,
            persistent_chat_pools,
            components: Vec::new(),
            suspend: false,
        },
    );
    drs.metadata.namespace = Some(namespace);
    drs.metadata.generation = Some(1);
    drs
}

/// An AvailabilityGroup on its own, moved by a DrSite the drill makes for it.
fn group_alone(group: &AvailabilityGroup) -> Chosen {
    let sites: Vec<&str> = group.spec.replicas.iter().map(|r| r.site.as_str()).collect();
    let primary = group.spec.primary_site.as_deref().unwrap_or(sites[0]);
    let drs = made_drsite(&group.metadata, &sites, primary, false);
    Chosen {
        subject: Subject::Made(Box::new(Setup {
            sql: twin::world_config(group),
            drs,
            groups: vec![(group.clone(), group.spec.group_name.clone())],
            pool: None,
        })),
        notes: vec![
            format!(
                "the files hold no DrSite: the drill moves AvailabilityGroup {} with a DrSite of its own (no components) that sets spec.primarySite as you would",
                group.metadata.name.as_deref().unwrap_or_default()
            ),
            "the twin connects without TLS with the simulator's login".into(),
        ],
        not_drilled: Vec::new(),
    }
}

/// With no DrSite in the files: exactly one pool, or else exactly one group, on its own. A pool
/// starts from its primary data center.
fn child_alone(
    files_named: &str,
    mut pools: Vec<(PathBuf, PersistentChatPool)>,
    groups: &[(PathBuf, AvailabilityGroup)],
) -> Result<Chosen, Error> {
    let (_, mut pool) = match pools.len() {
        1 => pools.remove(0),
        0 if groups.len() == 1 => return Ok(group_alone(&groups[0].1)),
        0 if groups.is_empty() => {
            return Err(Error::BadInput(format!(
                "nothing to drill in {files_named}: a drill plays a DrSite (with its children), an AvailabilityGroup or a PersistentChatPool, and the files hold none"
            )));
        }
        0 => {
            return Err(Error::BadInput(format!(
                "{files_named}: {} AvailabilityGroups and no DrSite; a drill plays one at a time",
                groups.len()
            )));
        }
        n => {
            return Err(Error::BadInput(format!(
                "{files_named}: {n} PersistentChatPools and no DrSite; a drill plays one at a time"
            )));
        }
    };
    let mut notes = vec![format!(
        "the files hold no DrSite: the drill moves PersistentChatPool {} with a DrSite of its own (no components) that sets spec.activeSite as you would",
        pool.metadata.name.as_deref().unwrap_or_default()
    )];
    let not_drilled = groups
        .iter()
        .map(|(f, g)| {
            format!(
                "{}: AvailabilityGroup/{}: not drilled (no DrSite names it)",
                f.display(),
                g.metadata.name.as_deref().unwrap_or_default()
            )
        })
        .collect();
    let spec = &mut pool.spec;
    if let Some(declared) = spec.active_site.as_ref().filter(|site| **site != spec.primary.site) {
        notes.push(format!(
            "the pool declares activeSite {declared} (failed over); the twin starts it from its primary data center {}",
            spec.primary.site
        ));
        spec.active_site = Some(spec.primary.site.clone());
    }
    notes.push(format!(
        "the log-shipping share {} is on a simulated file server at {}: it is lost with that data center",
        spec.log_shipping.backup_share, spec.primary.site
    ));
    notes.push("the twin connects without TLS with the simulator's login; hook Jobs do what their cmdlets would to the simulated pool".into());
    let drs = made_drsite(
        &pool.metadata,
        &[spec.primary.site.as_str(), spec.backup.site.as_str()],
        &spec.primary.site,
        true,
    );
    let sql = twin::world_config_all(&[], Some(&pool)).map_err(Error::BadInput)?;
    Ok(Chosen {
        subject: Subject::Made(Box::new(Setup {
            sql,
            drs,
            groups: Vec::new(),
            pool: Some(pool),
        })),
        notes,
        not_drilled,
    })
}

/// Reads and validates the files and picks what the twin can play. Bad input: nothing started.
pub(super) fn choose(files: &[PathBuf]) -> Result<Chosen, Error> {
    let input = load::load(files)
        .map_err(|errors| Error::BadInput(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")))?;
    let mut drsites: Vec<(PathBuf, DrSite)> = Vec::new();
    let mut groups = Vec::new();
    let mut pools = Vec::new();
    for l in &input.resources {
        match &l.resource {
            Resource::DrSite(d) => drsites.push((l.file.clone(), (**d).clone())),
            Resource::AvailabilityGroup(g) => groups.push((l.file.clone(), (**g).clone())),
            Resource::PersistentChatPool(p) => pools.push((l.file.clone(), (**p).clone())),
        }
    }
    let files_named = files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (file, mut drs) = match drsites.len() {
        1 => drsites.remove(0),
        0 => return child_alone(&files_named, pools, &groups),
        n => {
            return Err(Error::BadInput(format!(
                "{files_named}: {n} DrSites; a drill plays one at a time"
            )));
        }
    };
    let name = drs.metadata.name.clone().unwrap_or_default();
    let at = |field: String| format!("{}: DrSite/{name}: {field}", file.display());
    // Each child the DrSite lists, found in the files.
    let mut chosen_groups = Vec::new();
    for (i, r) in drs.spec.availability_groups.iter().enumerate() {
        let group = groups
            .iter()
            .find(|(_, g)| g.metadata.name.as_deref() == Some(r.name.as_str()))
            .map(|(_, g)| g.clone())
            .ok_or_else(|| {
                Error::BadInput(at(format!(
                    "spec.availabilityGroups[{i}].name: AvailabilityGroup {} is not in the files given",
                    r.name
                )))
            })?;
        chosen_groups.push(group);
    }
    let pool = match drs.spec.persistent_chat_pools.as_slice() {
        [] => None,
        [r] => Some(
            pools
                .iter()
                .find(|(_, p)| p.metadata.name.as_deref() == Some(r.name.as_str()))
                .map(|(_, p)| p.clone())
                .ok_or_else(|| {
                    Error::BadInput(at(format!(
                        "spec.persistentChatPools[0].name: PersistentChatPool {} is not in the files given",
                        r.name
                    )))
                })?,
        ),
        more => {
            return Err(Error::BadInput(at(format!(
                "spec.persistentChatPools: the twin drills one pool with a DrSite, the DrSite names {}",
                more.len()
            ))));
        }
    };
    let named = |n: Option<&str>| {
        chosen_groups.iter().any(|g| g.metadata.name.as_deref() == n)
            || pool.as_ref().is_some_and(|p| p.metadata.name.as_deref() == n)
    };
    let not_drilled: Vec<String> = groups
        .iter()
        .map(|(f, g)| (f, "AvailabilityGroup", &g.metadata))
        .chain(pools.iter().map(|(f, p)| (f, "PersistentChatPool", &p.metadata)))
        .filter(|(_, _, m)| !named(m.name.as_deref()))
        .map(|(f, kind, m)| {
            format!(
                "{}: {kind}/{}: not drilled (the DrSite does not name it)",
                f.display(),
                m.name.as_deref().unwrap_or_default()
            )
        })
        .collect();
    let mut notes = Vec::new();
    for s in drs.spec.sites.iter().filter(|s| s.kubeconfig.is_some()) {
        notes.push(format!(
            "site {} is in another cluster (kubeconfig Secret); the twin keeps it in memory like the others",
            s.name
        ));
    }
    for g in chosen_groups.iter().filter(|g| g.spec.backup_before_failback.is_some()) {
        notes.push(format!(
            "AvailabilityGroup {}: the backups before failback are taken on the twin, which keeps their record, not their files",
            g.metadata.name.as_deref().unwrap_or_default()
        ));
    }
    if let Some(p) = &pool {
        notes.push(format!(
            "the pool's log-shipping share {} is on a simulated file server at {}: it is lost with that site",
            p.spec.log_shipping.backup_share, p.spec.primary.site
        ));
    }
    notes.push("the twin connects without TLS with the simulator's login; hooks are Jobs that succeed".into());
    drs.metadata.generation = Some(1);
    let sql = twin::world_config_all(&chosen_groups, pool.as_ref()).map_err(|e| Error::BadInput(at(e)))?;
    Ok(Chosen {
        subject: Subject::DrSite(Box::new(Setup {
            sql,
            drs,
            groups: chosen_groups
                .into_iter()
                .map(|g| {
                    let sim_group = g.spec.group_name.clone();
                    (g, sim_group)
                })
                .collect(),
            pool,
        })),
        notes,
        not_drilled,
    })
}
