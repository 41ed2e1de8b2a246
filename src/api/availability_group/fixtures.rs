//! Specs for unit tests: the two-site WSFC group of the first runbook.

use super::*;

pub(crate) fn spec() -> AvailabilityGroupSpec {
    AvailabilityGroupSpec {
        group_name: "ag1".into(),
        cluster_type: ClusterType::Wsfc,
        databases: vec!["config".into(), "log".into()],
        replicas: vec![
            ReplicaSpec {
                server_name: "sql-a".into(),
                site: "site-a".into(),
                endpoint: EndpointSpec {
                    host: "sql-a.example".into(),
                    port: 1433,
                },
                availability_mode: AvailabilityMode::AsynchronousCommit,
                fence_hook: None,
                force_quorum_hook: None,
            },
            ReplicaSpec {
                server_name: "sql-b".into(),
                site: "site-b".into(),
                endpoint: EndpointSpec {
                    host: "sql-b.example".into(),
                    port: 1433,
                },
                availability_mode: AvailabilityMode::AsynchronousCommit,
                fence_hook: None,
                force_quorum_hook: None,
            },
        ],
        credentials: CredentialsRef {
            secret_name: "ag1-login".into(),
            username_key: "username".into(),
            password_key: "password".into(),
        },
        tls: TlsSpec::default(),
        primary_site: Some("site-a".into()),
        forced_failover: ForcedFailoverPolicy::default(),
        auto_resume: false,
        backup_before_failback: None,
        required_synchronized_secondaries: None,
    }
}
