//! The Supervisor API client and the receiver-name fallbacks.
//!
//! The HTTP server here, on 127.0.0.1:0, stands in for the balena device
//! Supervisor: it implements only `GET /v2/device/name?apikey=KEY`, answering
//! `{"deviceName": ...}` the way the Supervisor does.

mod shim_common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use airglass::shim::supervisor_api::{SupervisorApiError, device_name};
use shim_common::{Shim, lines, script};

#[derive(Clone, Copy)]
enum Framing {
    ContentLength,
    Chunked,
    /// Never answers (a wedged supervisor).
    Silent,
}

/// A stand-in Supervisor; returns its address and a request counter.
fn fake_supervisor(
    key: &'static str,
    name: &'static str,
    framing: Framing,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("addr"));
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            serve(stream, key, name, framing);
        }
    });
    (address, requests)
}

fn serve(mut stream: TcpStream, key: &str, name: &str, framing: Framing) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let line = text.lines().next().unwrap_or_default().to_string();
    if let Framing::Silent = framing {
        std::thread::sleep(Duration::from_secs(5));
        return;
    }
    let (status, body) = if line == format!("GET /v2/device/name?apikey={key} HTTP/1.1") {
        (
            "200 OK",
            format!(r#"{{"status":"success","deviceName":"{name}"}}"#),
        )
    } else if line.starts_with("GET /v2/device/name?") {
        ("401 Unauthorized", "Unauthorized".to_string())
    } else {
        ("404 Not Found", "Not Found".to_string())
    };
    let response = match framing {
        Framing::ContentLength => format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        _ => {
            let (a, b) = body.split_at(body.len() / 2);
            format!(
                "HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                a.len(),
                b.len()
            )
        }
    };
    let _ = stream.write_all(response.as_bytes());
}

#[test]
fn asks_the_supervisor_for_the_device_name() {
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let (address, requests) = fake_supervisor("s3cret", "living-room", framing);
        let name = device_name(&address, "s3cret", Duration::from_secs(2)).expect("name");
        assert_eq!(name, "living-room");
        assert_eq!(requests.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn a_wrong_key_or_a_silent_supervisor_is_an_error() {
    let (address, _) = fake_supervisor("s3cret", "living-room", Framing::ContentLength);
    match device_name(&address, "wrong", Duration::from_secs(2)) {
        Err(SupervisorApiError::Status(401)) => {}
        other => panic!("expected HTTP 401, got {other:?}"),
    }
    // Keys are percent-encoded, so a key cannot smuggle in another parameter.
    match device_name(&address, "s3cret&x=1", Duration::from_secs(2)) {
        Err(SupervisorApiError::Status(401)) => {}
        other => panic!("expected HTTP 401, got {other:?}"),
    }

    let (silent, _) = fake_supervisor("k", "n", Framing::Silent);
    let started = Instant::now();
    match device_name(&silent, "k", Duration::from_millis(300)) {
        Err(SupervisorApiError::Timeout(_)) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "timeout not honoured"
    );

    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    assert!(matches!(
        device_name(
            &format!("http://127.0.0.1:{port}"),
            "k",
            Duration::from_secs(1)
        ),
        Err(SupervisorApiError::Connect(_))
    ));
}

/// Run the shim once with a fake receiver that records its name; return it.
fn receiver_name(env: &[(&str, &str)]) -> (String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = script(
        dir.path(),
        "name.sh",
        r#"echo "$AIRGLASS_NAME" > "$TEST_DIR/name"; exit 0"#,
    );
    let mut all = vec![("AIRGLASS_NAME", "")];
    all.extend_from_slice(env);
    let mut shim = Shim::start(dir.path(), &child, &all);
    let status = shim.wait(Duration::from_secs(10)).expect("shim exits");
    assert_eq!(status.code(), Some(0), "log:\n{}", shim.log());
    let name = lines(&dir.path().join("name")).join("\n");
    (name, shim.log())
}

#[test]
fn the_receiver_is_named_after_the_balena_device() {
    let (address, requests) = fake_supervisor("key-1", "Kitchen TV", Framing::ContentLength);
    let (name, _) = receiver_name(&[
        ("BALENA_SUPERVISOR_ADDRESS", &address),
        ("BALENA_SUPERVISOR_API_KEY", "key-1"),
        ("BALENA_DEVICE_NAME_AT_INIT", "old-name"),
    ]);
    assert_eq!(name, "Kitchen TV");
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[test]
fn without_the_supervisor_the_name_falls_back_in_order() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let (name, log) = receiver_name(&[
        ("BALENA_SUPERVISOR_ADDRESS", &dead),
        ("BALENA_SUPERVISOR_API_KEY", "k"),
        ("BALENA_DEVICE_NAME_AT_INIT", "name-at-init"),
    ]);
    assert_eq!(name, "name-at-init");
    assert!(
        log.contains("device name from the supervisor API"),
        "log:\n{log}"
    );

    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let (name, _) = receiver_name(&[]);
    assert_eq!(name, host.trim());
}

#[test]
fn a_configured_name_is_kept_and_the_supervisor_not_asked() {
    let (address, requests) = fake_supervisor("k", "device", Framing::ContentLength);
    let (name, _) = receiver_name(&[
        ("AIRGLASS_NAME", "Chosen Name"),
        ("BALENA_SUPERVISOR_ADDRESS", &address),
        ("BALENA_SUPERVISOR_API_KEY", "k"),
    ]);
    assert_eq!(name, "Chosen Name");
    assert_eq!(requests.load(Ordering::SeqCst), 0);
}
