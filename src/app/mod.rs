//! Wires the receiver together: identity, advertisement, control server, video worker and
//! status file. The only module that knows every other one; a reader finds any behaviour by
//! walking from here down one branch.

mod host;
pub mod status;
pub mod video;

use crate::config::{Config, H265Mode};
use crate::discovery::{Advertisement, Advertiser, MdnsAdvertiser, MdnsOptions};
use crate::identity::{Identity, IdentityError};
use crate::media::{self, Codec, VideoSinkConfig};
use crate::net::control::{self, ControlLimits, KeySourceFactory};
use crate::net::sockets;
use crate::proto::records::{self, DeviceInfo, DisplaySpec, Features};
use crate::proto::session::SessionContext;
use host::Host;
use rand::RngCore;
use status::{State, StatusHandle};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use video::{VideoWorker, WorkerStats};

/// Why the receiver could not run; each kind has its own exit code (see `main.rs`).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The configuration cannot work; restarting will not help.
    #[error("configuration error: {0}")]
    Config(String),
    /// Something the receiver needs is not available right now (port, network).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<IdentityError> for AppError {
    fn from(e: IdentityError) -> Self {
        AppError::Config(format!("identity: {e}"))
    }
}

/// A started receiver.
pub struct App {
    /// Where the control server listens.
    pub local_addr: SocketAddr,
    /// The name phones see.
    pub name: String,
    /// Whether H.265 is advertised.
    pub h265_advertised: bool,
    video: Arc<VideoWorker>,
    host: Arc<Host>,
    status: StatusHandle,
    advertiser: Option<MdnsAdvertiser>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
}

/// The host name, used as the default receiver name.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length and gethostname NUL-terminates within it
    // (we pass one byte less and the buffer starts zeroed).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    let name = if rc == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::new()
    };
    if name.trim().is_empty() {
        "airglass".to_owned()
    } else {
        name
    }
}

fn h265_wanted(config: &Config) -> Result<bool, AppError> {
    let decodable = config.video_backend != "gst" || media::h265_decoder_available();
    match config.h265 {
        H265Mode::Off => Ok(false),
        H265Mode::Auto => Ok(decodable),
        H265Mode::On if decodable => Ok(true),
        H265Mode::On => Err(AppError::Config(
            "--h265 on, but this machine has no H.265 decoder (install gstreamer1.0-libav or use --h265 auto)".into(),
        )),
    }
}

impl App {
    /// Starts everything; call inside a tokio runtime.
    pub async fn start(config: &Config) -> Result<App, AppError> {
        let state_dir = config.resolved_state_dir();
        let identity = Identity::load_or_create(&state_dir)?;
        let status = StatusHandle::start(config.resolved_status_file());
        let name = records::clean_name(config.name.as_deref().unwrap_or(&host_name()));
        let h265_advertised = h265_wanted(config)?;
        let resolution = config.display_resolution(h265_advertised);

        let mut features = Features::DEFAULT;
        if config.pairing {
            features = features | Features::LEGACY_PAIRING;
        }
        if h265_advertised {
            features = features | Features::SCREEN_MULTI_CODEC;
        }
        let info = DeviceInfo {
            name: name.clone(),
            device_id: identity.device_id(),
            public_key: identity.public_key(),
            features,
            display: DisplaySpec {
                width: resolution.width,
                height: resolution.height,
                refresh_hz: resolution.refresh_hz,
                max_fps: config.fps,
            },
            password_required: false,
            initial_volume_db: 0.0,
        };

        let sink = media::build_video_sink(&VideoSinkConfig {
            backend: config.video_backend.clone(),
            decoder: config.video_decoder.clone(),
            sink: config.video_sink.clone(),
            sync: config.video_sync.is_on(),
            dump_path: config.dump_video.clone(),
        })
        .map_err(|e| AppError::Config(format!("video: {e}")))?;
        let video = Arc::new(
            VideoWorker::start(sink)
                .map_err(|e| AppError::Internal(format!("video thread: {e}")))?,
        );
        info!(video = %video.stats().description, h265 = h265_advertised, "video path ready");

        let listener = sockets::tcp_listener(config.bind, config.port).map_err(|e| {
            AppError::Unavailable(format!(
                "cannot listen on {}:{}: {e}",
                config.bind, config.port
            ))
        })?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| AppError::Internal(e.to_string()))?;

        let host = Arc::new(Host::new(
            video.clone(),
            status.clone(),
            h265_advertised,
            config.video_sync.is_on(),
        ));
        let ctx = Arc::new(SessionContext {
            info: info.clone(),
            signing_key: identity.signing_key().clone(),
        });
        let limits = ControlLimits {
            max_connections: config.max_connections.max(1),
            ..ControlLimits::default()
        };
        let key_sources: KeySourceFactory = Arc::new(|| {
            Box::new(|| {
                let mut k = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut k);
                k
            })
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let server = tokio::spawn(control::serve(
            listener,
            ctx,
            host.clone(),
            limits,
            key_sources,
            shutdown_rx,
        ));

        let advertiser = if config.no_mdns {
            info!("mDNS advertisement disabled");
            None
        } else {
            let mut adv = MdnsAdvertiser::new(MdnsOptions {
                include_loopback: config.mdns_loopback,
                ..MdnsOptions::default()
            })
            .map_err(|e| AppError::Unavailable(format!("mDNS: {e}")))?;
            adv.publish(&Advertisement {
                info: info.clone(),
                port: local_addr.port(),
            })
            .map_err(|e| AppError::Unavailable(format!("mDNS: {e}")))?;
            Some(adv)
        };

        status.set(State::Idle, None);
        info!(
            %name,
            port = local_addr.port(),
            device_id = %identity.device_id_string(),
            pairing = config.pairing,
            "airglass is ready: pick \"{name}\" under Screen Mirroring"
        );
        Ok(App {
            local_addr,
            name,
            h265_advertised,
            video,
            host,
            status,
            advertiser,
            shutdown,
            server,
        })
    }

    /// The video worker's counters.
    pub fn video_stats(&self) -> WorkerStats {
        self.video.stats()
    }

    /// Whether a client is mirroring.
    pub fn is_busy(&self) -> bool {
        self.host.is_busy()
    }

    /// Withdraws the advertisement, closes every connection and returns the screen to idle.
    pub async fn stop(mut self) {
        self.status.set(State::Stopping, None);
        if let Some(mut adv) = self.advertiser.take()
            && let Err(e) = adv.withdraw()
        {
            warn!(error = %e, "mDNS withdraw failed");
        }
        let _ = self.shutdown.send(true);
        let _ = (&mut self.server).await;
        self.video.send(video::VideoCommand::Stop);
        // The screen is idle and the dump file complete once the worker has handled it.
        self.video.settle(std::time::Duration::from_secs(2)).await;
        info!("stopped");
    }
}

/// Whether a codec can be decoded here (used by the decoder report).
pub fn codec_supported(codec: Codec) -> bool {
    !media::available_decoders(codec).is_empty()
}
