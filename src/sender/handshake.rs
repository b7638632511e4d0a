//! The sender's handshake, in the order iOS sends it (PROTOCOL.md §7.1): `GET /info`
//! (qualifier form, see `info`), pair-setup and pair-verify when the receiver advertises features bit 27,
//! both `/fp-setup` stages, SETUP #1 with the keys, the full `GET /info`, RECORD, the volume,
//! and SETUP of the type-110 stream. Every step is timed and logged in a [`StepLog`], and the
//! keys are derived exactly as the receiver must derive them.
//!
//! Owns: the request bodies and the checks of each reply. Must not touch: the mirror stream's
//! bytes (see `mirror`) or the report's shape (see `report`).

use super::client::{
    BPLIST, ClientError, ControlClient, OCTETS, PARAMETERS, bplist_body, reply_dictionary,
};
use super::fairplay_pairs::RecordedKey;
use super::info::{FEATURE_LEGACY_PAIRING, full_info, info_qualifier};
use super::profile::{
    ClientShape, SessionSetupKeys, Teardown, device_id_from_bytes, uuid_from_bytes,
};
use super::report::StepLog;
use super::timing::{SenderClock, TimingResponder};
use crate::config::TestStreamFault;
use crate::proto::fairplay;
use crate::proto::keys;
use crate::proto::pairing::PairingClient;
use crate::proto::rtsp::{Method, Response};
use plist::{Dictionary, Value};
use rand::RngCore;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// FairPlay stage-1 reply byte 13 repeats the mode.
const STAGE1_REPLY_MODE_AT: usize = 13;
/// The ekey byte flipped by the `corrupt-ekey` fault (inside the first chunk FairPlay reads).
const CORRUPT_EKEY_AT: usize = 0x14;
/// AirPlay volume sent after RECORD, in dB.
const VOLUME_DB: f32 = -20.0;

/// What the handshake established.
pub struct Established {
    pub client: ControlClient,
    pub timing: TimingResponder,
    /// The receiver's name from `/info` (or SETUP #1's `info` on iOS 27).
    pub receiver_name: Option<String>,
    pub features: u64,
    pub paired: bool,
    pub stream_connection_id: u64,
    pub video_key: [u8; 16],
    pub video_iv: [u8; 16],
    /// The receiver's mirror data port.
    pub data_port: u16,
}

/// Runs the handshake against `target`; on failure the failing step is in `log` and `None`
/// comes back.
pub async fn handshake(
    target: SocketAddr,
    shape: &ClientShape,
    recorded: &RecordedKey,
    fault: Option<TestStreamFault>,
    clock: SenderClock,
    log: &mut StepLog,
) -> Option<Established> {
    let mut rng = rand::rngs::OsRng;
    let began = Instant::now();
    let mut client = match ControlClient::connect(
        target,
        Duration::from_secs(5),
        shape.user_agent,
        u64::from(rng.next_u32()),
        rng.next_u64(),
        rng.next_u32(),
    )
    .await
    {
        Ok(c) => {
            log.ok("connect", began, format!("TCP to {target}"));
            c
        }
        Err(e) => {
            log.fail("connect", began, e.to_string());
            return None;
        }
    };

    let began = Instant::now();
    let (features, mut receiver_name) = match info_qualifier(&mut client).await {
        Ok(x) => x,
        Err(why) => {
            log.fail("info", began, why);
            return None;
        }
    };
    let wants_pairing = features & FEATURE_LEGACY_PAIRING != 0;
    log.ok(
        "info",
        began,
        format!(
            "features {:#X},{:#X}{}",
            features & 0xFFFF_FFFF,
            features >> 32,
            if wants_pairing { " (pairing)" } else { "" }
        ),
    );

    let secret = if wants_pairing {
        Some(pair(&mut client, &mut rng, log).await?)
    } else {
        None
    };

    let began = Instant::now();
    if let Err(why) = fp_setup_stage1(&mut client, recorded.mode).await {
        log.fail("fp-setup-1", began, why);
        return None;
    }
    log.ok("fp-setup-1", began, format!("mode {}", recorded.mode));
    let began = Instant::now();
    if let Err(why) = fp_setup_stage2(&mut client, recorded).await {
        log.fail("fp-setup-2", began, why);
        return None;
    }
    log.ok("fp-setup-2", began, "keymsg echoed".to_owned());

    let began = Instant::now();
    let local_ip = match client.local_addr() {
        Ok(a) => a.ip(),
        Err(e) => {
            log.fail("timing", began, format!("no local address: {e}"));
            return None;
        }
    };
    let timing =
        match TimingResponder::start(SocketAddr::new(local_ip, 0), clock, shape.answers_timing)
            .await
        {
            Ok(t) => t,
            Err(e) => {
                log.fail(
                    "timing",
                    began,
                    format!("cannot bind the timing socket: {e}"),
                );
                return None;
            }
        };

    let began = Instant::now();
    let mut ekey = recorded.ekey.to_vec();
    if fault == Some(TestStreamFault::CorruptEkey)
        && let Some(b) = ekey.get_mut(CORRUPT_EKEY_AT)
    {
        *b ^= 0x5a;
    }
    let mut eiv = [0u8; 16];
    rng.fill_bytes(&mut eiv);
    let mut id = [0u8; 6];
    rng.fill_bytes(&mut id);
    let mut u1 = [0u8; 16];
    let mut u2 = [0u8; 16];
    rng.fill_bytes(&mut u1);
    rng.fill_bytes(&mut u2);
    let setup_keys = SessionSetupKeys {
        ekey,
        eiv,
        timing_port: timing.local_port,
        device_id: device_id_from_bytes(id),
        session_uuid: uuid_from_bytes(u1),
        correlation_uuid: uuid_from_bytes(u2),
    };
    match session_setup(&mut client, shape, &setup_keys).await {
        Ok((detail, name)) => {
            receiver_name = name.or(receiver_name);
            log.ok("setup", began, detail);
        }
        Err(why) => {
            log.fail("setup", began, why);
            return None;
        }
    }
    let session_key = keys::session_key(&recorded.aeskey, secret.as_ref());

    if !shape.combined_info_setup {
        let began = Instant::now();
        match full_info(&mut client).await {
            Ok(name) => {
                log.ok("info-full", began, format!("name {name:?}"));
                receiver_name = Some(name);
            }
            Err(why) => {
                log.fail("info-full", began, why);
                return None;
            }
        }
    }

    let began = Instant::now();
    match simple(&mut client, Method::Record, None).await {
        Ok(r) => log.ok(
            "record",
            began,
            format!(
                "Audio-Latency {}",
                r.headers.get("Audio-Latency").unwrap_or("-")
            ),
        ),
        Err(why) => {
            log.fail("record", began, why);
            return None;
        }
    }
    let began = Instant::now();
    let volume = format!("volume: {VOLUME_DB:.6}\r\n").into_bytes();
    if let Err(why) = simple(
        &mut client,
        Method::SetParameter,
        Some((PARAMETERS, volume)),
    )
    .await
    {
        log.fail("volume", began, why);
        return None;
    }
    log.ok("volume", began, format!("{VOLUME_DB} dB"));

    let began = Instant::now();
    let stream_connection_id = rng.next_u64();
    let data_port = match video_setup(&mut client, stream_connection_id).await {
        Ok(port) => port,
        Err(why) => {
            log.fail("setup-video", began, why);
            return None;
        }
    };
    log.ok("setup-video", began, format!("dataPort {data_port}"));
    let (video_key, video_iv) = keys::video_key_iv(&session_key, stream_connection_id);
    Some(Established {
        client,
        timing,
        receiver_name,
        features,
        paired: secret.is_some(),
        stream_connection_id,
        video_key,
        video_iv,
        data_port,
    })
}

pub(super) fn fail_reply(what: &str, r: &Response) -> Result<(), String> {
    if r.is_success() {
        Ok(())
    } else if r.status == 409 {
        Err(format!(
            "{what}: 409 {}: the receiver is busy with another client",
            r.reason
        ))
    } else {
        Err(format!(
            "{what}: receiver answered {} {}",
            r.status, r.reason
        ))
    }
}

pub(super) fn client_err(e: ClientError) -> String {
    e.to_string()
}

async fn simple(
    client: &mut ControlClient,
    method: Method,
    body: Option<(&str, Vec<u8>)>,
) -> Result<Response, String> {
    let what = method.to_string();
    let r = client
        .request(method, None, &[], body)
        .await
        .map_err(client_err)?;
    fail_reply(&what, &r)?;
    Ok(r)
}

/// pair-setup and both pair-verify stages; the shared secret for the session key.
async fn pair(
    client: &mut ControlClient,
    rng: &mut rand::rngs::OsRng,
    log: &mut StepLog,
) -> Option<[u8; 32]> {
    let mut x = [0u8; 32];
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut x);
    rng.fill_bytes(&mut seed);
    let mut pairing = PairingClient::new(x, seed);

    let began = Instant::now();
    let server_pk = match octets(client, "/pair-setup", pairing.setup_request()).await {
        Ok(body) => match PairingClient::parse_setup_reply(&body) {
            Ok(pk) => pk,
            Err(e) => {
                log.fail("pair-setup", began, e.to_string());
                return None;
            }
        },
        Err(why) => {
            log.fail("pair-setup", began, why);
            return None;
        }
    };
    log.ok("pair-setup", began, "receiver key received".to_owned());

    let began = Instant::now();
    let verify2 = match octets(client, "/pair-verify", pairing.verify_request1()).await {
        Ok(body) => match pairing.verify_request2(&server_pk, &body) {
            Ok(b) => b,
            Err(e) => {
                log.fail("pair-verify", began, e.to_string());
                return None;
            }
        },
        Err(why) => {
            log.fail("pair-verify", began, why);
            return None;
        }
    };
    if let Err(why) = octets(client, "/pair-verify", verify2).await {
        log.fail("pair-verify", began, why);
        return None;
    }
    match pairing.shared_secret() {
        Some(s) => {
            log.ok(
                "pair-verify",
                began,
                "receiver signature verified".to_owned(),
            );
            Some(s)
        }
        None => {
            log.fail("pair-verify", began, "no shared secret".to_owned());
            None
        }
    }
}

async fn octets(client: &mut ControlClient, path: &str, body: Vec<u8>) -> Result<Vec<u8>, String> {
    let extra: &[(&str, &str)] = if path == "/fp-setup" {
        &[("X-Apple-ET", "32")]
    } else {
        &[]
    };
    let r = client
        .request(Method::Post, Some(path), extra, Some((OCTETS, body)))
        .await
        .map_err(client_err)?;
    fail_reply(&format!("POST {path}"), &r)?;
    Ok(r.body)
}

async fn fp_setup_stage1(client: &mut ControlClient, mode: u8) -> Result<(), String> {
    let request = fairplay::stage1_request(mode).map_err(|e| e.to_string())?;
    let reply = octets(client, "/fp-setup", request.to_vec()).await?;
    if reply.len() != fairplay::STAGE1_REPLY_LEN {
        return Err(format!(
            "stage-1 reply has {} bytes, want {}",
            reply.len(),
            fairplay::STAGE1_REPLY_LEN
        ));
    }
    if !reply.starts_with(b"FPLY") {
        return Err("stage-1 reply does not start with FPLY".to_owned());
    }
    match reply.get(STAGE1_REPLY_MODE_AT) {
        Some(&m) if m == mode => Ok(()),
        other => Err(format!(
            "stage-1 reply names mode {other:?}, we asked for {mode}"
        )),
    }
}

async fn fp_setup_stage2(client: &mut ControlClient, recorded: &RecordedKey) -> Result<(), String> {
    let reply = octets(client, "/fp-setup", recorded.keymsg.to_vec()).await?;
    let echo = &recorded.keymsg[fairplay::STAGE2_REQUEST_LEN - 20..];
    if reply.len() != fairplay::STAGE2_REPLY_LEN || !reply.ends_with(echo) {
        return Err(format!(
            "stage-2 reply ({} bytes) does not echo the keymsg tail",
            reply.len()
        ));
    }
    Ok(())
}

/// SETUP #1; returns a detail line and, from iOS 27's combined reply, the receiver's name.
async fn session_setup(
    client: &mut ControlClient,
    shape: &ClientShape,
    keys: &SessionSetupKeys,
) -> Result<(String, Option<String>), String> {
    let body = bplist_body(&Value::Dictionary(shape.session_setup(keys)));
    let r = client
        .request(Method::Setup, None, &[], Some((BPLIST, body)))
        .await
        .map_err(client_err)?;
    fail_reply("SETUP", &r)?;
    let d = reply_dictionary("SETUP", &r).map_err(client_err)?;
    let timing_port = d
        .get("timingPort")
        .and_then(Value::as_unsigned_integer)
        .unwrap_or(0);
    let mut detail = format!("receiver timingPort {timing_port}");
    let mut name = None;
    if shape.combined_info_setup {
        let info = d.get("info").and_then(Value::as_dictionary).ok_or(
            "the reply lacks the info dictionary combinedGetInfoWithControlSetup asks for",
        )?;
        let displays = info
            .get("displays")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if displays == 0 {
            return Err("the combined info dictionary has no displays".to_owned());
        }
        name = info
            .get("name")
            .and_then(Value::as_string)
            .map(str::to_owned);
        detail.push_str(&format!("; combined info with {displays} display(s)"));
    }
    Ok((detail, name))
}

/// SETUP of the type-110 stream; the receiver's data port.
async fn video_setup(client: &mut ControlClient, id: u64) -> Result<u16, String> {
    let mut stream = Dictionary::new();
    stream.insert("type".into(), Value::Integer(0x6e_u64.into()));
    // iOS sends the id as a bplist integer, negative when the top bit is set (PROTOCOL §8.2).
    stream.insert(
        "streamConnectionID".into(),
        Value::Integer((id as i64).into()),
    );
    let stamps = ["SubSu", "BePxT", "AfPxT", "BefEn", "EmEnc"]
        .iter()
        .map(|n| {
            let mut d = Dictionary::new();
            d.insert("name".into(), Value::String((*n).to_owned()));
            Value::Dictionary(d)
        })
        .collect();
    stream.insert("timestampInfo".into(), Value::Array(stamps));
    let mut d = Dictionary::new();
    d.insert(
        "streams".into(),
        Value::Array(vec![Value::Dictionary(stream)]),
    );
    let r = client
        .request(
            Method::Setup,
            None,
            &[],
            Some((BPLIST, bplist_body(&Value::Dictionary(d)))),
        )
        .await
        .map_err(client_err)?;
    fail_reply("SETUP 110", &r)?;
    let d = reply_dictionary("SETUP 110", &r).map_err(client_err)?;
    let port = d
        .get("streams")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_dictionary)
        .and_then(|s| s.get("dataPort"))
        .and_then(Value::as_unsigned_integer)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .ok_or("the reply names no dataPort")?;
    Ok(port)
}

/// `POST /feedback` (the heartbeat, once a second while streaming).
pub async fn feedback(client: &mut ControlClient) -> Result<(), String> {
    let r = client
        .request(Method::Post, Some("/feedback"), &[], None)
        .await
        .map_err(client_err)?;
    fail_reply("POST /feedback", &r)
}

/// One TEARDOWN.
pub async fn teardown(client: &mut ControlClient, which: Teardown) -> Result<(), String> {
    let body = bplist_body(&which.body());
    let r = client
        .request(Method::Teardown, None, &[], Some((BPLIST, body)))
        .await
        .map_err(client_err)?;
    fail_reply(&format!("TEARDOWN {}", which.label()), &r)
}
