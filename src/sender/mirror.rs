//! The sender's mirror data connection (PROTOCOL.md §5 from the phone's side): the test
//! pattern rendered, H.264-encoded, framed as AVCC access units, encrypted on one AES-CTR
//! keystream and written to the receiver's `dataPort`, paced at the frame rate.
//!
//! A codec packet (type 1: avcC from the encoder's SPS/PPS, picture sizes in the header
//! floats) goes out at the start and before any keyframe whose parameter sets changed; video
//! packets carry the access unit without SPS/PPS, as iOS sends them. Header timestamps are
//! the sender's uptime in 32.32 at capture, the clock its timing replies use.
//!
//! Runs on a blocking thread of its own (encoding is CPU work). Owns: the data socket while
//! streaming, pacing, the stream counters. Must not touch the control connection.

use super::encoder::{H264Encoder, NAL_PPS, NAL_SPS, nal_unit_type, split_annexb};
use super::pattern::TestPattern;
use super::timing::SenderClock;
use crate::proto::mirror::{MirrorWriter, PictureSizes, VideoCodec, build_avcc_record};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The SPS and PPS NALs last announced in a codec packet.
type ParameterSets = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// How long one write may block before we decide the receiver stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);

/// What to stream.
#[derive(Debug, Clone)]
pub struct StreamPlan {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub duration: Duration,
    pub label: String,
    pub video_key: [u8; 16],
    pub video_iv: [u8; 16],
    pub clock: SenderClock,
}

impl StreamPlan {
    /// About 0.07 bits per pixel per frame, within the encoder's accepted range.
    pub fn bitrate_bps(&self) -> u32 {
        let bits = u64::from(self.width) * u64::from(self.height) * u64::from(self.fps) * 7 / 100;
        bits.clamp(
            u64::from(super::encoder::MIN_BITRATE_BPS),
            u64::from(super::encoder::MAX_BITRATE_BPS),
        ) as u32
    }
}

/// Live counters, read by the runner while the stream thread works.
#[derive(Debug, Default)]
pub struct StreamProgress {
    pub frames_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Set by the runner to end the stream early.
    pub stop: AtomicBool,
    /// Set when the receiver closed (or reset) the data connection.
    pub receiver_closed: AtomicBool,
}

/// How the stream went.
#[derive(Debug)]
pub struct StreamOutcome {
    pub frames_sent: u64,
    pub keyframes_sent: u64,
    pub codec_packets_sent: u64,
    pub bytes_sent: u64,
    pub frames_late: u64,
    /// When each frame's record had been handed to the kernel, in send order.
    pub sent_at: Vec<Instant>,
    pub started: Instant,
    pub finished: Instant,
    pub receiver_closed: bool,
    /// Why the stream stopped early (encoder or socket), if it did.
    pub error: Option<String>,
    /// CPU time of the stream thread (render, encode, encrypt, write).
    pub cpu: Option<Duration>,
    /// The data connection, still open: closed after the TEARDOWNs, as iOS does.
    pub socket: Option<TcpStream>,
}

impl StreamOutcome {
    /// Frames per second between the first and the last frame sent: (n - 1) / span.
    pub fn achieved_fps(&self) -> f64 {
        match (self.sent_at.first(), self.sent_at.last()) {
            (Some(first), Some(last)) if self.sent_at.len() > 1 => {
                let span = last.duration_since(*first).as_secs_f64();
                if span > 0.0 {
                    (self.sent_at.len() - 1) as f64 / span
                } else {
                    0.0
                }
            }
            _ => 0.0,
        }
    }
}

/// Connects to the receiver's data port.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "mirror connect timed out"))??;
    let _ = stream.set_nodelay(true);
    let std = stream.into_std()?;
    std.set_nonblocking(false)?;
    Ok(std)
}

/// This thread's CPU time so far.
fn thread_cpu() -> Option<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is valid for writes of one rusage; RUSAGE_THREAD is Linux's per-thread mode.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: getrusage returned 0, so it filled the struct.
    let u = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| {
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_usec).unwrap_or(0).saturating_mul(1000),
        )
    };
    Some(tv(u.ru_utime) + tv(u.ru_stime))
}

/// Watches the data connection for the receiver closing it (it never sends us anything).
fn watch_for_close(socket: &TcpStream, progress: &Arc<StreamProgress>) {
    let Ok(mut reader) = socket.try_clone() else {
        return;
    };
    let progress = progress.clone();
    let spawned = std::thread::Builder::new()
        .name("airglass-sender-watch".into())
        .spawn(move || {
            let mut buf = [0u8; 256];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            progress.receiver_closed.store(true, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        tracing::debug!(error = %e, "no watcher thread for the mirror connection");
    }
}

/// Closes the data connection (also ends its watcher thread).
pub fn close(socket: TcpStream) {
    let _ = socket.shutdown(Shutdown::Both);
}

/// Streams `plan` over `socket` until its duration passed, `progress.stop` is set, or the
/// receiver closes the connection. Blocking: call on a thread of its own.
pub fn stream(
    socket: TcpStream,
    plan: &StreamPlan,
    progress: Arc<StreamProgress>,
) -> StreamOutcome {
    let cpu_before = thread_cpu();
    let started = Instant::now();
    let mut out = StreamOutcome {
        frames_sent: 0,
        keyframes_sent: 0,
        codec_packets_sent: 0,
        bytes_sent: 0,
        frames_late: 0,
        sent_at: Vec::with_capacity(
            (plan.duration.as_secs_f64() * f64::from(plan.fps)) as usize + 1,
        ),
        started,
        finished: started,
        receiver_closed: false,
        error: None,
        cpu: None,
        socket: None,
    };
    if let Err(e) = socket.set_write_timeout(Some(WRITE_TIMEOUT)) {
        tracing::debug!(error = %e, "no write timeout on the mirror connection");
    }
    watch_for_close(&socket, &progress);
    let mut socket = socket;
    if let Err(e) = run(&mut socket, plan, &progress, &mut out) {
        out.error = Some(e);
    }
    out.finished = Instant::now();
    out.receiver_closed = progress.receiver_closed.load(Ordering::SeqCst);
    out.cpu = match (cpu_before, thread_cpu()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    out.socket = Some(socket);
    out
}

fn run(
    socket: &mut TcpStream,
    plan: &StreamPlan,
    progress: &StreamProgress,
    out: &mut StreamOutcome,
) -> Result<(), String> {
    let pattern = TestPattern::new(plan.width, plan.height, &plan.label)
        .map_err(|e| format!("test pattern: {e}"))?;
    let mut encoder = H264Encoder::new(plan.width, plan.height, plan.fps, plan.bitrate_bps())
        .map_err(|e| format!("encoder: {e}"))?;
    let mut writer = MirrorWriter::new(&plan.video_key, &plan.video_iv, VideoCodec::H264);
    let mut frame = pattern.new_frame();
    let interval = Duration::from_secs(1) / plan.fps.max(1);
    let slots = (plan.duration.as_secs_f64() * f64::from(plan.fps)).round() as u64;
    let mut next = out.started;
    let mut slot = 0u64;
    let mut sent_parameters: Option<ParameterSets> = None;
    let mut record = Vec::new();
    let mut index = 0u64;
    while slot < slots {
        if progress.stop.load(Ordering::Relaxed) {
            break;
        }
        if progress.receiver_closed.load(Ordering::SeqCst) {
            return Err("the receiver closed the mirror connection".to_owned());
        }
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let captured = Instant::now();
        let elapsed = captured.duration_since(out.started);
        pattern
            .render(index, elapsed, &mut frame)
            .map_err(|e| format!("test pattern: {e}"))?;
        let au = encoder
            .encode(&frame, false)
            .map_err(|e| format!("encoder: {e}"))?;
        let timestamp = plan.clock.mirror_timestamp(captured);
        record.clear();
        if au.keyframe {
            let params = (au.sps.clone(), au.pps.clone());
            if sent_parameters.as_ref() != Some(&params) {
                let sps: Vec<&[u8]> = au.sps.iter().map(Vec::as_slice).collect();
                let pps: Vec<&[u8]> = au.pps.iter().map(Vec::as_slice).collect();
                let avcc = build_avcc_record(&sps, &pps).map_err(|e| format!("avcC: {e}"))?;
                let sizes = PictureSizes::square(plan.width, plan.height);
                let (header, payload) = writer
                    .codec_record(avcc, timestamp, false, sizes)
                    .map_err(|e| format!("codec packet: {e}"))?;
                record.extend_from_slice(&header);
                record.extend_from_slice(&payload);
                out.codec_packets_sent += 1;
                sent_parameters = Some(params);
            }
            out.keyframes_sent += 1;
        }
        let (header, payload) = writer
            .video_record(picture_avcc(&au.annexb), timestamp)
            .map_err(|e| format!("video packet: {e}"))?;
        record.extend_from_slice(&header);
        record.extend_from_slice(&payload);
        if let Err(e) = socket.write_all(&record) {
            if progress.receiver_closed.load(Ordering::SeqCst)
                || matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                )
            {
                progress.receiver_closed.store(true, Ordering::SeqCst);
                return Err("the receiver closed the mirror connection".to_owned());
            }
            return Err(format!("mirror write failed: {e}"));
        }
        out.sent_at.push(Instant::now());
        out.frames_sent += 1;
        out.bytes_sent += record.len() as u64;
        progress
            .frames_sent
            .store(out.frames_sent, Ordering::Relaxed);
        progress.bytes_sent.store(out.bytes_sent, Ordering::Relaxed);
        index += 1;
        slot += 1;
        next += interval;
        // Behind by more than a frame: skip the missed slots rather than burst.
        let now = Instant::now();
        while next + interval < now && slot < slots {
            next += interval;
            slot += 1;
            out.frames_late += 1;
        }
    }
    Ok(())
}

/// The access unit as AVCC without its parameter sets (they travel in the codec packet).
fn picture_avcc(annexb: &[u8]) -> Vec<u8> {
    let nals: Vec<&[u8]> = split_annexb(annexb)
        .into_iter()
        .filter(|n| !matches!(nal_unit_type(n), Some(NAL_SPS | NAL_PPS)))
        .collect();
    let mut out = Vec::with_capacity(annexb.len());
    for nal in nals {
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mirror::{HEADER_LEN, MirrorEvent, MirrorHeader, MirrorStream};
    use std::net::TcpListener;

    /// The sender's stream, read back by the receiver's own state machine.
    #[test]
    fn the_receivers_state_machine_reads_what_we_send() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let key = [3u8; 16];
        let iv = [9u8; 16];
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut m = MirrorStream::new(&key, &iv, false);
            let mut events = Vec::new();
            let mut header = [0u8; HEADER_LEN];
            while s.read_exact(&mut header).is_ok() {
                let h = MirrorHeader::decode(&header).unwrap();
                let mut payload = vec![0u8; h.payload_size as usize];
                s.read_exact(&mut payload).unwrap();
                events.push((h.timestamp, m.handle(&h, payload).unwrap()));
            }
            events
        });
        let socket = TcpStream::connect(addr).unwrap();
        let plan = StreamPlan {
            width: 160,
            height: 96,
            fps: 50,
            duration: Duration::from_millis(200),
            label: "T".into(),
            video_key: key,
            video_iv: iv,
            clock: SenderClock::new(),
        };
        let progress = Arc::new(StreamProgress::default());
        let outcome = stream(socket, &plan, progress.clone());
        assert_eq!(outcome.error, None);
        close(outcome.socket.unwrap());
        let events = reader.join().unwrap();
        assert_eq!(outcome.frames_sent, 10);
        assert_eq!(progress.frames_sent.load(Ordering::Relaxed), 10);
        assert_eq!(outcome.codec_packets_sent, 1);
        let MirrorEvent::Config(cfg) = &events[0].1 else {
            panic!("a codec packet comes first, got {:?}", events[0].1);
        };
        assert_eq!((cfg.width, cfg.height), (160, 96));
        let frames: Vec<_> = events
            .iter()
            .filter_map(|(ts, e)| match e {
                MirrorEvent::Frame(f) => Some((*ts, f.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(frames.len(), 10);
        assert!(frames[0].1.keyframe);
        assert_eq!(
            events[0].0, frames[0].0,
            "codec packet and IDR share a timestamp"
        );
        // The receiver prepended the codec packet's SPS/PPS to the IDR: exactly one of each.
        let types: Vec<u8> = split_annexb(&frames[0].1.data)
            .iter()
            .filter_map(|n| nal_unit_type(n))
            .collect();
        assert_eq!(types.iter().filter(|t| **t == NAL_SPS).count(), 1);
        assert_eq!(types.iter().filter(|t| **t == NAL_PPS).count(), 1);
        // Timestamps advance by about one frame interval (20 ms in 32.32).
        let step = frames[1].0.wrapping_sub(frames[0].0) as f64 / 4_294_967_296.0;
        assert!((0.005..0.2).contains(&step), "step {step}");
        assert!(outcome.cpu.is_some());
    }

    #[test]
    fn bitrate_scales_with_the_picture() {
        let plan = |w, h| StreamPlan {
            width: w,
            height: h,
            fps: 30,
            duration: Duration::ZERO,
            label: String::new(),
            video_key: [0; 16],
            video_iv: [0; 16],
            clock: SenderClock::new(),
        };
        assert_eq!(plan(1920, 1080).bitrate_bps(), 4_354_560);
        assert!(plan(640, 360).bitrate_bps() < plan(1280, 720).bitrate_bps());
    }
}
