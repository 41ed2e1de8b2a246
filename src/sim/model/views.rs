//! The catalog views and DMVs as each instance shows them: real column names
//! and types, and SQL Server's visibility rules (remote rows only on the primary).

use super::config::AvailabilityMode;
use super::wsfc::QuorumKind;
use super::{LSN_STEP, Role, StoredRole, SyncState, World};
use crate::sim::table::{Column, ResultSet, SqlType, Value};

const DESC: SqlType = SqlType::NVarChar(60);
const SYSNAME: SqlType = SqlType::NVarChar(128);
const LSN: SqlType = SqlType::Numeric {
    precision: 25,
    scale: 0,
};

fn cols(spec: &[(&str, SqlType, bool)]) -> Vec<Column> {
    spec.iter().map(|(n, t, null)| Column::new(n, *t, *null)).collect()
}

fn s(v: &str) -> Value {
    Value::Str(v.to_string())
}

fn opt_s(v: Option<&str>) -> Value {
    v.map_or(Value::Null, s)
}

/// `synchronization_health` for its `_desc`.
fn health_code(desc: &str) -> i64 {
    match desc {
        "HEALTHY" => 2,
        "PARTIALLY_HEALTHY" => 1,
        _ => 0,
    }
}

fn int(v: impl Into<i64>) -> Value {
    Value::Int(v.into())
}

impl World {
    /// The full contents of `view` as `instance` shows it; `None` for an unknown view.
    pub fn view(&mut self, now: super::SimTime, instance: &str, view: &str) -> Option<ResultSet> {
        self.advance(now);
        let rs = match view {
            "sys.availability_groups" => self.availability_groups(instance),
            "sys.availability_replicas" => self.availability_replicas(instance),
            "sys.dm_hadr_availability_replica_states" => self.replica_states(instance),
            "sys.dm_hadr_database_replica_states" => self.database_replica_states(instance),
            "sys.databases" => self.sys_databases(instance),
            "sys.dm_hadr_cluster" => self.hadr_cluster(instance),
            "sys.dm_hadr_cluster_members" => self.hadr_cluster_members(instance),
            "sys.dm_hadr_availability_replica_cluster_nodes" => self.replica_cluster_nodes(instance),
            other => return self.pool_view(instance, other),
        };
        Some(rs)
    }

    /// (AG index, local replica index) of every AG hosted on `instance`.
    fn hosted(&self, instance: &str) -> Vec<(usize, usize)> {
        self.ags
            .iter()
            .enumerate()
            .filter_map(|(a, ag)| {
                ag.replicas
                    .iter()
                    .position(|r| r.instance.eq_ignore_ascii_case(instance))
                    .map(|r| (a, r))
            })
            .collect()
    }

    fn availability_groups(&self, instance: &str) -> ResultSet {
        let columns = cols(&[
            ("group_id", SqlType::UniqueIdentifier, false),
            ("name", SYSNAME, true),
            ("resource_id", SqlType::NVarChar(40), true),
            ("resource_group_id", SqlType::NVarChar(40), true),
            ("failure_condition_level", SqlType::Int, true),
            ("health_check_timeout", SqlType::Int, true),
            ("automated_backup_preference", SqlType::TinyInt, true),
            ("automated_backup_preference_desc", DESC, true),
            ("version", SqlType::SmallInt, true),
            ("basic_features", SqlType::Bit, true),
            ("dtc_support", SqlType::Bit, true),
            ("db_failover", SqlType::Bit, true),
            ("is_distributed", SqlType::Bit, true),
            ("cluster_type", SqlType::TinyInt, true),
            ("cluster_type_desc", DESC, true),
            ("required_synchronized_secondaries_to_commit", SqlType::Int, true),
            ("sequence_number", SqlType::BigInt, true),
        ]);
        let rows = self
            .hosted(instance)
            .into_iter()
            .map(|(a, local)| {
                let ag = &self.ags[a];
                // The local copy of the group's configuration: a replica that missed a failover
                // (a returning old primary under NONE) reports an older sequence number.
                let epoch = ag.replicas[local].epoch;
                vec![
                    Value::Guid(ag.group_id),
                    s(&ag.name),
                    Value::Null,
                    Value::Null,
                    int(3),
                    int(30000),
                    int(2),
                    s("secondary"),
                    int(1),
                    Value::Bit(false),
                    Value::Bit(false),
                    Value::Bit(false),
                    Value::Bit(false),
                    int(ag.cluster_type.code()),
                    s(ag.cluster_type.desc()),
                    int(ag.required_sync),
                    Value::Int(epoch as i64),
                ]
            })
            .collect();
        ResultSet { columns, rows }
    }

    fn availability_replicas(&self, instance: &str) -> ResultSet {
        let columns = cols(&[
            ("replica_id", SqlType::UniqueIdentifier, false),
            ("group_id", SqlType::UniqueIdentifier, false),
            ("replica_metadata_id", SqlType::Int, true),
            ("replica_server_name", SqlType::NVarChar(256), true),
            ("endpoint_url", SqlType::NVarChar(128), true),
            ("availability_mode", SqlType::TinyInt, true),
            ("availability_mode_desc", DESC, true),
            ("failover_mode", SqlType::TinyInt, true),
            ("failover_mode_desc", DESC, true),
            ("session_timeout", SqlType::Int, true),
            ("primary_role_allow_connections_desc", DESC, true),
            ("secondary_role_allow_connections_desc", DESC, true),
            ("backup_priority", SqlType::Int, true),
            ("read_only_routing_url", SqlType::NVarChar(256), true),
            ("seeding_mode_desc", DESC, true),
        ]);
        let mut rows = Vec::new();
        for (a, local) in self.hosted(instance) {
            for (i, r) in self.ags[a].replicas.iter().enumerate() {
                let (fm, fm_desc) = if r.failover_mode_automatic {
                    (0, "AUTOMATIC")
                } else {
                    (1, "MANUAL")
                };
                rows.push(vec![
                    Value::Guid(r.replica_id),
                    Value::Guid(self.ags[a].group_id),
                    if i == local { int(65536 + i as i32) } else { Value::Null },
                    s(&r.instance),
                    s(&format!("TCP://{}.sim.local:5022", r.instance.to_lowercase())),
                    int(r.mode.code()),
                    s(r.mode.desc()),
                    int(fm),
                    s(fm_desc),
                    int(10),
                    s("ALL"),
                    s("NO"),
                    int(50),
                    Value::Null,
                    s("MANUAL"),
                ]);
            }
        }
        ResultSet { columns, rows }
    }

    /// Whether `instance` is the effective primary of AG `a` (and so sees remote rows).
    fn sees_remote(&self, a: usize, local: usize) -> bool {
        self.effective_role(a, local) == Some(Role::Primary)
    }

    /// Replica health from its databases': not healthy if any is not,
    /// partially healthy if any is partially, else healthy.
    fn replica_health(&self, a: usize, r: usize) -> &'static str {
        let states: Vec<&str> = (0..self.ags[a].databases.len())
            .map(|d| self.copy_health(a, r, d))
            .collect();
        if states.contains(&"NOT_HEALTHY") {
            "NOT_HEALTHY"
        } else if states.contains(&"PARTIALLY_HEALTHY") {
            "PARTIALLY_HEALTHY"
        } else {
            "HEALTHY"
        }
    }

    fn copy_health(&self, a: usize, r: usize, d: usize) -> &'static str {
        let rep = &self.ags[a].replicas[r];
        match self.sync_state(a, r, d) {
            SyncState::Synchronized => "HEALTHY",
            SyncState::Synchronizing if rep.mode == AvailabilityMode::AsynchronousCommit => "HEALTHY",
            SyncState::Synchronizing => "PARTIALLY_HEALTHY",
            _ => "NOT_HEALTHY",
        }
    }

    fn replica_states(&self, instance: &str) -> ResultSet {
        let columns = cols(&[
            ("replica_id", SqlType::UniqueIdentifier, false),
            ("group_id", SqlType::UniqueIdentifier, false),
            ("is_local", SqlType::Bit, true),
            ("role", SqlType::TinyInt, true),
            ("role_desc", DESC, true),
            ("operational_state", SqlType::TinyInt, true),
            ("operational_state_desc", DESC, true),
            ("connected_state", SqlType::TinyInt, true),
            ("connected_state_desc", DESC, true),
            ("recovery_health", SqlType::TinyInt, true),
            ("recovery_health_desc", DESC, true),
            ("synchronization_health", SqlType::TinyInt, true),
            ("synchronization_health_desc", DESC, true),
            ("last_connect_error_number", SqlType::Int, true),
            ("last_connect_error_description", SqlType::NVarChar(1024), true),
            ("last_connect_error_timestamp", SqlType::DateTime, true),
        ]);
        let mut rows = Vec::new();
        for (a, local) in self.hosted(instance) {
            let remote = self.sees_remote(a, local);
            for r in 0..self.ags[a].replicas.len() {
                if r != local && !remote {
                    continue;
                }
                let rep = &self.ags[a].replicas[r];
                let is_local = r == local;
                let linked = self.linked(instance, &rep.instance);
                let role = if is_local {
                    self.effective_role(a, r)
                } else if !linked {
                    None
                } else if self.in_role_change(a, r) {
                    Some(Role::Resolving)
                } else if rep.role == StoredRole::Primary {
                    Some(Role::Primary)
                } else {
                    Some(Role::Secondary)
                };
                let connected = if is_local {
                    role == Some(Role::Primary) || self.leader_for(a, r).is_some()
                } else {
                    linked
                };
                let (op, op_desc) = match (is_local, role) {
                    (false, _) => (Value::Null, Value::Null),
                    (true, _) if !self.quorum_ok(a, r) => (int(5), s("FAILED_NO_QUORUM")),
                    (true, Some(Role::Resolving)) if self.ags[a].pending.is_some() => (int(0), s("PENDING_FAILOVER")),
                    (true, Some(Role::Resolving)) => (int(3), s("OFFLINE")),
                    (true, _) => (int(2), s("ONLINE")),
                };
                let health = if is_local || linked {
                    self.replica_health(a, r)
                } else {
                    "NOT_HEALTHY"
                };
                let (err_no, err_desc) = if connected || is_local {
                    (Value::Null, Value::Null)
                } else {
                    (
                        int(35206),
                        s(
                            "A connection timeout has occurred on a previously established connection to availability replica.",
                        ),
                    )
                };
                rows.push(vec![
                    Value::Guid(rep.replica_id),
                    Value::Guid(self.ags[a].group_id),
                    Value::Bit(is_local),
                    role.map_or(Value::Null, |x| int(x.code())),
                    opt_s(role.map(Role::desc)),
                    op,
                    op_desc,
                    int(u8::from(connected)),
                    s(if connected { "CONNECTED" } else { "DISCONNECTED" }),
                    if is_local { int(1) } else { Value::Null },
                    if is_local { s("ONLINE") } else { Value::Null },
                    int(health_code(health)),
                    s(health),
                    err_no,
                    err_desc,
                    Value::Null,
                ]);
            }
        }
        ResultSet { columns, rows }
    }

    fn database_replica_states(&self, instance: &str) -> ResultSet {
        let columns = cols(&[
            ("database_id", SqlType::Int, false),
            ("group_id", SqlType::UniqueIdentifier, false),
            ("replica_id", SqlType::UniqueIdentifier, false),
            ("group_database_id", SqlType::UniqueIdentifier, false),
            ("is_local", SqlType::Bit, true),
            ("is_primary_replica", SqlType::Bit, true),
            ("synchronization_state", SqlType::TinyInt, true),
            ("synchronization_state_desc", DESC, true),
            ("is_commit_participant", SqlType::Bit, true),
            ("synchronization_health", SqlType::TinyInt, true),
            ("synchronization_health_desc", DESC, true),
            ("database_state", SqlType::TinyInt, true),
            ("database_state_desc", DESC, true),
            ("is_suspended", SqlType::Bit, true),
            ("suspend_reason", SqlType::TinyInt, true),
            ("suspend_reason_desc", DESC, true),
            ("recovery_lsn", LSN, true),
            ("truncation_lsn", LSN, true),
            ("last_sent_lsn", LSN, true),
            ("last_received_lsn", LSN, true),
            ("last_hardened_lsn", LSN, true),
            ("last_hardened_time", SqlType::DateTime, true),
            ("last_redone_lsn", LSN, true),
            ("log_send_queue_size", SqlType::BigInt, true),
            ("log_send_rate", SqlType::BigInt, true),
            ("redo_queue_size", SqlType::BigInt, true),
            ("redo_rate", SqlType::BigInt, true),
            ("end_of_log_lsn", LSN, true),
            ("last_commit_lsn", LSN, true),
            ("last_commit_time", SqlType::DateTime, true),
            ("secondary_lag_seconds", SqlType::BigInt, true),
        ]);
        let kb = i64::from(self.cfg.workload.kb_per_commit);
        let mut rows = Vec::new();
        for (a, local) in self.hosted(instance) {
            let remote = self.sees_remote(a, local);
            for r in 0..self.ags[a].replicas.len() {
                if r != local && !remote {
                    continue;
                }
                let rep = &self.ags[a].replicas[r];
                // A replica this instance cannot reach shows only what it cannot
                // know: nothing of the other side of a partition leaks through.
                let known = r == local || self.linked(instance, &rep.instance);
                let is_primary = known && rep.role == StoredRole::Primary && !self.in_role_change(a, r);
                let leader = if is_primary { None } else { self.leader_for(a, r) };
                for (d, db) in self.ags[a].databases.iter().enumerate() {
                    let copy = &rep.copies[d];
                    let state = if known {
                        self.sync_state(a, r, d)
                    } else {
                        SyncState::NotSynchronizing
                    };
                    let (state_code, health) = (
                        match state {
                            SyncState::NotSynchronizing => 0,
                            SyncState::Synchronizing => 1,
                            SyncState::Synchronized => 2,
                            SyncState::Reverting => 3,
                        },
                        if known {
                            self.copy_health(a, r, d)
                        } else {
                            "NOT_HEALTHY"
                        },
                    );
                    let last = copy.log.last().filter(|_| known);
                    let end = last.map_or(Value::Null, |l| Value::Numeric(l.lsn as i128));
                    // An asynchronous-commit primary reports no hardened LSN.
                    let hardened = if is_primary && rep.mode == AvailabilityMode::AsynchronousCommit {
                        Value::Null
                    } else {
                        end.clone()
                    };
                    let suspended = copy.suspended.filter(|_| known && copy.reverting_until.is_none());
                    // What the primary has that this copy lacks, when they are connected.
                    let behind = leader.filter(|_| copy.link_ok).map(|p| {
                        let plog = &self.ags[a].replicas[p].copies[d].log;
                        let missing = plog.len().saturating_sub(copy.log.len());
                        let lag = plog
                            .get(copy.log.len())
                            .map_or(0, |first| self.now.saturating_sub(first.at).as_secs());
                        (missing as i64 * kb, lag as i64)
                    });
                    let (send_q, redo_q, lag) = match (is_primary, behind) {
                        (true, _) => (Value::Null, Value::Null, Value::Null),
                        (false, Some((q, lag))) => (Value::Int(q), Value::Int(0), Value::Int(lag)),
                        (false, None) => (Value::Null, Value::Null, Value::Null),
                    };
                    let (db_state, db_state_desc) = if copy.recovery_pending {
                        (3, "RECOVERY_PENDING")
                    } else {
                        (0, "ONLINE")
                    };
                    rows.push(vec![
                        int(db.database_id),
                        Value::Guid(self.ags[a].group_id),
                        Value::Guid(rep.replica_id),
                        Value::Guid(db.group_database_id),
                        Value::Bit(r == local),
                        Value::Bit(is_primary),
                        int(state_code),
                        s(state.desc()),
                        Value::Bit(known && copy.synchronized),
                        int(health_code(health)),
                        s(health),
                        int(db_state),
                        s(db_state_desc),
                        if known {
                            Value::Bit(suspended.is_some())
                        } else {
                            Value::Null
                        },
                        suspended.map_or(Value::Null, |x| int(x as u8)),
                        opt_s(suspended.map(|x| x.desc())),
                        Value::Numeric((super::FIRST_LSN - LSN_STEP) as i128),
                        Value::Numeric((super::FIRST_LSN - LSN_STEP) as i128),
                        end.clone(),
                        end.clone(),
                        hardened,
                        last.map_or(Value::Null, |l| Value::DateTime(self.wall_time(l.at))),
                        end.clone(),
                        send_q,
                        if is_primary { Value::Null } else { int(0) },
                        redo_q,
                        if is_primary { Value::Null } else { int(0) },
                        end.clone(),
                        end,
                        last.map_or(Value::Null, |l| Value::DateTime(self.wall_time(l.at))),
                        lag,
                    ]);
                }
            }
        }
        ResultSet { columns, rows }
    }

    /// `sys.dm_hadr_cluster`: one row on a node with quorum, none otherwise (nor off the cluster).
    fn hadr_cluster(&self, instance: &str) -> ResultSet {
        let columns = cols(&[
            ("cluster_name", SYSNAME, false),
            ("quorum_type", SqlType::TinyInt, true),
            ("quorum_type_desc", SqlType::VarChar(50), true),
            ("quorum_state", SqlType::TinyInt, true),
            ("quorum_state_desc", SqlType::VarChar(50), true),
        ]);
        let rows = match self.node_quorum(instance) {
            None => Vec::new(),
            Some(kind) => {
                let (qt, qt_desc) = self
                    .wsfc
                    .witness
                    .as_ref()
                    .map_or((0, "NODE_MAJORITY"), |(_, k)| k.quorum_type());
                let (qs, qs_desc) = match kind {
                    QuorumKind::Normal => (1, "NORMAL_QUORUM"),
                    QuorumKind::Forced => (2, "FORCED_QUORUM"),
                };
                vec![vec![s(&self.wsfc.name), int(qt), s(qt_desc), int(qs), s(qs_desc)]]
            }
        };
        ResultSet { columns, rows }
    }

    /// `sys.dm_hadr_cluster_members`: on a node with quorum, every node (UP when it is in
    /// this node's part of the cluster) and the witness (UP when this part holds it).
    fn hadr_cluster_members(&self, instance: &str) -> ResultSet {
        let columns = cols(&[
            ("member_name", SYSNAME, false),
            ("member_type", SqlType::TinyInt, true),
            ("member_type_desc", SqlType::NVarChar(50), true),
            ("member_state", SqlType::TinyInt, true),
            ("member_state_desc", DESC, true),
            ("number_of_quorum_votes", SqlType::TinyInt, true),
        ]);
        let mut rows = Vec::new();
        if self.node_quorum(instance).is_some()
            && let Some(me) = self.node_index(instance)
        {
            let state = |up: bool| {
                if up { (int(1), s("UP")) } else { (int(0), s("DOWN")) }
            };
            for (n, node) in self.wsfc.nodes.iter().enumerate() {
                let (st, st_desc) = state(self.wsfc.same_part(me, n));
                rows.push(vec![
                    s(&node.name),
                    int(0),
                    s("CLUSTER_NODE"),
                    st,
                    st_desc,
                    int(node.votes),
                ]);
            }
            if let Some((site, kind)) = &self.wsfc.witness {
                let (mt, mt_desc) = kind.member_type();
                let name = match kind {
                    super::config::WitnessKind::FileShareWitness => format!("\\\\{site}\\{}", self.wsfc.name),
                    super::config::WitnessKind::DiskWitness => "Cluster Disk 1".to_string(),
                    super::config::WitnessKind::CloudWitness => "Cloud Witness".to_string(),
                };
                let (st, st_desc) = state(self.wsfc.witness_part.contains(&me));
                rows.push(vec![s(&name), int(mt), s(mt_desc), st, st_desc, int(1)]);
            }
        }
        ResultSet { columns, rows }
    }

    /// `sys.dm_hadr_availability_replica_cluster_nodes`: for every WSFC group on `instance`,
    /// each replica and the node hosting it (from the node's copy of the cluster configuration,
    /// so with or without quorum).
    fn replica_cluster_nodes(&self, instance: &str) -> ResultSet {
        let columns = cols(&[
            ("group_name", SqlType::NVarChar(256), false),
            ("replica_server_name", SqlType::NVarChar(256), false),
            ("node_name", SqlType::NVarChar(256), false),
        ]);
        let mut rows = Vec::new();
        for (a, _) in self.hosted(instance) {
            let ag = &self.ags[a];
            if ag.cluster_type != super::config::ClusterType::Wsfc {
                continue;
            }
            for r in &ag.replicas {
                if let Some(n) = self.node_index(&r.instance) {
                    rows.push(vec![s(&ag.name), s(&r.instance), s(&self.wsfc.nodes[n].name)]);
                }
            }
        }
        ResultSet { columns, rows }
    }

    fn sys_databases(&self, instance: &str) -> ResultSet {
        let columns = cols(&[
            ("name", SYSNAME, true),
            ("database_id", SqlType::Int, false),
            ("create_date", SqlType::DateTime, false),
            ("compatibility_level", SqlType::TinyInt, false),
            ("collation_name", SYSNAME, true),
            ("is_read_only", SqlType::Bit, true),
            ("state", SqlType::TinyInt, true),
            ("state_desc", DESC, true),
            ("recovery_model_desc", DESC, true),
            ("replica_id", SqlType::UniqueIdentifier, true),
            ("group_database_id", SqlType::UniqueIdentifier, true),
        ]);
        // One row: name, id, recovery model, RECOVERY_PENDING?, AG ids.
        let row = |name: &str, id: i32, model: &str, pending: bool, ag: Option<([u8; 16], [u8; 16])>| {
            vec![
                s(name),
                int(id),
                Value::DateTime(self.epoch),
                int(160),
                s("SQL_Latin1_General_CP1_CI_AS"),
                Value::Bit(false),
                int(if pending { 3 } else { 0 }),
                s(if pending { "RECOVERY_PENDING" } else { "ONLINE" }),
                s(model),
                ag.map_or(Value::Null, |(r, _)| Value::Guid(r)),
                ag.map_or(Value::Null, |(_, g)| Value::Guid(g)),
            ]
        };
        let mut rows = vec![
            row("master", 1, "SIMPLE", false, None),
            row("tempdb", 2, "SIMPLE", false, None),
            row("model", 3, "FULL", false, None),
            row("msdb", 4, "FULL", false, None),
        ];
        for (a, local) in self.hosted(instance) {
            let rep = &self.ags[a].replicas[local];
            for (d, db) in self.ags[a].databases.iter().enumerate() {
                let ids = Some((rep.replica_id, db.group_database_id));
                rows.push(row(
                    &db.name,
                    db.database_id,
                    "FULL",
                    rep.copies[d].recovery_pending,
                    ids,
                ));
            }
        }
        for d in self
            .pool
            .dbs
            .iter()
            .filter(|d| d.instance.eq_ignore_ascii_case(instance))
        {
            let mut r = row(&d.name, d.database_id, "FULL", false, None);
            r[6] = int(d.state.code());
            r[7] = s(d.state.desc());
            rows.push(r);
        }
        ResultSet { columns, rows }
    }
}
