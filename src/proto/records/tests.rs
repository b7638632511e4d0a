//! Unit tests for `proto::records`: every key, value and type from PROTOCOL §1.2, §1.3 and
//! the §3.1 tables.

use super::*;

const DEVICE_ID: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

fn key() -> [u8; 32] {
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = 0xA0 ^ i as u8;
    }
    key
}

fn device() -> DeviceInfo {
    DeviceInfo::new("Living Room", DEVICE_ID, key())
}

fn key_hex() -> String {
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf".to_owned()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn features_text_and_integer() {
    assert_eq!(Features::DEFAULT.txt(), "0x527FFEE6,0x0");
    assert_eq!(
        Features::DEFAULT.plist_value(),
        Value::Integer(1_384_120_038u64.into())
    );
    let hevc = Features::DEFAULT | Features::SCREEN_MULTI_CODEC;
    assert_eq!(hevc.txt(), "0x527FFEE6,0x400");
    assert_eq!(
        hevc.plist_value(),
        Value::Integer(0x400_527F_FEE6u64.into())
    );
    let legacy = Features::DEFAULT.with(Features::LEGACY_PAIRING);
    assert_eq!(legacy.txt(), "0x5A7FFEE6,0x0");
    assert!(legacy.contains(Features::LEGACY_PAIRING));
    assert!(!Features::DEFAULT.contains(Features::LEGACY_PAIRING));
    assert_eq!(legacy.without(Features::LEGACY_PAIRING), Features::DEFAULT);
}

#[test]
fn default_features_have_exactly_the_documented_bits() {
    let expected = [
        1, 2, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 25, 28, 30,
    ];
    let set: Vec<u32> = (0..64)
        .filter(|bit| Features::DEFAULT.0 & (1u64 << bit) != 0)
        .collect();
    assert_eq!(set, expected);
    assert!(!Features::DEFAULT.requests_homekit_pairing());
    assert!(Features(1 << 46).requests_homekit_pairing());
}

#[test]
fn airplay_txt_matches_protocol_1_2() {
    let expected = owned(&[
        ("deviceid", "02:11:22:33:44:55"),
        ("features", "0x527FFEE6,0x0"),
        ("pw", "false"),
        ("flags", "0x4"),
        ("model", "AppleTV3,2"),
        ("pk", &key_hex()),
        ("pi", "2e388006-13ba-4041-9a67-25dd4a43d536"),
        ("srcvers", "220.68"),
        ("vv", "2"),
    ]);
    assert_eq!(airplay_txt(&device()), expected);
}

#[test]
fn raop_txt_matches_protocol_1_3() {
    let expected = owned(&[
        ("ch", "2"),
        ("cn", "0,1,2,3"),
        ("da", "true"),
        ("et", "0,3,5"),
        ("vv", "2"),
        ("ft", "0x527FFEE6,0x0"),
        ("am", "AppleTV3,2"),
        ("md", "0,1,2"),
        ("rhd", "5.6.0.0"),
        ("pw", "false"),
        ("sr", "44100"),
        ("ss", "16"),
        ("sv", "false"),
        ("tp", "UDP"),
        ("txtvers", "1"),
        ("sf", "0x4"),
        ("vs", "220.68"),
        ("vn", "65537"),
        ("pk", &key_hex()),
    ]);
    assert_eq!(raop_txt(&device()), expected);
}

#[test]
fn password_changes_pw_and_sf_only() {
    let mut info = device();
    info.password_required = true;
    let airplay = airplay_txt(&info);
    let raop = raop_txt(&info);
    let get = |list: &[(String, String)], k: &str| {
        list.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get(&airplay, "pw").as_deref(), Some("true"));
    assert_eq!(get(&airplay, "flags").as_deref(), Some("0x4"));
    assert_eq!(get(&raop, "pw").as_deref(), Some("true"));
    assert_eq!(get(&raop, "sf").as_deref(), Some("0x84"));
    let differing = airplay_txt(&device())
        .iter()
        .zip(&airplay)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differing, 1);
}

#[test]
fn txt_wire_encoding_is_length_prefixed() {
    let wire = encode_txt(&owned(&[("vv", "2"), ("pw", "false")]));
    assert_eq!(wire, b"\x04vv=2\x08pw=false");
    assert_eq!(encode_txt(&[]), [0x00]);
    let long = encode_txt(&owned(&[("k", &"x".repeat(300))]));
    assert_eq!(long.first(), Some(&0xFF));
    assert_eq!(long.len(), 256);

    let airplay = encode_txt(&airplay_txt(&device()));
    let mut expected = Vec::new();
    for entry in [
        "deviceid=02:11:22:33:44:55".to_owned(),
        "features=0x527FFEE6,0x0".to_owned(),
        "pw=false".to_owned(),
        "flags=0x4".to_owned(),
        "model=AppleTV3,2".to_owned(),
        format!("pk={}", key_hex()),
        "pi=2e388006-13ba-4041-9a67-25dd4a43d536".to_owned(),
        "srcvers=220.68".to_owned(),
        "vv=2".to_owned(),
    ] {
        expected.push(entry.len() as u8);
        expected.extend_from_slice(entry.as_bytes());
    }
    assert_eq!(airplay, expected);
}

#[test]
fn instance_names() {
    let info = device();
    assert_eq!(raop_instance_name(&info), "021122334455@Living Room");
    assert_eq!(info.device_id_string(), "02:11:22:33:44:55");
    assert_eq!(info.device_id_hex_upper(), "021122334455");
}

#[test]
fn clean_name_rules() {
    assert_eq!(clean_name("  UxPlay@myhost.local  "), "UxPlay@myhost");
    assert_eq!(clean_name("Kitchen.LOCAL."), "Kitchen");
    assert_eq!(clean_name("Tab\there"), "Tab here");
    assert_eq!(clean_name(""), FALLBACK_NAME);
    assert_eq!(clean_name(" .local "), FALLBACK_NAME);
    let long = "é".repeat(40); // 80 bytes, 2 per char
    let cleaned = clean_name(&long);
    assert_eq!(cleaned.len(), MAX_NAME_BYTES);
    assert_eq!(cleaned, "é".repeat(25));
    let odd = format!("a{}", "é".repeat(40)); // boundary falls inside a char at 50
    assert_eq!(clean_name(&odd).len(), 49);
    assert!(raop_instance_name(&DeviceInfo::new(cleaned, DEVICE_ID, key())).len() <= 63);
}

fn int_of(value: &Value) -> u64 {
    match value {
        Value::Integer(i) => i.as_unsigned().unwrap_or(u64::MAX),
        other => panic!("expected integer, got {other:?}"),
    }
}

#[test]
fn info_dictionary_matches_protocol_3_1() {
    let mut info = device();
    info.initial_volume_db = -15.0;
    let d = info_dictionary(&info);
    let keys: Vec<&str> = d.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "deviceID",
            "macAddress",
            "pk",
            "features",
            "name",
            "pi",
            "vv",
            "statusFlags",
            "keepAliveLowPower",
            "sourceVersion",
            "keepAliveSendStatsAsBody",
            "model",
            "initialVolume",
            "audioLatencies",
            "audioFormats",
            "displays",
        ]
    );
    assert_eq!(d.get("deviceID"), Some(&string("02:11:22:33:44:55")));
    assert_eq!(d.get("macAddress"), Some(&string("02:11:22:33:44:55")));
    assert_eq!(d.get("pk"), Some(&Value::Data(key().to_vec())));
    assert_eq!(d.get("features").map(int_of), Some(0x527F_FEE6));
    assert_eq!(d.get("name"), Some(&string("Living Room")));
    assert_eq!(d.get("pi"), Some(&string(PAIRING_ID)));
    assert_eq!(d.get("vv").map(int_of), Some(2));
    assert_eq!(d.get("statusFlags").map(int_of), Some(68));
    assert_eq!(d.get("keepAliveLowPower").map(int_of), Some(1));
    assert_eq!(d.get("sourceVersion"), Some(&string("220.68")));
    assert_eq!(
        d.get("keepAliveSendStatsAsBody"),
        Some(&Value::Boolean(true))
    );
    assert_eq!(d.get("model"), Some(&string("AppleTV3,2")));
    assert_eq!(d.get("initialVolume"), Some(&Value::Real(-15.0)));

    let latencies = d.get("audioLatencies").and_then(Value::as_array).unwrap();
    assert_eq!(latencies.len(), 2);
    for (entry, kind) in latencies.iter().zip([100, 101]) {
        let e = entry.as_dictionary().unwrap();
        let keys: Vec<&str> = e.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "type",
                "inputLatencyMicros",
                "audioType",
                "outputLatencyMicros"
            ]
        );
        assert_eq!(e.get("type").map(int_of), Some(kind));
        assert_eq!(e.get("inputLatencyMicros").map(int_of), Some(0));
        assert_eq!(e.get("audioType"), Some(&string("default")));
        assert_eq!(e.get("outputLatencyMicros"), Some(&Value::Boolean(false)));
    }

    let formats = d.get("audioFormats").and_then(Value::as_array).unwrap();
    assert_eq!(formats.len(), 2);
    for (entry, kind) in formats.iter().zip([100, 101]) {
        let e = entry.as_dictionary().unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e.get("type").map(int_of), Some(kind));
        assert_eq!(e.get("audioInputFormats").map(int_of), Some(67_108_860));
        assert_eq!(e.get("audioOutputFormats").map(int_of), Some(67_108_860));
    }
}

#[test]
fn display_entry_matches_protocol_3_1() {
    let d = info_dictionary(&device());
    let displays = d.get("displays").and_then(Value::as_array).unwrap();
    assert_eq!(displays.len(), 1);
    let display = displays[0].as_dictionary().unwrap();
    let keys: Vec<&str> = display.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "uuid",
            "widthPhysical",
            "heightPhysical",
            "width",
            "height",
            "widthPixels",
            "heightPixels",
            "rotation",
            "refreshRate",
            "maxFPS",
            "overscanned",
            "features",
        ]
    );
    assert_eq!(
        display.get("uuid"),
        Some(&string("e0ff8a27-6738-3d56-8a16-cc53aacee925"))
    );
    for (k, v) in [
        ("widthPhysical", 0),
        ("heightPhysical", 0),
        ("width", 1920),
        ("height", 1080),
        ("widthPixels", 1920),
        ("heightPixels", 1080),
        ("maxFPS", 30),
        ("features", 14),
    ] {
        assert_eq!(display.get(k).map(int_of), Some(v), "{k}");
    }
    assert_eq!(display.get("rotation"), Some(&Value::Boolean(false)));
    assert_eq!(display.get("overscanned"), Some(&Value::Boolean(false)));
    assert_eq!(
        display.get("refreshRate"),
        Some(&Value::Real(0.016666666666666666))
    );
}

#[test]
fn display_follows_the_spec() {
    let mut info = device();
    info.display = DisplaySpec {
        width: 3840,
        height: 2160,
        refresh_hz: 50,
        max_fps: 60,
    };
    let d = info_dictionary(&info);
    let display = d.get("displays").and_then(Value::as_array).unwrap()[0]
        .as_dictionary()
        .unwrap()
        .clone();
    assert_eq!(display.get("width").map(int_of), Some(3840));
    assert_eq!(display.get("heightPixels").map(int_of), Some(2160));
    assert_eq!(display.get("maxFPS").map(int_of), Some(60));
    assert_eq!(display.get("refreshRate"), Some(&Value::Real(0.02)));
    let zero = DisplaySpec {
        refresh_hz: 0,
        ..DisplaySpec::default()
    };
    assert_eq!(zero.refresh_period_seconds(), 1.0 / 60.0);
}

#[test]
fn qualifier_reply_carries_exact_txt_bytes() {
    let info = device();
    let d = info_for_qualifier(&info, &["txtAirPlay".to_owned()]);
    assert_eq!(d.len(), 1);
    assert_eq!(
        d.get("txtAirPlay"),
        Some(&Value::Data(encode_txt(&airplay_txt(&info))))
    );
    let both = info_for_qualifier(
        &info,
        &[
            "txtRAOP".to_owned(),
            "bogus".to_owned(),
            "txtAirPlay".to_owned(),
        ],
    );
    let keys: Vec<&str> = both.keys().map(String::as_str).collect();
    assert_eq!(keys, ["txtRAOP", "txtAirPlay"]);
    assert_eq!(
        both.get("txtRAOP"),
        Some(&Value::Data(encode_txt(&raop_txt(&info))))
    );
    assert!(info_for_qualifier(&info, &[]).is_empty());
}

#[test]
fn qualifiers_are_read_from_a_binary_plist_body() {
    let mut request = Dictionary::new();
    request.insert(
        "qualifier".to_owned(),
        Value::Array(vec![string("txtAirPlay")]),
    );
    let mut body = Vec::new();
    Value::Dictionary(request)
        .to_writer_binary(&mut body)
        .unwrap();
    assert!(body.starts_with(b"bplist00"));
    assert_eq!(qualifiers_from_body(&body).unwrap(), ["txtAirPlay"]);
    assert!(qualifiers_from_body(b"not a plist").is_err());
    let mut empty = Vec::new();
    Value::Dictionary(Dictionary::new())
        .to_writer_binary(&mut empty)
        .unwrap();
    assert!(qualifiers_from_body(&empty).is_err());
}

#[test]
fn full_dictionary_survives_binary_plist_round_trip() {
    let d = info_dictionary(&device());
    let mut bytes = Vec::new();
    Value::Dictionary(d.clone())
        .to_writer_binary(&mut bytes)
        .unwrap();
    let back = Value::from_reader(std::io::Cursor::new(&bytes)).unwrap();
    assert_eq!(back, Value::Dictionary(d));
}
