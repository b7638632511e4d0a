//! The shapes of the clients the built-in sender imitates (`--test-stream-profile`): the
//! `User-Agent`, the self-description SETUP #1 carries (PROTOCOL.md §3.7), whether SETUP #1
//! asks for `/info` (iOS 27), whether the timing port answers (macOS 15.2+ does not), and the
//! TEARDOWNs that end the session (PROTOCOL.md §3.15).
//!
//! Owns: these per-client facts and the SETUP #1 dictionary. Must not touch the network.

use crate::config::TestStreamProfile;
use plist::{Dictionary, Value};

/// Which streams a TEARDOWN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Teardown {
    /// `{streams: [{type: 96}]}`.
    Audio,
    /// `{streams: [{type: 110}]}`.
    Video,
    /// `{}`: ends the session.
    Plain,
}

impl Teardown {
    /// The short name used in the report (`96`, `110`, `plain`).
    pub fn label(self) -> &'static str {
        match self {
            Teardown::Audio => "96",
            Teardown::Video => "110",
            Teardown::Plain => "plain",
        }
    }

    /// The TEARDOWN body.
    pub fn body(self) -> Value {
        let streams = |ty: u64| {
            let mut s = Dictionary::new();
            s.insert("type".into(), Value::Integer(ty.into()));
            let mut d = Dictionary::new();
            d.insert("streams".into(), Value::Array(vec![Value::Dictionary(s)]));
            Value::Dictionary(d)
        };
        match self {
            Teardown::Audio => streams(0x60),
            Teardown::Video => streams(0x6e),
            Teardown::Plain => Value::Dictionary(Dictionary::new()),
        }
    }
}

/// Everything that differs between the imitated clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientShape {
    pub profile: TestStreamProfile,
    /// `User-Agent` on every request.
    pub user_agent: &'static str,
    pub model: &'static str,
    pub os_name: &'static str,
    pub os_version: &'static str,
    pub os_build: &'static str,
    pub source_version: &'static str,
    /// The device name shown by the receiver.
    pub device_name: &'static str,
    /// SETUP #1 carries `combinedGetInfoWithControlSetup: true` and expects `info` back.
    pub combined_info_setup: bool,
    /// The timing responder answers the receiver's polls.
    pub answers_timing: bool,
    /// TEARDOWNs sent at the end, in order.
    pub teardowns: &'static [Teardown],
}

impl ClientShape {
    pub fn of(profile: TestStreamProfile) -> ClientShape {
        match profile {
            TestStreamProfile::Ios17 => ClientShape {
                profile,
                user_agent: "AirPlay/770.8.1",
                model: "iPhone15,2",
                os_name: "iPhone OS",
                os_version: "17.6.1",
                os_build: "21G93",
                source_version: "770.8.1",
                device_name: "airglass test iPhone",
                combined_info_setup: false,
                answers_timing: true,
                teardowns: &[Teardown::Audio, Teardown::Video, Teardown::Plain],
            },
            TestStreamProfile::Ios26 => ClientShape {
                profile,
                user_agent: "AirPlay/930.12.1",
                model: "iPhone17,1",
                os_name: "iPhone OS",
                os_version: "26.0",
                os_build: "23A341",
                source_version: "930.12.1",
                device_name: "airglass test iPhone",
                combined_info_setup: false,
                answers_timing: true,
                teardowns: &[Teardown::Plain],
            },
            TestStreamProfile::Ios27 => ClientShape {
                profile,
                user_agent: "AirPlay/980.10.1",
                model: "iPhone18,1",
                os_name: "iPhone OS",
                os_version: "27.0",
                os_build: "24A5264n",
                source_version: "980.10.1",
                device_name: "airglass test iPhone",
                combined_info_setup: true,
                answers_timing: true,
                teardowns: &[Teardown::Plain],
            },
            TestStreamProfile::Macos => ClientShape {
                profile,
                user_agent: "AirPlay/845.6.1",
                model: "Mac14,2",
                os_name: "macOS",
                os_version: "15.2",
                os_build: "24C101",
                source_version: "845.6.1",
                device_name: "airglass test Mac",
                combined_info_setup: false,
                answers_timing: false,
                teardowns: &[Teardown::Video, Teardown::Plain],
            },
        }
    }

    /// The profile's name as given on the command line.
    pub fn name(&self) -> &'static str {
        match self.profile {
            TestStreamProfile::Ios17 => "ios17",
            TestStreamProfile::Ios26 => "ios26",
            TestStreamProfile::Ios27 => "ios27",
            TestStreamProfile::Macos => "macos",
        }
    }

    /// The SETUP #1 dictionary with the keys iOS sends (PROTOCOL.md §3.7).
    pub fn session_setup(&self, keys: &SessionSetupKeys) -> Dictionary {
        let mut d = Dictionary::new();
        let mut put = |k: &str, v: Value| {
            d.insert(k.to_owned(), v);
        };
        let text = |s: &str| Value::String(s.to_owned());
        put("ekey", Value::Data(keys.ekey.to_vec()));
        put("eiv", Value::Data(keys.eiv.to_vec()));
        put("et", Value::Integer(32u64.into()));
        put("timingProtocol", text("NTP"));
        put(
            "timingPort",
            Value::Integer(u64::from(keys.timing_port).into()),
        );
        put("isScreenMirroringSession", Value::Boolean(true));
        put("deviceID", text(&keys.device_id));
        put("macAddress", text(&keys.device_id));
        put("model", text(self.model));
        put("name", text(self.device_name));
        put("osName", text(self.os_name));
        put("osVersion", text(self.os_version));
        put("osBuildVersion", text(self.os_build));
        put("sourceVersion", text(self.source_version));
        put("sessionUUID", text(&keys.session_uuid));
        put("sessionCorrelationUUID", text(&keys.correlation_uuid));
        put("diagnosticsAndUsage", Value::Boolean(false));
        put("statsCollectionEnabled", Value::Boolean(false));
        put("internalBuild", Value::Boolean(false));
        put("updateSessionRequest", Value::Boolean(false));
        put("isRemoteControlOnly", Value::Boolean(false));
        if self.combined_info_setup {
            put("combinedGetInfoWithControlSetup", Value::Boolean(true));
        }
        d
    }
}

/// The per-session values of SETUP #1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSetupKeys {
    pub ekey: Vec<u8>,
    pub eiv: [u8; 16],
    pub timing_port: u16,
    /// `XX:XX:XX:XX:XX:XX`, upper case.
    pub device_id: String,
    pub session_uuid: String,
    pub correlation_uuid: String,
}

/// Formats 16 random bytes as an upper-case UUID (version 4, RFC 4122 variant).
pub fn uuid_from_bytes(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode_upper(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Formats a 6-byte device id as `XX:XX:XX:XX:XX:XX` with the locally-administered bit set.
pub fn device_id_from_bytes(mut b: [u8; 6]) -> String {
    b[0] = (b[0] & !0x01) | 0x02;
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_types(body: &[u8]) -> Vec<u64> {
        let v = plist::Value::from_reader(std::io::Cursor::new(body)).unwrap();
        v.as_dictionary()
            .and_then(|d| d.get("streams"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_dictionary()?.get("type")?.as_unsigned_integer())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn keys() -> SessionSetupKeys {
        SessionSetupKeys {
            ekey: vec![0x46; 72],
            eiv: [7; 16],
            timing_port: 50000,
            device_id: device_id_from_bytes([1, 2, 3, 4, 5, 6]),
            session_uuid: uuid_from_bytes([0xff; 16]),
            correlation_uuid: uuid_from_bytes([0; 16]),
        }
    }

    #[test]
    fn profiles_differ_where_the_clients_do() {
        let ios17 = ClientShape::of(TestStreamProfile::Ios17);
        assert_eq!(ios17.user_agent, "AirPlay/770.8.1");
        assert_eq!(
            ios17.teardowns,
            &[Teardown::Audio, Teardown::Video, Teardown::Plain]
        );
        let ios26 = ClientShape::of(TestStreamProfile::Ios26);
        assert!(ios26.user_agent.starts_with("AirPlay/930."));
        assert!(!ios26.teardowns.contains(&Teardown::Video));
        assert_eq!(ios26.teardowns.last(), Some(&Teardown::Plain));
        let ios27 = ClientShape::of(TestStreamProfile::Ios27);
        assert!(ios27.user_agent.starts_with("AirPlay/980."));
        assert!(ios27.combined_info_setup);
        let d = ios27.session_setup(&keys());
        assert_eq!(
            d.get("combinedGetInfoWithControlSetup")
                .and_then(Value::as_boolean),
            Some(true)
        );
        assert!(
            !ios17
                .session_setup(&keys())
                .contains_key("combinedGetInfoWithControlSetup")
        );
        let mac = ClientShape::of(TestStreamProfile::Macos);
        assert!(!mac.answers_timing);
        let d = mac.session_setup(&keys());
        assert_eq!(d.get("model").and_then(Value::as_string), Some("Mac14,2"));
        assert_eq!(d.get("osName").and_then(Value::as_string), Some("macOS"));
    }

    #[test]
    fn session_setup_carries_the_ios_keys() {
        let d = ClientShape::of(TestStreamProfile::Ios17).session_setup(&keys());
        for key in [
            "ekey",
            "eiv",
            "et",
            "timingProtocol",
            "timingPort",
            "isScreenMirroringSession",
            "deviceID",
            "macAddress",
            "model",
            "name",
            "osName",
            "osVersion",
            "osBuildVersion",
            "sourceVersion",
            "sessionUUID",
            "sessionCorrelationUUID",
        ] {
            assert!(d.contains_key(key), "SETUP #1 lacks {key}");
        }
        assert_eq!(
            d.get("timingPort").and_then(Value::as_unsigned_integer),
            Some(50000)
        );
        assert_eq!(
            d.get("deviceID").and_then(Value::as_string),
            Some("02:02:03:04:05:06")
        );
    }

    #[test]
    fn teardown_bodies_name_their_streams() {
        let enc = |t: Teardown| {
            let mut out = Vec::new();
            plist::to_writer_binary(&mut out, &t.body()).unwrap();
            stream_types(&out)
        };
        assert_eq!(enc(Teardown::Audio), vec![96]);
        assert_eq!(enc(Teardown::Video), vec![110]);
        assert!(enc(Teardown::Plain).is_empty());
    }

    #[test]
    fn uuids_look_like_uuids() {
        let u = uuid_from_bytes([0xab; 16]);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(u.matches('-').count(), 4);
    }
}
