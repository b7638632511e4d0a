//! The receiver's NTP-style polling of the sender's timing port (PROTOCOL.md §6.4): one UDP
//! socket per session, a request every 3 s, replies folded into a [`ClockSync`] that the
//! mirror shell reads to map sender timestamps to local time.
//!
//! Some clients (macOS 15.2+, iPadOS 26.6) stop answering while still streaming: silence here
//! is logged once and never ends a session.

use super::sockets::udp_for_peer;
use crate::proto::timing::{ClockSync, NtpTimestamp, TimingReply, TimingRequest};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info};

/// How often the sender is polled.
pub const POLL_INTERVAL: Duration = Duration::from_secs(3);
/// How long one reply is awaited.
pub const REPLY_TIMEOUT: Duration = Duration::from_millis(300);
/// Unanswered polls before we say, once, that the client does not answer.
const SILENT_POLLS_BEFORE_NOTICE: u32 = 3;

/// A running timing poller; aborted on drop.
pub struct TimingHandle {
    pub local_port: u16,
    /// The clock estimate, updated after every reply.
    pub clock: watch::Receiver<ClockSync>,
    /// Becomes true once the client has failed to answer several polls in a row without
    /// ever answering.
    pub silent: watch::Receiver<bool>,
    task: JoinHandle<()>,
}

impl Drop for TimingHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The local wall clock as an NTP timestamp.
pub fn ntp_now() -> NtpTimestamp {
    NtpTimestamp::from_unix_time(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// Starts polling `client` (the sender's address with its timing port).
pub fn start(client: SocketAddr) -> io::Result<TimingHandle> {
    let socket = udp_for_peer(client.ip())?;
    let local_port = socket.local_addr()?.port();
    let (clock_tx, clock) = watch::channel(ClockSync::default());
    let (silent_tx, silent) = watch::channel(false);
    let task = tokio::spawn(async move {
        poll(socket, client, clock_tx, silent_tx).await;
    });
    Ok(TimingHandle {
        local_port,
        clock,
        silent,
        task,
    })
}

async fn poll(
    socket: tokio::net::UdpSocket,
    client: SocketAddr,
    clock_tx: watch::Sender<ClockSync>,
    silent_tx: watch::Sender<bool>,
) {
    let mut sync = ClockSync::default();
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    let mut last: Option<(NtpTimestamp, NtpTimestamp)> = None; // (their transmit, our receive)
    let mut unanswered = 0u32;
    let mut ever_answered = false;
    let mut buf = [0u8; 128];
    loop {
        ticker.tick().await;
        let t0 = ntp_now();
        let (reference, receive) = last.unwrap_or((NtpTimestamp(0), NtpTimestamp(0)));
        let request = TimingRequest {
            reference,
            receive,
            transmit: t0,
        };
        if let Err(e) = socket.send_to(&request.to_bytes(), client).await {
            debug!(error = %e, "timing request not sent");
            continue;
        }
        let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
        let mut answered = false;
        while let Ok(Ok((n, from))) =
            tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
        {
            if from.ip() != client.ip() {
                continue;
            }
            let t3 = ntp_now();
            let Ok(reply) = TimingReply::decode(&buf[..n]) else {
                debug!(len = n, "malformed timing reply ignored");
                continue;
            };
            if reply.origin != t0 {
                debug!("stale timing reply ignored");
                continue;
            }
            if let Err(e) = sync.add_sample(t0, reply.receive, reply.transmit, t3) {
                debug!(error = %e, "timing sample refused");
            }
            last = Some((reply.transmit, t3));
            let _ = clock_tx.send(sync.clone());
            answered = true;
            break;
        }
        if answered {
            ever_answered = true;
            unanswered = 0;
        } else {
            unanswered += 1;
            if !ever_answered && unanswered == SILENT_POLLS_BEFORE_NOTICE {
                info!(
                    %client,
                    "the client does not answer timing requests; timing video by arrival instead (seen with macOS 15.2 and later)"
                );
                let _ = silent_tx.send(true);
            }
        }
    }
}
