//! The sender's clock and its timing responder (PROTOCOL.md §6.4, seen from the phone).
//!
//! Owns: [`SenderClock`], the one clock every sender timestamp comes from (uptime, as iOS
//! uses: mirror headers carry it raw in 32.32, timing replies carry it plus 2 208 988 800 s),
//! and [`TimingResponder`], a UDP socket that answers the receiver's `0xD2` polls (or, for
//! the macOS profile, only counts them). Must not touch: the control connection or the
//! mirror stream.

use crate::proto::timing::{NTP_UNIX_EPOCH_OFFSET_SECS, NtpTimestamp, TimingRequest};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tracing::debug;

/// The sender's uptime clock: a monotonic reading taken once, advanced with [`Instant`].
#[derive(Debug, Clone, Copy)]
pub struct SenderClock {
    origin: Instant,
    uptime_at_origin: Duration,
}

impl Default for SenderClock {
    fn default() -> Self {
        Self::new()
    }
}

impl SenderClock {
    /// Reads the system's monotonic clock (time since boot on Linux) once.
    pub fn new() -> Self {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let uptime_at_origin = if rc == 0 {
            Duration::new(
                u64::try_from(ts.tv_sec).unwrap_or(0),
                u32::try_from(ts.tv_nsec).unwrap_or(0),
            )
        } else {
            Duration::ZERO
        };
        Self {
            origin: Instant::now(),
            uptime_at_origin,
        }
    }

    /// Uptime at `at` (instants before the origin count as the origin).
    pub fn uptime_at(&self, at: Instant) -> Duration {
        self.uptime_at_origin + at.saturating_duration_since(self.origin)
    }

    /// A mirror header timestamp: uptime in 32.32, no epoch offset (PROTOCOL.md §5.1).
    pub fn mirror_timestamp(&self, at: Instant) -> u64 {
        NtpTimestamp::from_duration(self.uptime_at(at)).0
    }

    /// A timing-reply timestamp: uptime + 2 208 988 800 s, as iOS answers.
    pub fn ntp(&self, at: Instant) -> NtpTimestamp {
        NtpTimestamp::from_duration(
            self.uptime_at(at) + Duration::from_secs(NTP_UNIX_EPOCH_OFFSET_SECS),
        )
    }
}

/// Counters of the timing exchange.
#[derive(Debug, Default)]
pub struct TimingCounters {
    pub requests: AtomicU64,
    pub replies: AtomicU64,
    pub malformed: AtomicU64,
}

/// A running responder; stops on drop.
pub struct TimingResponder {
    pub local_port: u16,
    pub counters: Arc<TimingCounters>,
    task: JoinHandle<()>,
}

impl Drop for TimingResponder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TimingResponder {
    /// Binds a UDP socket on `local` (port 0 for any) and answers every timing request with
    /// `clock`'s time, unless `answer` is false (then requests are only counted).
    pub async fn start(
        local: SocketAddr,
        clock: SenderClock,
        answer: bool,
    ) -> io::Result<TimingResponder> {
        let socket = UdpSocket::bind(local).await?;
        let local_port = socket.local_addr()?.port();
        let counters = Arc::new(TimingCounters::default());
        let c = counters.clone();
        let task = tokio::spawn(async move { respond(socket, clock, answer, c).await });
        Ok(TimingResponder {
            local_port,
            counters,
            task,
        })
    }

    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::Relaxed)
    }

    pub fn replies(&self) -> u64 {
        self.counters.replies.load(Ordering::Relaxed)
    }
}

async fn respond(socket: UdpSocket, clock: SenderClock, answer: bool, c: Arc<TimingCounters>) {
    let mut buf = [0u8; 128];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                debug!(error = %e, "timing socket receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let received = clock.ntp(Instant::now());
        let Some(request) = buf.get(..n).and_then(|b| TimingRequest::decode(b).ok()) else {
            c.malformed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        c.requests.fetch_add(1, Ordering::Relaxed);
        if !answer {
            continue;
        }
        let reply = request.reply(received, clock.ntp(Instant::now()));
        match socket.send_to(&reply.to_bytes(), from).await {
            Ok(_) => {
                c.replies.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => debug!(error = %e, "timing reply not sent"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::timing::TimingReply;

    #[test]
    fn mirror_and_ntp_timestamps_share_one_clock() {
        let clock = SenderClock::new();
        let at = Instant::now();
        let raw = clock.mirror_timestamp(at);
        let ntp = clock.ntp(at);
        assert_eq!(
            crate::proto::timing::mirror_to_client_ntp(raw),
            ntp,
            "header time + 2208988800 s must equal the timing reply's clock"
        );
        let later = clock.mirror_timestamp(at + Duration::from_millis(500));
        let diff = later.wrapping_sub(raw);
        assert!((diff as f64 / 4_294_967_296.0 - 0.5).abs() < 1e-6);
    }

    #[tokio::test]
    async fn answers_polls_and_the_silent_profile_only_counts_them() {
        let clock = SenderClock::new();
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let speaking = TimingResponder::start(local, clock, true).await.unwrap();
        let silent = TimingResponder::start(local, clock, false).await.unwrap();
        let poller = UdpSocket::bind(local).await.unwrap();
        let t0 = NtpTimestamp::from_parts(0xE000_0000, 0x1234);
        let request = TimingRequest::first(t0).to_bytes();

        poller
            .send_to(&request, ("127.0.0.1", speaking.local_port))
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), poller.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let reply = TimingReply::decode(&buf[..n]).unwrap();
        assert_eq!(reply.origin, t0);
        assert!(reply.transmit >= reply.receive);
        let now = clock.ntp(Instant::now());
        assert!(now.wrapping_diff(reply.transmit) >= 0);
        assert_eq!(speaking.replies(), 1);

        poller
            .send_to(&request, ("127.0.0.1", silent.local_port))
            .await
            .unwrap();
        poller
            .send_to(b"junk", ("127.0.0.1", silent.local_port))
            .await
            .unwrap();
        let got =
            tokio::time::timeout(Duration::from_millis(300), poller.recv_from(&mut buf)).await;
        assert!(got.is_err(), "the silent responder must not answer");
        assert_eq!(silent.requests(), 1);
        assert_eq!(silent.replies(), 0);
        assert_eq!(silent.counters.malformed.load(Ordering::Relaxed), 1);
    }
}
