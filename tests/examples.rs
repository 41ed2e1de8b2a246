//! Every example a user may copy is valid: each document of each
//! `examples/*.yaml` parses into its typed resource without a field lost to a
//! typo and passes drover's own validation; the simulator's configurations
//! load. The contact-center example encodes runbook A's start order exactly; the
//! Persistent Chat example is runbook B's pool with hook Jobs that run the
//! cmdlets with the `DROVER_*` variables of the pool contract.

use drover::api::availability_group::AvailabilityGroup;
use drover::api::dr_site::{DrSite, Placement, start_order};
use drover::api::persistent_chat_pool::PersistentChatPool;
use drover::sim::model::config::WorldConfig;
use k8s_openapi::api::batch::v1::JobTemplateSpec;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    files
}

/// Every field of `given` is in `typed` with the same value: nothing the user wrote was dropped
/// as unknown (a misspelt field) or changed on the way. Defaults `typed` adds are fine.
fn preserved(given: &Value, typed: &Value, path: &str, lost: &mut Vec<String>) {
    match (given, typed) {
        (Value::Object(g), Value::Object(t)) => {
            for (k, v) in g {
                match t.get(k) {
                    Some(tv) => preserved(v, tv, &format!("{path}.{k}"), lost),
                    None => lost.push(format!("{path}.{k}")),
                }
            }
        }
        (Value::Array(g), Value::Array(t)) if g.len() == t.len() => {
            for (i, (gv, tv)) in g.iter().zip(t).enumerate() {
                preserved(gv, tv, &format!("{path}[{i}]"), lost);
            }
        }
        (g, t) if g == t => {}
        _ => lost.push(format!("{path}: {given} became {typed}")),
    }
}

/// `doc` as a `T`, checked to keep every field.
fn typed<T: DeserializeOwned + Serialize>(doc: &Value, whence: &str) -> T {
    let value: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{whence}: {e}"));
    let back = serde_json::to_value(&value).expect("serializes");
    let mut lost = Vec::new();
    preserved(doc, &back, "", &mut lost);
    assert!(lost.is_empty(), "{whence}: fields not understood: {lost:?}");
    value
}

/// The documents of one file: Kubernetes objects by kind, the rest simulator configurations.
#[derive(Default)]
struct Parsed {
    namespaces: Vec<Namespace>,
    secrets: Vec<Secret>,
    config_maps: Vec<ConfigMap>,
    groups: Vec<AvailabilityGroup>,
    drsites: Vec<DrSite>,
    pools: Vec<PersistentChatPool>,
    sims: usize,
}

fn parse(file: &Path) -> Parsed {
    let text = std::fs::read_to_string(file).expect("readable");
    let name = file.display().to_string();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(!docs.is_empty(), "{name} has no document");
    let mut parsed = Parsed::default();
    for (i, doc) in docs.iter().enumerate() {
        let whence = format!("{name} document {i}");
        let api_version = doc["apiVersion"].as_str();
        match (api_version, doc["kind"].as_str()) {
            (Some("v1"), Some("Namespace")) => parsed.namespaces.push(typed(doc, &whence)),
            (Some("v1"), Some("Secret")) => parsed.secrets.push(typed(doc, &whence)),
            (Some("v1"), Some("ConfigMap")) => parsed.config_maps.push(typed(doc, &whence)),
            (Some("drover.dev/v1alpha1"), Some("AvailabilityGroup")) => {
                let ag: AvailabilityGroup = typed(doc, &whence);
                assert_eq!(drover::api::availability_group::validate(&ag.spec), vec![], "{whence}");
                parsed.groups.push(ag);
            }
            (Some("drover.dev/v1alpha1"), Some("DrSite")) => {
                let drs: DrSite = typed(doc, &whence);
                assert_eq!(drover::api::dr_site::validate(&drs.spec), vec![], "{whence}");
                parsed.drsites.push(drs);
            }
            (Some("drover.dev/v1alpha1"), Some("PersistentChatPool")) => {
                let pool: PersistentChatPool = typed(doc, &whence);
                assert_eq!(
                    drover::api::persistent_chat_pool::validate(&pool.spec),
                    vec![],
                    "{whence}"
                );
                parsed.pools.push(pool);
            }
            (None, None) => {
                // Not a Kubernetes object: a simulator world (`drover sim --config`).
                WorldConfig::from_yaml(&serde_saphyr::to_string(doc).expect("re-renders"))
                    .unwrap_or_else(|e| panic!("{whence}: not a simulator configuration: {e}"));
                parsed.sims += 1;
            }
            (v, k) => panic!("{whence}: no check for apiVersion {v:?} kind {k:?}"),
        }
    }
    parsed
}

#[test]
fn every_example_document_parses_and_validates() {
    let files = examples();
    assert!(files.len() >= 3, "{files:?}");
    for file in &files {
        parse(file);
    }
}

#[test]
fn the_simulator_example_is_the_file_drover_sim_loads() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sim-two-sites.yaml");
    assert_eq!(parse(&file).sims, 1);
    let text = std::fs::read_to_string(&file).unwrap();
    WorldConfig::from_yaml(&text).expect("loads as drover sim does");
}

fn contact_center() -> Parsed {
    parse(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/contact-center-framework.yaml"))
}

#[test]
fn the_contact_center_starts_in_runbook_a_order() {
    let parsed = contact_center();
    let [drs] = &parsed.drsites[..] else {
        panic!("one DrSite, not {}", parsed.drsites.len())
    };
    let order: Vec<&str> = start_order(&drs.spec)
        .expect("no cycle")
        .into_iter()
        .map(|i| drs.spec.components[i].name.as_str())
        .collect();
    assert_eq!(
        order,
        [
            // At the active site: the master configuration server pair, the master solution
            // control server, the message server;
            "master-confserv",
            "master-scs",
            "message-server",
            // the solution control servers at both sites, then the proxy pairs at both sites;
            "scs",
            "confserv-proxy",
            // then the remaining framework components.
            "stat-server",
            "interaction-server",
            "sip-server",
        ]
    );
    // Failover starts, and failback stops, exactly the three masters: everything else runs at
    // both sites all along.
    let at_one_site: Vec<&str> = drs
        .spec
        .components
        .iter()
        .filter(|c| c.placement == Placement::ActiveSite)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(at_one_site, ["master-confserv", "master-scs", "message-server"]);
    for name in ["stat-server", "interaction-server", "sip-server"] {
        let deps = &drs.spec.component(name).unwrap().depends_on;
        assert_eq!(deps, &["confserv-proxy"], "{name} starts after the proxies");
    }
    // Nothing starts before the databases are writable at the active site.
    assert_eq!(drs.spec.components[0].requires_writable, ["cc-ag"]);
}

#[test]
fn the_contact_center_example_is_one_consistent_system() {
    let parsed = contact_center();
    let (drs, ag) = (&parsed.drsites[0], &parsed.groups[0]);
    assert_eq!(drs.metadata.namespace.as_deref(), Some("contact-center"));
    assert_eq!(
        ag.metadata.namespace, drs.metadata.namespace,
        "children are in the DrSite's namespace"
    );
    assert_eq!(drs.spec.availability_groups.len(), 1);
    assert_eq!(Some(&drs.spec.availability_groups[0].name), ag.metadata.name.as_ref());
    assert_eq!(ag.spec.databases, ["confdb", "logdb"]);
    assert_eq!(
        ag.spec.primary_site.as_deref(),
        Some(drs.spec.active_site.as_str()),
        "the group starts where the DrSite is active"
    );
    let mut replica_sites: Vec<&str> = ag.spec.replicas.iter().map(|r| r.site.as_str()).collect();
    let mut sites: Vec<&str> = drs.spec.sites.iter().map(|s| s.name.as_str()).collect();
    replica_sites.sort();
    sites.sort();
    assert_eq!(replica_sites, sites, "one replica per site");

    // Both sites in the operator's cluster: no kubeconfig Secret; every namespace declared.
    let namespaces: Vec<&str> = parsed
        .namespaces
        .iter()
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    assert!(namespaces.contains(&"contact-center"));
    for site in &drs.spec.sites {
        assert!(site.kubeconfig.is_none(), "{}", site.name);
        assert!(namespaces.contains(&site.namespace.as_str()), "{}", site.namespace);
    }
    let secret = &parsed.secrets[0];
    assert_eq!(secret.metadata.name, Some(ag.spec.credentials.secret_name.clone()));
    assert_eq!(secret.metadata.namespace, ag.metadata.namespace);

    // The one component outside Kubernetes: the same Jobs at both sites, a probe per site.
    let sip = drs.spec.component("sip-server").expect("sip-server");
    let hooks: Vec<_> = sip.sites.iter().map(|s| s.hooks.clone().expect("hooks")).collect();
    assert_eq!(hooks[0].start, hooks[1].start);
    assert_eq!(hooks[0].stop, hooks[1].stop);
    assert_ne!(hooks[0].probe, hooks[1].probe);
    for h in &hooks {
        let pod = h.start.spec.as_ref().and_then(|s| s.template.spec.as_ref()).unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        let mode = pod.volumes.as_ref().unwrap()[0].secret.as_ref().unwrap().default_mode;
        assert_eq!(mode, Some(0o400), "the SSH key is owner-read-only");
    }
    let workloads = drs
        .spec
        .components
        .iter()
        .flat_map(|c| &c.sites)
        .filter(|s| s.workload.is_some())
        .count();
    assert_eq!(workloads, 14, "seven workload components at two sites");
}

fn persistent_chat() -> Parsed {
    parse(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/persistent-chat.yaml"))
}

#[test]
fn the_persistent_chat_example_is_runbook_b_two_data_centers() {
    let parsed = persistent_chat();
    let [pool] = &parsed.pools[..] else {
        panic!("one PersistentChatPool, not {}", parsed.pools.len())
    };
    assert!(
        parsed.drsites.is_empty() && parsed.groups.is_empty(),
        "the pool stands alone"
    );
    // Credentials are referenced, never shipped in the example.
    assert!(parsed.secrets.is_empty(), "no Secret with a password in an example");
    assert_eq!(pool.metadata.name.as_deref(), Some("pchat"));
    assert_eq!(pool.metadata.namespace.as_deref(), Some("persistent-chat"));
    let namespaces: Vec<&str> = parsed
        .namespaces
        .iter()
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    assert_eq!(namespaces, ["persistent-chat"]);

    let spec = &pool.spec;
    assert_eq!(spec.pool_identity, "PersistentChatServer:pchat.contoso.com");
    assert_eq!(
        spec.active_site.as_deref(),
        Some("dc1"),
        "the pool starts in state Normal"
    );
    assert_eq!(
        (spec.chat_database.as_str(), spec.compliance_database.as_str()),
        ("mgc", "mgccomp")
    );
    let instances = |site: &str| {
        let dc = spec.data_center(site).expect("data center");
        (
            dc.sql_instance.server_name.as_str(),
            dc.mirror_instance.as_ref().map(|m| m.server_name.as_str()),
            dc.active_servers.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    assert_eq!(spec.primary.site, "dc1");
    assert_eq!(
        instances("dc1"),
        (
            "SQL-CHAT-A",
            Some("SQL-CHAT-A-MIR"),
            vec!["pchat-a1.contoso.com", "pchat-a2.contoso.com"]
        )
    );
    assert_eq!(spec.backup.site, "dc2");
    assert_eq!(
        instances("dc2"),
        (
            "SQL-CHAT-B",
            Some("SQL-CHAT-B-MIR"),
            vec!["pchat-b1.contoso.com", "pchat-b2.contoso.com"]
        )
    );
    assert_eq!(spec.log_shipping.backup_share, r"\\fs-dc1.contoso.com\pchat-logship");
    assert_eq!(spec.log_shipping.copy_destination, r"D:\PChatLogShip");
    assert_eq!(
        spec.forced_failover.policy,
        drover::api::availability_group::ForcePolicy::Confirm
    );
    assert_eq!(spec.credentials.secret_name, "pchat-sql-login");
    assert!(!spec.suspend);
}

/// The variables the pool controller passes to its hook Jobs (contract §3).
const POOL_HOOK_VARIABLES: [&str; 14] = [
    "DROVER_POOL",
    "DROVER_ACTION",
    "DROVER_SITE",
    "DROVER_POOL_STATE",
    "DROVER_ACTIVE_SERVERS",
    "DROVER_SQL_SERVER",
    "DROVER_MIRROR_SERVER",
    "DROVER_DATABASES",
    "DROVER_FILE_SHARE",
    "DROVER_PRIMARY_SERVER",
    "DROVER_SECONDARY_SERVER",
    "DROVER_DATABASE",
    "DROVER_BACKUP_SHARE",
    "DROVER_COPY_DESTINATION",
];

/// The `DROVER_*` names a script mentions.
fn drover_variables(script: &str) -> Vec<&str> {
    let mut names: Vec<&str> = script
        .match_indices("DROVER_")
        .map(|(at, _)| {
            let rest = &script[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

#[test]
fn every_persistent_chat_hook_runs_its_cmdlet_on_a_windows_node() {
    let parsed = persistent_chat();
    let pool = &parsed.pools[0];
    let [scripts] = &parsed.config_maps[..] else {
        panic!("one ConfigMap of scripts, not {}", parsed.config_maps.len())
    };
    assert_eq!(
        scripts.metadata.namespace, pool.metadata.namespace,
        "mounted by the hook pods"
    );
    let scripts_name = scripts.metadata.name.clone().expect("named");
    let data = scripts.data.clone().unwrap_or_default();
    let common = data.get("DroverPChat.ps1").expect("the shared helper");
    let hooks = &pool.spec.hooks;
    // Each hook: its template, the contract's DROVER_ACTION, its script and what the script must
    // say (the cmdlet with drover's variables, as the runbook uses it).
    let cases: [(&str, &JobTemplateSpec, &str, &[&str]); 4] = [
        (
            "setPoolState",
            &hooks.set_pool_state,
            "set-pool-state",
            &["Set-CsPersistentChatState -Identity $env:DROVER_POOL -PoolState $env:DROVER_POOL_STATE"],
        ),
        (
            "setActiveServers",
            &hooks.set_active_servers,
            "set-active-servers",
            &[
                "[string]::IsNullOrEmpty($env:DROVER_ACTIVE_SERVERS)",
                "Set-CsPersistentChatActiveServer -Identity $env:DROVER_POOL -ActiveServers $null",
                "Set-CsPersistentChatActiveServer -Identity $env:DROVER_POOL -ActiveServers ($env:DROVER_ACTIVE_SERVERS -split ',')",
            ],
        ),
        (
            "installMirror",
            &hooks.install_mirror,
            "install-mirror",
            &[
                "Install-CsMirrorDatabase @mirror",
                "'PersistentChat'",
                "'PersistentChatCompliance'",
                "SqlServerFqdn",
                "FileShare                     = $env:DROVER_FILE_SHARE",
                "DropExistingDatabasesOnMirror = $true",
                "$env:DROVER_SQL_SERVER -split '\\\\', 2",
                "$env:DROVER_DATABASES -split ','",
            ],
        ),
        (
            "establishLogShipping",
            &hooks.establish_log_shipping,
            "establish-log-shipping",
            &[
                "Invoke-Sqlcmd",
                "-DisableVariables",
                "WITH REPLACE, NORECOVERY",
                "SET OFFLINE WITH ROLLBACK IMMEDIATE",
                "master.dbo.sp_add_log_shipping_primary_database",
                "master.dbo.sp_add_log_shipping_secondary_primary",
                "master.dbo.sp_add_log_shipping_secondary_database",
                "master.dbo.sp_add_log_shipping_primary_secondary",
                "@restore_mode = 0",
                "$env:DROVER_COPY_DESTINATION",
            ],
        ),
    ];
    for (hook, template, action, says) in cases {
        // The template passed drover's validation in `parse`; that validation does look at it.
        let mut broken = pool.spec.clone();
        for t in [
            &mut broken.hooks.set_pool_state,
            &mut broken.hooks.set_active_servers,
            &mut broken.hooks.install_mirror,
            &mut broken.hooks.establish_log_shipping,
        ] {
            if *t == *template
                && let Some(pod) = t.spec.as_mut().and_then(|j| j.template.spec.as_mut())
            {
                pod.restart_policy = Some("Always".into());
            }
        }
        let fields: Vec<String> = drover::api::persistent_chat_pool::validate(&broken)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, [format!("spec.hooks.{hook}.spec.template.spec.restartPolicy")]);

        let job = template.spec.as_ref().unwrap_or_else(|| panic!("{hook}: a JobSpec"));
        assert_eq!(
            job.backoff_limit,
            Some(0),
            "{hook}: a cmdlet is not retried behind drover's back"
        );
        assert_eq!(
            job.ttl_seconds_after_finished, None,
            "{hook}: a failed Job stays until read"
        );
        let pod = job.template.spec.as_ref().unwrap_or_else(|| panic!("{hook}: a pod"));
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"), "{hook}");
        assert_eq!(
            pod.node_selector
                .as_ref()
                .and_then(|n| n.get("kubernetes.io/os"))
                .map(String::as_str),
            Some("windows"),
            "{hook}"
        );
        let [container] = &pod.containers[..] else {
            panic!("{hook}: one container")
        };
        assert!(
            container
                .image
                .as_deref()
                .is_some_and(|i| i.starts_with("mcr.microsoft.com/windows/servercore:")),
            "{hook}: {:?}",
            container.image
        );
        // Windows PowerShell runs the script from the ConfigMap.
        let command = container.command.clone().unwrap_or_default();
        assert_eq!(command.first().map(String::as_str), Some("powershell.exe"), "{hook}");
        assert!(
            command.iter().any(|a| a == "-NonInteractive"),
            "{hook}: never waits for a prompt"
        );
        let file = format!("{action}.ps1");
        assert_eq!(
            command.last().map(String::as_str),
            Some(format!(r"C:\drover\{file}").as_str()),
            "{hook}"
        );
        let mounted = pod.volumes.iter().flatten().any(|v| {
            v.config_map.as_ref().is_some_and(|c| c.name == scripts_name)
                && container
                    .volume_mounts
                    .iter()
                    .flatten()
                    .any(|m| m.name == v.name && m.mount_path == r"C:\drover")
        });
        assert!(mounted, "{hook}: the scripts are mounted at C:\\drover");
        // The account that may connect to the management servers comes from a Secret.
        let env = container.env.clone().unwrap_or_default();
        for var in ["PCHAT_ADMIN_USER", "PCHAT_ADMIN_PASSWORD"] {
            let from_secret = env.iter().find(|e| e.name == var).and_then(|e| {
                e.value_from
                    .as_ref()
                    .and_then(|f| f.secret_key_ref.as_ref())
                    .map(|r| r.name.as_str())
            });
            assert_eq!(from_secret, Some("pchat-hook-account"), "{hook}: {var}");
        }
        assert!(
            env.iter().all(|e| !e.name.starts_with("DROVER_")),
            "{hook}: DROVER_* belong to drover"
        );

        let script = data
            .get(&file)
            .unwrap_or_else(|| panic!("{hook}: {file} in the ConfigMap"));
        assert!(script.starts_with(r". 'C:\drover\DroverPChat.ps1'"), "{hook}: {file}");
        assert!(
            script.contains(&format!("Assert-DroverAction '{action}'")),
            "{hook}: {file} refuses another hook's arguments"
        );
        for said in says {
            assert!(script.contains(said), "{hook}: {file} lacks {said:?}");
        }
        for name in drover_variables(script) {
            assert!(
                POOL_HOOK_VARIABLES.contains(&name),
                "{file}: {name} is not in the contract"
            );
        }
    }
    // The helper: fails the Job on any error, and forwards drover's variables to the session
    // where the cmdlets run.
    assert!(common.contains("$ErrorActionPreference = 'Stop'"));
    assert!(common.contains("$_.Name -like 'DROVER_*'"));
    assert!(common.contains("[Environment]::SetEnvironmentVariable($name, $Drover[$name])"));
    assert!(common.contains("Import-Module SkypeForBusiness"));
    for name in drover_variables(common) {
        assert!(
            POOL_HOOK_VARIABLES.contains(&name) || name == "DROVER_",
            "DroverPChat.ps1: {name}"
        );
    }
    // Nothing in the ConfigMap that no hook runs.
    let mut files: Vec<&str> = data.keys().map(String::as_str).collect();
    files.sort_unstable();
    assert_eq!(
        files,
        [
            "DroverPChat.ps1",
            "establish-log-shipping.ps1",
            "install-mirror.ps1",
            "set-active-servers.ps1",
            "set-pool-state.ps1",
        ]
    );
}
