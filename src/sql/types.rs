//! Values SQL Server reports about availability groups, as closed enums with an
//! escape hatch: a value drover has never heard of (a newer server, a typo in
//! the simulator) is kept as `Unknown(text)` rather than panicking or being
//! silently mapped to something it is not.

use std::fmt;

/// Declares a `*_desc` enum: known strings map to variants, anything else to `Unknown`.
macro_rules! desc_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version of drover does not know, kept verbatim.
            Unknown(String),
        }

        impl $name {
            /// Reads the server's text; never fails.
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    other => Self::Unknown(other.to_string()),
                }
            }

            /// The text SQL Server uses for this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Unknown(text) => text,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

desc_enum!(
    /// `role_desc` of a replica.
    Role {
        Primary => "PRIMARY",
        Secondary => "SECONDARY",
        /// No primary is known (lost quorum, failover in progress).
        Resolving => "RESOLVING",
    }
);

desc_enum!(
    /// `synchronization_state_desc` of a database replica.
    SyncState {
        NotSynchronizing => "NOT SYNCHRONIZING",
        Synchronizing => "SYNCHRONIZING",
        Synchronized => "SYNCHRONIZED",
        /// Undoing divergent log after a failover; must never be forced onto.
        Reverting => "REVERTING",
        /// Being seeded; must never be forced onto.
        Initializing => "INITIALIZING",
    }
);

desc_enum!(
    /// `synchronization_health_desc` of a replica or database replica.
    SyncHealth {
        NotHealthy => "NOT_HEALTHY",
        PartiallyHealthy => "PARTIALLY_HEALTHY",
        Healthy => "HEALTHY",
    }
);

desc_enum!(
    /// `connected_state_desc` of a replica.
    ConnectedState {
        Connected => "CONNECTED",
        Disconnected => "DISCONNECTED",
    }
);

desc_enum!(
    /// `operational_state_desc` of a replica (NULL for remote rows).
    OperationalState {
        PendingFailover => "PENDING_FAILOVER",
        Pending => "PENDING",
        Online => "ONLINE",
        Offline => "OFFLINE",
        Failed => "FAILED",
        FailedNoQuorum => "FAILED_NO_QUORUM",
    }
);

desc_enum!(
    /// `availability_mode_desc` of a replica.
    AvailabilityMode {
        AsynchronousCommit => "ASYNCHRONOUS_COMMIT",
        SynchronousCommit => "SYNCHRONOUS_COMMIT",
        ConfigurationOnly => "CONFIGURATION_ONLY",
    }
);

desc_enum!(
    /// `failover_mode_desc` of a replica.
    FailoverMode {
        Automatic => "AUTOMATIC",
        Manual => "MANUAL",
        /// Managed by an external cluster manager (Pacemaker).
        External => "EXTERNAL",
    }
);

desc_enum!(
    /// `suspend_reason_desc` of a database replica: who suspended data movement.
    SuspendReason {
        FromUser => "SUSPEND_FROM_USER",
        /// Typical after a forced failover: the partner suspended us.
        FromPartner => "SUSPEND_FROM_PARTNER",
        FromRedo => "SUSPEND_FROM_REDO",
        FromApply => "SUSPEND_FROM_APPLY",
        FromCapture => "SUSPEND_FROM_CAPTURE",
        FromRestart => "SUSPEND_FROM_RESTART",
        FromUndo => "SUSPEND_FROM_UNDO",
        FromRevalidation => "SUSPEND_FROM_REVALIDATION",
        FromXrfUpdate => "SUSPEND_FROM_XRF_UPDATE",
    }
);

desc_enum!(
    /// `database_state_desc` / `sys.databases.state_desc`.
    DatabaseState {
        Online => "ONLINE",
        Restoring => "RESTORING",
        Recovering => "RECOVERING",
        RecoveryPending => "RECOVERY_PENDING",
        Suspect => "SUSPECT",
        Emergency => "EMERGENCY",
        Offline => "OFFLINE",
    }
);

desc_enum!(
    /// `quorum_state_desc` of `sys.dm_hadr_cluster` (which has no row at all on a node
    /// without quorum).
    QuorumState {
        UnknownState => "UNKNOWN_QUORUM_STATE",
        Normal => "NORMAL_QUORUM",
        /// Quorum was forced on this side (`/forcequorum`): a minority runs the cluster.
        Forced => "FORCED_QUORUM",
    }
);

desc_enum!(
    /// `sys.database_mirroring.mirroring_role_desc` (NULL when not mirrored).
    MirroringRole {
        Principal => "PRINCIPAL",
        Mirror => "MIRROR",
    }
);

desc_enum!(
    /// `sys.database_mirroring.mirroring_state_desc` (NULL when not mirrored).
    MirroringState {
        Suspended => "SUSPENDED",
        /// The partner cannot be reached.
        Disconnected => "DISCONNECTED",
        Synchronizing => "SYNCHRONIZING",
        PendingFailover => "PENDING_FAILOVER",
        Synchronized => "SYNCHRONIZED",
    }
);

/// `sys.availability_groups.cluster_type`. The `_desc` strings are not
/// documented, so drover switches on the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClusterType {
    Wsfc,
    External,
    None,
    /// A code this version of drover does not know.
    Other(u8),
}

impl ClusterType {
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => Self::Wsfc,
            1 => Self::External,
            2 => Self::None,
            other => Self::Other(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Self::Wsfc => 0,
            Self::External => 1,
            Self::None => 2,
            Self::Other(code) => code,
        }
    }

    /// Reads a code (`"2"`) or a name (`"NONE"`, any case); `None` if it is neither.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(code) = text.parse::<u8>() {
            return Some(Self::from_code(code));
        }
        match text.to_ascii_uppercase().as_str() {
            "WSFC" => Some(Self::Wsfc),
            "EXTERNAL" => Some(Self::External),
            "NONE" => Some(Self::None),
            _ => Option::None,
        }
    }

    /// The name; `OTHER` for unknown codes (Display shows the code too).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wsfc => "WSFC",
            Self::External => "EXTERNAL",
            Self::None => "NONE",
            Self::Other(_) => "OTHER",
        }
    }
}

impl fmt::Display for ClusterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Other(code) => write!(f, "OTHER({code})"),
            known => f.write_str(known.as_str()),
        }
    }
}

/// A log position as reported in the numeric(25,0) LSN columns. Most of these
/// are log-block ids rather than true LSNs, but they order correctly, which is
/// all drover uses them for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u128);

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_round_trip() {
        for s in ["NOT SYNCHRONIZING", "SYNCHRONIZING", "SYNCHRONIZED", "REVERTING"] {
            assert_eq!(SyncState::parse(s).as_str(), s);
        }
        assert_eq!(SyncState::parse("NOT SYNCHRONIZING"), SyncState::NotSynchronizing);
        assert_eq!(Role::parse("RESOLVING"), Role::Resolving);
        assert_eq!(
            SuspendReason::parse("SUSPEND_FROM_XRF_UPDATE"),
            SuspendReason::FromXrfUpdate
        );
        assert_eq!(DatabaseState::parse("RECOVERY_PENDING").to_string(), "RECOVERY_PENDING");
        assert_eq!(
            OperationalState::parse("FAILED_NO_QUORUM"),
            OperationalState::FailedNoQuorum
        );
        assert_eq!(MirroringRole::parse("PRINCIPAL"), MirroringRole::Principal);
        assert_eq!(QuorumState::parse("FORCED_QUORUM"), QuorumState::Forced);
        assert_eq!(QuorumState::parse("UNKNOWN_QUORUM_STATE"), QuorumState::UnknownState);
        assert_eq!(QuorumState::Normal.as_str(), "NORMAL_QUORUM");
        assert_eq!(MirroringRole::Mirror.as_str(), "MIRROR");
        assert_eq!(
            MirroringState::parse("PENDING_FAILOVER"),
            MirroringState::PendingFailover
        );
        assert_eq!(
            MirroringState::parse("disconnected"),
            MirroringState::Unknown("disconnected".into())
        );
    }

    #[test]
    fn unknown_values_are_kept() {
        let r = Role::parse("PRIMARY_ISH");
        assert_eq!(r, Role::Unknown("PRIMARY_ISH".into()));
        assert_eq!(r.to_string(), "PRIMARY_ISH");
        // Underscore instead of the space SQL Server uses is not silently accepted.
        assert!(matches!(SyncState::parse("NOT_SYNCHRONIZING"), SyncState::Unknown(_)));
    }

    #[test]
    fn cluster_type_codes() {
        assert_eq!(ClusterType::from_code(0), ClusterType::Wsfc);
        assert_eq!(ClusterType::from_code(2), ClusterType::None);
        assert_eq!(ClusterType::from_code(9), ClusterType::Other(9));
        assert_eq!(ClusterType::Other(9).to_string(), "OTHER(9)");
        assert_eq!(ClusterType::parse("external"), Some(ClusterType::External));
        assert_eq!(ClusterType::parse("1"), Some(ClusterType::External));
        assert_eq!(ClusterType::parse("bogus"), None);
        assert_eq!(ClusterType::External.code(), 1);
    }

    #[test]
    fn lsns_order() {
        assert!(Lsn(41_000_000_123_400_001) < Lsn(41_000_000_123_500_001));
    }
}
