//! The receiver's state machine for one mirror data connection (the TCP stream announced by
//! SETUP type 110): header + payload in, one [`MirrorEvent`] out (PROTOCOL.md §5.2, §5.3, §4.3).
//!
//! Owns: the connection's single continuous AES-CTR keystream (only type-0 payloads advance
//! it), the pending parameter sets and when they are prepended, the codec in use, and the
//! paused/resumed state. Must not touch: sockets or clocks (the shell reads the bytes and maps
//! timestamps), nor decoding or display.

use super::annexb::avcc_to_annexb_in_place;
use super::codec_config::{CodecConfig, VideoCodec};
use super::header::{MirrorHeader, PacketType};
use super::report::{ReportError, StreamReport};
use super::{MirrorError, header};
use crate::proto::cipher::VideoCipher;

/// One decrypted Annex-B access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// Annex-B bytes; parameter sets are already in front when this is the first keyframe
    /// after a codec packet.
    pub data: Vec<u8>,
    /// Raw header timestamp: client uptime, 32.32 fixed point.
    pub timestamp: u64,
    /// Holds an IDR (H.264) or IRAP (H.265) picture.
    pub keyframe: bool,
    /// The codec of the last codec packet (H.264 before any arrived).
    pub codec: VideoCodec,
}

/// What one record meant.
#[derive(Debug, Clone, PartialEq)]
pub enum MirrorEvent {
    Frame(VideoFrame),
    /// A codec packet: the first one, a size change, a rotation, or a repeat while paused.
    Config(CodecConfig),
    /// A pausing codec packet (screen locked / client asleep) while we were playing. The
    /// config it carries is also pending for the next keyframe.
    Paused(CodecConfig),
    /// The first normal codec packet after a pausing one.
    Resumed(CodecConfig),
    /// Old-protocol type-2 keepalive.
    Heartbeat,
    Report(StreamReport),
    /// A type-5 packet whose plist could not be read; the stream goes on.
    ReportUnreadable(ReportError),
    /// An empty type-1 payload: the client wants a codec we did not advertise (H.265 without
    /// features bit 42). The caller should log it and end the stream.
    UnadvertisedCodec {
        h265_advertised: bool,
    },
    /// A record we skip: an unknown type, or a video packet with no payload.
    Ignored {
        packet_type: u8,
    },
}

/// Receiver state for one data connection.
#[derive(Debug)]
pub struct MirrorStream {
    cipher: VideoCipher,
    h265_advertised: bool,
    codec: Option<VideoCodec>,
    /// Annex-B parameter sets waiting for the next keyframe.
    pending_parameter_sets: Option<Vec<u8>>,
    paused: bool,
}

impl MirrorStream {
    /// `key`/`iv` are the stream's video key and IV (PROTOCOL.md §4.3); `h265_advertised` is
    /// whether features bit 42 was set, used to explain an empty codec packet.
    pub fn new(key: &[u8; 16], iv: &[u8; 16], h265_advertised: bool) -> Self {
        Self {
            cipher: VideoCipher::new(key, iv),
            h265_advertised,
            codec: None,
            pending_parameter_sets: None,
            paused: false,
        }
    }

    /// Handles one record. `payload` must be exactly `header.payload_size` bytes; for video its
    /// allocation is reused for the frame. An error means the stream cannot go on (wrong key,
    /// broken framing, codec switch) and the connection should be closed.
    pub fn handle(
        &mut self,
        header: &MirrorHeader,
        payload: Vec<u8>,
    ) -> Result<MirrorEvent, MirrorError> {
        if payload.len() != header.payload_size as usize {
            return Err(MirrorError::PayloadLengthMismatch {
                expected: header.payload_size,
                actual: payload.len(),
            });
        }
        match header.packet_type {
            PacketType::Video => self.handle_video(header, payload),
            PacketType::CodecConfig => self.handle_codec(header, &payload),
            PacketType::Heartbeat => Ok(MirrorEvent::Heartbeat),
            PacketType::Report => Ok(match StreamReport::parse(&payload) {
                Ok(report) => MirrorEvent::Report(report),
                Err(e) => {
                    tracing::debug!(len = payload.len(), error = %e, "unreadable streaming report");
                    MirrorEvent::ReportUnreadable(e)
                }
            }),
            PacketType::Other(packet_type) => {
                tracing::debug!(
                    packet_type,
                    len = payload.len(),
                    "skipping unknown mirror record"
                );
                Ok(MirrorEvent::Ignored { packet_type })
            }
        }
    }

    /// Decrypts a type-0 payload in place, continuing the stream's keystream. [`handle`] does
    /// this for every video record; it is public for known-answer tests and capture tools.
    /// Calling it on anything but a type-0 payload desynchronises the stream.
    ///
    /// [`handle`]: MirrorStream::handle
    pub fn decrypt_video_in_place(&mut self, payload: &mut [u8]) {
        self.cipher.apply(payload);
    }

    /// The codec announced by the last codec packet, if any arrived yet.
    pub fn codec(&self) -> Option<VideoCodec> {
        self.codec
    }

    /// Whether the last codec packet announced a pause.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    fn handle_video(
        &mut self,
        header: &MirrorHeader,
        mut payload: Vec<u8>,
    ) -> Result<MirrorEvent, MirrorError> {
        if payload.is_empty() {
            tracing::debug!("skipping empty video record");
            return Ok(MirrorEvent::Ignored {
                packet_type: header::TYPE_VIDEO,
            });
        }
        self.decrypt_video_in_place(&mut payload);
        let codec = self.codec.unwrap_or(VideoCodec::H264);
        let info = avcc_to_annexb_in_place(&mut payload, codec)?;
        let data = match self.pending_parameter_sets.take() {
            Some(parameter_sets) if info.keyframe => {
                let mut data = Vec::with_capacity(parameter_sets.len() + payload.len());
                data.extend_from_slice(&parameter_sets);
                data.extend_from_slice(&payload);
                data
            }
            still_pending => {
                self.pending_parameter_sets = still_pending;
                payload
            }
        };
        Ok(MirrorEvent::Frame(VideoFrame {
            data,
            timestamp: header.timestamp,
            keyframe: info.keyframe,
            codec,
        }))
    }

    fn handle_codec(
        &mut self,
        header: &MirrorHeader,
        payload: &[u8],
    ) -> Result<MirrorEvent, MirrorError> {
        if payload.is_empty() {
            tracing::warn!(
                h265_advertised = self.h265_advertised,
                "client asked for a codec we did not advertise (empty codec record)"
            );
            return Ok(MirrorEvent::UnadvertisedCodec {
                h265_advertised: self.h265_advertised,
            });
        }
        let config = CodecConfig::from_packet(header, payload)?;
        if let Some(previous) = self.codec
            && previous != config.codec
        {
            return Err(MirrorError::CodecChanged {
                from: previous,
                to: config.codec,
            });
        }
        if config.codec == VideoCodec::H265 && !self.h265_advertised {
            tracing::warn!("H.265 codec record although H.265 was not advertised; accepting it");
        }
        if let Some(named) = header.option_codec()
            && named != config.codec
        {
            tracing::debug!(option = header.option, ?named, found = ?config.codec,
                "codec option code disagrees with the record; trusting the record");
        }
        self.codec = Some(config.codec);
        self.pending_parameter_sets = Some(config.annexb.clone());
        let was_paused = self.paused;
        self.paused = config.paused;
        Ok(match (was_paused, config.paused) {
            (false, true) => MirrorEvent::Paused(config),
            (true, false) => MirrorEvent::Resumed(config),
            _ => MirrorEvent::Config(config),
        })
    }
}
