//! What the receiver says about itself (PROTOCOL.md §3.1, §1.2): the qualifier `GET /info`
//! with its `txtAirPlay` record (features decide whether to pair), and the full `GET /info`
//! dictionary (name, displays) that follows SETUP #1.
//!
//! Owns: those two requests and the TXT/features parsing. Must not touch the other steps.

use super::client::{BPLIST, ControlClient, bplist_body, reply_dictionary};
use super::handshake::{client_err, fail_reply};
use crate::proto::rtsp::Method;
use plist::{Dictionary, Value};

/// Features bit 27: the receiver wants legacy pair-setup/pair-verify.
pub const FEATURE_LEGACY_PAIRING: u64 = 1 << 27;

/// `GET /info` with `{qualifier: [txtAirPlay]}`: the features (and maybe the name).
pub async fn info_qualifier(client: &mut ControlClient) -> Result<(u64, Option<String>), String> {
    let mut q = Dictionary::new();
    q.insert(
        "qualifier".into(),
        Value::Array(vec![Value::String("txtAirPlay".into())]),
    );
    let body = bplist_body(&Value::Dictionary(q));
    let r = client
        .request(
            Method::Get,
            Some("/info"),
            &[("X-Apple-ProtocolVersion", "1")],
            Some((BPLIST, body)),
        )
        .await
        .map_err(client_err)?;
    fail_reply("GET /info", &r)?;
    let d = reply_dictionary("GET /info", &r).map_err(client_err)?;
    let name = d.get("name").and_then(Value::as_string).map(str::to_owned);
    if let Some(txt) = d.get("txtAirPlay").and_then(Value::as_data) {
        let entries = parse_txt(txt);
        let features = entries
            .iter()
            .find(|(k, _)| k == "features")
            .map(|(_, v)| v.as_str())
            .ok_or("txtAirPlay has no features entry")?;
        return Ok((parse_features(features)?, name));
    }
    // Older receivers answer with the whole dictionary, features as one integer.
    match d.get("features").and_then(Value::as_unsigned_integer) {
        Some(f) => Ok((f, name)),
        None => Err("GET /info reply has neither txtAirPlay nor features".to_owned()),
    }
}

/// Splits DNS-SD TXT bytes (`<len><key>=<value>`...) into pairs; a cut entry ends the list.
pub fn parse_txt(bytes: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some((&len, tail)) = rest.split_first() {
        let Some(entry) = tail.get(..usize::from(len)) else {
            break;
        };
        let text = String::from_utf8_lossy(entry);
        match text.split_once('=') {
            Some((k, v)) => out.push((k.to_owned(), v.to_owned())),
            None => out.push((text.into_owned(), String::new())),
        }
        rest = &tail[usize::from(len)..];
    }
    out
}

/// Parses a TXT `features` value: `0x527FFEE6,0x0` (low, high) or a single `0x...`.
pub fn parse_features(text: &str) -> Result<u64, String> {
    let word = |s: &str| -> Result<u64, String> {
        let s = s.trim();
        let hex = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        u32::from_str_radix(hex, 16)
            .map(u64::from)
            .map_err(|_| format!("features {text:?} is not hexadecimal"))
    };
    match text.split_once(',') {
        Some((lo, hi)) => Ok(word(lo)? | (word(hi)? << 32)),
        None => word(text),
    }
}

/// The full `GET /info`: the receiver's name, and a display to show on.
pub async fn full_info(client: &mut ControlClient) -> Result<String, String> {
    let r = client
        .request(Method::Get, Some("/info"), &[], None)
        .await
        .map_err(client_err)?;
    fail_reply("GET /info", &r)?;
    let d = reply_dictionary("GET /info", &r).map_err(client_err)?;
    if d.get("displays")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err("the /info dictionary lists no displays".to_owned());
    }
    d.get("name")
        .and_then(Value::as_string)
        .map(str::to_owned)
        .ok_or_else(|| "the /info dictionary has no name".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::records::{self, DeviceInfo, Features};

    #[test]
    fn features_come_from_the_receivers_txt_record() {
        let mut info = DeviceInfo::new("TV", [2, 0, 0, 0, 0, 1], [0; 32]);
        info.features = Features::DEFAULT | Features::LEGACY_PAIRING;
        let txt = records::encode_txt(&records::airplay_txt(&info));
        let entries = parse_txt(&txt);
        let f = entries.iter().find(|(k, _)| k == "features").unwrap();
        let features = parse_features(&f.1).unwrap();
        assert_eq!(features, 0x5A7F_FEE6);
        assert_ne!(features & FEATURE_LEGACY_PAIRING, 0);
        assert_eq!(parse_features("0x527FFEE6,0x400").unwrap(), 0x400_527F_FEE6);
        assert!(parse_features("zz").is_err());
        // A cut record keeps what was whole.
        assert_eq!(parse_txt(&[3, b'a', b'=', b'b', 9, b'x']).len(), 1);
    }
}
