//! What the receiver says about itself: mDNS TXT records and the `GET /info` plist, all built
//! from one [`DeviceInfo`] so the advertisement and the control port can never disagree
//! (PROTOCOL §1.1–1.4, §3.1; key order and values follow UxPlay 1.74).
//!
//! Owns: instance names, TXT key/value lists and their DNS-SD wire encoding, the feature
//! bits, and the `/info` dictionaries. Must not touch: sockets or mDNS registration (that is
//! `discovery`), request handling (that is `proto::session`), key generation (keys come in).

use plist::{Dictionary, Value};

/// `model` / `am`: the Apple TV generation UxPlay impersonates.
pub const MODEL: &str = "AppleTV3,2";
/// `srcvers` / `vs` / `sourceVersion`.
pub const SOURCE_VERSION: &str = "220.68";
/// `pi`: a fixed pairing identity UUID.
pub const PAIRING_ID: &str = "2e388006-13ba-4041-9a67-25dd4a43d536";
/// `displays[0].uuid`.
pub const DISPLAY_UUID: &str = "e0ff8a27-6738-3d56-8a16-cc53aacee925";
/// `/info` `statusFlags` (0x44 = 68).
pub const STATUS_FLAGS: u64 = 0x44;
/// `audioInputFormats` / `audioOutputFormats` bitmask.
pub const AUDIO_FORMATS: u64 = 0x3FF_FFFC;
/// `displays[0].features`.
pub const DISPLAY_FEATURES: u64 = 0x0E;
/// Longest name we advertise, in bytes. A DNS label holds 63 bytes and the RAOP instance
/// prefixes the name with `AABBCCDDEEFF@` (13 bytes), so the name itself gets 50.
pub const MAX_NAME_BYTES: usize = 63 - 13;
/// The name used when the configured one cleans down to nothing.
pub const FALLBACK_NAME: &str = "airglass";

/// Errors from building records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordsError {
    /// A `GET /info` body that is not a binary plist dictionary with a `qualifier` array.
    #[error("bad /info qualifier body: {0}")]
    BadQualifierBody(String),
}

/// The AirPlay feature bits, advertised as two 32-bit halves in TXT and as one integer in
/// `/info` (PROTOCOL §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Features(pub u64);

impl Features {
    /// UxPlay's default: mirroring, audio, FairPlay; no legacy pairing, no HomeKit pairing.
    pub const DEFAULT: Features = Features(0x527F_FEE6);
    /// Bit 27: client does /pair-setup and /pair-verify before /fp-setup.
    pub const LEGACY_PAIRING: Features = Features(1 << 27);
    /// Bit 42: H.265 screen mirroring.
    pub const SCREEN_MULTI_CODEC: Features = Features(1 << 42);
    /// Bits 38, 43, 46, 48: any of them makes iOS demand AirPlay-2 HomeKit pairing, which
    /// this receiver does not implement.
    pub const HOMEKIT_PAIRING_BITS: Features =
        Features((1 << 38) | (1 << 43) | (1 << 46) | (1 << 48));

    pub const fn with(self, bits: Features) -> Features {
        Features(self.0 | bits.0)
    }

    pub const fn without(self, bits: Features) -> Features {
        Features(self.0 & !bits.0)
    }

    /// True when every bit of `bits` is set.
    pub const fn contains(self, bits: Features) -> bool {
        self.0 & bits.0 == bits.0
    }

    /// True when a HomeKit/AirPlay-2 pairing bit is set (a configuration mistake).
    pub const fn requests_homekit_pairing(self) -> bool {
        self.0 & Self::HOMEKIT_PAIRING_BITS.0 != 0
    }

    /// The TXT form, `"0x<low32>,0x<high32>"` in upper-case hex: `0x527FFEE6,0x0`.
    pub fn txt(&self) -> String {
        format!("0x{:X},0x{:X}", self.0 & 0xFFFF_FFFF, self.0 >> 32)
    }

    /// The `/info` form: one integer, `(high << 32) | low`.
    pub fn plist_value(&self) -> Value {
        Value::Integer(self.0.into())
    }
}

impl Default for Features {
    fn default() -> Self {
        Features::DEFAULT
    }
}

impl std::ops::BitOr for Features {
    type Output = Features;
    fn bitor(self, rhs: Features) -> Features {
        self.with(rhs)
    }
}

/// The one display we describe in `/info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplaySpec {
    pub width: u32,
    pub height: u32,
    /// Panel refresh in Hz; `/info` carries its reciprocal in seconds.
    pub refresh_hz: u32,
    pub max_fps: u32,
}

impl DisplaySpec {
    /// `refreshRate` for `/info`: seconds per frame (1/60 = 0.01666…), PROTOCOL pitfall 6.
    /// A zero refresh is treated as 60 Hz rather than dividing by zero.
    pub fn refresh_period_seconds(&self) -> f64 {
        let hz = if self.refresh_hz == 0 {
            60
        } else {
            self.refresh_hz
        };
        1.0 / f64::from(hz)
    }
}

impl Default for DisplaySpec {
    /// UxPlay's defaults: 1920×1080, 60 Hz, at most 30 frames per second.
    fn default() -> Self {
        DisplaySpec {
            width: 1920,
            height: 1080,
            refresh_hz: 60,
            max_fps: 30,
        }
    }
}

/// Everything the records are built from.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    /// The advertised name (already passed through [`clean_name`]).
    pub name: String,
    /// The 6-byte hardware address presented as `deviceid`.
    pub device_id: [u8; 6],
    /// The long-term Ed25519 public key (`pk` everywhere, PROTOCOL pitfall 13).
    pub public_key: [u8; 32],
    pub features: Features,
    pub display: DisplaySpec,
    pub password_required: bool,
    /// `/info` `initialVolume` in dB (0.0 = full, -144.0 = mute).
    pub initial_volume_db: f64,
}

impl DeviceInfo {
    /// Default features, display and volume, no password.
    pub fn new(name: impl Into<String>, device_id: [u8; 6], public_key: [u8; 32]) -> Self {
        DeviceInfo {
            name: name.into(),
            device_id,
            public_key,
            features: Features::DEFAULT,
            display: DisplaySpec::default(),
            password_required: false,
            initial_volume_db: 0.0,
        }
    }

    /// `aa:bb:cc:dd:ee:ff`: the TXT `deviceid` and `/info` `deviceID`/`macAddress` form.
    pub fn device_id_string(&self) -> String {
        let parts: Vec<String> = self.device_id.iter().map(|b| format!("{b:02x}")).collect();
        parts.join(":")
    }

    /// `AABBCCDDEEFF`: the RAOP instance-name prefix.
    pub fn device_id_hex_upper(&self) -> String {
        hex::encode_upper(self.device_id)
    }

    /// The public key as 64 lower-case hex digits (TXT `pk`).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key)
    }

    fn pw_text(&self) -> &'static str {
        if self.password_required {
            "true"
        } else {
            "false"
        }
    }
}

fn pairs(entries: &[(&str, String)]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The `_airplay._tcp` TXT entries, in UxPlay order (PROTOCOL §1.2).
pub fn airplay_txt(info: &DeviceInfo) -> Vec<(String, String)> {
    pairs(&[
        ("deviceid", info.device_id_string()),
        ("features", info.features.txt()),
        ("pw", info.pw_text().to_owned()),
        ("flags", "0x4".to_owned()),
        ("model", MODEL.to_owned()),
        ("pk", info.public_key_hex()),
        ("pi", PAIRING_ID.to_owned()),
        ("srcvers", SOURCE_VERSION.to_owned()),
        ("vv", "2".to_owned()),
    ])
}

/// The `_raop._tcp` TXT entries, in UxPlay order (PROTOCOL §1.3). `sf` is `0x84` (password
/// required) when a password is set, else `0x4`.
pub fn raop_txt(info: &DeviceInfo) -> Vec<(String, String)> {
    let status_flags = if info.password_required {
        "0x84"
    } else {
        "0x4"
    };
    pairs(&[
        ("ch", "2".to_owned()),
        ("cn", "0,1,2,3".to_owned()),
        ("da", "true".to_owned()),
        ("et", "0,3,5".to_owned()),
        ("vv", "2".to_owned()),
        ("ft", info.features.txt()),
        ("am", MODEL.to_owned()),
        ("md", "0,1,2".to_owned()),
        ("rhd", "5.6.0.0".to_owned()),
        ("pw", info.pw_text().to_owned()),
        ("sr", "44100".to_owned()),
        ("ss", "16".to_owned()),
        ("sv", "false".to_owned()),
        ("tp", "UDP".to_owned()),
        ("txtvers", "1".to_owned()),
        ("sf", status_flags.to_owned()),
        ("vs", SOURCE_VERSION.to_owned()),
        ("vn", "65537".to_owned()),
        ("pk", info.public_key_hex()),
    ])
}

/// DNS-SD TXT wire format: each entry is a length byte and `key=value`. An entry longer
/// than 255 bytes is cut to 255 (none of ours come close); an empty list is the single zero
/// byte RFC 6763 §6.1 asks for.
pub fn encode_txt(entries: &[(String, String)]) -> Vec<u8> {
    if entries.is_empty() {
        return vec![0x00];
    }
    let mut out = Vec::new();
    for (key, value) in entries {
        let mut entry = Vec::with_capacity(key.len() + 1 + value.len());
        entry.extend_from_slice(key.as_bytes());
        entry.push(b'=');
        entry.extend_from_slice(value.as_bytes());
        entry.truncate(0xFF);
        out.push(entry.len() as u8);
        out.extend_from_slice(&entry);
    }
    out
}

/// `AABBCCDDEEFF@Name`, the `_raop._tcp` instance name (PROTOCOL §1.1).
pub fn raop_instance_name(info: &DeviceInfo) -> String {
    format!("{}@{}", info.device_id_hex_upper(), info.name)
}

/// Makes a configured name fit to advertise: strips a `.local`/`.local.` suffix (as UxPlay
/// does), turns control characters into spaces, trims, and cuts to [`MAX_NAME_BYTES`] on a
/// character boundary. A name that ends up empty becomes [`FALLBACK_NAME`].
pub fn clean_name(raw: &str) -> String {
    let trimmed = raw.trim();
    let without_suffix = strip_suffix_ignore_case(trimmed, ".local.")
        .or_else(|| strip_suffix_ignore_case(trimmed, ".local"))
        .unwrap_or(trimmed);
    let printable: String = without_suffix
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let bounded = truncate_on_char_boundary(printable.trim(), MAX_NAME_BYTES).trim();
    if bounded.is_empty() {
        FALLBACK_NAME.to_owned()
    } else {
        bounded.to_owned()
    }
}

/// The longest prefix of `text` that is at most `max_bytes` long and ends on a char boundary.
pub fn truncate_on_char_boundary(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let split = text.len().checked_sub(suffix.len())?;
    let tail = text.get(split..)?;
    tail.eq_ignore_ascii_case(suffix)
        .then(|| text.get(..split))
        .flatten()
}

fn int(value: u64) -> Value {
    Value::Integer(value.into())
}

fn string(value: &str) -> Value {
    Value::String(value.to_owned())
}

fn dict(entries: Vec<(&str, Value)>) -> Value {
    let mut d = Dictionary::new();
    for (key, value) in entries {
        d.insert(key.to_owned(), value);
    }
    Value::Dictionary(d)
}

/// The full `GET /info` dictionary (PROTOCOL §3.1 table, UxPlay key order).
pub fn info_dictionary(info: &DeviceInfo) -> Dictionary {
    let device_id = info.device_id_string();
    let latency = |kind: u64| {
        dict(vec![
            ("type", int(kind)),
            ("inputLatencyMicros", int(0)),
            ("audioType", string("default")),
            // UxPlay sends a boolean false here, not an integer.
            ("outputLatencyMicros", Value::Boolean(false)),
        ])
    };
    let format = |kind: u64| {
        dict(vec![
            ("type", int(kind)),
            ("audioInputFormats", int(AUDIO_FORMATS)),
            ("audioOutputFormats", int(AUDIO_FORMATS)),
        ])
    };
    let d = &info.display;
    let display = dict(vec![
        ("uuid", string(DISPLAY_UUID)),
        ("widthPhysical", int(0)),
        ("heightPhysical", int(0)),
        ("width", int(d.width.into())),
        ("height", int(d.height.into())),
        ("widthPixels", int(d.width.into())),
        ("heightPixels", int(d.height.into())),
        ("rotation", Value::Boolean(false)),
        ("refreshRate", Value::Real(d.refresh_period_seconds())),
        ("maxFPS", int(d.max_fps.into())),
        ("overscanned", Value::Boolean(false)),
        ("features", int(DISPLAY_FEATURES)),
    ]);
    let entries = vec![
        ("deviceID", string(&device_id)),
        ("macAddress", string(&device_id)),
        ("pk", Value::Data(info.public_key.to_vec())),
        ("features", info.features.plist_value()),
        ("name", string(&info.name)),
        ("pi", string(PAIRING_ID)),
        ("vv", int(2)),
        ("statusFlags", int(STATUS_FLAGS)),
        ("keepAliveLowPower", int(1)),
        ("sourceVersion", string(SOURCE_VERSION)),
        ("keepAliveSendStatsAsBody", Value::Boolean(true)),
        ("model", string(MODEL)),
        ("initialVolume", Value::Real(info.initial_volume_db)),
        (
            "audioLatencies",
            Value::Array(vec![latency(100), latency(101)]),
        ),
        ("audioFormats", Value::Array(vec![format(100), format(101)])),
        ("displays", Value::Array(vec![display])),
    ];
    let mut out = Dictionary::new();
    for (key, value) in entries {
        out.insert(key.to_owned(), value);
    }
    out
}

/// The reply to a `GET /info` that carries `{qualifier: [...]}`: `txtAirPlay` and/or
/// `txtRAOP` as data holding the exact TXT wire bytes. Unknown qualifiers are ignored.
pub fn info_for_qualifier(info: &DeviceInfo, qualifiers: &[String]) -> Dictionary {
    let mut out = Dictionary::new();
    for qualifier in qualifiers {
        let txt = match qualifier.as_str() {
            "txtAirPlay" => airplay_txt(info),
            "txtRAOP" => raop_txt(info),
            _ => continue,
        };
        out.insert(qualifier.clone(), Value::Data(encode_txt(&txt)));
    }
    out
}

/// Reads the `qualifier` strings from a `GET /info` request body (a binary or XML plist
/// `{qualifier: [String]}`). Non-string array items are skipped.
pub fn qualifiers_from_body(body: &[u8]) -> Result<Vec<String>, RecordsError> {
    let value = Value::from_reader(std::io::Cursor::new(body))
        .map_err(|e| RecordsError::BadQualifierBody(e.to_string()))?;
    let array = value
        .as_dictionary()
        .and_then(|d| d.get("qualifier"))
        .and_then(Value::as_array)
        .ok_or_else(|| RecordsError::BadQualifierBody("no qualifier array".to_owned()))?;
    Ok(array
        .iter()
        .filter_map(|v| v.as_string().map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod tests;
