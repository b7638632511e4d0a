//! Request and response values, their accessors and their serialisation.
//!
//! Owns: the in-memory shape of a control message and `encode`, which writes the start line,
//! the headers in insertion order and a computed `Content-Length` last (PROTOCOL §2.1).
//! Must not touch: parsing (see `parse`) or any session header such as `CSeq`/`Server`.

use super::{Headers, Method, Protocol};

/// One parsed or to-be-sent request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The request target exactly as on the wire (`/info`, `rtsp://10.0.0.2/3894`, ...).
    pub uri: String,
    pub protocol: Protocol,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: impl Into<String>, protocol: Protocol) -> Self {
        Request {
            method,
            uri: uri.into(),
            protocol,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Appends a header (builder style).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Sets `Content-Type` and the body (builder style).
    pub fn with_body(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.headers.insert("Content-Type", content_type);
        self.body = body;
        self
    }

    /// The `CSeq` value, trimmed, exactly as sent (responses must echo it).
    pub fn cseq(&self) -> Option<&str> {
        self.headers.get("CSeq").map(str::trim)
    }

    /// The media type of `Content-Type`, without parameters (`text/parameters; x=y` gives
    /// `text/parameters`). Compare it with `eq_ignore_ascii_case`.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get("Content-Type").map(media_type)
    }

    /// The path of the request target, without query or fragment: `/info?x` gives `/info`,
    /// `rtsp://10.0.0.2/3894` gives `/3894`, an absolute URI with no path gives `/`, and `*`
    /// stays `*`.
    pub fn path(&self) -> &str {
        uri_path(&self.uri)
    }

    /// Writes the request to `out`. Any stored `Content-Length` is ignored; one computed from
    /// the body is written last when the body is non-empty or a `Content-Type` is set.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        push_line_safe(out, &self.uri);
        out.push(b' ');
        out.extend_from_slice(self.protocol.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        encode_headers_and_body(&self.headers, &self.body, out);
    }
}

/// One response, built by the session layer or parsed by the built-in sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub protocol: Protocol,
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Response {
    /// A response with the standard reason phrase for `status`, no headers and no body.
    pub fn new(protocol: Protocol, status: u16) -> Self {
        Response {
            protocol,
            status,
            reason: reason_phrase(protocol, status).to_owned(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// `200 OK`.
    pub fn ok(protocol: Protocol) -> Self {
        Response::new(protocol, 200)
    }

    /// Replaces the reason phrase (builder style), e.g. UxPlay's
    /// `409 Conflict: Server is connected to another client`.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// Appends a header (builder style).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Sets `Content-Type` and the body (builder style).
    pub fn with_body(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.headers.insert("Content-Type", content_type);
        self.body = body;
        self
    }

    /// The `CSeq` value, trimmed.
    pub fn cseq(&self) -> Option<&str> {
        self.headers.get("CSeq").map(str::trim)
    }

    /// The media type of `Content-Type`, without parameters.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get("Content-Type").map(media_type)
    }

    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Writes the status line, the headers in insertion order and then `Content-Length` when
    /// the body is non-empty or a `Content-Type` is set (`Content-Length: 0` for an empty
    /// typed body, PROTOCOL §2.1). Any stored `Content-Length` is ignored.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.protocol.as_str().as_bytes());
        out.push(b' ');
        // Three digits always; a status outside 100..=999 is a programming error that is
        // clamped rather than written as a malformed line.
        let status = self.status.clamp(100, 999);
        out.extend_from_slice(status.to_string().as_bytes());
        out.push(b' ');
        push_line_safe(out, &self.reason);
        out.extend_from_slice(b"\r\n");
        encode_headers_and_body(&self.headers, &self.body, out);
    }
}

/// Writes headers (skipping any `Content-Length`), the computed `Content-Length`, the blank
/// line and the body.
fn encode_headers_and_body(headers: &Headers, body: &[u8], out: &mut Vec<u8>) {
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        push_line_safe(out, name);
        out.extend_from_slice(b": ");
        push_line_safe(out, value);
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || headers.contains("Content-Type") {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Appends text that must stay on one line: CR and LF become spaces, so a value taken from a
/// peer can never inject a header or end the head early.
fn push_line_safe(out: &mut Vec<u8>, text: &str) {
    out.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
}

fn media_type(value: &str) -> &str {
    value.split(';').next().unwrap_or(value).trim()
}

fn uri_path(uri: &str) -> &str {
    let without_query = uri.split(['?', '#']).next().unwrap_or(uri);
    match without_query.split_once("://") {
        Some((_scheme, rest)) => match rest.find('/') {
            Some(slash) => rest.get(slash..).unwrap_or("/"),
            None => "/",
        },
        None => without_query,
    }
}

/// The standard reason phrase: RFC 2326 (RTSP/1.0) and RFC 9110 (HTTP) phrases, plus
/// `431 Request Header Fields Too Large` and RTSP 2.0's `470 Connection Authorization
/// Required`. Unknown codes get a phrase naming their class.
pub fn reason_phrase(protocol: Protocol, status: u16) -> &'static str {
    if let Some(phrase) = standard_phrase(protocol, status) {
        return phrase;
    }
    match status / 100 {
        1 => "Informational",
        2 => "Success",
        3 => "Redirection",
        4 => "Client Error",
        _ => "Server Error",
    }
}

fn standard_phrase(protocol: Protocol, status: u16) -> Option<&'static str> {
    let phrase = match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        250 => "Low on Storage Space",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        451 => "Parameter Not Understood",
        452 => "Conference Not Found",
        453 => "Not Enough Bandwidth",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        456 => "Header Field Not Valid for Resource",
        457 => "Invalid Range",
        458 => "Parameter Is Read-Only",
        459 => "Aggregate Operation Not Allowed",
        460 => "Only Aggregate Operation Allowed",
        461 => "Unsupported Transport",
        462 => "Destination Unreachable",
        470 => "Connection Authorization Required",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => match protocol {
            Protocol::Rtsp10 => "RTSP Version Not Supported",
            Protocol::Http11 => "HTTP Version Not Supported",
        },
        551 => "Option Not Supported",
        _ => return None,
    };
    Some(phrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(response: &Response) -> String {
        let mut out = Vec::new();
        response.encode(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn path_strips_query_scheme_and_authority() {
        let cases = [
            ("/info?txtAirPlay&txtRAOP", "/info"),
            ("/fp-setup", "/fp-setup"),
            ("rtsp://10.0.0.2/3894", "/3894"),
            ("rtsp://[fe80::1%25en0]:7000/17?x", "/17"),
            ("rtsp://10.0.0.2", "/"),
            ("/rate?value=1.0#frag", "/rate"),
            ("*", "*"),
        ];
        for (uri, path) in cases {
            let request = Request::new(Method::Get, uri, Protocol::Rtsp10);
            assert_eq!(request.path(), path, "{uri}");
        }
    }

    #[test]
    fn content_type_drops_parameters() {
        let request = Request::new(Method::SetParameter, "rtsp://h/1", Protocol::Rtsp10)
            .with_header("content-type", " text/parameters; charset=utf-8 ");
        assert_eq!(request.content_type(), Some("text/parameters"));
    }

    #[test]
    fn response_layout_follows_protocol_2_1() {
        let response = Response::ok(Protocol::Rtsp10)
            .with_header("Audio-Jack-Status", "connected; type=digital")
            .with_body("application/octet-stream", vec![1, 2, 3])
            .with_header("Server", "AirTunes/220.68")
            .with_header("CSeq", "7");
        let mut expected = String::from("RTSP/1.0 200 OK\r\n");
        expected.push_str("Audio-Jack-Status: connected; type=digital\r\n");
        expected.push_str("Content-Type: application/octet-stream\r\n");
        expected.push_str("Server: AirTunes/220.68\r\n");
        expected.push_str("CSeq: 7\r\n");
        expected.push_str("Content-Length: 3\r\n\r\n\u{1}\u{2}\u{3}");
        assert_eq!(encoded(&response), expected);
    }

    #[test]
    fn content_length_only_with_body_or_type() {
        let bare = Response::ok(Protocol::Rtsp10).with_header("CSeq", "1");
        assert_eq!(encoded(&bare), "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n");
        let typed_empty = Response::ok(Protocol::Rtsp10)
            .with_body("application/octet-stream", Vec::new())
            .with_header("CSeq", "2");
        assert_eq!(
            encoded(&typed_empty),
            "RTSP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nCSeq: 2\r\n\
             Content-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn stale_content_length_is_replaced() {
        let response = Response::ok(Protocol::Http11)
            .with_header("Content-Length", "999")
            .with_body("text/plain", b"hi".to_vec());
        assert_eq!(
            encoded(&response),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
        );
    }

    #[test]
    fn header_injection_is_neutralised() {
        let response =
            Response::new(Protocol::Rtsp10, 400).with_header("CSeq", "1\r\nEvil: yes\r\n");
        assert_eq!(
            encoded(&response),
            "RTSP/1.0 400 Bad Request\r\nCSeq: 1  Evil: yes  \r\n\r\n"
        );
    }

    #[test]
    fn reason_phrases_used_by_the_receiver() {
        let rtsp = Protocol::Rtsp10;
        assert_eq!(reason_phrase(rtsp, 200), "OK");
        assert_eq!(reason_phrase(rtsp, 401), "Unauthorized");
        assert_eq!(reason_phrase(rtsp, 409), "Conflict");
        assert_eq!(reason_phrase(rtsp, 431), "Request Header Fields Too Large");
        assert_eq!(reason_phrase(rtsp, 451), "Parameter Not Understood");
        assert_eq!(
            reason_phrase(rtsp, 470),
            "Connection Authorization Required"
        );
        assert_eq!(reason_phrase(rtsp, 501), "Not Implemented");
        assert_eq!(reason_phrase(rtsp, 505), "RTSP Version Not Supported");
        assert_eq!(
            reason_phrase(Protocol::Http11, 505),
            "HTTP Version Not Supported"
        );
        assert_eq!(reason_phrase(rtsp, 299), "Success");
    }

    #[test]
    fn request_encode_writes_computed_length_last() {
        let request = Request::new(Method::Post, "/fp-setup", Protocol::Rtsp10)
            .with_header("X-Apple-ET", "32")
            .with_body("application/octet-stream", vec![0x46, 0x50])
            .with_header("CSeq", "1");
        let mut out = Vec::new();
        request.encode(&mut out);
        assert_eq!(
            out,
            b"POST /fp-setup RTSP/1.0\r\nX-Apple-ET: 32\r\n\
              Content-Type: application/octet-stream\r\nCSeq: 1\r\n\
              Content-Length: 2\r\n\r\nFP"
        );
    }
}
