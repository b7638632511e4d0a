//! Maps mirror-header timestamps (sender uptime, 32.32 fixed point, PROTOCOL.md §5.1) to
//! pipeline running time.
//!
//! With the timing exchange, a frame's capture instant is placed on the local clock (so audio
//! can later be aligned on the same clock); without it (clients that never answer timing
//! requests) the first frame's arrival anchors the sender's clock. Either way the stream's
//! first frame starts at running time `latency`. Pure arithmetic: callers pass the arrival
//! time and, when known, the capture time already mapped to the local clock.

use std::time::Duration;

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
pub const NTP_UNIX_OFFSET_SECS: i128 = 2_208_988_800;
const NANOS: i128 = 1_000_000_000;

/// A 32.32 fixed-point seconds value converted to nanoseconds.
pub fn fixed_32_32_to_nanos(raw: u64) -> i128 {
    let secs = i128::from(raw >> 32);
    let frac = i128::from(raw & 0xFFFF_FFFF);
    secs * NANOS + ((frac * NANOS) >> 32)
}

/// How the sender's clock is tied to ours for this stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// Through the NTP timing exchange.
    Ntp,
    /// Through the first frame's arrival.
    Arrival,
}

/// The per-stream timestamp mapper.
#[derive(Debug, Clone)]
pub struct PresentationClock {
    latency: Duration,
    /// First frame: (sender uptime nanos, local unix nanos it maps to).
    first: Option<(i128, i128)>,
    anchor: Option<Anchor>,
}

impl PresentationClock {
    pub fn new(latency: Duration) -> Self {
        Self {
            latency,
            first: None,
            anchor: None,
        }
    }

    /// How this stream is anchored, once the first frame was seen.
    pub fn anchor(&self) -> Option<Anchor> {
        self.anchor
    }

    /// Running time of a frame with header timestamp `raw`, which arrived at
    /// `arrival_unix_nanos` (local wall clock). `capture_unix_nanos` is the header timestamp
    /// mapped to the local wall clock through the timing exchange, when that is known.
    pub fn running_time(
        &mut self,
        raw: u64,
        arrival_unix_nanos: i128,
        capture_unix_nanos: Option<i128>,
    ) -> Duration {
        let uptime = fixed_32_32_to_nanos(raw);
        let (first_uptime, first_local) = *self
            .first
            .get_or_insert((uptime, capture_unix_nanos.unwrap_or(arrival_unix_nanos)));
        let anchor = *self.anchor.get_or_insert(if capture_unix_nanos.is_some() {
            Anchor::Ntp
        } else {
            Anchor::Arrival
        });
        let local = match (anchor, capture_unix_nanos) {
            (Anchor::Ntp, Some(capture)) => capture,
            _ => first_local + (uptime - first_uptime),
        };
        let since_start = (local - first_local).max(0);
        let nanos = u64::try_from(since_start).unwrap_or(u64::MAX);
        self.latency.saturating_add(Duration::from_nanos(nanos))
    }
}

/// An NTP timestamp (32.32 seconds since 1900) as nanoseconds since the Unix epoch.
pub fn ntp_to_unix_nanos(ntp: u64) -> i128 {
    fixed_32_32_to_nanos(ntp) - NTP_UNIX_OFFSET_SECS * NANOS
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1 << 32;

    #[test]
    fn fixed_point_converts() {
        assert_eq!(fixed_32_32_to_nanos(SEC), 1_000_000_000);
        assert_eq!(fixed_32_32_to_nanos(SEC / 2), 500_000_000);
        assert_eq!(fixed_32_32_to_nanos(3 * SEC + SEC / 4), 3_250_000_000);
    }

    #[test]
    fn arrival_anchor_follows_sender_spacing() {
        let mut c = PresentationClock::new(Duration::from_millis(10));
        let t = c.running_time(100 * SEC, 5_000_000_000, None);
        assert_eq!(t, Duration::from_millis(10));
        // 1/30 s later on the sender's clock, arriving with jitter.
        let t = c.running_time(100 * SEC + SEC / 30, 5_090_000_000, None);
        assert_eq!(t.as_nanos(), 10_000_000 + 33_333_333);
        assert_eq!(c.anchor(), Some(Anchor::Arrival));
    }

    #[test]
    fn ntp_anchor_follows_the_mapped_capture_times() {
        let base = 1_700_000_000 * 1_000_000_000i128;
        let mut c = PresentationClock::new(Duration::ZERO);
        assert_eq!(c.running_time(50 * SEC, 0, Some(base)), Duration::ZERO);
        let t = c.running_time(51 * SEC, 0, Some(base + 1_000_000_000));
        assert_eq!(t, Duration::from_secs(1));
        // The offset estimate improves by 2 ms: the frame moves with it.
        let t = c.running_time(52 * SEC, 0, Some(base + 2_002_000_000));
        assert_eq!(t, Duration::from_millis(2002));
        assert_eq!(c.anchor(), Some(Anchor::Ntp));
    }

    #[test]
    fn ntp_epoch_converts_to_unix() {
        let ntp = (NTP_UNIX_OFFSET_SECS as u64 + 10) << 32;
        assert_eq!(ntp_to_unix_nanos(ntp), 10_000_000_000);
    }

    #[test]
    fn earlier_frames_clamp_to_the_start() {
        let mut c = PresentationClock::new(Duration::from_millis(5));
        c.running_time(10 * SEC, 0, None);
        assert_eq!(c.running_time(9 * SEC, 0, None), Duration::from_millis(5));
        assert!(c.running_time(u64::MAX, 0, None).as_secs() > 1_000_000);
    }
}
