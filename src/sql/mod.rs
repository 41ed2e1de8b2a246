//! The SQL layer: what drover sends to SQL Server and how it reads the answers.
//!
//! - [`quote`]: the only place names from specs become T-SQL.
//! - [`types`]: observed values as enums that keep what they do not know.
//! - [`observe`]: the per-poll observation batch and its typed result.
//! - [`pool`]: the same for a Persistent Chat pool's instances (log shipping, mirroring).
//! - [`command`]: actions as typed commands that know where they must run.
//! - [`error`]: errors and classification of server error numbers.
//! - [`connect`]: one lazily opened, time-bounded connection per replica.

pub mod command;
pub mod connect;
pub mod error;
pub mod observe;
pub mod pool;
pub mod quote;
pub mod types;

pub use command::{Action, Command, CommitMode, RunsOn, UnsettableMode};
pub use connect::{
    Credentials, Encryption, Endpoint, Executed, ReplicaClient, ResultLimit, Timeouts, Tls, install_crypto_provider,
};
pub use error::{ErrorCategory, SqlError, classify};
pub use observe::{
    ClusterMember, DatabaseReplicaState, GroupObservation, LocalDatabase, OBSERVATION_BATCH, ReplicaNode,
    ReplicaObservation, ReplicaRuntime, ReplicaState, RowReader, WsfcObservation, parse_observation,
};
pub use pool::{
    LogShippingSecondary, Mirroring, POOL_OBSERVATION_BATCH, PoolDatabase, PoolInstanceObservation, Session,
    parse_pool_observation,
};
pub use quote::{Ident, QuoteError};
pub use types::{
    AvailabilityMode, ClusterType, ConnectedState, DatabaseState, FailoverMode, Lsn, MirroringRole, MirroringState,
    OperationalState, QuorumState, Role, SuspendReason, SyncHealth, SyncState,
};
