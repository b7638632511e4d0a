//! The NTP-like timing exchange of PROTOCOL.md §6.4 and the clock-offset estimate built on it.
//!
//! Owns: the 32.32 fixed-point timestamp type, the 32-byte timing request/reply codec, the
//! sender-side reply builder, and [`ClockSync`], which turns (t0, t1, t2, t3) samples into an
//! offset between the client's clock and ours. Must not touch sockets or read a clock: the
//! shell passes every time in, on whatever local clock it chooses (a monotonic clock is
//! best); [`ClockSync::client_to_local`] answers on that same clock.
//!
//! All arithmetic is modulo 2^64 in units of 2^-32 s (one NTP era), so wrap-around and
//! hostile values never panic. Differences are read as signed, i.e. valid within ±68 years.

use std::time::Duration;

/// Seconds from 1900-01-01 (NTP epoch) to 1970-01-01 (Unix epoch): 2 208 988 800.
pub const NTP_UNIX_EPOCH_OFFSET_SECS: u64 = 0x83AA_7E80;
/// Length of both timing packets.
pub const TIMING_PACKET_LEN: usize = 0x20;
/// How many recent samples [`ClockSync`] keeps (UxPlay: 8).
pub const CLOCK_SAMPLES: usize = 8;

/// Byte 0: RTP version 2, no padding, extension or CSRC.
const HEADER_BYTE0: u8 = 0x80;
/// Byte 1 of a request: marker bit and payload type 0x52.
const REQUEST_TYPE: u8 = 0xD2;
/// Byte 1 of a reply: marker bit and payload type 0x53.
const REPLY_TYPE: u8 = 0xD3;
/// Bytes 2..8 as sent by UxPlay and iOS: "sequence" 7 and four zero bytes.
const HEADER_TAIL: [u8; 6] = [0x00, 0x07, 0x00, 0x00, 0x00, 0x00];
const MARKER_BIT: u8 = 0x80;
const VERSION_MASK: u8 = 0xC0;
const NANOS_PER_SEC: u128 = 1_000_000_000;
const FRACTION_BITS: u32 = 32;

/// Why a timing packet or sample was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    #[error("timing packet must be {TIMING_PACKET_LEN} bytes, got {0}")]
    WrongLength(usize),
    #[error("timing packet byte 0 is {0:#04x}, not RTP version 2")]
    BadVersion(u8),
    #[error("timing packet type {got:#04x}, expected {expected:#04x}")]
    WrongType { expected: u8, got: u8 },
    #[error("timing sample has a negative or absurd round-trip delay")]
    ImplausibleSample,
}

/// A 32.32 fixed-point time: high 32 bits seconds, low 32 bits fraction of a second.
///
/// Whether the seconds count from 1900 (NTP wall time), from client boot plus 1900 (iOS
/// timing replies), or from client boot alone (mirror headers) depends on the source.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    pub fn from_parts(seconds: u32, fraction: u32) -> Self {
        Self((u64::from(seconds) << FRACTION_BITS) | u64::from(fraction))
    }

    pub fn seconds(self) -> u32 {
        (self.0 >> FRACTION_BITS) as u32
    }

    pub fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// The raw 32.32 value of `d` (no epoch shift); seconds wrap modulo 2^32. The fraction is
    /// rounded up so that [`NtpTimestamp::to_duration`] gives back the same nanoseconds.
    pub fn from_duration(d: Duration) -> Self {
        let nanos = u128::from(d.subsec_nanos());
        let fraction = (nanos << FRACTION_BITS).div_ceil(NANOS_PER_SEC);
        let seconds = d.as_secs() & u64::from(u32::MAX);
        Self((seconds << FRACTION_BITS) | (fraction as u64 & u64::from(u32::MAX)))
    }

    /// NTP wall time for `since_unix_epoch` (adds the 1900→1970 offset; wraps in 2036).
    pub fn from_unix_time(since_unix_epoch: Duration) -> Self {
        Self::from_duration(since_unix_epoch)
            .wrapping_add_fixed(NTP_UNIX_EPOCH_OFFSET_SECS << FRACTION_BITS)
    }

    /// The raw 32.32 value as a duration (seconds and fraction, no epoch handling), floored
    /// to whole nanoseconds.
    pub fn to_duration(self) -> Duration {
        fixed_to_duration(self.0)
    }

    /// `self - earlier` read as a signed 32.32 difference (units of 2^-32 s).
    pub fn wrapping_diff(self, earlier: NtpTimestamp) -> i64 {
        self.0.wrapping_sub(earlier.0) as i64
    }

    fn wrapping_add_fixed(self, fixed: u64) -> Self {
        Self(self.0.wrapping_add(fixed))
    }
}

/// A mirror header timestamp (client uptime in 32.32, no 1900 offset, PROTOCOL.md §5.1) on the
/// clock the client's timing replies use (uptime + 2 208 988 800 s), ready for
/// [`ClockSync::client_to_local`].
pub fn mirror_to_client_ntp(raw: u64) -> NtpTimestamp {
    NtpTimestamp(raw).wrapping_add_fixed(NTP_UNIX_EPOCH_OFFSET_SECS << FRACTION_BITS)
}

fn fixed_to_duration(fixed: u64) -> Duration {
    let fraction = u128::from(fixed & u64::from(u32::MAX));
    let nanos = (fraction * NANOS_PER_SEC) >> FRACTION_BITS;
    Duration::new(fixed >> FRACTION_BITS, nanos as u32)
}

/// A signed 32.32 quantity in nanoseconds, floored.
fn signed_fixed_to_nanos(fixed: i64) -> i128 {
    (i128::from(fixed) * NANOS_PER_SEC as i128) >> FRACTION_BITS
}

fn put_u64(out: &mut Vec<u8>, value: NtpTimestamp) {
    out.extend_from_slice(&value.0.to_be_bytes());
}

/// Checks length, version and type; returns the three timestamps at bytes 8, 16 and 24.
/// Bytes 2..8 are not checked: their meaning is unknown and nothing depends on them.
fn decode_packet(bytes: &[u8], expected_type: u8) -> Result<[NtpTimestamp; 3], TimingError> {
    let packet: &[u8; TIMING_PACKET_LEN] = bytes
        .try_into()
        .map_err(|_| TimingError::WrongLength(bytes.len()))?;
    let [byte0, byte1, ..] = *packet;
    if byte0 & VERSION_MASK != HEADER_BYTE0 {
        return Err(TimingError::BadVersion(byte0));
    }
    if byte1 | MARKER_BIT != expected_type {
        return Err(TimingError::WrongType {
            expected: expected_type,
            got: byte1,
        });
    }
    let mut times = [NtpTimestamp(0); 3];
    for (slot, chunk) in times.iter_mut().zip(packet[8..].chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        *slot = NtpTimestamp(u64::from_be_bytes(word));
    }
    Ok(times)
}

fn encode_packet(out: &mut Vec<u8>, packet_type: u8, times: [NtpTimestamp; 3]) {
    out.reserve(TIMING_PACKET_LEN);
    out.push(HEADER_BYTE0);
    out.push(packet_type);
    out.extend_from_slice(&HEADER_TAIL);
    for time in times {
        put_u64(out, time);
    }
}

/// Receiver → client: `80 D2 00 07 00 00 00 00 || reference || receive || transmit`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TimingRequest {
    /// The client's transmit time from its previous reply (0 at first).
    pub reference: NtpTimestamp,
    /// Our local time when that previous reply arrived (0 at first).
    pub receive: NtpTimestamp,
    /// Our local time now.
    pub transmit: NtpTimestamp,
}

impl TimingRequest {
    /// The first request of a session: only the transmit time is set.
    pub fn first(transmit: NtpTimestamp) -> Self {
        Self {
            transmit,
            ..Self::default()
        }
    }

    /// The next request after `previous` arrived at local time `arrived`, as UxPlay sends it.
    pub fn following(
        previous: &TimingReply,
        arrived: NtpTimestamp,
        transmit: NtpTimestamp,
    ) -> Self {
        Self {
            reference: previous.transmit,
            receive: arrived,
            transmit,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_packet(
            out,
            REQUEST_TYPE,
            [self.reference, self.receive, self.transmit],
        );
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TIMING_PACKET_LEN);
        self.encode(&mut out);
        out
    }

    /// Parses exactly one 32-byte request; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, TimingError> {
        let [reference, receive, transmit] = decode_packet(bytes, REQUEST_TYPE)?;
        Ok(Self {
            reference,
            receive,
            transmit,
        })
    }

    /// The sender's answer: our request's transmit time echoed as origin, plus the sender's
    /// own receive and transmit times.
    pub fn reply(&self, receive: NtpTimestamp, transmit: NtpTimestamp) -> TimingReply {
        TimingReply {
            origin: self.transmit,
            receive,
            transmit,
        }
    }
}

/// Client → receiver: `80 D3 00 07 00 00 00 00 || origin || receive || transmit`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TimingReply {
    /// Copy of the request's transmit time (our t0).
    pub origin: NtpTimestamp,
    /// Client time the request arrived (t1).
    pub receive: NtpTimestamp,
    /// Client time the reply left (t2).
    pub transmit: NtpTimestamp,
}

impl TimingReply {
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_packet(out, REPLY_TYPE, [self.origin, self.receive, self.transmit]);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TIMING_PACKET_LEN);
        self.encode(&mut out);
        out
    }

    /// Parses exactly one 32-byte reply; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, TimingError> {
        let [origin, receive, transmit] = decode_packet(bytes, REPLY_TYPE)?;
        Ok(Self {
            origin,
            receive,
            transmit,
        })
    }
}

/// One exchange's estimate: offset (client − local) and round-trip delay, both 32.32.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ClockSample {
    /// Client minus local, modulo 2^64.
    offset: u64,
    /// Non-negative round-trip delay.
    delay: u64,
}

impl ClockSample {
    /// `((t1 - t0) + (t2 - t3)) / 2` and `(t3 - t0) - (t2 - t1)`; t0/t3 local, t1/t2 client.
    /// The mean is taken as `d1 + (d2 - d1) / 2` so that a huge offset near the signed
    /// boundary cannot overflow; only the small difference is halved.
    pub fn from_times(
        t0: NtpTimestamp,
        t1: NtpTimestamp,
        t2: NtpTimestamp,
        t3: NtpTimestamp,
    ) -> Result<Self, TimingError> {
        let outbound = t1.0.wrapping_sub(t0.0);
        let inbound = t2.0.wrapping_sub(t3.0);
        let round_trip = i128::from(t3.wrapping_diff(t0));
        let held = i128::from(t2.wrapping_diff(t1));
        let delay = u64::try_from(round_trip - held).map_err(|_| TimingError::ImplausibleSample)?;
        if delay > i64::MAX as u64 {
            return Err(TimingError::ImplausibleSample);
        }
        let half_gap = (inbound.wrapping_sub(outbound) as i64) / 2;
        let offset = outbound.wrapping_add_signed(half_gap);
        Ok(Self { offset, delay })
    }

    /// Client clock minus local clock in nanoseconds (floored), read as a signed value.
    pub fn offset_nanos(&self) -> i128 {
        signed_fixed_to_nanos(self.offset as i64)
    }

    /// The round-trip delay not spent inside the client.
    pub fn delay(&self) -> Duration {
        fixed_to_duration(self.delay)
    }
}

/// The client-clock estimator: the last [`CLOCK_SAMPLES`] samples, the lowest-delay one wins
/// (the newest among equals).
#[derive(Clone, Debug, Default)]
pub struct ClockSync {
    samples: [Option<ClockSample>; CLOCK_SAMPLES],
    /// Slot the next sample goes into.
    next: usize,
}

impl ClockSync {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one exchange: t0 our send time, t1 client receive, t2 client transmit, t3 our
    /// receive time. A sample with a negative delay (the client claims to have held the
    /// packet longer than the whole round trip) is refused and changes nothing.
    pub fn add_sample(
        &mut self,
        t0: NtpTimestamp,
        t1: NtpTimestamp,
        t2: NtpTimestamp,
        t3: NtpTimestamp,
    ) -> Result<ClockSample, TimingError> {
        let sample = ClockSample::from_times(t0, t1, t2, t3)?;
        if let Some(slot) = self.samples.get_mut(self.next) {
            *slot = Some(sample);
        }
        self.next = (self.next + 1) % CLOCK_SAMPLES;
        Ok(sample)
    }

    /// Adds the sample carried by `reply`, which arrived at local time `arrived`.
    pub fn add_reply(
        &mut self,
        reply: &TimingReply,
        arrived: NtpTimestamp,
    ) -> Result<ClockSample, TimingError> {
        self.add_sample(reply.origin, reply.receive, reply.transmit, arrived)
    }

    /// How many samples are held (at most [`CLOCK_SAMPLES`]).
    pub fn len(&self) -> usize {
        self.samples.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lowest-delay sample; among equal delays the most recent.
    pub fn best(&self) -> Option<ClockSample> {
        let mut best: Option<ClockSample> = None;
        // Walk from oldest to newest so that `<=` lets newer samples win ties.
        for step in 0..CLOCK_SAMPLES {
            let index = (self.next + step) % CLOCK_SAMPLES;
            if let Some(Some(sample)) = self.samples.get(index)
                && best.is_none_or(|b| sample.delay <= b.delay)
            {
                best = Some(*sample);
            }
        }
        best
    }

    /// Client clock minus local clock in nanoseconds, from the best sample.
    pub fn offset(&self) -> Option<i128> {
        self.best().map(|s| s.offset_nanos())
    }

    /// Round-trip delay of the best sample.
    pub fn delay(&self) -> Option<Duration> {
        self.best().map(|s| s.delay())
    }

    /// A client time (timing-reply clock; see [`mirror_to_client_ntp`]) on the local clock.
    pub fn client_to_local(&self, client: NtpTimestamp) -> Option<NtpTimestamp> {
        self.best()
            .map(|s| NtpTimestamp(client.0.wrapping_sub(s.offset)))
    }

    /// A local time on the client's clock (the inverse of [`ClockSync::client_to_local`]).
    pub fn local_to_client(&self, local: NtpTimestamp) -> Option<NtpTimestamp> {
        self.best()
            .map(|s| NtpTimestamp(local.0.wrapping_add(s.offset)))
    }
}

#[cfg(test)]
mod tests;
