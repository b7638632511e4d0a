//! A tiny client for the balena Supervisor's local HTTP API: just `GET
//! /v2/device/name`, over a plain `std::net::TcpStream` with short timeouts.
//!
//! Owns: URL splitting for `BALENA_SUPERVISOR_ADDRESS` (`http://host:port`), the
//! HTTP/1.1 request, reading a response (Content-Length, chunked, or until close),
//! and pulling `deviceName` out of the JSON body.
//!
//! Must not touch: anything but that one endpoint; it never retries (the caller falls
//! back to other names) and never logs the API key.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest response accepted from the Supervisor.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SupervisorApiError {
    #[error("supervisor address {0:?} is not of the form http://host:port")]
    Address(String),
    #[error("cannot resolve supervisor address {0:?}")]
    Resolve(String),
    #[error("cannot reach the supervisor: {0}")]
    Connect(std::io::Error),
    #[error("supervisor request failed: {0}")]
    Io(std::io::Error),
    #[error("supervisor did not answer within {0:?}")]
    Timeout(Duration),
    #[error("supervisor answer is not valid HTTP: {0}")]
    Malformed(&'static str),
    #[error("supervisor answer is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error("supervisor answered HTTP {0}")]
    Status(u16),
    #[error("supervisor answer has no deviceName: {0}")]
    Body(String),
}

/// Ask the Supervisor at `address` (e.g. `http://127.0.0.1:48484`) for the device name.
pub fn device_name(
    address: &str,
    api_key: &str,
    timeout: Duration,
) -> Result<String, SupervisorApiError> {
    let (host, port) = split_address(address)?;
    let target = format!("/v2/device/name?apikey={}", percent_encode(api_key));
    let body = get(&host, port, &target, timeout)?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|error| SupervisorApiError::Body(error.to_string()))?;
    match value.get("deviceName").and_then(|n| n.as_str()) {
        Some(name) if !name.trim().is_empty() => Ok(name.trim().to_string()),
        Some(_) => Err(SupervisorApiError::Body("deviceName is empty".to_string())),
        None => Err(SupervisorApiError::Body(
            "field missing or not a string".to_string(),
        )),
    }
}

/// `http://host:port[/]` -> (host, port). Port 80 when absent.
fn split_address(address: &str) -> Result<(String, u16), SupervisorApiError> {
    let bad = || SupervisorApiError::Address(address.to_string());
    let rest = address.trim().strip_prefix("http://").ok_or_else(bad)?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') || authority.contains('@') {
        return Err(bad());
    }
    // Bracketed IPv6 literal: [::1]:48484
    if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().map_err(|_| bad())?,
            None if after.is_empty() => 80,
            None => return Err(bad()),
        };
        return Ok((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => {
            Ok((host.to_string(), port.parse().map_err(|_| bad())?))
        }
        Some(_) => Err(bad()),
        None => Ok((authority.to_string(), 80)),
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn get(
    host: &str,
    port: u16,
    target: &str,
    timeout: Duration,
) -> Result<Vec<u8>, SupervisorApiError> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|_| SupervisorApiError::Resolve(host.to_string()))?
        .collect();
    let addr = addrs
        .first()
        .copied()
        .ok_or_else(|| SupervisorApiError::Resolve(host.to_string()))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|error| {
        if error.kind() == std::io::ErrorKind::TimedOut {
            SupervisorApiError::Timeout(timeout)
        } else {
            SupervisorApiError::Connect(error)
        }
    })?;
    let host_header = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host_header}\r\nAccept: application/json\r\nUser-Agent: airglass-shim\r\nConnection: close\r\n\r\n"
    );
    set_timeouts(&stream, deadline, timeout)?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| io_error(e, timeout))?;

    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        set_timeouts(&stream, deadline, timeout)?;
        let n = stream.read(&mut buffer).map_err(|e| io_error(e, timeout))?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(buffer.get(..n).unwrap_or_default());
        if response.len() > MAX_RESPONSE_BYTES {
            return Err(SupervisorApiError::TooLarge);
        }
        if let Some(body) = complete_body(&response)? {
            return finish(&response, body);
        }
    }
    match complete_body(&response)? {
        Some(body) => finish(&response, body),
        None => body_until_close(&response).and_then(|body| finish(&response, body)),
    }
}

fn finish(response: &[u8], body: Vec<u8>) -> Result<Vec<u8>, SupervisorApiError> {
    let status = status_code(response)?;
    if status != 200 {
        return Err(SupervisorApiError::Status(status));
    }
    Ok(body)
}

fn set_timeouts(
    stream: &TcpStream,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), SupervisorApiError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(SupervisorApiError::Timeout(timeout));
    }
    stream
        .set_read_timeout(Some(left))
        .and_then(|()| stream.set_write_timeout(Some(left)))
        .map_err(SupervisorApiError::Io)
}

fn io_error(error: std::io::Error, timeout: Duration) -> SupervisorApiError {
    match error.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            SupervisorApiError::Timeout(timeout)
        }
        _ => SupervisorApiError::Io(error),
    }
}

fn header_end(response: &[u8]) -> Option<usize> {
    response.windows(4).position(|w| w == b"\r\n\r\n")
}

fn status_code(response: &[u8]) -> Result<u16, SupervisorApiError> {
    let line_end = response
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or(SupervisorApiError::Malformed("no status line"))?;
    let line = std::str::from_utf8(response.get(..line_end).unwrap_or_default())
        .map_err(|_| SupervisorApiError::Malformed("status line is not text"))?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") => code
            .parse()
            .map_err(|_| SupervisorApiError::Malformed("status code is not a number")),
        _ => Err(SupervisorApiError::Malformed("bad status line")),
    }
}

/// The value of a header (case-insensitive name), from the header block.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// The body, once the response is complete by Content-Length or chunked framing;
/// `None` while more bytes are needed (or when only the close can end the body).
fn complete_body(response: &[u8]) -> Result<Option<Vec<u8>>, SupervisorApiError> {
    let Some(end) = header_end(response) else {
        return Ok(None);
    };
    let head = std::str::from_utf8(response.get(..end).unwrap_or_default())
        .map_err(|_| SupervisorApiError::Malformed("headers are not text"))?;
    let body = response.get(end + 4..).unwrap_or_default();
    if header(head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return dechunk(body);
    }
    if let Some(length) = header(head, "content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| SupervisorApiError::Malformed("bad Content-Length"))?;
        if length > MAX_RESPONSE_BYTES {
            return Err(SupervisorApiError::TooLarge);
        }
        return Ok(body.get(..length).map(<[u8]>::to_vec));
    }
    Ok(None)
}

fn body_until_close(response: &[u8]) -> Result<Vec<u8>, SupervisorApiError> {
    let end = header_end(response).ok_or(SupervisorApiError::Malformed(
        "response ended in the headers",
    ))?;
    let head = std::str::from_utf8(response.get(..end).unwrap_or_default())
        .map_err(|_| SupervisorApiError::Malformed("headers are not text"))?;
    if header(head, "content-length").is_some() || header(head, "transfer-encoding").is_some() {
        return Err(SupervisorApiError::Malformed("response ended early"));
    }
    Ok(response.get(end + 4..).unwrap_or_default().to_vec())
}

/// Decode a chunked body; `None` until the last chunk has arrived.
fn dechunk(mut body: &[u8]) -> Result<Option<Vec<u8>>, SupervisorApiError> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(body.get(..line_end).unwrap_or_default())
            .map_err(|_| SupervisorApiError::Malformed("chunk size is not text"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| SupervisorApiError::Malformed("bad chunk size"))?;
        if size > MAX_RESPONSE_BYTES {
            return Err(SupervisorApiError::TooLarge);
        }
        let rest = body.get(line_end + 2..).unwrap_or_default();
        if size == 0 {
            return Ok(Some(out));
        }
        let Some(chunk) = rest.get(..size) else {
            return Ok(None);
        };
        out.extend_from_slice(chunk);
        match rest.get(size..size + 2) {
            Some(b"\r\n") => body = rest.get(size + 2..).unwrap_or_default(),
            Some(_) => return Err(SupervisorApiError::Malformed("chunk not followed by CRLF")),
            None => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_supervisor_addresses() {
        assert_eq!(
            split_address("http://127.0.0.1:48484").ok(),
            Some(("127.0.0.1".to_string(), 48484))
        );
        assert_eq!(
            split_address("http://[::1]:48484/").ok(),
            Some(("::1".to_string(), 48484))
        );
        assert_eq!(
            split_address("http://supervisor").ok(),
            Some(("supervisor".to_string(), 80))
        );
        for bad in [
            "https://1.2.3.4:1",
            "127.0.0.1:48484",
            "http://:80",
            "http://h:x",
            "http://h/p",
        ] {
            assert!(split_address(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn encodes_api_keys() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("a b&c=d"), "a%20b%26c%3Dd");
    }

    #[test]
    fn reads_chunked_and_sized_bodies() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2;x=y\r\nef\r\n0\r\n\r\n";
        assert_eq!(
            complete_body(chunked).ok().flatten(),
            Some(b"abcdef".to_vec())
        );
        let partial = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab";
        assert_eq!(complete_body(partial).ok().flatten(), None);
        let sized = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nxyzTRAILING";
        assert_eq!(complete_body(sized).ok().flatten(), Some(b"xyz".to_vec()));
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(complete_body(bad).is_err());
    }

    #[test]
    fn rejects_bad_status_lines() {
        assert_eq!(
            status_code(b"HTTP/1.1 401 Unauthorized\r\n").ok(),
            Some(401)
        );
        assert!(status_code(b"RTSP/1.0 200 OK\r\n").is_err());
        assert!(status_code(b"HTTP/1.1 abc\r\n").is_err());
        assert!(status_code(b"no line end").is_err());
    }
}
