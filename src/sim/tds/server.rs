//! The listener (which follows the endpoint's availability) and the
//! per-connection loop: PRELOGIN, LOGIN7, then requests until EOF.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::login::{self, Version};
use super::packet::{self, Message, Reassembler};
use super::tokens::{self, Ctx, Framing};
use super::{Availability, Backend, Session, prelogin, request};
use crate::sim::table::Outcome;

/// SPIDs below 51 are system sessions in SQL Server; mimic that.
static NEXT_SPID: AtomicU16 = AtomicU16::new(51);

/// Binds `addr` (port 0 picks a free one) and serves until the availability
/// sender is dropped. `Down` drops the listener (connections are refused) and
/// closes open connections; `Up` again re-binds the same port. `Hang` accepts
/// but never answers.
pub async fn spawn_endpoint<B: Backend>(
    addr: SocketAddr,
    backend: Arc<B>,
    availability: watch::Receiver<Availability>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let (applied, _) = watch::channel(Availability::Up);
    spawn_endpoint_reporting(addr, backend, availability, applied).await
}

/// As [`spawn_endpoint`], and publishes each availability once it is in
/// effect (listener dropped or bound again) on `applied`, so a caller can make
/// "stop" mean "connections are refused from now on".
pub async fn spawn_endpoint_reporting<B: Backend>(
    addr: SocketAddr,
    backend: Arc<B>,
    availability: watch::Receiver<Availability>,
    applied: watch::Sender<Availability>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = bind(addr)?;
    let local = listener.local_addr()?;
    let handle = tokio::spawn(supervise(listener, local, backend, availability, applied));
    Ok((local, handle))
}

/// SO_REUSEADDR so that re-binding after `Down` works despite TIME_WAIT sockets.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn supervise<B: Backend>(
    listener: TcpListener,
    local: SocketAddr,
    backend: Arc<B>,
    mut avail: watch::Receiver<Availability>,
    applied: watch::Sender<Availability>,
) {
    let mut listener = Some(listener);
    loop {
        let state = *avail.borrow_and_update();
        if state == Availability::Down {
            listener = None;
            applied.send_replace(state);
        } else if listener.is_none() {
            match bind(local) {
                Ok(l) => {
                    listener = Some(l);
                    applied.send_replace(state);
                }
                Err(e) => {
                    tracing::warn!(%local, error = %e, "re-binding TDS endpoint failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                        r = avail.changed() => if r.is_err() { return } else { continue },
                    }
                }
            }
        }
        if listener.is_some() {
            applied.send_replace(state);
        }
        let Some(l) = &listener else {
            if avail.changed().await.is_err() {
                return;
            }
            continue;
        };
        tokio::select! {
            accepted = l.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%local, %peer, "TDS connection accepted");
                    let conn = Conn::new(stream, avail.clone());
                    tokio::spawn(conn.run(backend.clone()));
                }
                Err(e) => tracing::debug!(%local, error = %e, "accept failed"),
            },
            r = avail.changed() => if r.is_err() { return },
        }
    }
}

/// Why a connection ends; only logged.
#[derive(Debug)]
enum End {
    Eof,
    Down,
    Malformed,
    Io(#[allow(dead_code, reason = "read through Debug when logged")] std::io::Error),
}

impl From<super::wire::Malformed> for End {
    fn from(_: super::wire::Malformed) -> Self {
        End::Malformed
    }
}

struct Conn {
    stream: TcpStream,
    reader: Reassembler,
    avail: watch::Receiver<Availability>,
    spid: u16,
    packet_size: usize,
}

impl Conn {
    fn new(stream: TcpStream, avail: watch::Receiver<Availability>) -> Self {
        Self {
            stream,
            reader: Reassembler::default(),
            avail,
            spid: NEXT_SPID.fetch_add(1, Ordering::Relaxed),
            packet_size: packet::DEFAULT_PACKET_SIZE,
        }
    }

    async fn run<B: Backend>(mut self, backend: Arc<B>) {
        let end = self.serve(&*backend).await;
        tracing::debug!(spid = self.spid, ?end, "TDS connection closed");
    }

    async fn serve<B: Backend>(&mut self, backend: &B) -> End {
        match self.serve_inner(backend).await {
            Ok(never) => match never {},
            Err(end) => end,
        }
    }

    async fn serve_inner<B: Backend>(&mut self, backend: &B) -> Result<std::convert::Infallible, End> {
        let server = backend.server_name();
        let mut msg = self.next_message().await?;
        if msg.ty == packet::TY_PRELOGIN {
            let pre = prelogin::parse(&msg.payload)?;
            tracing::debug!(spid = self.spid, encryption = ?pre.encryption, "PRELOGIN");
            self.send(&prelogin::response()).await?;
            msg = self.next_message().await?;
        }
        if msg.ty != packet::TY_LOGIN7 {
            return Err(End::Malformed);
        }
        let mut login = login::parse(&msg.payload)?;
        let version = Version::negotiate(login.request.tds_version);
        let ctx = Ctx {
            version,
            server: &server,
        };
        if login.integrated_security {
            login.request.user.clear();
            login.request.password.clear();
        }
        let mut session = match backend.login(&login.request) {
            Ok(s) => s,
            Err(e) => {
                self.send(&tokens::login_failed(&ctx, &e)).await?;
                return Err(End::Eof);
            }
        };
        let size = match login.packet_size {
            n @ 512..=32767 => n as usize,
            _ => packet::DEFAULT_PACKET_SIZE,
        };
        self.send(&tokens::login_ack(&ctx, &session.database(), size)).await?;
        self.packet_size = size;

        loop {
            let msg = self.next_message().await?;
            let response = match msg.ty {
                packet::TY_BATCH => {
                    let decoded = request::batch(&msg.payload, version)?;
                    self.execute(&mut session, &ctx, Framing::Batch, decoded).await?
                }
                packet::TY_RPC => {
                    let decoded = request::rpc(&msg.payload, version)?;
                    self.execute(&mut session, &ctx, Framing::Rpc, decoded).await?
                }
                packet::TY_ATTENTION => {
                    let mut buf = Vec::new();
                    tokens::done(&mut buf, &ctx, tokens::DONE, tokens::DONE_ATTN, 0, 0);
                    buf
                }
                packet::TY_TRANSACTION => tokens::outcomes(&ctx, Framing::Batch, &[]),
                _ => return Err(End::Malformed),
            };
            self.send(&response).await?;
        }
    }

    /// Runs a decoded request; an outage during the run ends the connection.
    async fn execute<S: Session>(
        &mut self,
        session: &mut S,
        ctx: &Ctx<'_>,
        framing: Framing,
        decoded: request::Decoded,
    ) -> Result<Vec<u8>, End> {
        let outcomes = match decoded {
            Err(e) => vec![Outcome::Error(e)],
            Ok((sql, params)) => {
                let fut = std::pin::pin!(session.batch(sql, params));
                tokio::select! {
                    outs = fut => outs,
                    end = wait_for_down(&mut self.avail) => return Err(end),
                }
            }
        };
        Ok(tokens::outcomes(ctx, framing, &outcomes))
    }

    /// Sends one response message, unless the endpoint went down or hung meanwhile.
    async fn send(&mut self, payload: &[u8]) -> Result<(), End> {
        let state = *self.avail.borrow();
        match state {
            Availability::Up => {}
            Availability::Down => return Err(End::Down),
            Availability::Hang => return Err(self.hang().await),
        }
        let bytes = packet::frame(packet::TY_RESPONSE, payload, self.packet_size, self.spid);
        tokio::select! {
            r = self.stream.write_all(&bytes) => r.map_err(End::Io),
            end = wait_for_down(&mut self.avail) => Err(end),
        }
    }

    /// The next whole message; EOF, an outage or garbage end the connection.
    async fn next_message(&mut self) -> Result<Message, End> {
        let mut buf = vec![0u8; 8192];
        loop {
            if let Some(msg) = self.reader.next_message()? {
                return Ok(msg);
            }
            if *self.avail.borrow() == Availability::Hang {
                return Err(self.hang().await);
            }
            tokio::select! {
                n = self.stream.read(&mut buf) => match n {
                    Ok(0) => return Err(End::Eof),
                    Ok(n) => self.reader.push(&buf[..n]),
                    Err(e) => return Err(End::Io(e)),
                },
                r = self.avail.changed() => match r {
                    Err(_) => return Err(End::Down),
                    Ok(()) if *self.avail.borrow() == Availability::Down => return Err(End::Down),
                    Ok(()) => {}
                },
            }
        }
    }

    /// A hung server: read and discard until the client gives up or the endpoint goes down.
    async fn hang(&mut self) -> End {
        let mut buf = vec![0u8; 8192];
        loop {
            tokio::select! {
                n = self.stream.read(&mut buf) => match n {
                    Ok(0) => return End::Eof,
                    Ok(_) => {}
                    Err(e) => return End::Io(e),
                },
                end = wait_for_down(&mut self.avail) => return end,
            }
        }
    }
}

/// Resolves once the endpoint is `Down` or its availability sender is gone.
async fn wait_for_down(avail: &mut watch::Receiver<Availability>) -> End {
    loop {
        if *avail.borrow_and_update() == Availability::Down {
            return End::Down;
        }
        if avail.changed().await.is_err() {
            return End::Down;
        }
    }
}
