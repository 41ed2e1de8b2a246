//! Checks of a PersistentChatPool spec that the API server may not have enforced (an older
//! cluster, `drover drill` reading files): everything drover relies on before it sends a single
//! statement or creates a single hook Job.

use super::{DataCenter, PersistentChatPoolSpec, SqlInstance};
use crate::api::SpecError;
use crate::api::availability_group::{forced_failover, problem};
use crate::api::dr_site::validate::{is_dns_label, job_template};
use crate::sql::Ident;
use std::collections::HashSet;

/// The longest server name drover accepts (`@@SERVERNAME`: a 15-character NetBIOS name or a host,
/// a backslash and a 16-character instance name; 256 leaves room and matches the CRD).
const MAX_SERVER_NAME: usize = 256;
/// The most active servers per data center (as the CRD allows).
const MAX_ACTIVE_SERVERS: usize = 32;
/// The longest log-shipping path (as the CRD allows).
const MAX_PATH: usize = 400;
/// The longest pool identity (as the CRD allows).
const MAX_POOL_IDENTITY: usize = 256;

/// Every problem with `spec`; empty when drover can act on it.
pub fn validate(spec: &PersistentChatPoolSpec) -> Vec<SpecError> {
    let mut errors = Vec::new();
    pool_identity(&spec.pool_identity, &mut errors);
    databases(spec, &mut errors);
    sites(spec, &mut errors);
    instances(spec, &mut errors);
    for (field, dc) in data_centers(spec) {
        active_servers(dc, &format!("{field}.activeServers"), &mut errors);
    }
    backup_share(
        &spec.log_shipping.backup_share,
        "spec.logShipping.backupShare",
        &mut errors,
    );
    for (field, dc) in data_centers(spec) {
        if let Some(share) = &dc.mirror_file_share {
            backup_share(share, &format!("{field}.mirrorFileShare"), &mut errors);
        }
    }
    copy_destination(&spec.log_shipping.copy_destination, &mut errors);
    if spec.credentials.secret_name.is_empty() {
        problem(&mut errors, "spec.credentials.secretName", "a Secret name is required");
    }
    forced_failover(&spec.forced_failover, "spec.forcedFailover", &mut errors);
    let hooks = &spec.hooks;
    for (which, template) in [
        ("setPoolState", &hooks.set_pool_state),
        ("setActiveServers", &hooks.set_active_servers),
        ("installMirror", &hooks.install_mirror),
        ("establishLogShipping", &hooks.establish_log_shipping),
    ] {
        job_template(template, &format!("spec.hooks.{which}"), &mut errors);
    }
    errors
}

/// The two data centers with the paths of their fields.
fn data_centers(spec: &PersistentChatPoolSpec) -> [(&'static str, &DataCenter); 2] {
    [("spec.primary", &spec.primary), ("spec.backup", &spec.backup)]
}

fn pool_identity(identity: &str, errors: &mut Vec<SpecError>) {
    let field = "spec.poolIdentity";
    if identity.is_empty() || identity.encode_utf16().count() > MAX_POOL_IDENTITY {
        problem(
            errors,
            field,
            format!("a pool identity has 1 to {MAX_POOL_IDENTITY} characters"),
        );
    }
    if identity.chars().any(char::is_control) {
        problem(errors, field, "a pool identity cannot contain control characters");
    }
}

/// Both names are identifiers SQL Server accepts (drover bracket-quotes them), and they differ
/// as SQL Server compares names (case-insensitively).
fn databases(spec: &PersistentChatPoolSpec, errors: &mut Vec<SpecError>) {
    let chat = Ident::new(&spec.chat_database);
    if let Err(e) = &chat {
        problem(errors, "spec.chatDatabase", e.to_string());
    }
    let compliance = Ident::new(&spec.compliance_database);
    if let Err(e) = &compliance {
        problem(errors, "spec.complianceDatabase", e.to_string());
    }
    if chat.is_ok()
        && compliance.is_ok()
        && spec.chat_database.to_lowercase() == spec.compliance_database.to_lowercase()
    {
        problem(
            errors,
            "spec.complianceDatabase",
            format!(
                "the compliance database must differ from the chat database {:?}",
                spec.chat_database
            ),
        );
    }
}

/// Each data center is at a site named by a DNS label, the two sites differ, and the active site
/// is one of them.
fn sites(spec: &PersistentChatPoolSpec, errors: &mut Vec<SpecError>) {
    for (field, dc) in data_centers(spec) {
        if !is_dns_label(&dc.site, 63) {
            problem(
                errors,
                format!("{field}.site"),
                format!(
                    "{:?} is not a DNS label (lower-case letters, digits, '-'; 1-63)",
                    dc.site
                ),
            );
        }
    }
    if spec.primary.site == spec.backup.site {
        problem(
            errors,
            "spec.backup.site",
            format!(
                "the backup data center must be at another site than the primary ({:?})",
                spec.primary.site
            ),
        );
    }
    // Left out, the pool stays where it is active: there is nothing to check.
    if let Some(active_site) = &spec.active_site
        && active_site != &spec.primary.site
        && active_site != &spec.backup.site
    {
        problem(
            errors,
            "spec.activeSite",
            format!(
                "{active_site:?} is neither spec.primary.site ({:?}) nor spec.backup.site ({:?})",
                spec.primary.site, spec.backup.site
            ),
        );
    }
}

/// Every declared instance (SQL and mirror, both data centers) has a usable server name and
/// endpoint, and no two are the same server (SQL Server compares names case-insensitively) or
/// reached at the same address.
fn instances(spec: &PersistentChatPoolSpec, errors: &mut Vec<SpecError>) {
    let mut names = HashSet::new();
    let mut endpoints = HashSet::new();
    for (dc_field, dc) in data_centers(spec) {
        let declared = [
            ("sqlInstance", Some(&dc.sql_instance)),
            ("mirrorInstance", dc.mirror_instance.as_ref()),
        ];
        for (which, instance) in declared {
            let Some(instance) = instance else { continue };
            let field = format!("{dc_field}.{which}");
            instance_fields(instance, &field, errors);
            if !instance.server_name.is_empty() && !names.insert(instance.server_name.to_lowercase()) {
                problem(
                    errors,
                    format!("{field}.serverName"),
                    format!(
                        "instance {:?} is declared twice (names compare case-insensitively)",
                        instance.server_name
                    ),
                );
            }
            let address = (instance.endpoint.host.to_ascii_lowercase(), instance.endpoint.port);
            if !instance.endpoint.host.is_empty() && !endpoints.insert(address) {
                problem(
                    errors,
                    format!("{field}.endpoint"),
                    format!(
                        "{}:{} is already the endpoint of another instance",
                        instance.endpoint.host, instance.endpoint.port
                    ),
                );
            }
        }
    }
}

fn instance_fields(instance: &SqlInstance, field: &str, errors: &mut Vec<SpecError>) {
    let name = &instance.server_name;
    if name.is_empty() || name.encode_utf16().count() > MAX_SERVER_NAME {
        problem(
            errors,
            format!("{field}.serverName"),
            format!("a server name has 1 to {MAX_SERVER_NAME} characters"),
        );
    }
    if name.chars().any(char::is_control) {
        problem(
            errors,
            format!("{field}.serverName"),
            "a server name cannot contain control characters",
        );
    }
    let host = &instance.endpoint.host;
    if host.is_empty() {
        problem(errors, format!("{field}.endpoint.host"), "a host is required");
    } else if host.chars().any(|c| c.is_control() || c.is_whitespace()) {
        problem(
            errors,
            format!("{field}.endpoint.host"),
            "a host cannot contain spaces or control characters",
        );
    }
    if instance.endpoint.port == 0 {
        problem(errors, format!("{field}.endpoint.port"), "port 0 is not a TCP port");
    }
}

/// The servers a data center makes active: 1 to 32 distinct FQDNs. drover passes them to the
/// hook comma-separated, so a name can hold neither a comma nor anything else outside a DNS name.
fn active_servers(dc: &DataCenter, field: &str, errors: &mut Vec<SpecError>) {
    let servers = &dc.active_servers;
    if servers.is_empty() || servers.len() > MAX_ACTIVE_SERVERS {
        problem(
            errors,
            field,
            format!(
                "a data center has 1 to {MAX_ACTIVE_SERVERS} active servers, not {}",
                servers.len()
            ),
        );
    }
    let mut seen = HashSet::new();
    for (i, server) in servers.iter().enumerate() {
        let at = format!("{field}[{i}]");
        if server.contains(',') {
            problem(
                errors,
                at,
                format!("{server:?} contains ','; the hook receives the servers comma-separated"),
            );
        } else if server.chars().any(char::is_control) {
            problem(errors, at, "a server name cannot contain control characters");
        } else if !is_fqdn(server) {
            problem(
                errors,
                at,
                format!(
                    "{server:?} is not a fully qualified domain name (dot-separated labels of letters, digits and '-'; at most 253 characters)"
                ),
            );
        } else if !seen.insert(server.to_ascii_lowercase()) {
            problem(errors, at, format!("{server:?} is listed twice"));
        }
    }
}

/// A fully qualified host name: at least two dot-separated labels of letters, digits and `-`
/// (not at either end), at most 253 characters, no trailing dot, not an IP address.
fn is_fqdn(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.parse::<std::net::IpAddr>().is_err()
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A share: `\\server\share[\folder…]`, read and written by SQL Server (drover passes it as an
/// `N'…'` literal, so quotes are fine; control characters, NUL among them, are not).
fn backup_share(path: &str, field: &str, errors: &mut Vec<SpecError>) {
    if path.chars().any(char::is_control) {
        problem(errors, field, "a path cannot contain control characters");
        return;
    }
    if path.encode_utf16().count() > MAX_PATH {
        problem(errors, field, format!("a path has at most {MAX_PATH} characters"));
    }
    let unc = path.strip_prefix(r"\\").and_then(|rest| {
        let mut parts = rest.split('\\');
        let server = parts.next()?;
        let share = parts.next()?;
        let real = !server.is_empty() && server != "." && server != "?" && !share.is_empty();
        real.then_some(())
    });
    if unc.is_none() {
        problem(
            errors,
            field,
            format!(r"{path:?} is not a UNC path (\\server\share, optionally followed by folders)"),
        );
    } else if path.ends_with('\\') {
        problem(
            errors,
            field,
            "drop the trailing '\\': drover appends '\\' and the file name",
        );
    }
}

/// The backup instance's copy folder: any path its SQL Server can write to.
fn copy_destination(path: &str, errors: &mut Vec<SpecError>) {
    let field = "spec.logShipping.copyDestination";
    if path.is_empty() || path.encode_utf16().count() > MAX_PATH {
        problem(errors, field, format!("a path has 1 to {MAX_PATH} characters"));
    }
    if path.chars().any(char::is_control) {
        problem(errors, field, "a path cannot contain control characters");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::availability_group::ForcePolicy;
    use crate::api::persistent_chat_pool::fixtures::pool_spec;

    /// The fields of every problem found in the fixture after `edit`, in the order reported.
    fn fields_after(edit: impl FnOnce(&mut PersistentChatPoolSpec)) -> Vec<String> {
        let mut s = pool_spec();
        edit(&mut s);
        validate(&s).into_iter().map(|e| e.field).collect()
    }

    /// The only problem is at `field`, and its message contains `says`.
    #[track_caller]
    fn refused(edit: impl FnOnce(&mut PersistentChatPoolSpec), field: &str, says: &str) {
        let mut s = pool_spec();
        edit(&mut s);
        let errors = validate(&s);
        assert_eq!(
            errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            [field],
            "{errors:?}"
        );
        assert!(
            errors[0].message.contains(says),
            "{:?} lacks {says:?}",
            errors[0].message
        );
    }

    #[track_caller]
    fn accepted(edit: impl FnOnce(&mut PersistentChatPoolSpec)) {
        assert_eq!(fields_after(edit), Vec::<String>::new());
    }

    fn pod(template: &mut k8s_openapi::api::batch::v1::JobTemplateSpec) -> &mut k8s_openapi::api::core::v1::PodSpec {
        template
            .spec
            .as_mut()
            .and_then(|j| j.template.spec.as_mut())
            .expect("the fixture's templates have a pod")
    }

    #[test]
    fn the_fixture_is_valid() {
        assert_eq!(validate(&pool_spec()), vec![]);
    }

    #[test]
    fn the_pool_identity_is_one_to_256_characters_without_control_characters() {
        refused(|s| s.pool_identity = String::new(), "spec.poolIdentity", "1 to 256");
        refused(|s| s.pool_identity = "p".repeat(257), "spec.poolIdentity", "1 to 256");
        for bad in ["PersistentChatServer:pchat\n.contoso.com", "pool\u{0}", "pool\u{1b}[2J"] {
            refused(
                |s| s.pool_identity = bad.into(),
                "spec.poolIdentity",
                "control characters",
            );
        }
        // Passed as a cmdlet argument, never parsed by a shell: quotes and brackets are fine.
        accepted(|s| s.pool_identity = "PersistentChatServer:o'brien]; rm -rf /".into());
        accepted(|s| s.pool_identity = "p".repeat(256));
    }

    #[test]
    fn database_names_are_identifiers_sql_server_accepts() {
        for (bad, says) in [
            (String::new(), "empty"),
            ("m".repeat(129), "at most 128"),
            ("mgc\u{7}".to_string(), "control character"),
            ("mgc\n; DROP DATABASE x".to_string(), "control character"),
        ] {
            refused(|s| s.chat_database = bad.clone(), "spec.chatDatabase", says);
            refused(|s| s.compliance_database = bad, "spec.complianceDatabase", says);
        }
        // Bracket-quoted and literal-quoted wherever they are sent: hostile but valid names.
        accepted(|s| {
            s.chat_database = "mgc]; DROP DATABASE master; --".into();
            s.compliance_database = "O'Brien's [compliance]".into();
        });
        accepted(|s| s.chat_database = "m".repeat(128));
    }

    #[test]
    fn the_chat_and_compliance_databases_differ_case_insensitively() {
        refused(
            |s| s.compliance_database = "MGC".into(),
            "spec.complianceDatabase",
            "must differ from the chat database \"mgc\"",
        );
        refused(
            |s| s.compliance_database = s.chat_database.clone(),
            "spec.complianceDatabase",
            "must differ",
        );
    }

    #[test]
    fn sites_are_dns_labels() {
        let mut hostile: Vec<String> = [
            "dc]1", "dc'1", "dc;1", "dc\u{7}1", "dc\n1", "DC1", "-dc1", "dc1-", "dc.1", "dc 1", "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        hostile.push("d".repeat(64));
        for bad in hostile {
            let errors = fields_after(|s| {
                s.backup.site = bad.clone();
            });
            assert_eq!(errors, ["spec.backup.site"], "{bad:?}");
            // Renamed consistently (the active site too), only the label itself is at fault.
            let errors = fields_after(|s| {
                s.primary.site = bad.clone();
                s.active_site = Some(bad.clone());
            });
            assert_eq!(errors, ["spec.primary.site"], "{bad:?}");
        }
        accepted(|s| s.backup.site = "d".repeat(63));
    }

    #[test]
    fn the_two_data_centers_are_at_different_sites() {
        refused(
            |s| s.backup.site = "dc1".into(),
            "spec.backup.site",
            "another site than the primary",
        );
    }

    #[test]
    fn the_active_site_is_the_primary_or_the_backup_site() {
        accepted(|s| s.active_site = Some("dc2".into()));
        refused(
            |s| s.active_site = Some("dc3".into()),
            "spec.activeSite",
            "neither spec.primary.site",
        );
        refused(|s| s.active_site = Some("DC1".into()), "spec.activeSite", "\"DC1\"");
        refused(|s| s.active_site = Some("dc1]".into()), "spec.activeSite", "\"dc1]\"");
    }

    #[test]
    fn server_names_are_one_to_256_characters_without_control_characters() {
        refused(
            |s| s.primary.sql_instance.server_name = String::new(),
            "spec.primary.sqlInstance.serverName",
            "1 to 256",
        );
        refused(
            |s| s.backup.mirror_instance.as_mut().unwrap().server_name = "S".repeat(257),
            "spec.backup.mirrorInstance.serverName",
            "1 to 256",
        );
        for bad in ["SQL-CHAT-A\n", "SQL\u{0}CHAT", "SQL\tCHAT"] {
            refused(
                |s| s.backup.sql_instance.server_name = bad.into(),
                "spec.backup.sqlInstance.serverName",
                "control characters",
            );
        }
        // A server name only ever travels as an N'…' literal or a hook argument.
        accepted(|s| s.primary.sql_instance.server_name = r"SQL-CHAT-A\PCHAT]'; --".into());
        accepted(|s| s.primary.sql_instance.server_name = "S".repeat(256));
    }

    #[test]
    fn every_declared_instance_is_a_different_server() {
        refused(
            |s| s.primary.mirror_instance.as_mut().unwrap().server_name = "sql-chat-a".into(),
            "spec.primary.mirrorInstance.serverName",
            "declared twice",
        );
        refused(
            |s| s.backup.sql_instance.server_name = "SQL-CHAT-A-MIR".into(),
            "spec.backup.sqlInstance.serverName",
            "\"SQL-CHAT-A-MIR\" is declared twice",
        );
        refused(
            |s| s.backup.mirror_instance.as_mut().unwrap().server_name = "Sql-Chat-B".into(),
            "spec.backup.mirrorInstance.serverName",
            "declared twice",
        );
        // Without mirrors, the two SQL instances are still compared.
        refused(
            |s| {
                s.primary.mirror_instance = None;
                s.backup.mirror_instance = None;
                s.backup.sql_instance.server_name = "SQL-CHAT-A".into();
            },
            "spec.backup.sqlInstance.serverName",
            "declared twice",
        );
        accepted(|s| {
            s.primary.mirror_instance = None;
            s.backup.mirror_instance = None;
        });
    }

    #[test]
    fn every_endpoint_has_a_host_and_a_port_of_its_own() {
        refused(
            |s| s.backup.sql_instance.endpoint.host = String::new(),
            "spec.backup.sqlInstance.endpoint.host",
            "a host is required",
        );
        refused(
            |s| s.primary.mirror_instance.as_mut().unwrap().endpoint.host = "sql chat".into(),
            "spec.primary.mirrorInstance.endpoint.host",
            "spaces or control characters",
        );
        refused(
            |s| s.primary.sql_instance.endpoint.port = 0,
            "spec.primary.sqlInstance.endpoint.port",
            "port 0",
        );
        refused(
            |s| s.backup.sql_instance.endpoint = s.primary.sql_instance.endpoint.clone(),
            "spec.backup.sqlInstance.endpoint",
            "already the endpoint of another instance",
        );
        // The same host on another port is another instance.
        accepted(|s| {
            s.backup.sql_instance.endpoint.host = s.primary.sql_instance.endpoint.host.to_uppercase();
            s.backup.sql_instance.endpoint.port = 14330;
        });
    }

    #[test]
    fn active_servers_are_a_non_empty_list_of_at_most_32() {
        refused(
            |s| s.backup.active_servers.clear(),
            "spec.backup.activeServers",
            "not 0",
        );
        refused(
            |s| s.primary.active_servers = (0..33).map(|i| format!("pchat-{i}.contoso.com")).collect(),
            "spec.primary.activeServers",
            "not 33",
        );
        accepted(|s| s.primary.active_servers = (0..32).map(|i| format!("pchat-{i}.contoso.com")).collect());
    }

    #[test]
    fn active_servers_are_fqdns_without_commas() {
        let field = "spec.primary.activeServers[1]";
        refused(
            |s| s.primary.active_servers[1] = "pchat-a2.contoso.com,evil.contoso.com".into(),
            field,
            "comma-separated",
        );
        for bad in ["pchat-a2.contoso.com\n", "pchat\u{0}.contoso.com"] {
            refused(
                |s| s.primary.active_servers[1] = bad.into(),
                field,
                "control characters",
            );
        }
        let too_long = format!("{}.com", vec!["a".repeat(63); 4].join("."));
        for bad in [
            "pchat-a2",
            "",
            "pchat a2.contoso.com",
            "pchat]a2.contoso.com",
            "pchat'a2.contoso.com",
            "pchat;a2.contoso.com",
            "$(whoami).contoso.com",
            "-pchat.contoso.com",
            "pchat-.contoso.com",
            "pchat..contoso.com",
            "pchat.contoso.com.",
            "10.0.0.7",
            too_long.as_str(),
        ] {
            refused(
                |s| s.primary.active_servers[1] = bad.into(),
                field,
                "not a fully qualified domain name",
            );
        }
        accepted(|s| s.primary.active_servers[1] = "PChat-A2.Contoso.com".into());
    }

    #[test]
    fn an_active_server_is_listed_once_per_data_center() {
        refused(
            |s| s.backup.active_servers.push("PCHAT-B1.contoso.com".into()),
            "spec.backup.activeServers[2]",
            "listed twice",
        );
    }

    #[test]
    fn the_backup_share_is_a_unc_path() {
        let field = "spec.logShipping.backupShare";
        for bad in [
            r"D:\PChatLogShip",
            r"\\fs-dc1.contoso.com",
            r"\\fs-dc1.contoso.com\",
            r"\\\pchat-logship",
            r"\\.\pipe\sql",
            r"\\?\C:\logship",
            "//fs-dc1/pchat-logship",
            "",
        ] {
            refused(|s| s.log_shipping.backup_share = bad.into(), field, "not a UNC path");
        }
        refused(
            |s| s.log_shipping.backup_share = r"\\fs-dc1\pchat-logship\".into(),
            field,
            "trailing",
        );
        for bad in ["\\\\fs-dc1\\pchat\u{0}", "\\\\fs-dc1\\pchat\nlogship"] {
            refused(
                |s| s.log_shipping.backup_share = bad.into(),
                field,
                "control characters",
            );
        }
        refused(
            |s| s.log_shipping.backup_share = format!(r"\\fs\{}", "x".repeat(400)),
            field,
            "at most 400",
        );
        // Sent as an N'…' literal with quotes doubled: a quote is harmless.
        accepted(|s| s.log_shipping.backup_share = r"\\fs-dc1\o'brien's share]\mgc".into());
    }

    #[test]
    fn the_copy_destination_is_a_path_without_control_characters() {
        let field = "spec.logShipping.copyDestination";
        refused(|s| s.log_shipping.copy_destination = String::new(), field, "1 to 400");
        refused(|s| s.log_shipping.copy_destination = "D".repeat(401), field, "1 to 400");
        for bad in ["D:\\PChat\u{0}", "D:\\PChat\r\n"] {
            refused(
                |s| s.log_shipping.copy_destination = bad.into(),
                field,
                "control characters",
            );
        }
        accepted(|s| s.log_shipping.copy_destination = r"\\sql-chat-b\d$\PChat'LogShip".into());
    }

    #[test]
    fn the_credentials_name_a_secret() {
        refused(
            |s| s.credentials.secret_name = String::new(),
            "spec.credentials.secretName",
            "required",
        );
    }

    #[test]
    fn automatic_forced_failover_needs_both_bounds_as_for_an_availability_group() {
        refused(
            |s| s.forced_failover.policy = ForcePolicy::Automatic,
            "spec.forcedFailover",
            "minUnreachableSeconds and maxDataLossSeconds",
        );
        refused(
            |s| {
                s.forced_failover.policy = ForcePolicy::Automatic;
                s.forced_failover.min_unreachable_seconds = Some(60);
            },
            "spec.forcedFailover",
            "maxDataLossSeconds",
        );
        refused(
            |s| s.forced_failover.min_unreachable_seconds = Some(0),
            "spec.forcedFailover.minUnreachableSeconds",
            "at least 1",
        );
        accepted(|s| {
            s.forced_failover.policy = ForcePolicy::Automatic;
            s.forced_failover.min_unreachable_seconds = Some(300);
            s.forced_failover.max_data_loss_seconds = Some(900);
        });
        accepted(|s| s.forced_failover.policy = ForcePolicy::Never);
    }

    #[test]
    fn every_hook_template_has_a_container() {
        type Pick = fn(&mut PersistentChatPoolSpec) -> &mut k8s_openapi::api::batch::v1::JobTemplateSpec;
        let hooks: [(Pick, &str); 4] = [
            (|s| &mut s.hooks.set_pool_state, "setPoolState"),
            (|s| &mut s.hooks.set_active_servers, "setActiveServers"),
            (|s| &mut s.hooks.install_mirror, "installMirror"),
            (|s| &mut s.hooks.establish_log_shipping, "establishLogShipping"),
        ];
        for (pick, name) in hooks {
            let field = format!("spec.hooks.{name}.spec.template.spec.containers");
            refused(|s| pod(pick(s)).containers.clear(), &field, "at least one container");
            refused(|s| pick(s).spec = None, &field, "at least one container");
            refused(
                |s| {
                    if let Some(job) = pick(s).spec.as_mut() {
                        job.template.spec = None;
                    }
                },
                &field,
                "at least one container",
            );
        }
    }

    #[test]
    fn no_hook_template_restarts_always() {
        type Pick = fn(&mut PersistentChatPoolSpec) -> &mut k8s_openapi::api::batch::v1::JobTemplateSpec;
        let hooks: [(Pick, &str); 4] = [
            (|s| &mut s.hooks.set_pool_state, "setPoolState"),
            (|s| &mut s.hooks.set_active_servers, "setActiveServers"),
            (|s| &mut s.hooks.install_mirror, "installMirror"),
            (|s| &mut s.hooks.establish_log_shipping, "establishLogShipping"),
        ];
        for (pick, name) in hooks {
            refused(
                |s| pod(pick(s)).restart_policy = Some("Always".into()),
                &format!("spec.hooks.{name}.spec.template.spec.restartPolicy"),
                "Never or OnFailure, not \"Always\"",
            );
            accepted(|s| pod(pick(s)).restart_policy = Some("OnFailure".into()));
        }
    }

    #[test]
    fn every_problem_is_reported_at_once_in_field_order() {
        let fields = fields_after(|s| {
            s.pool_identity = String::new();
            s.compliance_database = "MGC".into();
            s.active_site = Some("dc9".into());
            s.backup.mirror_instance.as_mut().unwrap().server_name = "sql-chat-b".into();
            s.primary.active_servers.push("x,y".into());
            s.log_shipping.backup_share = "share".into();
            pod(&mut s.hooks.install_mirror).containers.clear();
        });
        assert_eq!(
            fields,
            [
                "spec.poolIdentity",
                "spec.complianceDatabase",
                "spec.activeSite",
                "spec.backup.mirrorInstance.serverName",
                "spec.primary.activeServers[2]",
                "spec.logShipping.backupShare",
                "spec.hooks.installMirror.spec.template.spec.containers",
            ]
        );
    }
}
