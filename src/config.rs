//! The receiver's one configuration: command-line flags, each also read from an `AIRGLASS_*`
//! environment variable (that is how balena and systemd operators set them).
//!
//! This module only describes and validates settings; it opens no sockets and touches no
//! files. Secrets never appear in `Debug` output (there are none yet; keep it that way).

use clap::builder::BoolishValueParser;
use clap::{Parser, ValueEnum};
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// How long `--test-stream` streams when no SECONDS are given.
pub const DEFAULT_TEST_STREAM_SECS: f64 = 10.0;

/// `on` / `off` switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl OnOff {
    pub fn is_on(self) -> bool {
        self == OnOff::On
    }
}

/// Whether to advertise and accept H.265.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum H265Mode {
    /// Advertise H.265 when this machine has an H.265 decoder.
    Auto,
    /// Always advertise H.265 (fails at start when no decoder exists).
    On,
    /// Never advertise H.265.
    Off,
}

/// The display the receiver announces to the phone in `/info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub width: u32,
    pub height: u32,
    pub refresh_hz: u32,
}

impl FromStr for Resolution {
    type Err = String;

    /// Parses `WxH` or `WxH@HZ` (e.g. `1920x1080@60`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (size, hz) = match s.split_once('@') {
            Some((size, hz)) => (size, Some(hz)),
            None => (s, None),
        };
        let (w, h) = size
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("resolution {s:?} is not WxH or WxH@HZ"))?;
        let parse = |v: &str, what: &str| -> Result<u32, String> {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("{what} {v:?} in resolution {s:?} is not a number"))
        };
        let width = parse(w, "width")?;
        let height = parse(h, "height")?;
        let refresh_hz = match hz {
            Some(hz) => parse(hz, "refresh rate")?,
            None => 60,
        };
        if !(16..=7680).contains(&width) || !(16..=4320).contains(&height) {
            return Err(format!("resolution {width}x{height} is out of range"));
        }
        if !(1..=240).contains(&refresh_hz) {
            return Err(format!("refresh rate {refresh_hz} Hz is out of range"));
        }
        Ok(Resolution {
            width,
            height,
            refresh_hz,
        })
    }
}

impl std::fmt::Display for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}@{}", self.width, self.height, self.refresh_hz)
    }
}

/// The client the built-in sender imitates (`--test-stream-profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestStreamProfile {
    /// iOS 17 (`AirPlay/770.8.1`): TEARDOWN 96, then 110, then a plain one.
    Ios17,
    /// iOS 26 (`AirPlay/930.x`): ends with a typeless TEARDOWN and no type-110 one.
    Ios26,
    /// iOS 27 (`AirPlay/980.x`): asks for `/info` inside SETUP #1 (combinedGetInfoWithControlSetup).
    Ios27,
    /// macOS 15 (`Mac14,2`): never answers the receiver's timing requests.
    Macos,
}

/// A deliberate fault for testing the test: the report must name the failing stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestStreamFault {
    /// Send an ekey with one byte flipped, so the receiver derives a wrong key.
    CorruptEkey,
}

/// What the built-in sender streams: `WxH@FPS` (`--test-stream-size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestStreamSize {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl TestStreamSize {
    /// 1280x720@30 on x86 machines, 640x360@30 on the small boards.
    pub fn for_this_machine() -> Self {
        if cfg!(target_arch = "x86_64") {
            TestStreamSize {
                width: 1280,
                height: 720,
                fps: 30,
            }
        } else {
            TestStreamSize {
                width: 640,
                height: 360,
                fps: 30,
            }
        }
    }
}

impl FromStr for TestStreamSize {
    type Err = String;

    /// Parses `WxH` or `WxH@FPS` (frame rate 30 when absent); sizes must be even, from 96x64
    /// to 3840x2160, at 1 to 120 frames per second.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (size, fps) = match s.split_once('@') {
            Some((size, fps)) => (size, Some(fps)),
            None => (s, None),
        };
        let (w, h) = size
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("test stream size {s:?} is not WxH or WxH@FPS"))?;
        let parse = |v: &str, what: &str| -> Result<u32, String> {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("{what} {v:?} in {s:?} is not a number"))
        };
        let width = parse(w, "width")?;
        let height = parse(h, "height")?;
        let fps = match fps {
            Some(f) => parse(f, "frame rate")?,
            None => 30,
        };
        if !(96..=3840).contains(&width) || !(64..=2160).contains(&height) {
            return Err(format!(
                "test stream size {width}x{height} is outside 96x64..3840x2160"
            ));
        }
        if width % 2 != 0 || height % 2 != 0 {
            return Err(format!("test stream size {width}x{height} must be even"));
        }
        if !(1..=120).contains(&fps) {
            return Err(format!("test stream frame rate {fps} is outside 1..=120"));
        }
        Ok(TestStreamSize { width, height, fps })
    }
}

impl std::fmt::Display for TestStreamSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}@{}", self.width, self.height, self.fps)
    }
}

/// Parses `--test-stream` seconds: a positive number up to one hour (fractions allowed).
fn parse_test_seconds(s: &str) -> Result<f64, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0 && secs <= 3600.0) {
        return Err(format!("test stream length {secs} s is outside 0..=3600"));
    }
    Ok(secs)
}

/// airglass: an AirPlay screen-mirroring receiver for TVs.
///
/// Every option can also be set with the environment variable named in brackets.
#[derive(Debug, Clone, Parser)]
#[command(name = "airglass", version, about, max_term_width = 100)]
pub struct Config {
    /// Name shown on the phone under Screen Mirroring [default: the host name]
    #[arg(long, env = "AIRGLASS_NAME")]
    pub name: Option<String>,

    /// TCP port for the control connection (0 = any free port)
    #[arg(long, env = "AIRGLASS_PORT", default_value_t = 7000)]
    pub port: u16,

    /// Address to listen on (`::` listens on IPv6 and IPv4 together)
    #[arg(long, env = "AIRGLASS_BIND", default_value = "::")]
    pub bind: IpAddr,

    /// Folder for the receiver's identity (key and device id) and status file
    /// [default: /var/lib/airglass as root, else ~/.local/state/airglass]
    #[arg(long, env = "AIRGLASS_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// Require legacy pair-setup/pair-verify (features bit 27) before FairPlay
    #[arg(long, env = "AIRGLASS_PAIRING", value_parser = BoolishValueParser::new(),
          num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub pairing: bool,

    /// Log filter (tracing syntax, e.g. `info` or `airglass=debug`)
    #[arg(long, env = "AIRGLASS_LOG", default_value = "info")]
    pub log: String,

    /// Do not advertise over mDNS (clients must be pointed at the address by hand)
    #[arg(long, env = "AIRGLASS_NO_MDNS", value_parser = BoolishValueParser::new(),
          num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub no_mdns: bool,

    /// Also announce on loopback interfaces (only useful for tests in a private network namespace)
    #[arg(long, env = "AIRGLASS_MDNS_LOOPBACK", hide = true, value_parser = BoolishValueParser::new(),
          num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub mdns_loopback: bool,

    /// Most simultaneous control connections
    #[arg(long, env = "AIRGLASS_MAX_CONNECTIONS", default_value_t = 32)]
    pub max_connections: usize,

    /// Video backend: `gst` (decode and show), `capture` (write the stream only) or `null`
    #[arg(long, env = "AIRGLASS_VIDEO_BACKEND", default_value = "gst")]
    pub video_backend: String,

    /// GStreamer decoder element to use instead of the automatic choice (e.g. `avdec_h264`)
    #[arg(long, env = "AIRGLASS_VIDEO_DECODER")]
    pub video_decoder: Option<String>,

    /// GStreamer sink description replacing only the sink end (e.g. `fakesink`, `kmssink`)
    #[arg(long, env = "AIRGLASS_VIDEO_SINK")]
    pub video_sink: Option<String>,

    /// Keep video in time with the sender's clock (`off`: show each frame as soon as decoded)
    #[arg(long, env = "AIRGLASS_VIDEO_SYNC", value_enum, default_value_t = OnOff::On)]
    pub video_sync: OnOff,

    /// Advertise and accept H.265 video
    #[arg(long, env = "AIRGLASS_H265", value_enum, default_value_t = H265Mode::Auto,
          num_args = 0..=1, default_missing_value = "on")]
    pub h265: H265Mode,

    /// Display announced to the phone, WxH@HZ [default: 1920x1080@60, 3840x2160@60 with H.265]
    #[arg(long, env = "AIRGLASS_RESOLUTION")]
    pub resolution: Option<Resolution>,

    /// Highest frame rate the phone should send
    #[arg(long, env = "AIRGLASS_FPS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=120))]
    pub fps: u32,

    /// Write the exact Annex-B video stream handed to the decoder to this file
    #[arg(long, env = "AIRGLASS_DUMP_VIDEO")]
    pub dump_video: Option<PathBuf>,

    /// Where the receiver writes its status for the supervisor [default: STATE_DIR/status.json]
    #[arg(long, env = "AIRGLASS_STATUS_FILE")]
    pub status_file: Option<PathBuf>,

    /// Start the receiver, stream a test picture to it from the built-in sender for SECONDS,
    /// print a report and exit (0 healthy, 1 not). Logs default to warnings in this mode.
    #[arg(long, env = "AIRGLASS_TEST_STREAM", value_name = "SECONDS", num_args = 0..=1,
          default_missing_value = "10", value_parser = parse_test_seconds)]
    pub test_stream: Option<f64>,

    /// Test another receiver at HOST:PORT instead of starting one (implies --test-stream)
    #[arg(long, env = "AIRGLASS_TEST_STREAM_TARGET", value_name = "HOST:PORT")]
    pub test_stream_target: Option<String>,

    /// Print the test-stream report as JSON
    #[arg(long, env = "AIRGLASS_TEST_STREAM_JSON", value_parser = BoolishValueParser::new(),
          num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub test_stream_json: bool,

    /// Test picture size and rate, WxH@FPS [default: 1280x720@30 on x86, else 640x360@30]
    #[arg(long, env = "AIRGLASS_TEST_STREAM_SIZE", value_name = "WxH@FPS")]
    pub test_stream_size: Option<TestStreamSize>,

    /// Which client the test sender imitates
    #[arg(long, env = "AIRGLASS_TEST_STREAM_PROFILE", value_enum,
          default_value_t = TestStreamProfile::Ios17)]
    pub test_stream_profile: TestStreamProfile,

    /// Inject a fault into the test sender (for testing the report itself)
    #[arg(long, env = "AIRGLASS_TEST_STREAM_FAULT", value_enum, hide = true)]
    pub test_stream_fault: Option<TestStreamFault>,
}

impl Config {
    /// The display to announce: explicit, else 4K when H.265 is advertised, else 1080p.
    pub fn display_resolution(&self, h265_advertised: bool) -> Resolution {
        self.resolution.unwrap_or(if h265_advertised {
            Resolution {
                width: 3840,
                height: 2160,
                refresh_hz: 60,
            }
        } else {
            Resolution {
                width: 1920,
                height: 1080,
                refresh_hz: 60,
            }
        })
    }

    /// The state folder: explicit, else a system or per-user default.
    pub fn resolved_state_dir(&self) -> PathBuf {
        if let Some(dir) = &self.state_dir {
            return dir.clone();
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            return PathBuf::from("/var/lib/airglass");
        }
        match std::env::var_os("XDG_STATE_HOME") {
            Some(x) if !x.is_empty() => PathBuf::from(x).join("airglass"),
            _ => match std::env::var_os("HOME") {
                Some(h) => PathBuf::from(h).join(".local/state/airglass"),
                None => PathBuf::from("airglass-state"),
            },
        }
    }

    /// Seconds to stream when a test stream was asked for (`--test-stream` or a target).
    pub fn test_stream_seconds(&self) -> Option<f64> {
        match (self.test_stream, &self.test_stream_target) {
            (Some(secs), _) => Some(secs),
            (None, Some(_)) => Some(DEFAULT_TEST_STREAM_SECS),
            (None, None) => None,
        }
    }

    /// The log filter to use: in test-stream mode the default `info` becomes `warn`, so the
    /// report is not buried in the receiver's own log lines.
    pub fn effective_log(&self) -> &str {
        if self.test_stream_seconds().is_some() && self.log == "info" {
            "warn"
        } else {
            &self.log
        }
    }

    /// The status file path.
    pub fn resolved_status_file(&self) -> PathBuf {
        self.status_file
            .clone()
            .unwrap_or_else(|| self.resolved_state_dir().join("status.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_parses_with_and_without_rate() {
        let r: Resolution = "1280x720@50".parse().unwrap();
        assert_eq!((r.width, r.height, r.refresh_hz), (1280, 720, 50));
        let r: Resolution = "3840X2160".parse().unwrap();
        assert_eq!((r.width, r.height, r.refresh_hz), (3840, 2160, 60));
        assert!("1920".parse::<Resolution>().is_err());
        assert!("0x0@60".parse::<Resolution>().is_err());
        assert!("1920x1080@0".parse::<Resolution>().is_err());
        assert!("axb".parse::<Resolution>().is_err());
    }

    #[test]
    fn defaults_are_embedded_friendly() {
        let c = Config::try_parse_from(["airglass"]).unwrap();
        assert_eq!(c.port, 7000);
        assert!(!c.pairing);
        assert_eq!(c.video_sync, OnOff::On);
        assert_eq!(c.h265, H265Mode::Auto);
        assert_eq!(c.display_resolution(false).to_string(), "1920x1080@60");
        assert_eq!(c.display_resolution(true).to_string(), "3840x2160@60");
    }

    #[test]
    fn flags_parse() {
        let c = Config::try_parse_from([
            "airglass",
            "--pairing",
            "--port",
            "0",
            "--h265",
            "off",
            "--video-sync",
            "off",
            "--resolution",
            "1280x720@30",
        ])
        .unwrap();
        assert!(c.pairing);
        assert_eq!(c.port, 0);
        assert_eq!(c.h265, H265Mode::Off);
        assert!(!c.video_sync.is_on());
        assert_eq!(c.display_resolution(true).width, 1280);
        assert!(Config::try_parse_from(["airglass", "--fps", "0"]).is_err());
    }

    #[test]
    fn test_stream_flags_parse() {
        let c = Config::try_parse_from(["airglass"]).unwrap();
        assert_eq!(c.test_stream_seconds(), None);
        assert_eq!(c.effective_log(), "info");
        let c = Config::try_parse_from(["airglass", "--test-stream"]).unwrap();
        assert_eq!(c.test_stream_seconds(), Some(10.0));
        assert_eq!(c.effective_log(), "warn");
        let c = Config::try_parse_from([
            "airglass",
            "--test-stream=2.5",
            "--test-stream-size",
            "640x360@25",
            "--test-stream-profile",
            "ios27",
            "--test-stream-json",
            "--test-stream-fault",
            "corrupt-ekey",
        ])
        .unwrap();
        assert_eq!(c.test_stream_seconds(), Some(2.5));
        assert_eq!(c.test_stream_size.unwrap().to_string(), "640x360@25");
        assert_eq!(c.test_stream_profile, TestStreamProfile::Ios27);
        assert!(c.test_stream_json);
        assert_eq!(c.test_stream_fault, Some(TestStreamFault::CorruptEkey));
        let c = Config::try_parse_from(["airglass", "--test-stream-target", "[::1]:7000"]).unwrap();
        assert_eq!(c.test_stream_seconds(), Some(DEFAULT_TEST_STREAM_SECS));
        assert!(Config::try_parse_from(["airglass", "--test-stream=0"]).is_err());
        assert!(Config::try_parse_from(["airglass", "--test-stream=-1"]).is_err());
        assert!(Config::try_parse_from(["airglass", "--test-stream=nan"]).is_err());
    }

    #[test]
    fn test_stream_size_parses() {
        let s: TestStreamSize = "1280x720".parse().unwrap();
        assert_eq!((s.width, s.height, s.fps), (1280, 720, 30));
        let s: TestStreamSize = "1920X1080@60".parse().unwrap();
        assert_eq!((s.width, s.height, s.fps), (1920, 1080, 60));
        assert!("641x360".parse::<TestStreamSize>().is_err());
        assert!("64x64".parse::<TestStreamSize>().is_err());
        assert!("640x360@0".parse::<TestStreamSize>().is_err());
        assert!("640x360@121".parse::<TestStreamSize>().is_err());
        assert!("640".parse::<TestStreamSize>().is_err());
    }
}
