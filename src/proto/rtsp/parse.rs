//! Two-step parsing of control messages: "is a whole message here?" then "build it".
//!
//! Owns: the grammar of start lines and header lines, head/body framing by
//! `Content-Length`, and enforcing [`Limits`] on partial input too. Lines end in CRLF; a bare
//! LF is tolerated. Every complete line is checked as soon as it arrives, so garbage and
//! oversized declarations are rejected before the rest of the message (or its body) is read.
//! Must not touch: message semantics, I/O.

use super::{Headers, Limits, Method, ParseError, Protocol, Request, Response};

/// Parses one request from the front of `buf`.
///
/// `Ok(None)`: not all of it is here yet (read more and call again with the grown buffer).
/// `Ok(Some((request, consumed)))`: a whole request; drop `consumed` bytes and repeat for
/// pipelined requests. `Err`: the peer sent something invalid or too large; answer
/// `err.status()` and close.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<(Request, usize)>, ParseError> {
    let Some(head) = scan_head(buf, limits, parse_request_line)? else {
        return Ok(None);
    };
    let Some((body, consumed)) = take_body(buf, &head) else {
        return Ok(None);
    };
    let (method, uri, protocol) = head.start;
    let request = Request {
        method,
        uri,
        protocol,
        headers: head.headers,
        body,
    };
    Ok(Some((request, consumed)))
}

/// Parses one response from the front of `buf`; same contract as [`parse_request`]. A
/// response without `Content-Length` has an empty body.
pub fn parse_response(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(Response, usize)>, ParseError> {
    let Some(head) = scan_head(buf, limits, parse_status_line)? else {
        return Ok(None);
    };
    let Some((body, consumed)) = take_body(buf, &head) else {
        return Ok(None);
    };
    let (protocol, status, reason) = head.start;
    let response = Response {
        protocol,
        status,
        reason,
        headers: head.headers,
        body,
    };
    Ok(Some((response, consumed)))
}

/// A complete head: the parsed start line, the headers, where the body starts and its length.
struct Head<S> {
    start: S,
    headers: Headers,
    head_len: usize,
    content_length: usize,
}

fn take_body<S>(buf: &[u8], head: &Head<S>) -> Option<(Vec<u8>, usize)> {
    let end = head.head_len.checked_add(head.content_length)?;
    let body = buf.get(head.head_len..end)?;
    Some((body.to_vec(), end))
}

/// Walks the lines of the head, validating each complete one. Returns `Ok(None)` while the
/// blank line that ends the head has not arrived.
fn scan_head<S>(
    buf: &[u8],
    limits: &Limits,
    parse_start: fn(&[u8]) -> Result<S, ParseError>,
) -> Result<Option<Head<S>>, ParseError> {
    let too_large = ParseError::HeaderTooLarge {
        limit: limits.max_header_bytes,
    };
    let mut start = None;
    let mut headers = Headers::new();
    let mut content_length: Option<usize> = None;
    let mut pos = 0;
    loop {
        let rest = buf.get(pos..).unwrap_or_default();
        let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
            // Any head still to come ends after buf.len() bytes.
            if buf.len() >= limits.max_header_bytes {
                return Err(too_large);
            }
            return Ok(None);
        };
        let next = pos + newline + 1;
        if next > limits.max_header_bytes {
            return Err(too_large);
        }
        let raw = rest.get(..newline).unwrap_or_default();
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        pos = next;

        if start.is_none() {
            // Tolerate empty lines before the start line (RFC 9112 §2.2).
            if !line.is_empty() {
                start = Some(parse_start(line)?);
            }
            continue;
        }
        if line.is_empty() {
            let start = start.ok_or(ParseError::Malformed("missing start line"))?;
            return Ok(Some(Head {
                start,
                headers,
                head_len: next,
                content_length: content_length.unwrap_or(0),
            }));
        }
        let (name, value) = parse_header_line(line)?;
        if headers.len() >= limits.max_headers {
            return Err(ParseError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        if name.eq_ignore_ascii_case("Content-Length") {
            if content_length.is_some() {
                return Err(ParseError::Malformed("duplicate Content-Length"));
            }
            content_length = Some(parse_content_length(value, limits.max_body_bytes)?);
        } else if name.eq_ignore_ascii_case("Transfer-Encoding") {
            return Err(ParseError::Malformed(
                "Transfer-Encoding is not supported; bodies need Content-Length",
            ));
        }
        headers.push(name, value);
    }
}

/// `METHOD SP request-target SP protocol`.
fn parse_request_line(line: &[u8]) -> Result<(Method, String, Protocol), ParseError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(uri), Some(protocol), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::Malformed(
            "request line is not METHOD SP URI SP PROTOCOL",
        ));
    };
    if method.is_empty() || !method.iter().all(|&b| is_token_byte(b)) {
        return Err(ParseError::Malformed("bad method token"));
    }
    if uri.is_empty() || !uri.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(ParseError::Malformed("bad request target"));
    }
    let protocol = parse_protocol(protocol)?;
    Ok((
        Method::from_token(ascii(method)?),
        ascii(uri)?.to_owned(),
        protocol,
    ))
}

/// `protocol SP 3DIGIT [SP reason]`.
fn parse_status_line(line: &[u8]) -> Result<(Protocol, u16, String), ParseError> {
    let bad = ParseError::Malformed("status line is not PROTOCOL SP CODE SP REASON");
    let space = line.iter().position(|&b| b == b' ').ok_or(bad.clone())?;
    let (protocol, rest) = line.split_at(space);
    let protocol = parse_protocol(protocol)?;
    let rest = rest.get(1..).unwrap_or_default();
    let (code, reason) = match rest.get(..3) {
        Some(code) if rest.len() == 3 || rest.get(3) == Some(&b' ') => {
            (code, rest.get(4..).unwrap_or_default())
        }
        _ => return Err(bad),
    };
    if !code.iter().all(u8::is_ascii_digit) || code.first() == Some(&b'0') {
        return Err(ParseError::Malformed("bad status code"));
    }
    let status = code
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    if !reason.iter().all(|&b| is_field_byte(b)) {
        return Err(ParseError::Malformed("control character in reason phrase"));
    }
    let reason = std::str::from_utf8(reason)
        .map_err(|_| ParseError::Malformed("reason phrase is not UTF-8"))?;
    Ok((protocol, status, reason.to_owned()))
}

/// `RTSP/1.0` and `HTTP/1.1` are ours; any other `NAME/digits.digits` is a version we do not
/// speak (505); anything else is not a protocol token at all (400).
fn parse_protocol(token: &[u8]) -> Result<Protocol, ParseError> {
    match token {
        b"RTSP/1.0" => Ok(Protocol::Rtsp10),
        b"HTTP/1.1" => Ok(Protocol::Http11),
        _ if looks_like_version(token) => Err(ParseError::UnsupportedProtocol(
            String::from_utf8_lossy(token).into_owned(),
        )),
        _ => Err(ParseError::Malformed("bad protocol token")),
    }
}

fn looks_like_version(token: &[u8]) -> bool {
    let Some(slash) = token.iter().position(|&b| b == b'/') else {
        return false;
    };
    let (name, version) = token.split_at(slash);
    let version = version.get(1..).unwrap_or_default();
    let Some(dot) = version.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (major, minor) = version.split_at(dot);
    let minor = minor.get(1..).unwrap_or_default();
    !name.is_empty()
        && name.iter().all(u8::is_ascii_uppercase)
        && !major.is_empty()
        && major.iter().all(u8::is_ascii_digit)
        && !minor.is_empty()
        && minor.iter().all(u8::is_ascii_digit)
}

/// `name ":" OWS value OWS`. Leading whitespace (obsolete line folding) is rejected.
fn parse_header_line(line: &[u8]) -> Result<(&str, &str), ParseError> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::Malformed("header line without ':'"))?;
    let (name, value) = line.split_at(colon);
    if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
        return Err(ParseError::Malformed("bad header name"));
    }
    let value = value.get(1..).unwrap_or_default();
    let value = trim_ows(value);
    if !value.iter().all(|&b| is_field_byte(b)) {
        return Err(ParseError::Malformed("control character in header value"));
    }
    let value = std::str::from_utf8(value)
        .map_err(|_| ParseError::Malformed("header value is not UTF-8"))?;
    Ok((ascii(name)?, value))
}

/// Decimal digits only. A value too large to hold is as much "too large" as 2 GiB.
fn parse_content_length(value: &str, max_body_bytes: usize) -> Result<usize, ParseError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Malformed(
            "Content-Length is not a decimal number",
        ));
    }
    let too_large = ParseError::BodyTooLarge {
        limit: max_body_bytes,
    };
    let mut length: usize = 0;
    for digit in value.bytes() {
        length = length
            .checked_mul(10)
            .and_then(|l| l.checked_add(usize::from(digit - b'0')))
            .ok_or(too_large.clone())?;
    }
    if length > max_body_bytes {
        return Err(too_large);
    }
    Ok(length)
}

fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Visible ASCII, space, tab, or any non-ASCII byte (checked for UTF-8 afterwards).
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (0x20..0x7F).contains(&b) || b >= 0x80
}

fn ascii(bytes: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(bytes).map_err(|_| ParseError::Malformed("non-ASCII token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn bare_lf_and_leading_blank_lines_are_tolerated() {
        let raw = b"\r\n\nOPTIONS * RTSP/1.0\nCSeq: 1\n\n";
        let (request, used) = parse_request(raw, &limits()).unwrap().unwrap();
        assert_eq!(used, raw.len());
        assert_eq!(request.method, Method::Options);
        assert_eq!(request.uri, "*");
        assert_eq!(request.cseq(), Some("1"));
    }

    #[test]
    fn header_value_whitespace_is_trimmed() {
        let raw = b"GET /info RTSP/1.0\r\nCSeq:\t 5 \t\r\nX-Empty:\r\n\r\n";
        let (request, _) = parse_request(raw, &limits()).unwrap().unwrap();
        assert_eq!(request.headers.get("cseq"), Some("5"));
        assert_eq!(request.headers.get("x-empty"), Some(""));
    }

    #[test]
    fn status_line_variants() {
        let (r, _) = parse_response(b"RTSP/1.0 200 OK\r\n\r\n", &limits())
            .unwrap()
            .unwrap();
        assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
        let (r, _) = parse_response(b"RTSP/1.0 409\r\n\r\n", &limits())
            .unwrap()
            .unwrap();
        assert_eq!((r.status, r.reason.as_str()), (409, ""));
        let line = b"RTSP/1.0 409 Conflict: Server is connected to another client\r\n\r\n";
        let (r, _) = parse_response(line, &limits()).unwrap().unwrap();
        assert_eq!(r.reason, "Conflict: Server is connected to another client");
        for bad in [
            &b"RTSP/1.0 20 OK\r\n\r\n"[..],
            b"RTSP/1.0 2000 OK\r\n\r\n",
            b"RTSP/1.0 099 OK\r\n\r\n",
            b"RTSP/1.0 2x0 OK\r\n\r\n",
            b"RTSP/1.0\r\n\r\n",
        ] {
            assert!(
                matches!(
                    parse_response(bad, &limits()),
                    Err(ParseError::Malformed(_))
                ),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn protocol_tokens() {
        assert_eq!(parse_protocol(b"RTSP/1.0"), Ok(Protocol::Rtsp10));
        assert_eq!(parse_protocol(b"HTTP/1.1"), Ok(Protocol::Http11));
        assert_eq!(
            parse_protocol(b"RTSP/2.0"),
            Err(ParseError::UnsupportedProtocol("RTSP/2.0".into()))
        );
        assert_eq!(
            parse_protocol(b"HTTP/1.0"),
            Err(ParseError::UnsupportedProtocol("HTTP/1.0".into()))
        );
        for bad in [
            &b"rtsp/1.0"[..],
            b"RTSP/1",
            b"RTSP/.0",
            b"/1.0",
            b"RTSP1.0",
            b"",
        ] {
            assert!(matches!(parse_protocol(bad), Err(ParseError::Malformed(_))));
        }
    }

    #[test]
    fn content_length_grammar() {
        assert_eq!(parse_content_length("0", 10), Ok(0));
        assert_eq!(parse_content_length("010", 10), Ok(10));
        assert_eq!(
            parse_content_length("11", 10),
            Err(ParseError::BodyTooLarge { limit: 10 })
        );
        assert_eq!(
            parse_content_length("99999999999999999999999999", usize::MAX),
            Err(ParseError::BodyTooLarge { limit: usize::MAX })
        );
        for bad in ["", "+1", "-1", "1 2", "0x10", "1.0"] {
            assert!(matches!(
                parse_content_length(bad, 10),
                Err(ParseError::Malformed(_))
            ));
        }
    }

    #[test]
    fn limit_is_exact_for_a_complete_head() {
        let raw = b"OPTIONS * RTSP/1.0\r\n\r\n";
        let exact = Limits {
            max_header_bytes: raw.len(),
            ..limits()
        };
        assert!(parse_request(raw, &exact).unwrap().is_some());
        let short = Limits {
            max_header_bytes: raw.len() - 1,
            ..limits()
        };
        assert!(matches!(
            parse_request(raw, &short),
            Err(ParseError::HeaderTooLarge { .. })
        ));
    }
}
