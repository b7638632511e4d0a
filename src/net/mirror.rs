//! The mirror data connection (type-110 stream, PROTOCOL.md §5): a TCP listener on the port
//! the SETUP reply announced, one accepted connection from the session's client, and a read
//! loop of 128-byte headers and payloads handed to [`MirrorStream`]. What comes out goes to a
//! callback (the app's video path). A bad packet ends only this stream, never the session.

use super::sockets::{canonical, set_keepalive, tcp_listener_for_peer};
use crate::proto::mirror::{HEADER_LEN, MirrorEvent, MirrorHeader, MirrorStream};
use crate::proto::presentation::{PresentationClock, ntp_to_unix_nanos};
use crate::proto::timing::{ClockSync, mirror_to_client_ntp};
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, info_span, warn};

/// How long the client has to open the mirror connection before we say so in the log.
const CONNECT_NOTICE_AFTER: Duration = Duration::from_secs(10);

/// What the mirror stream produces for the video path.
#[derive(Debug)]
pub enum MirrorOutput {
    /// A decoded-ready event from the stream, with the frame's running time when synced.
    Event {
        event: MirrorEvent,
        pts: Option<Duration>,
        received: Instant,
    },
    /// The stream ended (sender closed it, vanished, or sent something we cannot use).
    Ended { reason: String },
}

/// Receives the mirror stream's output.
pub type MirrorCallback = Arc<dyn Fn(MirrorOutput) + Send + Sync>;

/// Everything a mirror stream needs.
pub struct MirrorParams {
    pub key: [u8; 16],
    pub iv: [u8; 16],
    pub h265_advertised: bool,
    /// Present frames on the sender's clock (`--video-sync on`).
    pub sync: bool,
    /// The session's timing estimate, if the client has a timing port.
    pub clock: Option<watch::Receiver<ClockSync>>,
}

/// An open mirror listener/stream; aborted on drop.
pub struct MirrorHandle {
    pub data_port: u16,
    task: JoinHandle<()>,
}

impl Drop for MirrorHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Opens the listener for a client at `peer` and starts the stream task.
pub fn open(peer: IpAddr, params: MirrorParams, out: MirrorCallback) -> io::Result<MirrorHandle> {
    let listener = tcp_listener_for_peer(peer)?;
    let data_port = listener.local_addr()?.port();
    let span = info_span!("mirror", port = data_port);
    let task = tokio::spawn(
        async move {
            let reason = match accept_client(&listener, peer).await {
                Ok(stream) => {
                    drop(listener);
                    read_stream(stream, params, &out).await
                }
                Err(e) => format!("accept failed: {e}"),
            };
            out(MirrorOutput::Ended { reason });
        }
        .instrument(span),
    );
    Ok(MirrorHandle { data_port, task })
}

async fn accept_client(listener: &TcpListener, peer: IpAddr) -> io::Result<TcpStream> {
    let started = Instant::now();
    let mut noticed = false;
    loop {
        let accepted = if noticed {
            listener.accept().await
        } else {
            match tokio::time::timeout(CONNECT_NOTICE_AFTER, listener.accept()).await {
                Ok(r) => r,
                Err(_) => {
                    noticed = true;
                    warn!(
                        "the client negotiated video but has not opened the mirror connection after {:?}",
                        started.elapsed()
                    );
                    continue;
                }
            }
        };
        let (stream, from) = accepted?;
        if canonical(from).ip() == peer {
            return Ok(stream);
        }
        warn!(%from, "mirror connection from another host refused");
    }
}

async fn read_stream(mut stream: TcpStream, params: MirrorParams, out: &MirrorCallback) -> String {
    if let Err(e) = set_keepalive(&stream) {
        debug!(error = %e, "keepalive not set");
    }
    let _ = stream.set_nodelay(true);
    info!("mirror stream connected");
    let mut mirror = MirrorStream::new(&params.key, &params.iv, params.h265_advertised);
    let mut clock = PresentationClock::new(Duration::ZERO);
    let mut header = [0u8; HEADER_LEN];
    loop {
        match stream.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return "the sender closed the mirror stream".to_owned();
            }
            Err(e) => return format!("mirror stream read failed: {e}"),
        }
        let header = match MirrorHeader::decode(&header) {
            Ok(h) => h,
            Err(e) => {
                warn!(error = %e, "bad mirror header; ending the stream");
                return format!("bad mirror header: {e}");
            }
        };
        let mut payload = vec![0u8; header.payload_size as usize];
        if let Err(e) = stream.read_exact(&mut payload).await {
            return if e.kind() == io::ErrorKind::UnexpectedEof {
                "the sender disconnected in the middle of a packet".to_owned()
            } else {
                format!("mirror stream read failed: {e}")
            };
        }
        let received = Instant::now();
        let event = match mirror.handle(&header, payload) {
            Ok(ev) => ev,
            Err(e) => {
                warn!(error = %e, "unusable mirror packet; ending the stream");
                return format!("unusable mirror packet: {e}");
            }
        };
        let pts = match (&event, params.sync) {
            (MirrorEvent::Frame(frame), true) => {
                let capture = params.clock.as_ref().and_then(|c| {
                    c.borrow()
                        .client_to_local(mirror_to_client_ntp(frame.timestamp))
                        .map(|ntp| ntp_to_unix_nanos(ntp.0))
                });
                Some(clock.running_time(frame.timestamp, unix_nanos_now(), capture))
            }
            _ => None,
        };
        out(MirrorOutput::Event {
            event,
            pts,
            received,
        });
    }
}

fn unix_nanos_now() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}
