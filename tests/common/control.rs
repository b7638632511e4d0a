//! A raw control-connection client written from PROTOCOL.md (not the built-in sender), so
//! integration tests check the receiver against the documented bytes.

use airglass::proto::rtsp::{Limits, Response, parse_response};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A binary property list.
pub fn bplist(v: plist::Value) -> Vec<u8> {
    let mut out = Vec::new();
    plist::to_writer_binary(&mut out, &v).expect("encode plist");
    out
}

/// A dictionary value from pairs.
pub fn dict(pairs: Vec<(&str, plist::Value)>) -> plist::Value {
    plist::Value::Dictionary(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// `{streams: [{type: N, ...extra}]}`.
pub fn streams(kind: u64, extra: Vec<(&str, plist::Value)>) -> Vec<u8> {
    let mut s = vec![("type", plist::Value::Integer(kind.into()))];
    s.extend(extra);
    bplist(dict(vec![("streams", plist::Value::Array(vec![dict(s)]))]))
}

/// A response body decoded as a dictionary.
pub fn body_dict(r: &Response) -> plist::Dictionary {
    plist::Value::from_reader(std::io::Cursor::new(&r.body))
        .expect("response body is a plist")
        .into_dictionary()
        .expect("response body is a dictionary")
}

/// One control connection.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    cseq: u32,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Conn {
        Conn {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
            cseq: 0,
        }
    }

    /// The next response, or None when the server closed the connection.
    pub async fn read_response(&mut self) -> Option<Response> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((r, used)) =
                parse_response(&self.buf, &Limits::default()).expect("response parses")
            {
                self.buf.drain(..used);
                return Some(r);
            }
            let n = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk))
                .await
                .expect("response timed out")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends `HEAD RTSP/1.0` with CSeq, User-Agent and the body, returns the response.
    pub async fn request(&mut self, head: &str, ct: Option<&str>, body: &[u8]) -> Response {
        let mut raw = format!(
            "{head} RTSP/1.0\r\nCSeq: {}\r\nUser-Agent: AirPlay/845.6.1\r\n",
            self.cseq
        )
        .into_bytes();
        self.cseq += 1;
        if let Some(ct) = ct {
            raw.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        if !body.is_empty() {
            raw.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(body);
        self.stream.write_all(&raw).await.expect("write request");
        self.read_response().await.expect("connection closed")
    }

    /// fp-setup (both stages) with the vector material of `kdf_ctr[0]`, then SETUP #1 with its
    /// ekey and `timing_port`; returns the SETUP reply.
    pub async fn handshake(&mut self, v: &serde_json::Value, timing_port: u16) -> Response {
        let k = &v["kdf_ctr"][0];
        let mode = k["fairplay_mode"].as_u64().unwrap_or(0) as usize;
        let s1 = &v["fp_setup_stage1"][mode];
        let r = self
            .request(
                "POST /fp-setup",
                Some("application/octet-stream"),
                &super::hex_field(s1, "request"),
            )
            .await;
        assert_eq!(r.body, super::hex_field(s1, "reply"));
        let r = self
            .request(
                "POST /fp-setup",
                Some("application/octet-stream"),
                &super::hex_field(k, "keymsg"),
            )
            .await;
        assert_eq!(r.status, 200);
        let body = bplist(dict(vec![
            ("ekey", plist::Value::Data(super::hex_field(k, "ekey"))),
            ("eiv", plist::Value::Data(vec![7; 16])),
            ("timingProtocol", plist::Value::String("NTP".into())),
            (
                "timingPort",
                plist::Value::Integer(u64::from(timing_port).into()),
            ),
            ("isScreenMirroringSession", plist::Value::Boolean(true)),
            ("model", plist::Value::String("iPhone15,2".into())),
        ]));
        self.request(
            "SETUP rtsp://127.0.0.1/1",
            Some("application/x-apple-binary-plist"),
            &body,
        )
        .await
    }

    /// A plain TEARDOWN (`{}`), the end of a session.
    pub async fn teardown_plain(&mut self) -> Response {
        self.request(
            "TEARDOWN rtsp://127.0.0.1/1",
            Some("application/x-apple-binary-plist"),
            &bplist(dict(vec![])),
        )
        .await
    }

    /// A type-110 SETUP; returns the announced data port.
    pub async fn setup_mirror(&mut self, stream_connection_id: u64) -> u16 {
        let body = streams(
            110,
            vec![(
                "streamConnectionID",
                plist::Value::Integer(stream_connection_id.into()),
            )],
        );
        let r = self
            .request(
                "SETUP rtsp://127.0.0.1/1",
                Some("application/x-apple-binary-plist"),
                &body,
            )
            .await;
        assert_eq!(r.status, 200);
        let d = body_dict(&r);
        let port = d["streams"].as_array().expect("streams")[0]
            .as_dictionary()
            .expect("stream dict")["dataPort"]
            .as_unsigned_integer()
            .expect("dataPort");
        u16::try_from(port).expect("port fits")
    }
}
