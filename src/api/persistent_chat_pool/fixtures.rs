//! Specs for unit tests: the pool of `examples/persistent-chat.yaml` (runbook B's two data
//! centers), with minimal but valid hook Job templates.

use super::*;
use crate::api::availability_group::{CredentialsRef, EndpointSpec, ForcePolicy, ForcedFailoverPolicy, TlsSpec};
use crate::api::dr_site::fixtures::job_template;

/// Pool `PersistentChatServer:pchat.contoso.com`, active at `dc1`:
/// - `dc1` (primary): `SQL-CHAT-A` mirrored to `SQL-CHAT-A-MIR`, active servers
///   `pchat-a1.contoso.com` and `pchat-a2.contoso.com`;
/// - `dc2` (backup): `SQL-CHAT-B` mirrored to `SQL-CHAT-B-MIR`, active servers
///   `pchat-b1.contoso.com` and `pchat-b2.contoso.com`;
/// - databases `mgc` and `mgccomp`; log shipping through `\\fs-dc1.contoso.com\pchat-logship`
///   to `D:\PChatLogShip`; forced failover `Confirm`.
///
/// Every endpoint is `<lower-case server name>.contoso.com:1433`.
pub(crate) fn pool_spec() -> PersistentChatPoolSpec {
    PersistentChatPoolSpec {
        pool_identity: "PersistentChatServer:pchat.contoso.com".into(),
        active_site: Some("dc1".into()),
        chat_database: "mgc".into(),
        compliance_database: "mgccomp".into(),
        primary: data_center(
            "dc1",
            "SQL-CHAT-A",
            "SQL-CHAT-A-MIR",
            &["pchat-a1.contoso.com", "pchat-a2.contoso.com"],
        ),
        backup: DataCenter {
            mirror_file_share: Some(r"\\fs-dc2.contoso.com\pchat-mirror".into()),
            ..data_center(
                "dc2",
                "SQL-CHAT-B",
                "SQL-CHAT-B-MIR",
                &["pchat-b1.contoso.com", "pchat-b2.contoso.com"],
            )
        },
        log_shipping: LogShippingSpec {
            backup_share: r"\\fs-dc1.contoso.com\pchat-logship".into(),
            copy_destination: r"D:\PChatLogShip".into(),
        },
        credentials: CredentialsRef {
            secret_name: "pchat-sql-login".into(),
            username_key: "username".into(),
            password_key: "password".into(),
        },
        tls: TlsSpec::default(),
        forced_failover: ForcedFailoverPolicy {
            policy: ForcePolicy::Confirm,
            min_unreachable_seconds: None,
            max_data_loss_seconds: None,
        },
        hooks: PoolHooks {
            set_pool_state: job_template("Set-CsPersistentChatState"),
            set_active_servers: job_template("Set-CsPersistentChatActiveServer"),
            install_mirror: job_template("Install-CsMirrorDatabase"),
            establish_log_shipping: job_template("establish log shipping"),
        },
        suspend: false,
    }
}

/// A data center at `site` with SQL instance `sql`, its mirror `mirror` and `servers` active.
pub(crate) fn data_center(site: &str, sql: &str, mirror: &str, servers: &[&str]) -> DataCenter {
    DataCenter {
        site: site.into(),
        sql_instance: instance(sql),
        mirror_instance: Some(instance(mirror)),
        mirror_file_share: None,
        active_servers: servers.iter().map(|s| (*s).into()).collect(),
    }
}

/// Instance `name`, reached at `<lower-case name>.contoso.com:1433`.
pub(crate) fn instance(name: &str) -> SqlInstance {
    SqlInstance {
        server_name: name.into(),
        endpoint: EndpointSpec {
            host: format!("{}.contoso.com", name.to_ascii_lowercase()),
            port: 1433,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`pool_spec`] is the example's pool but for the hook templates (minimal here) and TLS
    /// (the example names a CA Secret).
    #[test]
    fn the_fixture_is_the_example_pool() {
        let text = include_str!("../../../examples/persistent-chat.yaml");
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).expect("the example parses");
        let doc = docs
            .into_iter()
            .find(|d| d["kind"] == "PersistentChatPool")
            .expect("the example has a PersistentChatPool");
        let example: PersistentChatPool = serde_json::from_value(doc).expect("the example is a PersistentChatPool");
        let mut fixture = pool_spec();
        fixture.hooks = example.spec.hooks.clone();
        fixture.tls = example.spec.tls.clone();
        assert_eq!(fixture, example.spec);
    }
}
