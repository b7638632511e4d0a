//! SETUP: session keys (#1) and stream requests (#2, #3), PROTOCOL.md §3.7–§3.8.
//!
//! A SETUP is answered in two steps because its reply names local ports: [`Session::setup`]
//! returns the [`Resource`]s to open inside a [`PendingSetup`], the shell opens them, and
//! [`Session::complete`] builds the reply from what was [`Opened`].

use super::{Answer, Outcome, Quirk, Reply, Session, SessionEvent, SessionKeys};
use crate::proto::fairplay;
use crate::proto::keys::{self, StreamConnectionId};
use crate::proto::records;
use crate::proto::rtsp::Request;
use plist::{Dictionary, Value};
use tracing::{info, warn};

/// Mirror stream type in SETUP/TEARDOWN.
pub const STREAM_MIRROR: u64 = 110;
/// Audio stream type in SETUP/TEARDOWN.
pub const STREAM_AUDIO: u64 = 96;

/// Parameters of a type-96 audio stream.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioStreamParams {
    /// `ct`: 1 LPCM, 2 ALAC, 4 AAC-LC, 8 AAC-ELD.
    pub compression: u64,
    /// `spf`: samples per frame (480 AAC-ELD, 352 ALAC).
    pub samples_per_frame: u64,
    /// `audioFormat` bit mask.
    pub audio_format: u64,
    /// The client's control port (0: no resend requests).
    pub client_control_port: u16,
    pub key: [u8; 16],
    pub iv: [u8; 16],
}

/// Something the shell opens for a SETUP.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    /// A UDP socket polling the client's timing port.
    Timing { client_port: u16 },
    /// A TCP listener for the mirror stream, with its decryption key.
    Mirror {
        id: StreamConnectionId,
        key: [u8; 16],
        iv: [u8; 16],
    },
    /// UDP data and control sockets for the audio stream.
    Audio(AudioStreamParams),
}

/// What the shell opened, in the order of the resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    Timing { port: u16 },
    Mirror { data_port: u16 },
    Audio { data_port: u16, control_port: u16 },
}

/// Why the shell could not open the resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Another client is mirroring (409).
    Busy,
    /// A socket could not be opened (500 and close).
    Failed(String),
}

/// A SETUP waiting for its resources.
#[derive(Debug)]
pub struct PendingSetup {
    /// What to open, in order.
    pub resources: Vec<Resource>,
    /// True for SETUP #1 (the one with keys): the shell claims the receiver for this client.
    pub starts_session: bool,
    request: Request,
    combined_info: bool,
    events: Vec<SessionEvent>,
}

/// The stream types named in a SETUP or TEARDOWN body; empty for a plain one or garbage.
pub fn stream_types(body: &[u8]) -> Vec<u64> {
    if body.is_empty() {
        return Vec::new();
    }
    let Ok(v) = crate::proto::bplist::parse(body) else {
        return Vec::new();
    };
    streams_of(v.as_dictionary())
        .iter()
        .filter_map(|s| s.get("type").and_then(as_u64))
        .collect()
}

fn streams_of(dict: Option<&Dictionary>) -> Vec<&Dictionary> {
    dict.and_then(|d| d.get("streams"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_dictionary).collect())
        .unwrap_or_default()
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Integer(i) => i.as_unsigned().or_else(|| i.as_signed().map(|s| s as u64)),
        Value::Real(r) if r.is_finite() && *r >= 0.0 => Some(*r as u64),
        _ => None,
    }
}

fn data16(dict: &Dictionary, key: &str) -> Option<[u8; 16]> {
    dict.get(key)?.as_data()?.try_into().ok()
}

impl Session {
    pub(super) fn setup(&mut self, req: &Request) -> Outcome {
        match self.plan_setup(req) {
            Ok(pending) => Outcome::Open(pending),
            Err(answer) => Outcome::Reply(self.finish(req, answer)),
        }
    }

    fn plan_setup(&mut self, req: &Request) -> Result<PendingSetup, Answer> {
        let value = crate::proto::bplist::parse(&req.body).map_err(|e| {
            warn!(error = %e, "SETUP body is not a property list");
            Answer::status(400)
        })?;
        let dict = value.as_dictionary().ok_or_else(|| {
            warn!("SETUP body is not a dictionary");
            Answer::status(400)
        })?;
        let mut pending = PendingSetup {
            resources: Vec::new(),
            starts_session: false,
            request: req.clone(),
            combined_info: false,
            events: Vec::new(),
        };
        if dict.contains_key("ekey") {
            self.setup_keys(dict, &mut pending)?;
        }
        for stream in streams_of(Some(dict)) {
            let resource = self.stream_resource(stream)?;
            pending.resources.push(resource);
        }
        if !pending.starts_session && pending.resources.is_empty() {
            warn!("SETUP with neither keys nor streams");
            return Err(Answer::status(400));
        }
        Ok(pending)
    }

    /// SETUP #1: decrypt the FairPlay key, hash it with the pairing secret, note the client.
    fn setup_keys(&mut self, dict: &Dictionary, pending: &mut PendingSetup) -> Result<(), Answer> {
        let Some(keymsg) = self.fairplay_keymsg.as_deref() else {
            warn!("SETUP with ekey before fp-setup; closing");
            return Err(Answer::status(400).close());
        };
        let ekey = dict
            .get("ekey")
            .and_then(Value::as_data)
            .unwrap_or_default();
        let Some(eiv) = data16(dict, "eiv") else {
            warn!("SETUP without a 16-byte eiv");
            return Err(Answer::status(400).close());
        };
        let fp_key = fairplay::decrypt_key(keymsg, ekey).map_err(|e| {
            warn!(error = %e, "FairPlay could not decrypt the ekey; closing");
            Answer::status(400).close()
        })?;
        self.profile.observe_setup(dict);
        let secret = if self.profile.wants_unhashed_key() {
            None
        } else {
            self.pairing_secret()
        };
        let aes_key = keys::session_key(&fp_key, secret.as_ref());
        self.keys = Some(SessionKeys { aes_key, eiv });
        pending.starts_session = true;

        let timing = dict.get("timingProtocol").and_then(Value::as_string);
        let timing_port = dict
            .get("timingPort")
            .and_then(as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0);
        match (timing, timing_port) {
            (Some("NTP") | None, Some(client_port)) => {
                pending.resources.push(Resource::Timing { client_port })
            }
            (Some(other), _) if other != "NTP" => {
                self.profile.note(Quirk::TimingProtocol(other.to_owned()))
            }
            _ => warn!("SETUP without a timing port; video will be timed by arrival"),
        }
        if dict.get("isRemoteControlOnly").and_then(Value::as_boolean) == Some(true) {
            self.profile.note(Quirk::RemoteControlOnly);
        }
        if dict
            .get("combinedGetInfoWithControlSetup")
            .and_then(Value::as_boolean)
            == Some(true)
        {
            self.profile.note(Quirk::CombinedInfoSetup);
            pending.combined_info = true;
        }
        pending
            .events
            .push(SessionEvent::Client(self.profile.clone()));
        info!(hashed = secret.is_some(), "session keys established");
        Ok(())
    }

    fn stream_resource(&mut self, stream: &Dictionary) -> Result<Resource, Answer> {
        let Some(keys) = self.keys.clone() else {
            warn!("stream SETUP before the session SETUP; closing");
            return Err(Answer::status(400).close());
        };
        match stream.get("type").and_then(as_u64) {
            Some(STREAM_MIRROR) => {
                let id = stream
                    .get("streamConnectionID")
                    .and_then(StreamConnectionId::from_plist)
                    .ok_or_else(|| {
                        warn!("mirror SETUP without streamConnectionID");
                        Answer::status(400).close()
                    })?;
                let (key, iv) = keys::video_key_iv(&keys.aes_key, id.0);
                Ok(Resource::Mirror { id, key, iv })
            }
            Some(STREAM_AUDIO) => {
                let num = |k: &str| stream.get(k).and_then(as_u64).unwrap_or(0);
                Ok(Resource::Audio(AudioStreamParams {
                    compression: num("ct"),
                    samples_per_frame: num("spf"),
                    audio_format: num("audioFormat"),
                    client_control_port: u16::try_from(num("controlPort")).unwrap_or(0),
                    key: keys.aes_key,
                    iv: keys.eiv,
                }))
            }
            other => {
                warn!(stream_type = ?other, "SETUP for an unknown stream type; closing");
                Err(Answer::status(400).close())
            }
        }
    }

    /// Builds the SETUP reply once the shell has opened (or failed to open) the resources.
    pub fn complete(
        &mut self,
        pending: PendingSetup,
        result: Result<Vec<Opened>, Refusal>,
    ) -> Reply {
        let req = &pending.request;
        let opened = match result {
            Ok(opened) => opened,
            Err(Refusal::Busy) => {
                if pending.starts_session {
                    self.keys = None;
                }
                info!("refusing SETUP: another client is mirroring");
                return self.finish(req, Answer::status(409));
            }
            Err(Refusal::Failed(why)) => {
                warn!(%why, "SETUP failed; closing");
                return self.finish(req, Answer::status(500).close());
            }
        };
        let mut dict = Dictionary::new();
        if pending.starts_session {
            let timing_port = opened.iter().find_map(|o| match o {
                Opened::Timing { port } => Some(*port),
                _ => None,
            });
            dict.insert("eventPort".into(), Value::Integer(0u64.into()));
            dict.insert(
                "timingPort".into(),
                Value::Integer(u64::from(timing_port.unwrap_or(0)).into()),
            );
            if pending.combined_info {
                dict.insert(
                    "info".into(),
                    Value::Dictionary(records::info_dictionary(&self.ctx.info)),
                );
            }
        }
        let streams: Vec<Value> = opened
            .iter()
            .filter_map(|o| {
                let mut s = Dictionary::new();
                match *o {
                    Opened::Timing { .. } => return None,
                    Opened::Mirror { data_port } => {
                        s.insert(
                            "dataPort".into(),
                            Value::Integer(u64::from(data_port).into()),
                        );
                        s.insert("type".into(), Value::Integer(STREAM_MIRROR.into()));
                    }
                    Opened::Audio {
                        data_port,
                        control_port,
                    } => {
                        s.insert(
                            "dataPort".into(),
                            Value::Integer(u64::from(data_port).into()),
                        );
                        s.insert(
                            "controlPort".into(),
                            Value::Integer(u64::from(control_port).into()),
                        );
                        s.insert("type".into(), Value::Integer(STREAM_AUDIO.into()));
                    }
                }
                Some(Value::Dictionary(s))
            })
            .collect();
        if !streams.is_empty() {
            dict.insert("streams".into(), Value::Array(streams));
        }
        let mut answer = Answer::plist(Value::Dictionary(dict));
        for e in pending.events {
            answer = answer.event(e);
        }
        self.finish(req, answer)
    }
}
