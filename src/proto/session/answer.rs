//! Building a reply: status, handler headers, body, then the headers every reply carries.

use super::{Reply, SERVER_HEADER, SessionEvent};
use crate::proto::rtsp::{Request, Response};

const JACK_DIGITAL: &str = "connected; type=digital";
const JACK_ANALOG: &str = "connected; type=analog";
const BPLIST: &str = "application/x-apple-binary-plist";
const OCTETS: &str = "application/octet-stream";

/// A handler's answer before the common headers are added.
#[derive(Debug)]
pub struct Answer {
    status: u16,
    jack: &'static str,
    headers: Vec<(&'static str, String)>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    events: Vec<SessionEvent>,
    close: bool,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            jack: JACK_DIGITAL,
            headers: Vec::new(),
            content_type: None,
            body: Vec::new(),
            events: Vec::new(),
            close: false,
        }
    }

    pub fn ok() -> Self {
        Self::status(200)
    }

    /// 200 with `application/octet-stream` (pairing and FairPlay replies; may be empty).
    pub fn octets(body: Vec<u8>) -> Self {
        let mut a = Self::ok();
        a.content_type = Some(OCTETS);
        a.body = body;
        a
    }

    /// 200 with a binary property list.
    pub fn plist(value: plist::Value) -> Self {
        let mut body = Vec::new();
        match plist::to_writer_binary(&mut body, &value) {
            Ok(()) => {
                let mut a = Self::ok();
                a.content_type = Some(BPLIST);
                a.body = body;
                a
            }
            Err(e) => {
                tracing::error!(error = %e, "could not encode a property list");
                Self::status(500)
            }
        }
    }

    /// 200 with a `text/parameters` body.
    pub fn text_parameters(body: String) -> Self {
        let mut a = Self::ok();
        a.content_type = Some("text/parameters");
        a.body = body.into_bytes();
        a
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// RECORD is the one reply that reports an analog jack (PROTOCOL §3.9).
    pub fn jack_analog(mut self) -> Self {
        self.jack = JACK_ANALOG;
        self
    }

    pub fn event(mut self, event: SessionEvent) -> Self {
        self.events.push(event);
        self
    }

    /// Close the connection after sending.
    pub fn close(mut self) -> Self {
        self.close = true;
        self
    }

    pub fn status_code(&self) -> u16 {
        self.status
    }

    /// The response in UxPlay's header order: jack status, handler headers, content type,
    /// Server, CSeq; the encoder appends Content-Length.
    pub fn into_reply(self, req: &Request) -> Reply {
        let mut response = Response::new(req.protocol, self.status);
        response.headers.push("Audio-Jack-Status", self.jack);
        for (name, value) in self.headers {
            response.headers.push(name, value);
        }
        if let Some(ct) = self.content_type {
            response.headers.push("Content-Type", ct);
        }
        response.headers.push("Server", SERVER_HEADER);
        if let Some(cseq) = req.cseq() {
            response.headers.push("CSeq", cseq);
        }
        response.body = self.body;
        Reply {
            response,
            events: self.events,
            close: self.close,
        }
    }
}
