//! Validation of the Persistent Chat part of a world, one rule per case.

use super::super::WorldConfig;
use super::*;

fn invalid(change: impl FnOnce(&mut WorldConfig)) -> String {
    let mut cfg = WorldConfig::persistent_chat();
    change(&mut cfg);
    cfg.validate().expect_err("invalid")
}

#[test]
fn the_example_world_is_valid() {
    let cfg = WorldConfig::persistent_chat();
    assert_eq!(cfg.validate(), Ok(()));
    assert!(cfg.availability_groups.is_empty());
}

/// A change that breaks the example world, and what the error must say.
type Case = (Box<dyn FnOnce(&mut WorldConfig)>, &'static str);

#[test]
fn each_rule_names_what_is_wrong() {
    let cases: Vec<Case> = vec![
        (
            Box::new(|c| c.databases[0].instance = "SQL-X".into()),
            r#"database "mgc": unknown instance "SQL-X""#,
        ),
        (
            Box::new(|c| c.databases[1].name = "MGC".into()),
            r#"database "MGC" is declared twice on instance "SQL-CHAT-A""#,
        ),
        (
            Box::new(|c| c.databases[1].name = "msdb".into()),
            "is a system database name",
        ),
        (
            Box::new(|c| c.databases[2].state = DatabaseStateConfig::Online),
            "the secondary copy must be RESTORING",
        ),
        (
            Box::new(|c| c.databases[0].state = DatabaseStateConfig::Restoring),
            "the primary copy must be ONLINE",
        ),
        (Box::new(|c| c.shares[0].path = "fs-a/logs".into()), "is not a UNC path"),
        (
            Box::new(|c| c.shares[1].path = r"\\FS-A\pchat-logship\".into()),
            "is declared twice",
        ),
        (
            Box::new(|c| c.log_shipping[0].backup_share = r"\\fs-c\x".into()),
            "is not on a declared share",
        ),
        (
            Box::new(|c| c.log_shipping[0].secondary = "SQL-CHAT-A".into()),
            "primary and secondary are the same instance",
        ),
        (
            Box::new(|c| c.log_shipping[0].copy_interval = Duration::ZERO),
            "job intervals must be positive",
        ),
        (
            Box::new(|c| {
                let again = c.log_shipping[0].clone();
                c.log_shipping.push(again);
            }),
            "already log-shipped",
        ),
        (
            Box::new(|c| c.mirroring[0].mirror = "SQL-CHAT-B".into()),
            "is a log-shipping secondary",
        ),
        (
            Box::new(|c| {
                let again = c.mirroring[0].clone();
                c.mirroring.push(again);
            }),
            "is already mirrored",
        ),
        (
            Box::new(|c| c.chat_pools[0].backup = "SQL-CHAT-A".into()),
            "primary and backup are the same instance",
        ),
        (
            Box::new(|c| c.chat_pools[0].compliance_database = "nope".into()),
            r#"database "nope" is not declared on "SQL-CHAT-A""#,
        ),
    ];
    for (change, expected) in cases {
        let message = invalid(change);
        assert!(message.contains(expected), "{message:?} should say {expected:?}");
    }
}

#[test]
fn yaml_is_strict_and_defaults_apply() {
    let base = r"
instances: [{name: A, site: s1}, {name: B, site: s2}]
databases: [{instance: A, name: db}, {instance: B, name: db, state: RESTORING}]
shares: [{path: '\\fs\logs', host: A}]
logShipping:
  - {database: db, primary: A, secondary: B, backupShare: '\\fs\logs', copyDestination: 'D:\in'}
";
    let cfg = WorldConfig::from_yaml(base).unwrap();
    let l = &cfg.log_shipping[0];
    assert_eq!(
        (l.backup_interval, l.copy_interval, l.restore_interval, l.restore_delay),
        (two_seconds(), two_seconds(), two_seconds(), Duration::ZERO)
    );
    assert_eq!(cfg.databases[0].state, DatabaseStateConfig::Online);
    assert!(cfg.chat_pools.is_empty() && cfg.availability_groups.is_empty());
    let typo = base.replace("copyDestination", "copyDestinaton");
    assert!(WorldConfig::from_yaml(&typo).unwrap_err().contains("copyDestinaton"));
    let bad_state = base.replace("RESTORING", "STANDBY");
    assert!(WorldConfig::from_yaml(&bad_state).is_err());
}
