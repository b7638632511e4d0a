//! "Who is mirroring now": the one active session, the sockets it opened, and what its
//! events do to the video path and the status file. Implements the control server's
//! [`SessionHost`].

use super::status::{State, StatusHandle};
use super::video::{VideoCommand, VideoWorker};
use crate::media::EncodedFrame;
use crate::net::audio::{self, AudioHandle};
use crate::net::control::{ConnId, SessionHost};
use crate::net::mirror::{self, MirrorCallback, MirrorHandle, MirrorOutput, MirrorParams};
use crate::net::timing::{self, TimingHandle};
use crate::proto::mirror::MirrorEvent;
use crate::proto::session::{
    ClientProfile, Opened, PendingSetup, Quirk, Refusal, Resource, SessionEvent,
};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::{debug, info, warn};

/// The receiver's side of every session.
pub struct Host {
    state: Mutex<Option<Active>>,
    video: Arc<VideoWorker>,
    status: StatusHandle,
    h265_advertised: bool,
    video_sync: bool,
    /// Increases with every mirror stream, so a stale stream's end cannot stop a newer one.
    generation: Arc<AtomicU64>,
}

struct Active {
    conn: ConnId,
    profile: ClientProfile,
    started: Instant,
    timing: Option<TimingHandle>,
    mirror: Option<MirrorHandle>,
    audio: Option<AudioHandle>,
}

impl Host {
    pub fn new(
        video: Arc<VideoWorker>,
        status: StatusHandle,
        h265_advertised: bool,
        video_sync: bool,
    ) -> Self {
        Self {
            state: Mutex::new(None),
            video,
            status,
            h265_advertised,
            video_sync,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Active>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a client holds the receiver.
    pub fn is_busy(&self) -> bool {
        self.lock().is_some()
    }

    fn open_resource(
        &self,
        active: &mut Active,
        peer: SocketAddr,
        resource: &Resource,
    ) -> std::io::Result<Opened> {
        match resource {
            Resource::Timing { client_port } => {
                let mut client = peer;
                client.set_port(*client_port);
                let handle = timing::start(client)?;
                let port = handle.local_port;
                active.timing = Some(handle);
                Ok(Opened::Timing { port })
            }
            Resource::Mirror { id, key, iv } => {
                let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
                let params = MirrorParams {
                    key: *key,
                    iv: *iv,
                    h265_advertised: self.h265_advertised,
                    sync: self.video_sync,
                    clock: active.timing.as_ref().map(|t| t.clock.clone()),
                };
                let handle = mirror::open(peer.ip(), params, self.mirror_callback(generation))?;
                debug!(stream_connection_id = %id, port = handle.data_port, "mirror listener open");
                let data_port = handle.data_port;
                active.mirror = Some(handle);
                Ok(Opened::Mirror { data_port })
            }
            Resource::Audio(params) => {
                let handle = audio::open(peer.ip(), params)?;
                let opened = Opened::Audio {
                    data_port: handle.data_port,
                    control_port: handle.control_port,
                };
                active.audio = Some(handle);
                Ok(opened)
            }
        }
    }

    fn mirror_callback(&self, generation: u64) -> MirrorCallback {
        let video = self.video.clone();
        let current = self.generation.clone();
        Arc::new(move |out| {
            // A stream that was replaced or torn down may still have events in flight (its
            // task is aborted only at its next await): they must not restart the video.
            let is_current = current.load(Ordering::SeqCst) == generation;
            match out {
                MirrorOutput::Event { .. } if !is_current => {}
                MirrorOutput::Event { event, pts, .. } => match event {
                    MirrorEvent::Frame(f) => video.send(VideoCommand::Frame(EncodedFrame {
                        data: f.data,
                        pts,
                        keyframe: f.keyframe,
                    })),
                    MirrorEvent::Config(cfg) => video.send(VideoCommand::Config(cfg)),
                    MirrorEvent::Paused(_) => video.send(VideoCommand::Pause),
                    MirrorEvent::Resumed(cfg) => {
                        video.send(VideoCommand::Config(cfg));
                        video.send(VideoCommand::Resume);
                    }
                    MirrorEvent::UnadvertisedCodec { h265_advertised } => warn!(
                        h265_advertised,
                        "the client wants a codec this receiver did not advertise (H.265); \
                         start it with --h265 on (AIRGLASS_H265=on) on a machine with an H.265 decoder"
                    ),
                    MirrorEvent::Heartbeat => {}
                    MirrorEvent::Report(r) => debug!(report = ?r, "stream report"),
                    MirrorEvent::ReportUnreadable(e) => {
                        debug!(error = %e, "stream report unreadable")
                    }
                    MirrorEvent::Ignored { packet_type } => {
                        debug!(packet_type, "mirror packet ignored")
                    }
                },
                MirrorOutput::Ended { reason } => {
                    info!(%reason, "mirror stream ended");
                    if is_current {
                        video.send(VideoCommand::Stop);
                    }
                }
            }
        })
    }

    /// Closes the mirror stream, makes its late events stale, and idles the screen.
    fn stop_video(&self, active: &mut Active) {
        active.mirror = None;
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.video.send(VideoCommand::Stop);
    }

    fn end_media(&self, active: &mut Active) {
        active.audio = None;
        self.stop_video(active);
    }

    fn end_session(&self, conn: ConnId, why: &str) {
        let mut guard = self.lock();
        if guard.as_ref().is_some_and(|a| a.conn == conn)
            && let Some(mut active) = guard.take()
        {
            if active.timing.as_ref().is_some_and(|t| *t.silent.borrow()) {
                active.profile.note(Quirk::NoTimingReplies);
            }
            self.end_media(&mut active);
            info!(
                client = %active.profile.label(),
                profile = %active.profile,
                secs = active.started.elapsed().as_secs(),
                "session ended ({why})"
            );
            self.status.set(State::Idle, None);
        }
    }
}

impl SessionHost for Host {
    fn open(
        &self,
        conn: ConnId,
        peer: SocketAddr,
        _local: SocketAddr,
        pending: &PendingSetup,
    ) -> Result<Vec<Opened>, Refusal> {
        let mut guard = self.lock();
        match guard.as_ref() {
            Some(a) if a.conn != conn => return Err(Refusal::Busy),
            None if !pending.starts_session => return Err(Refusal::Busy),
            _ => {}
        }
        if pending.starts_session && guard.is_none() {
            *guard = Some(Active {
                conn,
                profile: ClientProfile::default(),
                started: Instant::now(),
                timing: None,
                mirror: None,
                audio: None,
            });
        }
        let Some(active) = guard.as_mut() else {
            return Err(Refusal::Busy);
        };
        let mut opened = Vec::with_capacity(pending.resources.len());
        for resource in &pending.resources {
            match self.open_resource(active, peer, resource) {
                Ok(o) => opened.push(o),
                Err(e) => return Err(Refusal::Failed(format!("{resource:?}: {e}"))),
            }
        }
        Ok(opened)
    }

    fn event(&self, conn: ConnId, event: SessionEvent) {
        match event {
            SessionEvent::Client(profile) => {
                let mut guard = self.lock();
                if let Some(active) = guard.as_mut().filter(|a| a.conn == conn) {
                    info!(client = %profile.label(), "client profile: {profile}");
                    self.status.set(State::Mirroring, Some(profile.label()));
                    active.profile = profile;
                }
            }
            SessionEvent::Quirk(q) => self.note_quirk(conn, q),
            SessionEvent::StopVideo => {
                let mut guard = self.lock();
                if let Some(active) = guard.as_mut().filter(|a| a.conn == conn) {
                    self.stop_video(active);
                }
            }
            SessionEvent::StopAudio => {
                if let Some(active) = self.lock().as_mut().filter(|a| a.conn == conn)
                    && let Some(a) = active.audio.take()
                {
                    debug!(packets = a.packets_received(), "audio stream stopped");
                }
            }
            SessionEvent::EndSession => self.end_session(conn, "TEARDOWN"),
            SessionEvent::Volume { db } => debug!(db, "volume"),
            SessionEvent::Record => debug!("RECORD"),
            SessionEvent::Feedback | SessionEvent::Progress { .. } | SessionEvent::Flush { .. } => {
            }
        }
    }

    fn closed(&self, conn: ConnId) {
        self.end_session(conn, "connection closed");
    }
}

impl Host {
    fn note_quirk(&self, conn: ConnId, quirk: Quirk) {
        if let Some(active) = self.lock().as_mut().filter(|a| a.conn == conn) {
            info!(%quirk, "client quirk");
            active.profile.note(quirk);
        }
    }
}
