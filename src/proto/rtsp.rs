//! RTSP/1.0 and HTTP/1.1 message framing for the AirPlay control port (PROTOCOL §2).
//!
//! Owns: recognising whether a whole request or response is in a byte buffer, parsing it
//! into [`Request`] / [`Response`] under [`Limits`], and serialising both back to bytes.
//! Parsing is two-step (mini-redis style): `Ok(None)` means "not all here yet" and is not an
//! error; a malformed or oversized message is a [`ParseError`] carrying the status code to
//! answer with, and nothing here ever panics on input.
//!
//! Must not touch: what a request *means* (that is `proto::session`), sockets, clocks. The
//! session layer adds `CSeq`, `Server` and `Audio-Jack-Status`; this module only writes what
//! it is given plus `Content-Length`.
//!
//! Why our own parser: `rtsp-types` rejects path-style request lines (`GET /info RTSP/1.0`)
//! and `httparse` rejects `RTSP/1.0` (FIELD-NOTES), and AirPlay mixes both on one port.

mod headers;
mod message;
mod parse;

use std::fmt;

pub use headers::Headers;
pub use message::{Request, Response, reason_phrase};
pub use parse::{parse_request, parse_response};

/// The protocol token of a message line. Responses echo the request's token (PROTOCOL §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `RTSP/1.0`: the mirroring and audio control path.
    Rtsp10,
    /// `HTTP/1.1`: the separate "AirPlay video" (HLS) path that shares the port.
    Http11,
}

impl Protocol {
    /// The token as written on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Rtsp10 => "RTSP/1.0",
            Protocol::Http11 => "HTTP/1.1",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request method. Methods are case-sensitive tokens; anything not listed is kept verbatim
/// in [`Method::Unknown`] so the session can answer `501 Not Implemented`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Setup,
    Record,
    GetParameter,
    SetParameter,
    Options,
    Teardown,
    Flush,
    Announce,
    Pause,
    Unknown(String),
}

impl Method {
    /// Maps a method token to a method; unknown tokens become [`Method::Unknown`].
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "SETUP" => Method::Setup,
            "RECORD" => Method::Record,
            "GET_PARAMETER" => Method::GetParameter,
            "SET_PARAMETER" => Method::SetParameter,
            "OPTIONS" => Method::Options,
            "TEARDOWN" => Method::Teardown,
            "FLUSH" => Method::Flush,
            "ANNOUNCE" => Method::Announce,
            "PAUSE" => Method::Pause,
            other => Method::Unknown(other.to_owned()),
        }
    }

    /// The token as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Setup => "SETUP",
            Method::Record => "RECORD",
            Method::GetParameter => "GET_PARAMETER",
            Method::SetParameter => "SET_PARAMETER",
            Method::Options => "OPTIONS",
            Method::Teardown => "TEARDOWN",
            Method::Flush => "FLUSH",
            Method::Announce => "ANNOUNCE",
            Method::Pause => "PAUSE",
            Method::Unknown(token) => token,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bounds applied while parsing, including to incomplete input, so a peer cannot make us
/// buffer without limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest head (start line, headers and the blank line) accepted.
    pub max_header_bytes: usize,
    /// Most header fields accepted in one message.
    pub max_headers: usize,
    /// Largest `Content-Length` accepted.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 0x4000,
            max_headers: 32,
            max_body_bytes: 0x10_0000,
        }
    }
}

/// Why a message was rejected. Each maps to the status code to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A start line or header line that does not follow the grammar, a bad or duplicate
    /// `Content-Length`, or a `Transfer-Encoding` (bodies are framed by length only).
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// The head did not end within `max_header_bytes`.
    #[error("message head longer than {limit} bytes")]
    HeaderTooLarge { limit: usize },
    /// More than `max_headers` header fields.
    #[error("more than {limit} header fields")]
    TooManyHeaders { limit: usize },
    /// `Content-Length` above `max_body_bytes` (or too large to represent).
    #[error("declared body larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// A well-formed protocol token other than `RTSP/1.0` and `HTTP/1.1`.
    #[error("unsupported protocol version {0:?}")]
    UnsupportedProtocol(String),
}

impl ParseError {
    /// The status code a server should answer with before closing the connection.
    pub const fn status(&self) -> u16 {
        match self {
            ParseError::Malformed(_) => 400,
            ParseError::BodyTooLarge { .. } => 413,
            ParseError::HeaderTooLarge { .. } | ParseError::TooManyHeaders { .. } => 431,
            ParseError::UnsupportedProtocol(_) => 505,
        }
    }
}
