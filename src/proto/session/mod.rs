//! One control connection's protocol state: `handle(request, now) -> outcome`.
//!
//! The session owns the handshake (pairing, FairPlay, keys) and the answers of every control
//! request (PROTOCOL.md §3). It never opens sockets: when a SETUP needs a timing socket or a
//! stream listener it returns [`Outcome::Open`] naming the [`Resource`]s, and the shell calls
//! [`Session::complete`] with the local ports it got. Randomness (the pair-verify ephemeral
//! key) comes from an injected source, so whole sessions replay byte for byte in tests.

mod answer;
mod parameters;
mod profile;
mod setup;

pub use answer::Answer;
pub use parameters::{Parameter, parse_parameters};
pub use profile::{ClientProfile, Quirk};
pub use setup::{AudioStreamParams, Opened, PendingSetup, Refusal, Resource};

use crate::proto::fairplay;
use crate::proto::pairing::PairingServer;
use crate::proto::records::{self, DeviceInfo};
use crate::proto::rtsp::{Method, Request, Response};
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, info, warn};

/// `Server` header value, the AirTunes version we present (PROTOCOL.md §2.1).
pub const SERVER_HEADER: &str = "AirTunes/220.68";
/// Audio latency announced in the RECORD reply: 0.25 s at 44.1 kHz (PROTOCOL.md §3.9).
pub const AUDIO_LATENCY_SAMPLES: u32 = 11025;
/// The methods listed in the OPTIONS reply.
pub const PUBLIC_METHODS: &str =
    "SETUP, RECORD, FLUSH, TEARDOWN, OPTIONS, GET_PARAMETER, SET_PARAMETER";

/// What every session of one receiver shares.
pub struct SessionContext {
    pub info: DeviceInfo,
    pub signing_key: ed25519_dalek::SigningKey,
}

/// Source of the receiver's ephemeral X25519 secrets.
pub type KeySource = Box<dyn FnMut() -> [u8; 32] + Send + Sync>;

/// Something the shell must act on, beyond sending the response.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// The client described itself (SETUP #1).
    Client(ClientProfile),
    /// The client did something this receiver only tolerates; worth one log line.
    Quirk(Quirk),
    /// RECORD: the client is about to stream.
    Record,
    /// New volume in AirPlay dB (0 max, -30 quiet, -144 mute).
    Volume { db: f32 },
    /// Playback progress, three RTP timestamps.
    Progress { start: u32, current: u32, end: u32 },
    /// `/feedback` heartbeat.
    Feedback,
    /// FLUSH with the next sequence number to expect.
    Flush { next_seq: Option<u16> },
    /// TEARDOWN of the audio stream only; a new audio SETUP may follow.
    StopAudio,
    /// TEARDOWN of the mirror stream.
    StopVideo,
    /// A plain TEARDOWN: stop audio and video and return the display to idle.
    EndSession,
}

/// The session's answer to one request.
#[derive(Debug)]
pub enum Outcome {
    /// Send this response (then close the connection if `close`).
    Reply(Reply),
    /// Open these resources, then call [`Session::complete`] with the result.
    Open(PendingSetup),
}

/// A finished response with its side effects.
#[derive(Debug)]
pub struct Reply {
    pub response: Response,
    pub events: Vec<SessionEvent>,
    pub close: bool,
}

/// Per-connection protocol state.
pub struct Session {
    ctx: Arc<SessionContext>,
    keys_source: KeySource,
    pairing: Option<PairingServer>,
    fairplay_keymsg: Option<Vec<u8>>,
    keys: Option<SessionKeys>,
    profile: ClientProfile,
    last_request: Option<Instant>,
}

/// The keys SETUP #1 established.
#[derive(Clone)]
pub(crate) struct SessionKeys {
    pub aes_key: [u8; 16],
    pub eiv: [u8; 16],
}

impl Session {
    pub fn new(ctx: Arc<SessionContext>, keys_source: KeySource) -> Self {
        Self {
            ctx,
            keys_source,
            pairing: Some(PairingServer::new()),
            fairplay_keymsg: None,
            keys: None,
            profile: ClientProfile::default(),
            last_request: None,
        }
    }

    /// The client's self-description gathered so far.
    pub fn profile(&self) -> &ClientProfile {
        &self.profile
    }

    /// Whether SETUP #1 has established keys on this connection.
    pub fn is_established(&self) -> bool {
        self.keys.is_some()
    }

    /// When the last request arrived.
    pub fn last_request(&self) -> Option<Instant> {
        self.last_request
    }

    /// Handles one complete request.
    pub fn handle(&mut self, req: &Request, now: Instant) -> Outcome {
        self.last_request = Some(now);
        self.profile.observe_headers(&req.headers);
        let path = req.path();
        debug!(method = ?req.method, %path, cseq = req.cseq().unwrap_or("-"), "request");
        let answer = match (&req.method, path) {
            (Method::Get, "/info") => self.info(req),
            (Method::Post, "/pair-setup") => self.pair_setup(req),
            (Method::Post, "/pair-verify") => self.pair_verify(req),
            (Method::Post, "/fp-setup") => self.fp_setup(req),
            (Method::Post, "/feedback") => Answer::ok().event(SessionEvent::Feedback),
            (Method::Post, "/audioMode") => Answer::ok(),
            (Method::Post, _) => {
                debug!(%path, "unknown POST path, answered 200 as UxPlay does");
                Answer::ok()
            }
            (Method::Options, _) => Answer::ok().header("Public", PUBLIC_METHODS),
            (Method::Setup, _) => return self.setup(req),
            (Method::Record, _) => Answer::ok()
                .jack_analog()
                .header("Audio-Latency", AUDIO_LATENCY_SAMPLES.to_string())
                .event(SessionEvent::Record),
            (Method::GetParameter, _) => self.get_parameter(req),
            (Method::SetParameter, _) => self.set_parameter(req),
            (Method::Flush, _) => Answer::ok().event(SessionEvent::Flush {
                next_seq: parameters::flush_next_seq(req),
            }),
            (Method::Teardown, _) => self.teardown(req),
            (Method::Get, _) => Answer::status(404),
            (Method::Unknown(name), _) => {
                debug!(method = %name, "unknown method");
                Answer::status(501)
            }
            (Method::Announce | Method::Pause, _) => Answer::status(501),
        };
        Outcome::Reply(self.finish(req, answer))
    }

    /// Turns an answer into a response with the headers every reply carries (PROTOCOL §2.1).
    pub(crate) fn finish(&self, req: &Request, answer: Answer) -> Reply {
        answer.into_reply(req)
    }

    fn info(&mut self, req: &Request) -> Answer {
        let qualifiers = if req.body.is_empty() {
            Vec::new()
        } else {
            match crate::proto::bplist::parse(&req.body) {
                Ok(v) => v
                    .as_dictionary()
                    .and_then(|d| d.get("qualifier"))
                    .and_then(|q| q.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_string().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                Err(e) => {
                    warn!(error = %e, "GET /info body is not a property list");
                    return Answer::status(400);
                }
            }
        };
        let dict = if qualifiers.is_empty() {
            records::info_dictionary(&self.ctx.info)
        } else {
            records::info_for_qualifier(&self.ctx.info, &qualifiers)
        };
        Answer::plist(plist::Value::Dictionary(dict))
    }

    fn pair_setup(&mut self, req: &Request) -> Answer {
        let Some(state) = self.pairing.take() else {
            return Answer::status(500);
        };
        match state.pair_setup(&req.body, &self.ctx.signing_key) {
            Ok((next, body)) => {
                self.pairing = Some(next);
                Answer::octets(body)
            }
            Err(e) => {
                self.pairing = Some(PairingServer::new());
                warn!(error = %e, "pair-setup refused");
                // UxPlay answers a malformed pair-setup with an empty 200 (PROTOCOL §3.2).
                Answer::ok()
            }
        }
    }

    fn pair_verify(&mut self, req: &Request) -> Answer {
        let Some(state) = self.pairing.take() else {
            return Answer::status(500);
        };
        let ephemeral = (self.keys_source)();
        match state.pair_verify(&req.body, &self.ctx.signing_key, ephemeral) {
            Ok((next, body)) => {
                let verified = next.is_verified();
                self.pairing = Some(next);
                if verified {
                    info!("pair-verify succeeded");
                    Answer::octets(Vec::new())
                } else {
                    Answer::octets(body)
                }
            }
            Err(e) => {
                warn!(error = %e, "pair-verify failed; closing the connection");
                self.pairing = Some(PairingServer::new());
                Answer::ok().close()
            }
        }
    }

    fn fp_setup(&mut self, req: &Request) -> Answer {
        if let Some(et) = req.headers.get("X-Apple-ET")
            && et.trim() != "32"
        {
            self.profile
                .note(Quirk::UnusualAppleEt(et.trim().to_owned()));
        }
        match fairplay::setup_reply(&req.body) {
            Ok(reply) => {
                if req.body.len() == fairplay::STAGE2_REQUEST_LEN {
                    self.fairplay_keymsg = Some(req.body.clone());
                }
                Answer::octets(reply)
            }
            Err(fairplay::FairPlayError::UnsupportedVersion(v)) => {
                self.profile.note(Quirk::FairPlayVersion(v));
                warn!(
                    version = v,
                    "fp-setup: FairPlay version {v} is not supported (only 3, used by screen mirroring); refusing"
                );
                Answer::status(400).close()
            }
            Err(e) => {
                warn!(error = %e, "fp-setup refused");
                Answer::status(400)
            }
        }
    }

    fn teardown(&mut self, req: &Request) -> Answer {
        let types = setup::stream_types(&req.body);
        let answer = Answer::ok().header("Connection", "close");
        if types.contains(&96) && !types.contains(&110) {
            answer.event(SessionEvent::StopAudio)
        } else if types.contains(&110) {
            self.profile.mark_video_teardown();
            let mut a = answer.event(SessionEvent::StopVideo);
            if types.contains(&96) {
                a = a.event(SessionEvent::StopAudio);
            }
            a
        } else {
            let mut answer = answer;
            if self.profile.saw_video_teardown() {
                debug!("plain TEARDOWN after a type-110 one");
            } else if self.keys.is_some() {
                self.profile.note(Quirk::TypelessTeardown);
                answer = answer.event(SessionEvent::Quirk(Quirk::TypelessTeardown));
            }
            answer.event(SessionEvent::EndSession)
        }
    }

    fn pairing_secret(&self) -> Option<[u8; 32]> {
        self.pairing
            .as_ref()
            .and_then(|p| p.ecdh_secret_for_session_key())
    }
}

#[cfg(test)]
mod tests;
