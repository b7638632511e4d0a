//! The sender's control connection: RTSP/1.0 requests with the headers iOS sends
//! (PROTOCOL.md §2: `CSeq` from 0, `DACP-ID`, `Active-Remote`, `User-Agent`), one at a time,
//! each answered within a deadline.
//!
//! Owns: the TCP connection to the receiver's control port, request framing, CSeq and reply
//! matching. Must not touch: what requests mean (see `handshake`), the mirror stream.

use crate::proto::rtsp::{Limits, Method, Protocol, Request, Response, parse_response};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Content types the sender uses.
pub const BPLIST: &str = "application/x-apple-binary-plist";
pub const OCTETS: &str = "application/octet-stream";
pub const PARAMETERS: &str = "text/parameters";

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    #[error("connecting to {0} timed out")]
    ConnectTimeout(SocketAddr),
    #[error("no reply to {0} within {1:?}")]
    Timeout(String, Duration),
    #[error("the receiver closed the connection before answering {0}")]
    Closed(String),
    #[error("connection failed during {what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("unreadable reply to {what}: {why}")]
    BadReply { what: String, why: String },
}

/// One control connection.
pub struct ControlClient {
    stream: TcpStream,
    buf: Vec<u8>,
    cseq: u32,
    user_agent: String,
    dacp_id: String,
    active_remote: u32,
    /// The `rtsp://host/session` URI used for SETUP and the other session methods.
    pub session_uri: String,
    /// How long one request may wait for its reply.
    pub reply_timeout: Duration,
}

impl ControlClient {
    /// Connects to `addr` within `timeout`. `session` is the number in the session URI,
    /// `dacp_id` and `active_remote` the remote-control identity iOS announces.
    pub async fn connect(
        addr: SocketAddr,
        timeout: Duration,
        user_agent: &str,
        session: u64,
        dacp_id: u64,
        active_remote: u32,
    ) -> Result<ControlClient, ClientError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::ConnectTimeout(addr))?
            .map_err(|source| ClientError::Connect { addr, source })?;
        let _ = stream.set_nodelay(true);
        let host = match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        Ok(ControlClient {
            stream,
            buf: Vec::with_capacity(4096),
            cseq: 0,
            user_agent: user_agent.to_owned(),
            dacp_id: format!("{dacp_id:016X}"),
            active_remote,
            session_uri: format!("rtsp://{host}/{session}"),
            reply_timeout: Duration::from_secs(5),
        })
    }

    /// The local address of the control connection (the timing socket binds beside it).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// The receiver's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// Sends one request and waits for its reply. `uri` of `None` means the session URI.
    pub async fn request(
        &mut self,
        method: Method,
        uri: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Response, ClientError> {
        let uri = uri.unwrap_or(&self.session_uri).to_owned();
        let what = format!("{method} {uri}");
        let cseq = self.cseq;
        self.cseq += 1;
        let mut req = Request::new(method, uri, Protocol::Rtsp10)
            .with_header("CSeq", cseq.to_string())
            .with_header("DACP-ID", self.dacp_id.clone())
            .with_header("Active-Remote", self.active_remote.to_string())
            .with_header("User-Agent", self.user_agent.clone());
        for (name, value) in extra {
            req = req.with_header(*name, *value);
        }
        if let Some((content_type, body)) = body {
            req = req.with_body(content_type, body);
        }
        let mut out = Vec::with_capacity(256 + req.body.len());
        req.encode(&mut out);
        self.stream
            .write_all(&out)
            .await
            .map_err(|source| ClientError::Io {
                what: what.clone(),
                source,
            })?;
        let response = tokio::time::timeout(self.reply_timeout, self.read_response(&what))
            .await
            .map_err(|_| ClientError::Timeout(what.clone(), self.reply_timeout))??;
        if response.cseq() != Some(cseq.to_string().as_str()) {
            return Err(ClientError::BadReply {
                what,
                why: format!("CSeq {:?} does not answer request {cseq}", response.cseq()),
            });
        }
        Ok(response)
    }

    async fn read_response(&mut self, what: &str) -> Result<Response, ClientError> {
        let mut chunk = [0u8; 4096];
        loop {
            match parse_response(&self.buf, &Limits::default()) {
                Ok(Some((response, used))) => {
                    self.buf.drain(..used);
                    return Ok(response);
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(ClientError::BadReply {
                        what: what.to_owned(),
                        why: e.to_string(),
                    });
                }
            }
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|source| ClientError::Io {
                    what: what.to_owned(),
                    source,
                })?;
            if n == 0 {
                return Err(ClientError::Closed(what.to_owned()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Encodes a property list as a binary plist body.
pub fn bplist_body(value: &plist::Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail for the values the sender builds.
    if plist::to_writer_binary(&mut out, value).is_err() {
        out.clear();
    }
    out
}

/// Parses a binary plist reply body as a dictionary.
pub fn reply_dictionary(what: &str, response: &Response) -> Result<plist::Dictionary, ClientError> {
    let bad = |why: String| ClientError::BadReply {
        what: what.to_owned(),
        why,
    };
    let value = crate::proto::bplist::parse(&response.body).map_err(|e| bad(e.to_string()))?;
    value
        .into_dictionary()
        .ok_or_else(|| bad("the property list is not a dictionary".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn requests_carry_ios_headers_and_replies_must_echo_cseq() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // First request: answer correctly. Second: answer with the wrong CSeq.
            for reply_cseq in ["0", "7"] {
                let n = s.read(&mut buf).await.unwrap();
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let r = format!("RTSP/1.0 200 OK\r\nCSeq: {reply_cseq}\r\n\r\n");
                s.write_all(r.as_bytes()).await.unwrap();
            }
            seen
        });
        let mut c = ControlClient::connect(
            addr,
            Duration::from_secs(2),
            "AirPlay/770.8.1",
            42,
            0xABCD,
            7,
        )
        .await
        .unwrap();
        let r = c
            .request(
                Method::Post,
                Some("/fp-setup"),
                &[("X-Apple-ET", "32")],
                Some((OCTETS, vec![1, 2, 3])),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        let err = c
            .request(Method::Record, None, &[], None)
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::BadReply { .. }), "{err}");
        let seen = server.await.unwrap();
        assert!(seen[0].starts_with("POST /fp-setup RTSP/1.0\r\nCSeq: 0\r\n"));
        for h in [
            "DACP-ID: 000000000000ABCD",
            "Active-Remote: 7",
            "User-Agent: AirPlay/770.8.1",
            "X-Apple-ET: 32",
            "Content-Type: application/octet-stream",
            "Content-Length: 3",
        ] {
            assert!(seen[0].contains(h), "missing {h} in {:?}", seen[0]);
        }
        assert!(seen[1].starts_with("RECORD rtsp://127.0.0.1/42 RTSP/1.0\r\nCSeq: 1\r\n"));
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = ControlClient::connect(addr, Duration::from_secs(2), "x", 1, 1, 1)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ClientError::Connect { .. }), "{err}");
    }
}
