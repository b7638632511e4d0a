//! The two stages of `POST /fp-setup`: request checks and the fixed replies.
//!
//! Owns: the FPLY framing of setup requests (magic, version, message type, exact length, mode)
//! and building both replies, plus the stage-1 request the built-in sender sends. A stage-1
//! reply is one of four fixed blobs chosen by the mode; a stage-2 reply is a fixed header
//! followed by the request's last 20 bytes. Must not touch: key derivation (the caller keeps
//! the stage-2 request and later passes it to `decrypt_key`), session state, or I/O.

use super::block::{Block, blocks_at};
use super::message::BODY_BLOCKS;
use super::tables::{FP_HEADER, REPLY_MESSAGE};
use super::{FairPlayError, Mode, STAGE1_REQUEST_LEN, STAGE2_REQUEST_LEN};

/// The four bytes every FairPlay message starts with.
const FPLY_MAGIC: [u8; 4] = *b"FPLY";
/// The only protocol version accepted (byte 4).
const SUPPORTED_VERSION: u8 = 0x03;
/// Bytes of the FPLY header (magic, version, minor version, type, reserved, payload length).
const HEADER_LEN: usize = 12;
/// Offset of the version byte.
const VERSION_AT: usize = 4;
/// Offset of the message-type byte.
const MESSAGE_TYPE_AT: usize = 6;
/// Message type of the stage-1 request.
const STAGE1_TYPE: u8 = 0x01;
/// Message type of the stage-2 request.
const STAGE2_TYPE: u8 = 0x03;
/// Offset of the mode byte in a stage-1 request.
const STAGE1_MODE_AT: usize = 14;
/// Offset of the mode byte in a stage-2 request.
const STAGE2_MODE_AT: usize = 12;
/// Offset of the encrypted body of a stage-2 request (eight blocks, up to byte 144).
const STAGE2_BODY_AT: usize = 16;
/// Offset of the 20 bytes a stage-2 reply echoes (to the end of the request).
const STAGE2_ECHO_AT: usize = 144;
/// Length of the echoed tail.
const STAGE2_ECHO_LEN: usize = STAGE2_REQUEST_LEN - STAGE2_ECHO_AT;
/// The stage-1 request a sender sends, with the mode byte left as zero.
const STAGE1_REQUEST_TEMPLATE: [u8; STAGE1_REQUEST_LEN] = [
    0x46, 0x50, 0x4c, 0x59, 0x03, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x04, 0x02, 0x00, 0x00, 0xbb,
];

/// A stage-2 request ("keymsg"), checked and split into the parts later steps read.
pub(super) struct KeyMessage {
    pub(super) mode: Mode,
    pub(super) body: [Block; BODY_BLOCKS],
    echo: [u8; STAGE2_ECHO_LEN],
}

/// A checked setup request.
enum SetupRequest {
    Stage1(Mode),
    Stage2(KeyMessage),
}

/// The byte at `offset`, or a length error naming what was being read.
fn byte_at(
    bytes: &[u8],
    offset: usize,
    what: &'static str,
    expected: usize,
) -> Result<u8, FairPlayError> {
    bytes
        .get(offset)
        .copied()
        .ok_or(FairPlayError::WrongLength {
            what,
            expected,
            actual: bytes.len(),
        })
}

/// Checks the FPLY header and returns the message type.
fn message_type(request: &[u8]) -> Result<u8, FairPlayError> {
    let too_short = FairPlayError::WrongLength {
        what: "fp-setup request",
        expected: STAGE1_REQUEST_LEN,
        actual: request.len(),
    };
    if request.len() < HEADER_LEN {
        return Err(too_short);
    }
    let magic = *request.first_chunk::<4>().ok_or(too_short)?;
    if magic != FPLY_MAGIC {
        return Err(FairPlayError::BadMagic(magic));
    }
    let version = byte_at(request, VERSION_AT, "fp-setup request", STAGE1_REQUEST_LEN)?;
    if version != SUPPORTED_VERSION {
        return Err(FairPlayError::UnsupportedVersion(version));
    }
    byte_at(
        request,
        MESSAGE_TYPE_AT,
        "fp-setup request",
        STAGE1_REQUEST_LEN,
    )
}

/// Fails unless `bytes` is exactly `expected` long.
fn exact_len(bytes: &[u8], what: &'static str, expected: usize) -> Result<(), FairPlayError> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(FairPlayError::WrongLength {
            what,
            expected,
            actual: bytes.len(),
        })
    }
}

impl KeyMessage {
    /// Checks a stage-2 request: header, type 3, exactly 164 bytes, mode 0..=3.
    pub(super) fn parse(request: &[u8]) -> Result<Self, FairPlayError> {
        const WHAT: &str = "fp-setup stage-2 request";
        let kind = message_type(request)?;
        if kind != STAGE2_TYPE {
            return Err(FairPlayError::UnknownMessageType(kind));
        }
        exact_len(request, WHAT, STAGE2_REQUEST_LEN)?;
        let mode = Mode::from_byte(byte_at(request, STAGE2_MODE_AT, WHAT, STAGE2_REQUEST_LEN)?)?;
        let too_short = || FairPlayError::WrongLength {
            what: WHAT,
            expected: STAGE2_REQUEST_LEN,
            actual: request.len(),
        };
        let body = blocks_at::<BODY_BLOCKS>(request, STAGE2_BODY_AT).ok_or_else(too_short)?;
        let echo = *request
            .get(STAGE2_ECHO_AT..)
            .and_then(|tail| tail.first_chunk::<STAGE2_ECHO_LEN>())
            .ok_or_else(too_short)?;
        Ok(Self { mode, body, echo })
    }
}

/// Checks either stage of a setup request.
fn parse(request: &[u8]) -> Result<SetupRequest, FairPlayError> {
    match message_type(request)? {
        STAGE1_TYPE => {
            const WHAT: &str = "fp-setup stage-1 request";
            exact_len(request, WHAT, STAGE1_REQUEST_LEN)?;
            let mode =
                Mode::from_byte(byte_at(request, STAGE1_MODE_AT, WHAT, STAGE1_REQUEST_LEN)?)?;
            Ok(SetupRequest::Stage1(mode))
        }
        STAGE2_TYPE => KeyMessage::parse(request).map(SetupRequest::Stage2),
        other => Err(FairPlayError::UnknownMessageType(other)),
    }
}

/// The reply to either stage of `POST /fp-setup`.
///
/// Stage 1 (16 bytes, type 1): the 142-byte reply for the requested mode. Stage 2 (164 bytes,
/// type 3): `46 50 4c 59 03 01 04 00 00 00 00 14` followed by request bytes 144..164. The
/// caller keeps an accepted stage-2 request for [`decrypt_key`](super::decrypt_key).
pub fn setup_reply(request: &[u8]) -> Result<Vec<u8>, FairPlayError> {
    match parse(request)? {
        SetupRequest::Stage1(mode) => Ok(mode.pick(&REPLY_MESSAGE).to_vec()),
        SetupRequest::Stage2(message) => {
            let mut reply = Vec::with_capacity(FP_HEADER.len() + STAGE2_ECHO_LEN);
            reply.extend_from_slice(&FP_HEADER);
            reply.extend_from_slice(&message.echo);
            Ok(reply)
        }
    }
}

/// The stage-1 request a sender sends for `mode` (0..=3):
/// `46 50 4c 59 03 01 01 00 00 00 00 04 02 00 <mode> bb`.
pub fn stage1_request(mode: u8) -> Result<[u8; STAGE1_REQUEST_LEN], FairPlayError> {
    Mode::from_byte(mode)?;
    let mut request = STAGE1_REQUEST_TEMPLATE;
    request[STAGE1_MODE_AT] = mode;
    Ok(request)
}
