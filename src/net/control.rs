//! The control server: one tokio task per TCP connection, feeding requests to a
//! [`Session`] and writing its replies. Enforces the connection, size and time limits so a
//! hostile or broken client gets a status and a close, never an unbounded buffer or a task
//! that lives forever, and never disturbs another client's session.

use super::sockets::canonical;
use crate::proto::rtsp::{Limits, Protocol, Response, parse_request};
use crate::proto::session::{
    KeySource, Opened, Outcome, PendingSetup, Refusal, SERVER_HEADER, Session, SessionContext,
    SessionEvent,
};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};

/// Identifies one control connection.
pub type ConnId = u64;

/// What the control server needs from the rest of the receiver.
pub trait SessionHost: Send + Sync + 'static {
    /// Opens the sockets a SETUP asks for, or refuses (busy, failure).
    fn open(
        &self,
        conn: ConnId,
        peer: SocketAddr,
        local: SocketAddr,
        pending: &PendingSetup,
    ) -> Result<Vec<Opened>, Refusal>;
    /// Acts on a session event (teardown, volume, feedback...).
    fn event(&self, conn: ConnId, event: SessionEvent);
    /// The connection is gone: release whatever it held.
    fn closed(&self, conn: ConnId);
}

/// Limits of the control server.
#[derive(Debug, Clone)]
pub struct ControlLimits {
    pub parse: Limits,
    /// Connections in all (PROTOCOL allows 12 on an Apple TV; we default to 32).
    pub max_connections: usize,
    /// Connections from one address, so one host cannot take every slot.
    pub max_per_peer: usize,
    /// A request started but not finished within this is dropped.
    pub stall_timeout: Duration,
    /// A connection with no session and no request for this long is closed.
    pub idle_timeout: Duration,
    /// A connection with a session and no request (iOS sends /feedback every 1-2 s) for this
    /// long has lost its client.
    pub session_timeout: Duration,
}

impl Default for ControlLimits {
    fn default() -> Self {
        Self {
            parse: Limits::default(),
            max_connections: 32,
            max_per_peer: 8,
            stall_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            session_timeout: Duration::from_secs(30),
        }
    }
}

/// Makes the ephemeral-key source of each new session.
pub type KeySourceFactory = Arc<dyn Fn() -> KeySource + Send + Sync>;

/// The accept loop. Returns when `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<SessionContext>,
    host: Arc<dyn SessionHost>,
    limits: ControlLimits,
    key_sources: KeySourceFactory,
    mut shutdown: watch::Receiver<bool>,
) {
    let counts = Arc::new(Mutex::new(Counts::default()));
    let next_id = AtomicU64::new(1);
    let limits = Arc::new(limits);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => break,
        };
        let (mut stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let peer = canonical(peer);
        let Some(slot) = Slot::take(&counts, peer.ip(), &limits) else {
            warn!(%peer, "too many connections; refusing");
            tokio::spawn(async move {
                let mut out = Vec::new();
                error_response(503).encode(&mut out);
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&out)).await;
            });
            continue;
        };
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let local = stream.local_addr().map(canonical).unwrap_or(peer);
        let session = Session::new(ctx.clone(), key_sources());
        let host = host.clone();
        let limits = limits.clone();
        let shutdown = shutdown.clone();
        let span = info_span!("conn", id, %peer);
        tokio::spawn(
            async move {
                debug!("connected");
                let conn = Connection {
                    id,
                    peer,
                    local,
                    session,
                    host: host.clone(),
                    limits,
                };
                let _release = Release {
                    host: host.clone(),
                    id,
                };
                conn.run(stream, shutdown).await;
                drop(slot);
                debug!("closed");
            }
            .instrument(span),
        );
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
}

/// A taken connection slot, given back on drop.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Slot {
    fn take(counts: &Arc<Mutex<Counts>>, ip: IpAddr, limits: &ControlLimits) -> Option<Slot> {
        let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
        let mine = c.per_peer.get(&ip).copied().unwrap_or(0);
        if c.total >= limits.max_connections || mine >= limits.max_per_peer {
            return None;
        }
        c.total += 1;
        c.per_peer.insert(ip, mine + 1);
        Some(Slot {
            counts: counts.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_peer.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_peer.remove(&self.ip);
            }
        }
    }
}

/// Tells the host a connection is gone when its task ends, however it ends (a panic in a
/// handler included), so a session is never left holding the receiver.
struct Release {
    host: Arc<dyn SessionHost>,
    id: ConnId,
}

impl Drop for Release {
    fn drop(&mut self) {
        self.host.closed(self.id);
    }
}

fn error_response(status: u16) -> Response {
    let mut r = Response::new(Protocol::Rtsp10, status);
    r.headers.push("Server", SERVER_HEADER);
    r.headers.push("Connection", "close");
    r
}

struct Connection {
    id: ConnId,
    peer: SocketAddr,
    local: SocketAddr,
    session: Session,
    host: Arc<dyn SessionHost>,
    limits: Arc<ControlLimits>,
}

enum Read {
    Data,
    Eof,
    TimedOut,
    Shutdown,
}

impl Connection {
    async fn run(mut self, mut stream: TcpStream, mut shutdown: watch::Receiver<bool>) {
        let _ = stream.set_nodelay(true);
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        let mut out = Vec::with_capacity(1024);
        // When the request being received began: the stall limit runs from its first byte,
        // so a client trickling one byte at a time cannot hold a connection slot forever.
        let mut request_started: Option<tokio::time::Instant> = None;
        loop {
            match parse_request(&buf, &self.limits.parse) {
                Ok(Some((req, used))) => {
                    buf.drain(..used);
                    request_started = (!buf.is_empty()).then(tokio::time::Instant::now);
                    let reply = match self.session.handle(&req, Instant::now()) {
                        Outcome::Reply(r) => r,
                        Outcome::Open(pending) => {
                            let res = self.host.open(self.id, self.peer, self.local, &pending);
                            self.session.complete(pending, res)
                        }
                    };
                    for event in reply.events {
                        self.host.event(self.id, event);
                    }
                    out.clear();
                    reply.response.encode(&mut out);
                    if !self.write(&mut stream, &out, &mut shutdown).await {
                        return;
                    }
                    if reply.close {
                        debug!(status = reply.response.status, "closing after this reply");
                        return;
                    }
                }
                Ok(None) => {
                    let stall_deadline = request_started.map(|t| t + self.limits.stall_timeout);
                    let read = self.read_more(
                        &mut stream,
                        &mut buf,
                        &mut chunk,
                        &mut shutdown,
                        stall_deadline,
                    );
                    match read.await {
                        Read::Data => {
                            request_started.get_or_insert_with(tokio::time::Instant::now);
                        }
                        Read::Eof | Read::Shutdown | Read::TimedOut => return,
                    }
                }
                Err(e) => {
                    warn!(error = %e, status = e.status(), "bad request; closing");
                    out.clear();
                    error_response(e.status()).encode(&mut out);
                    self.write(&mut stream, &out, &mut shutdown).await;
                    return;
                }
            }
        }
    }

    /// Writes a whole reply, giving up after the stall timeout (a client that never reads
    /// must not pin this task) or at shutdown. Returns whether it was written.
    async fn write(
        &self,
        stream: &mut TcpStream,
        bytes: &[u8],
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        tokio::select! {
            r = tokio::time::timeout(self.limits.stall_timeout, stream.write_all(bytes)) => match r {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    debug!(error = %e, "write failed");
                    false
                }
                Err(_) => {
                    warn!("the client does not read its replies; closing");
                    false
                }
            },
            _ = shutdown.changed() => false,
        }
    }

    /// Reads more bytes. `stall_deadline` is set while a request is half received; between
    /// requests the idle or session timeout applies.
    async fn read_more(
        &self,
        stream: &mut TcpStream,
        buf: &mut Vec<u8>,
        chunk: &mut [u8],
        shutdown: &mut watch::Receiver<bool>,
        stall_deadline: Option<tokio::time::Instant>,
    ) -> Read {
        let between_requests = stall_deadline.is_none();
        let timeout = if self.session.is_established() {
            self.limits.session_timeout
        } else {
            self.limits.idle_timeout
        };
        let deadline = stall_deadline.unwrap_or_else(|| tokio::time::Instant::now() + timeout);
        tokio::select! {
            r = tokio::time::timeout_at(deadline, stream.read(chunk)) => match r {
                Err(_) => {
                    if between_requests && self.session.is_established() {
                        info!("no request for {timeout:?}: the client is gone");
                    } else if between_requests {
                        debug!("idle connection closed");
                    } else {
                        warn!(buffered = buf.len(), "request stalled half-way; closing");
                    }
                    Read::TimedOut
                }
                Ok(Ok(0)) => Read::Eof,
                Ok(Ok(n)) => {
                    buf.extend_from_slice(&chunk[..n]);
                    Read::Data
                }
                Ok(Err(e)) => {
                    debug!(error = %e, "read failed");
                    Read::Eof
                }
            },
            _ = shutdown.changed() => Read::Shutdown,
        }
    }
}
