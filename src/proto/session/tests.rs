//! Whole-session replays: the iOS request sequence of PROTOCOL.md §7.1 through [`Session`],
//! with injected keys, checking each response byte for byte where the protocol fixes it.
//! Keys and FairPlay material come from the shared known-answer vectors, so with pairing the
//! derived video key must equal the vector's exactly.

use super::*;
use crate::proto::keys;
use crate::proto::rtsp::{Limits, parse_request};
use serde_json::Value as Json;

fn vectors() -> Json {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/testvectors/airplay_vectors.json");
    let path = if shared.exists() {
        shared
    } else {
        root.join("tests/data/airplay_vectors.json")
    };
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hexf(v: &Json, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap()).unwrap()
}

fn arr<const N: usize>(v: &Json, key: &str) -> [u8; N] {
    hexf(v, key).try_into().unwrap()
}

fn bplist(v: plist::Value) -> Vec<u8> {
    let mut out = Vec::new();
    plist::to_writer_binary(&mut out, &v).unwrap();
    out
}

fn dict(pairs: Vec<(&str, plist::Value)>) -> plist::Value {
    plist::Value::Dictionary(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn request(head: &str, content_type: Option<&str>, body: &[u8]) -> Request {
    let mut raw = format!("{head} RTSP/1.0\r\n").into_bytes();
    if let Some(ct) = content_type {
        raw.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
    }
    if !body.is_empty() {
        raw.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body);
    let (req, used) = parse_request(&raw, &Limits::default()).unwrap().unwrap();
    assert_eq!(used, raw.len());
    req
}

struct Client {
    session: Session,
    cseq: u32,
}

impl Client {
    fn new(pairing: bool) -> (Client, Json) {
        let v = vectors();
        let pv = &v["pair_verify"][0];
        let seed: [u8; 32] = arr(pv, "server_ed25519_seed");
        let eph: [u8; 32] = arr(pv, "server_x25519_private");
        let mut features = records::Features::DEFAULT;
        if pairing {
            features = features | records::Features::LEGACY_PAIRING;
        }
        let info = DeviceInfo {
            name: "Living Room".into(),
            device_id: [0x02, 0x11, 0x22, 0x33, 0x44, 0x55],
            public_key: arr(pv, "server_ed25519_public"),
            features,
            display: records::DisplaySpec {
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
            signing_key: ed25519_dalek::SigningKey::from_bytes(&seed),
        });
        let session = Session::new(ctx, Box::new(move || eph));
        (Client { session, cseq: 0 }, v)
    }

    /// Sends one request (CSeq added) and returns the outcome.
    fn send(&mut self, head: &str, ct: Option<&str>, body: &[u8]) -> Outcome {
        let mut req = request(head, ct, body);
        req.headers.push("CSeq", self.cseq.to_string());
        self.cseq += 1;
        self.session.handle(&req, Instant::now())
    }

    fn reply(&mut self, head: &str, ct: Option<&str>, body: &[u8]) -> Reply {
        match self.send(head, ct, body) {
            Outcome::Reply(r) => r,
            Outcome::Open(p) => panic!("{head}: expected a reply, got resources {:?}", p.resources),
        }
    }
}

fn encoded(r: &Response) -> Vec<u8> {
    let mut out = Vec::new();
    r.encode(&mut out);
    out
}

fn expect_bytes(reply: &Reply, head: &str, body: &[u8]) {
    let mut want = head.as_bytes().to_vec();
    want.extend_from_slice(body);
    assert_eq!(
        String::from_utf8_lossy(
            &encoded(&reply.response)[..head.len().min(encoded(&reply.response).len())]
        ),
        head
    );
    assert_eq!(encoded(&reply.response), want);
}

fn body_dict(reply: &Reply) -> plist::Dictionary {
    plist::Value::from_reader(std::io::Cursor::new(&reply.response.body))
        .unwrap()
        .into_dictionary()
        .unwrap()
}

const OCTET_HEAD: &str = "RTSP/1.0 200 OK\r\nAudio-Jack-Status: connected; type=digital\r\nContent-Type: application/octet-stream\r\nServer: AirTunes/220.68\r\n";

fn handshake_fairplay(c: &mut Client, v: &Json) {
    let s1 = &v["fp_setup_stage1"][0];
    let cseq = c.cseq;
    let r = c.reply(
        "POST /fp-setup",
        Some("application/octet-stream"),
        &hexf(s1, "request"),
    );
    let reply1 = hexf(s1, "reply");
    expect_bytes(
        &r,
        &format!("{OCTET_HEAD}CSeq: {cseq}\r\nContent-Length: 142\r\n\r\n"),
        &reply1,
    );
    let keymsg = hexf(&v["kdf_ctr"][0], "keymsg");
    let cseq = c.cseq;
    let r = c.reply("POST /fp-setup", Some("application/octet-stream"), &keymsg);
    let mut want = hex::decode("46504c590301040000000014").unwrap();
    want.extend_from_slice(&keymsg[144..164]);
    expect_bytes(
        &r,
        &format!("{OCTET_HEAD}CSeq: {cseq}\r\nContent-Length: 32\r\n\r\n"),
        &want,
    );
}

fn setup_keys(c: &mut Client, v: &Json) -> Reply {
    let k = &v["kdf_ctr"][0];
    let body = bplist(dict(vec![
        ("ekey", plist::Value::Data(hexf(k, "ekey"))),
        ("eiv", plist::Value::Data(vec![0x42; 16])),
        ("et", plist::Value::Integer(32.into())),
        ("timingProtocol", plist::Value::String("NTP".into())),
        ("timingPort", plist::Value::Integer(50123.into())),
        ("isScreenMirroringSession", plist::Value::Boolean(true)),
        ("model", plist::Value::String("iPhone15,2".into())),
        ("name", plist::Value::String("Anna's iPhone".into())),
        ("osName", plist::Value::String("iPhone OS".into())),
        ("osVersion", plist::Value::String("18.3.1".into())),
    ]));
    let Outcome::Open(pending) = c.send(
        "SETUP rtsp://10.0.0.2/3894",
        Some("application/x-apple-binary-plist"),
        &body,
    ) else {
        panic!("SETUP #1 must ask for a timing socket");
    };
    assert!(pending.starts_session);
    assert_eq!(
        pending.resources,
        vec![Resource::Timing { client_port: 50123 }]
    );
    c.session
        .complete(pending, Ok(vec![Opened::Timing { port: 7011 }]))
}

fn mirror_setup(c: &mut Client, v: &Json) -> Resource {
    let id: i64 = v["kdf_ctr"][0]["stream_connection_id_as_i64"]
        .as_str()
        .map(|s| s.parse().unwrap())
        .or_else(|| v["kdf_ctr"][0]["stream_connection_id_as_i64"].as_i64())
        .unwrap();
    let body = bplist(dict(vec![(
        "streams",
        plist::Value::Array(vec![dict(vec![
            ("type", plist::Value::Integer(110.into())),
            ("streamConnectionID", plist::Value::Integer(id.into())),
        ])]),
    )]));
    let Outcome::Open(pending) = c.send(
        "SETUP rtsp://10.0.0.2/3894",
        Some("application/x-apple-binary-plist"),
        &body,
    ) else {
        panic!("stream SETUP must ask for a listener");
    };
    assert!(!pending.starts_session);
    let res = pending.resources[0].clone();
    let reply = c
        .session
        .complete(pending, Ok(vec![Opened::Mirror { data_port: 7100 }]));
    let d = body_dict(&reply);
    let s = d["streams"].as_array().unwrap()[0].as_dictionary().unwrap();
    assert_eq!(s["dataPort"].as_unsigned_integer(), Some(7100));
    assert_eq!(s["type"].as_unsigned_integer(), Some(110));
    res
}

#[test]
fn ios_sequence_without_pairing() {
    let (mut c, v) = Client::new(false);
    let q = bplist(dict(vec![(
        "qualifier",
        plist::Value::Array(vec![plist::Value::String("txtAirPlay".into())]),
    )]));
    let r = c.reply("GET /info", Some("application/x-apple-binary-plist"), &q);
    let d = body_dict(&r);
    let txt = d["txtAirPlay"].as_data().unwrap();
    assert_eq!(
        txt,
        records::encode_txt(&records::airplay_txt(&c.session.ctx.info)).as_slice()
    );
    assert!(
        String::from_utf8_lossy(txt).contains("features=0x527FFEE6,0x0"),
        "default features without pairing"
    );

    handshake_fairplay(&mut c, &v);
    let r = setup_keys(&mut c, &v);
    let d = body_dict(&r);
    assert_eq!(d["timingPort"].as_unsigned_integer(), Some(7011));
    assert_eq!(d["eventPort"].as_unsigned_integer(), Some(0));
    assert!(
        !d.contains_key("info"),
        "no info without combinedGetInfoWithControlSetup"
    );
    assert!(
        matches!(&r.events[0], SessionEvent::Client(p) if p.model.as_deref() == Some("iPhone15,2"))
    );

    let r = c.reply("GET /info", None, b"");
    let d = body_dict(&r);
    assert_eq!(d["name"].as_string(), Some("Living Room"));
    assert_eq!(d["features"].as_unsigned_integer(), Some(0x527FFEE6));

    let cseq = c.cseq;
    let r = c.reply("RECORD rtsp://10.0.0.2/3894", None, b"");
    expect_bytes(
        &r,
        &format!(
            "RTSP/1.0 200 OK\r\nAudio-Jack-Status: connected; type=analog\r\nAudio-Latency: 11025\r\nServer: AirTunes/220.68\r\nCSeq: {cseq}\r\n\r\n"
        ),
        b"",
    );

    let r = c.reply(
        "SET_PARAMETER rtsp://10.0.0.2/3894",
        Some("text/parameters"),
        b"volume: -20.000000\r\n",
    );
    assert_eq!(r.events, vec![SessionEvent::Volume { db: -20.0 }]);
    let r = c.reply(
        "GET_PARAMETER rtsp://10.0.0.2/3894",
        Some("text/parameters"),
        b"volume\r\n",
    );
    assert_eq!(r.response.body, b"volume: -20.000000\r\n");

    // Without pairing the FairPlay key is used unhashed (PROTOCOL §4.2).
    let k = &v["kdf_ctr"][0];
    let fp_key: [u8; 16] = arr(k, "fp_aeskey");
    let Resource::Mirror { id, key, iv } = mirror_setup(&mut c, &v) else {
        panic!("mirror resource expected");
    };
    assert_eq!(
        id.0.to_string(),
        k["stream_connection_id"].as_str().unwrap()
    );
    assert_eq!((key, iv), keys::video_key_iv(&fp_key, id.0));

    let cseq = c.cseq;
    let r = c.reply("POST /feedback", None, b"");
    expect_bytes(
        &r,
        &format!(
            "RTSP/1.0 200 OK\r\nAudio-Jack-Status: connected; type=digital\r\nServer: AirTunes/220.68\r\nCSeq: {cseq}\r\n\r\n"
        ),
        b"",
    );

    let t96 = bplist(dict(vec![(
        "streams",
        plist::Value::Array(vec![dict(vec![("type", plist::Value::Integer(96.into()))])]),
    )]));
    let t110 = bplist(dict(vec![(
        "streams",
        plist::Value::Array(vec![dict(vec![(
            "type",
            plist::Value::Integer(110.into()),
        )])]),
    )]));
    let plain = bplist(dict(vec![]));
    let ct = Some("application/x-apple-binary-plist");
    let r = c.reply("TEARDOWN rtsp://10.0.0.2/3894", ct, &t96);
    assert_eq!(r.events, vec![SessionEvent::StopAudio]);
    assert_eq!(r.response.headers.get("Connection"), Some("close"));
    assert!(!r.close, "TEARDOWN keeps the socket open (PROTOCOL §3.15)");
    let r = c.reply("TEARDOWN rtsp://10.0.0.2/3894", ct, &t110);
    assert_eq!(r.events, vec![SessionEvent::StopVideo]);
    let r = c.reply("TEARDOWN rtsp://10.0.0.2/3894", ct, &plain);
    assert_eq!(r.events, vec![SessionEvent::EndSession]);
    assert!(
        !c.session
            .profile()
            .quirks
            .contains(&Quirk::TypelessTeardown)
    );
}

#[test]
fn ios_sequence_with_pairing_derives_the_vector_video_key() {
    let (mut c, v) = Client::new(true);
    let pv = &v["pair_verify"][0];
    let r = c.reply(
        "POST /pair-setup",
        Some("application/octet-stream"),
        &hexf(pv, "client_ed25519_public"),
    );
    assert_eq!(r.response.body, hexf(pv, "server_ed25519_public"));
    let cseq = c.cseq;
    let r = c.reply(
        "POST /pair-verify",
        Some("application/octet-stream"),
        &hexf(pv, "request1"),
    );
    expect_bytes(
        &r,
        &format!("{OCTET_HEAD}CSeq: {cseq}\r\nContent-Length: 96\r\n\r\n"),
        &hexf(pv, "response1"),
    );
    let cseq = c.cseq;
    let r = c.reply(
        "POST /pair-verify",
        Some("application/octet-stream"),
        &hexf(pv, "request2"),
    );
    assert!(!r.close);
    expect_bytes(
        &r,
        &format!("{OCTET_HEAD}CSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"),
        b"",
    );

    handshake_fairplay(&mut c, &v);
    setup_keys(&mut c, &v);
    let k = &v["kdf_ctr"][0];
    let Resource::Mirror { key, iv, .. } = mirror_setup(&mut c, &v) else {
        panic!("mirror resource expected");
    };
    assert_eq!(key, arr::<16>(k, "video_key"));
    assert_eq!(iv, arr::<16>(k, "video_iv"));

    let body = bplist(dict(vec![(
        "streams",
        plist::Value::Array(vec![dict(vec![
            ("type", plist::Value::Integer(96.into())),
            ("ct", plist::Value::Integer(8.into())),
            ("spf", plist::Value::Integer(480.into())),
            ("controlPort", plist::Value::Integer(50124.into())),
        ])]),
    )]));
    let Outcome::Open(p) = c.send(
        "SETUP rtsp://10.0.0.2/1",
        Some("application/x-apple-binary-plist"),
        &body,
    ) else {
        panic!("audio SETUP must ask for sockets");
    };
    let Resource::Audio(a) = &p.resources[0] else {
        panic!("audio resource expected");
    };
    assert_eq!(a.key, arr::<16>(k, "aeskey"));
    assert_eq!(a.iv, [0x42; 16]);
    assert_eq!(
        (a.compression, a.samples_per_frame, a.client_control_port),
        (8, 480, 50124)
    );

    // iOS 26/27: a plain TEARDOWN with no type-110 one before it ends everything.
    let r = c.reply(
        "TEARDOWN rtsp://10.0.0.2/1",
        Some("application/x-apple-binary-plist"),
        &bplist(dict(vec![])),
    );
    assert_eq!(
        r.events,
        vec![
            SessionEvent::Quirk(Quirk::TypelessTeardown),
            SessionEvent::EndSession
        ]
    );
    assert!(
        c.session
            .profile()
            .quirks
            .contains(&Quirk::TypelessTeardown)
    );
}

#[test]
fn tampered_pair_verify_closes_the_connection() {
    let (mut c, v) = Client::new(true);
    let pv = &v["pair_verify"][0];
    c.reply("POST /pair-setup", None, &hexf(pv, "client_ed25519_public"));
    c.reply("POST /pair-verify", None, &hexf(pv, "request1"));
    let r = c.reply("POST /pair-verify", None, &hexf(pv, "tampered_request2"));
    assert!(r.close);
}

#[test]
fn combined_info_setup_includes_the_info_dictionary() {
    let (mut c, v) = Client::new(false);
    handshake_fairplay(&mut c, &v);
    let body = bplist(dict(vec![
        ("ekey", plist::Value::Data(hexf(&v["kdf_ctr"][0], "ekey"))),
        ("eiv", plist::Value::Data(vec![1; 16])),
        ("timingProtocol", plist::Value::String("NTP".into())),
        ("timingPort", plist::Value::Integer(50000.into())),
        (
            "combinedGetInfoWithControlSetup",
            plist::Value::Boolean(true),
        ),
    ]));
    let Outcome::Open(p) = c.send(
        "SETUP rtsp://x/1",
        Some("application/x-apple-binary-plist"),
        &body,
    ) else {
        panic!()
    };
    let r = c.session.complete(p, Ok(vec![Opened::Timing { port: 9 }]));
    let d = body_dict(&r);
    let info = d["info"].as_dictionary().unwrap();
    assert_eq!(info["name"].as_string(), Some("Living Room"));
    assert!(info["displays"].as_array().is_some());
    assert_eq!(d["timingPort"].as_unsigned_integer(), Some(9));
}

#[test]
fn busy_receiver_answers_409_and_forgets_the_keys() {
    let (mut c, v) = Client::new(false);
    handshake_fairplay(&mut c, &v);
    let body = bplist(dict(vec![
        ("ekey", plist::Value::Data(hexf(&v["kdf_ctr"][0], "ekey"))),
        ("eiv", plist::Value::Data(vec![1; 16])),
        ("timingPort", plist::Value::Integer(50000.into())),
    ]));
    let Outcome::Open(p) = c.send(
        "SETUP rtsp://x/1",
        Some("application/x-apple-binary-plist"),
        &body,
    ) else {
        panic!()
    };
    let r = c.session.complete(p, Err(Refusal::Busy));
    assert_eq!(r.response.status, 409);
    assert!(!c.session.is_established());
}

#[test]
fn bad_requests_get_clear_statuses() {
    let (mut c, v) = Client::new(false);
    assert_eq!(
        c.reply("FROBNICATE rtsp://x/1", None, b"").response.status,
        501
    );
    assert_eq!(
        c.reply("ANNOUNCE rtsp://x/1", Some("application/sdp"), b"v=0")
            .response
            .status,
        501
    );
    assert_eq!(
        c.reply("GET_PARAMETER rtsp://x/1", None, b"volume\r\n")
            .response
            .status,
        451
    );
    assert_eq!(
        c.reply("SET_PARAMETER rtsp://x/1", None, b"volume: 0\r\n")
            .response
            .status,
        451
    );
    let mut mode4 = hexf(&v["fp_setup_stage1"][0], "request");
    mode4[14] = 4;
    assert_eq!(c.reply("POST /fp-setup", None, &mode4).response.status, 400);
    let mut v2 = hexf(&v["fp_setup_stage1"][0], "request");
    v2[4] = 2;
    let r = c.reply("POST /fp-setup", None, &v2);
    assert_eq!(r.response.status, 400);
    assert!(
        c.session
            .profile()
            .quirks
            .contains(&Quirk::FairPlayVersion(2))
    );
    // SETUP with keys before fp-setup stage 2: refused and closed.
    let body = bplist(dict(vec![
        ("ekey", plist::Value::Data(vec![0; 72])),
        ("eiv", plist::Value::Data(vec![0; 16])),
    ]));
    let r = c.reply(
        "SETUP rtsp://x/1",
        Some("application/x-apple-binary-plist"),
        &body,
    );
    assert_eq!((r.response.status, r.close), (400, true));
    // A stream SETUP without keys is refused and closed.
    let (mut c, _) = Client::new(false);
    let body = bplist(dict(vec![(
        "streams",
        plist::Value::Array(vec![dict(vec![(
            "type",
            plist::Value::Integer(110.into()),
        )])]),
    )]));
    let r = c.reply(
        "SETUP rtsp://x/1",
        Some("application/x-apple-binary-plist"),
        &body,
    );
    assert_eq!((r.response.status, r.close), (400, true));
    // Garbage instead of a property list.
    let r = c.reply(
        "SETUP rtsp://x/1",
        Some("application/x-apple-binary-plist"),
        b"bplist00\xff\xff garbage",
    );
    assert_eq!(r.response.status, 400);
    let r = c.reply(
        "GET /info",
        Some("application/x-apple-binary-plist"),
        b"not a plist",
    );
    assert_eq!(r.response.status, 400);
    assert_eq!(
        c.reply("OPTIONS *", None, b"")
            .response
            .headers
            .get("Public"),
        Some(PUBLIC_METHODS)
    );
}
