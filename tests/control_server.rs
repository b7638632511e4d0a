//! The control server over real sockets on 127.0.0.1:0: the iOS handshake against the whole
//! app (null video backend), and hostile input against the server shell with short limits,
//! checking that another client keeps being served meanwhile.

mod common;

use airglass::app::App;
use airglass::config::Config;
use airglass::net::control::{self, ConnId, ControlLimits, SessionHost};
use airglass::proto::records::{DeviceInfo, DisplaySpec, Features};
use airglass::proto::rtsp::Response;
use airglass::proto::session::{Opened, PendingSetup, Refusal, SessionContext, SessionEvent};
use clap::Parser;
use common::control::{Conn, body_dict, bplist, dict, streams};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start_app() -> (App, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::try_parse_from([
        "airglass",
        "--name",
        "Test TV",
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--no-mdns",
        "--video-backend",
        "null",
        "--state-dir",
        dir.path().to_str().unwrap(),
    ])
    .unwrap();
    (App::start(&config).await.unwrap(), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ios_handshake_over_a_real_socket() {
    let v = common::vectors();
    let (app, _dir) = start_app().await;
    let mut c = Conn::connect(app.local_addr).await;
    let q = bplist(dict(vec![(
        "qualifier",
        plist::Value::Array(vec![plist::Value::String("txtAirPlay".into())]),
    )]));
    let r = c
        .request("GET /info", Some("application/x-apple-binary-plist"), &q)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers.get("CSeq"), Some("0"));
    assert_eq!(r.headers.get("Server"), Some("AirTunes/220.68"));

    let timing = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let r = c.handshake(&v, timing.local_addr().unwrap().port()).await;
    assert_eq!(r.status, 200);
    let d = plist::Value::from_reader(std::io::Cursor::new(&r.body)).unwrap();
    let our_timing = d.as_dictionary().unwrap()["timingPort"]
        .as_unsigned_integer()
        .unwrap();
    assert_ne!(our_timing, 0);
    // The receiver polls our timing port right away.
    let mut buf = [0u8; 64];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), timing.recv_from(&mut buf))
        .await
        .expect("no timing request")
        .unwrap();
    assert_eq!(n, 32);
    assert_eq!(&buf[..2], &[0x80, 0xd2]);
    assert_eq!(u64::from(from.port()), our_timing);
    assert!(app.is_busy());

    // A second client is refused while the first mirrors.
    let other_timing = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut other = Conn::connect(app.local_addr).await;
    let r = other
        .handshake(&v, other_timing.local_addr().unwrap().port())
        .await;
    assert_eq!(r.status, 409);

    let k = &v["kdf_ctr"][0];
    let id: u64 = k["stream_connection_id"].as_str().unwrap().parse().unwrap();
    let port = c.setup_mirror(id).await;
    let mirror = TcpStream::connect(("127.0.0.1", port)).await;
    assert!(mirror.is_ok(), "mirror port must accept the client");

    let body = streams(
        96,
        vec![
            ("ct", plist::Value::Integer(8.into())),
            ("spf", plist::Value::Integer(480.into())),
        ],
    );
    let r = c
        .request(
            "SETUP rtsp://127.0.0.1/1",
            Some("application/x-apple-binary-plist"),
            &body,
        )
        .await;
    assert_eq!(r.status, 200);
    let d = body_dict(&r);
    let audio = d["streams"].as_array().unwrap()[0].as_dictionary().unwrap();
    assert!(audio["dataPort"].as_unsigned_integer().unwrap() > 0);
    assert!(audio["controlPort"].as_unsigned_integer().unwrap() > 0);
    let r = c.request("RECORD rtsp://127.0.0.1/1", None, b"").await;
    assert_eq!(r.headers.get("Audio-Latency"), Some("11025"));
    assert_eq!(c.teardown_plain().await.status, 200);
    for _ in 0..50 {
        if !app.is_busy() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!app.is_busy(), "plain TEARDOWN frees the receiver");
    app.stop().await;
}

/// Opens nothing: the hostile-input tests below only exercise the server shell's limits.
struct NoStreams;

impl SessionHost for NoStreams {
    fn open(
        &self,
        _: ConnId,
        _: SocketAddr,
        _: SocketAddr,
        _: &PendingSetup,
    ) -> Result<Vec<Opened>, Refusal> {
        Err(Refusal::Busy)
    }
    fn event(&self, _: ConnId, _: SessionEvent) {}
    fn closed(&self, _: ConnId) {}
}

async fn start_shell(limits: ControlLimits) -> (SocketAddr, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let info = DeviceInfo {
        name: "Shell".into(),
        device_id: [2, 0, 0, 0, 0, 1],
        public_key: [0; 32],
        features: Features::DEFAULT,
        display: DisplaySpec {
            width: 1920,
            height: 1080,
            refresh_hz: 60,
            max_fps: 30,
        },
        password_required: false,
        initial_volume_db: 0.0,
    };
    let ctx = Arc::new(SessionContext {
        info,
        signing_key: ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    });
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(control::serve(
        listener,
        ctx,
        Arc::new(NoStreams),
        limits,
        Arc::new(|| Box::new(|| [5u8; 32])),
        rx,
    ));
    (addr, tx)
}

async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> (Option<Response>, bool) {
    let mut c = Conn::connect(addr).await;
    let _ = c.stream.write_all(bytes).await;
    let r = c.read_response().await;
    let mut rest = [0u8; 16];
    let closed = matches!(
        tokio::time::timeout(Duration::from_secs(3), c.stream.read(&mut rest)).await,
        Ok(Ok(0)) | Ok(Err(_))
    );
    (r, closed)
}

#[tokio::test]
async fn hostile_input_gets_a_status_and_a_close() {
    let limits = ControlLimits {
        stall_timeout: Duration::from_millis(300),
        ..ControlLimits::default()
    };
    let (addr, _stop) = start_shell(limits).await;

    // A client that sends half a request and stalls...
    let mut stalled = Conn::connect(addr).await;
    stalled
        .stream
        .write_all(b"POST /fp-setup RTSP/1.0\r\nCSeq: 1\r\nContent-Len")
        .await
        .unwrap();

    // ...does not stop another client from being served meanwhile.
    let mut good = Conn::connect(addr).await;
    assert_eq!(good.request("OPTIONS *", None, b"").await.status, 200);

    let (r, closed) = raw_exchange(
        addr,
        b"POST /fp-setup RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 2147483648\r\n\r\n",
    )
    .await;
    assert_eq!(r.map(|r| r.status), Some(413));
    assert!(closed);

    let mut big = b"GET /info RTSP/1.0\r\nX-Junk: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 17 * 1024));
    let (r, closed) = raw_exchange(addr, &big).await;
    assert_eq!(r.map(|r| r.status), Some(431));
    assert!(closed);

    let (r, _) = raw_exchange(addr, b"\x16\x03\x01\x02\x00garbage\r\n\r\n").await;
    assert_eq!(r.map(|r| r.status), Some(400));

    let (r, closed) = raw_exchange(addr, b"BREW /pot RTSP/1.0\r\nCSeq: 3\r\n\r\n").await;
    let r = r.unwrap();
    assert_eq!((r.status, r.headers.get("CSeq")), (501, Some("3")));
    assert!(
        !closed,
        "an unknown method is answered, not a reason to hang up"
    );

    // The stalled client is dropped after the stall timeout.
    let mut rest = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(3), stalled.stream.read(&mut rest))
        .await
        .expect("stalled client was never closed");
    assert!(matches!(n, Ok(0) | Err(_)));
    assert_eq!(good.request("OPTIONS *", None, b"").await.status, 200);
}

#[tokio::test]
async fn hostile_property_lists_are_refused() {
    let (addr, _stop) = start_shell(ControlLimits::default()).await;
    let mut c = Conn::connect(addr).await;
    // Garbage that starts like a binary plist.
    let mut junk = b"bplist00".to_vec();
    junk.extend((0..4000u32).map(|i| (i * 7919 % 251) as u8));
    let r = c
        .request(
            "SETUP rtsp://x/1",
            Some("application/x-apple-binary-plist"),
            &junk,
        )
        .await;
    assert_eq!(r.status, 400);
    // A deeply nested array bomb: 200k levels of [[[...]]].
    let depth = 100_000u32;
    let bomb = nested_array_bplist(depth);
    let r = c
        .request("GET /info", Some("application/x-apple-binary-plist"), &bomb)
        .await;
    assert_eq!(r.status, 400);
    // Oversized fp-setup messages.
    let r = c
        .request("POST /fp-setup", None, &vec![0x46; 100_000])
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(c.request("OPTIONS *", None, b"").await.status, 200);
}

/// A binary plist whose object `i` is a one-element array holding object `i + 1`.
fn nested_array_bplist(depth: u32) -> Vec<u8> {
    let ref_size = 4u8;
    let mut out = b"bplist00".to_vec();
    let mut offsets = Vec::with_capacity(depth as usize + 1);
    for i in 0..depth {
        offsets.push(out.len() as u64);
        out.push(0xA1);
        out.extend_from_slice(&(i + 1).to_be_bytes());
    }
    offsets.push(out.len() as u64);
    out.push(0xA0);
    let table = out.len() as u64;
    for o in &offsets {
        out.extend_from_slice(&(*o as u32).to_be_bytes());
    }
    let mut trailer = [0u8; 32];
    trailer[6] = 4;
    trailer[7] = ref_size;
    trailer[8..16].copy_from_slice(&(offsets.len() as u64).to_be_bytes());
    trailer[24..32].copy_from_slice(&table.to_be_bytes());
    out.extend_from_slice(&trailer);
    out
}

#[tokio::test]
async fn a_trickling_client_is_dropped_at_the_stall_deadline() {
    let limits = ControlLimits {
        stall_timeout: Duration::from_millis(400),
        ..ControlLimits::default()
    };
    let (addr, _stop) = start_shell(limits).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    let started = std::time::Instant::now();
    // One byte every 100 ms: each read is within the limit, the request never is.
    let mut closed_after = None;
    for b in
        b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter()
    {
        if c.write_all(&[*b]).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(100), c.read(&mut probe)).await
        {
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let closed_after = closed_after.expect("the trickling client was never dropped");
    assert!(closed_after < Duration::from_secs(2), "{closed_after:?}");
}

#[tokio::test]
async fn a_client_that_never_reads_its_replies_is_dropped() {
    let limits = ControlLimits {
        stall_timeout: Duration::from_millis(300),
        ..ControlLimits::default()
    };
    let (addr, _stop) = start_shell(limits).await;
    let c = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = c.into_split();
    let total = 100_000usize;
    let writer = tokio::spawn(async move {
        let req = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n".repeat(1000);
        for _ in 0..total / 1000 {
            if wr.write_all(&req).await.is_err() {
                break;
            }
        }
    });
    // Long enough for the server's write to time out while we do not read.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut replies = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let mut tail = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rd.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                tail.extend_from_slice(&buf[..n]);
                replies += tail.windows(8).filter(|w| w == b"RTSP/1.0").count();
                let keep = tail.len().saturating_sub(7);
                tail.drain(..keep);
            }
            Err(_) => panic!("the server kept the connection of a client that never reads"),
        }
    }
    writer.abort();
    assert!(
        replies < total,
        "the server gave up before answering everything ({replies})"
    );
}
