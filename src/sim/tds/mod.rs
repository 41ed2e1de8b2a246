//! A plaintext TDS 7.x server: each simulated replica is one endpoint that
//! tiberius and third-party clients (FreeTDS, python-tds) can log in to, send
//! SQL batches and `sp_executesql` RPCs, and get typed results back.
//!
//! The wire work lives here; what a batch *means* is up to a [`Backend`].

mod login;
mod packet;
mod params;
mod prelogin;
mod request;
mod server;
mod tokens;
mod types;
mod wire;

pub use server::{spawn_endpoint, spawn_endpoint_reporting};

use crate::sim::table::{Outcome, Param, ServerError};

/// What a client presented in LOGIN7. For integrated (SSPI) logins `user` and
/// `password` are empty, so the backend can refuse them like SQL Server would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
    pub database: Option<String>,
    pub app_name: String,
    pub host_name: String,
    /// The TDS version the client asked for, e.g. `0x74000004`.
    pub tds_version: u32,
}

/// The replica behind an endpoint: authenticates logins and names itself.
pub trait Backend: Send + Sync + 'static {
    type Session: Session;
    /// Called for each LOGIN7. `Err(e)` is sent as an ERROR token (e.g. 18456
    /// "Login failed for user 'x'.", class 14) and the connection is closed.
    fn login(&self, req: &LoginRequest) -> Result<Self::Session, ServerError>;
    /// The server name reported in ERROR/INFO tokens (e.g. "SQL-A").
    fn server_name(&self) -> String;
}

/// One logged-in connection's state (current database, open transaction, ...).
pub trait Session: Send + 'static {
    /// Runs one batch (a SQL batch packet, or the `@stmt` of an RPC
    /// `sp_executesql` with its parameters) and returns its outcomes in order.
    fn batch(&mut self, sql: String, params: Vec<Param>) -> impl std::future::Future<Output = Vec<Outcome>> + Send;
    /// Current database name (for the login ENVCHANGE).
    fn database(&self) -> String;
}

/// How an endpoint behaves, to simulate outages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Accept and serve.
    Up,
    /// Refuse new connections (no listener) and close existing ones; a batch
    /// in progress is dropped mid-way, like a crashed server would.
    Down,
    /// Accept connections but never answer, on existing connections too.
    Hang,
}
