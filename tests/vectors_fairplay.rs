//! FairPlay against the known-answer vectors, the table manifest, and hostile input.

mod common;

use airglass::proto::fairplay::{
    EKEY_LEN, FairPlayError, STAGE1_REQUEST_LEN, STAGE2_REQUEST_LEN, decrypt_key, setup_reply,
    stage1_request,
};
use common::{hex_array, hex_field, section};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// A stage-2 request from the vectors, to mutate in the rejection tests.
fn sample_keymsg() -> Vec<u8> {
    hex_field(&section("ekey_decrypt")[0], "keymsg")
}

fn sample_ekey() -> Vec<u8> {
    hex_field(&section("ekey_decrypt")[0], "ekey")
}

// ---------------------------------------------------------------- known answers

#[test]
fn stage1_replies_match_vectors() {
    for entry in section("fp_setup_stage1") {
        let request = hex_field(&entry, "request");
        let reply = setup_reply(&request).expect("stage-1 request accepted");
        assert_eq!(
            hex::encode(&reply),
            entry["reply"].as_str().unwrap_or_default()
        );
        let mode = entry["mode"].as_u64().expect("mode");
        assert_eq!(u64::from(reply[13]), mode);
    }
}

/// PROTOCOL.md Appendix A gives the SHA-256 of each mode's reply.
#[test]
fn stage1_replies_match_protocol_appendix_a_digests() {
    let digests = [
        "8e1a11ea61e4c397f30480910786893aaebb5bff59bf2074db9d7e84fda49dbc",
        "e3730ce34481b93312c97ecbebe5b2128ee16a8e4d0140e89904ac9ff7509df3",
        "c6ab6f9488d29f4c7ec395981cdd12f14a5fa5c51ce61ae6ce43c570f7eae989",
        "8c53e03e2a08e23558e48287851d1cf39297039a7a60bf906a582e22c92f826b",
    ];
    for (mode, digest) in (0u8..).zip(digests) {
        let reply = setup_reply(&stage1_request(mode).expect("valid mode")).expect("accepted");
        assert_eq!(hex::encode(Sha256::digest(&reply)), digest, "mode {mode}");
    }
}

#[test]
fn stage1_request_builder_matches_vectors() {
    for entry in section("fp_setup_stage1") {
        let mode = u8::try_from(entry["mode"].as_u64().expect("mode")).expect("small mode");
        let expected: [u8; STAGE1_REQUEST_LEN] = hex_array(&entry, "request");
        assert_eq!(stage1_request(mode), Ok(expected));
    }
}

#[test]
fn stage2_replies_match_vectors() {
    for entry in section("fp_setup_stage2") {
        let request = hex_field(&entry, "request");
        let reply = setup_reply(&request).expect("stage-2 request accepted");
        assert_eq!(
            hex::encode(&reply),
            entry["reply"].as_str().unwrap_or_default()
        );
    }
}

#[test]
fn ekey_decrypt_matches_vectors() {
    let entries = section("ekey_decrypt");
    assert_eq!(entries.len(), 8);
    for entry in entries {
        let key = decrypt_key(&hex_field(&entry, "keymsg"), &hex_field(&entry, "ekey"))
            .expect("decrypts");
        assert_eq!(
            key,
            hex_array::<16>(&entry, "aeskey"),
            "mode {}",
            entry["mode"]
        );
    }
}

#[test]
fn end_to_end_sections_fairplay_keys_match() {
    for name in ["kdf_ctr", "ctr_edge_cases", "audio_cbc"] {
        for entry in section(name) {
            let key = decrypt_key(&hex_field(&entry, "keymsg"), &hex_field(&entry, "ekey"))
                .expect("decrypts");
            assert_eq!(key, hex_array::<16>(&entry, "fp_aeskey"), "{name}");
        }
    }
}

#[test]
fn third_party_capture_decrypts_to_published_key() {
    for entry in section("third_party_capture") {
        let key = decrypt_key(&hex_field(&entry, "keymsg"), &hex_field(&entry, "ekey"))
            .expect("decrypts");
        assert_eq!(key, hex_array::<16>(&entry, "aeskey"));
        assert_eq!(key, hex_array::<16>(&entry, "claimed_aeskey"));
    }
}

/// PROTOCOL.md §10.1: a real capture from java-airplay-lib's test.
#[test]
fn protocol_capture_10_1() {
    let stage1 = hex::decode("46504c590301010000000004020000bb").expect("hex");
    let reply1 = setup_reply(&stage1).expect("stage 1");
    assert_eq!(reply1.len(), 142);
    assert_eq!(hex::encode(&reply1[..14]), "46504c5903010200000000820200");
    let keymsg = hex::decode(concat!(
        "46504c590301030000000098008f1a9cd8a4f6346d147806c2bd8a4bd1b993d3c36aa1012498f94efff3467bcf1b",
        "3198625ca2458e3ed01edd35e729357df94b80cd0ace2354d68ce37f5e18f0cfd26d4167153fc0b43623166f08c66f",
        "d301380eb09e9f8de83bd2aec7a401f1fbbdf32e0ad551e8793fe7c119233399a5354cc543071ebccee0ac8522ae1b",
        "ab33d441c478f563cefd4275fb555a3ae33ad8b9f994f9b5"
    ))
    .expect("hex");
    assert_eq!(keymsg.len(), STAGE2_REQUEST_LEN);
    let reply2 = setup_reply(&keymsg).expect("stage 2");
    assert_eq!(
        hex::encode(reply2),
        "46504c590301040000000014c478f563cefd4275fb555a3ae33ad8b9f994f9b5"
    );
    let ekey = hex::decode(concat!(
        "46504c59010201000000003c000000003f7946bb03f875f3534869cdf5d5ff110000001018930d69e083b7801",
        "51de148d770dcb5396e47b8e7c5661613d5234aec560f107e050fd3"
    ))
    .expect("hex");
    assert_eq!(ekey.len(), EKEY_LEN);
    let key = decrypt_key(&keymsg, &ekey).expect("decrypts");
    assert_eq!(hex::encode(key), "335c0da6c20d3ab07c3e8338589c7dd6");
}

/// Only keymsg bytes 12 and 16..144 and ekey bytes 16..32 and 56..72 may matter.
#[test]
fn only_the_documented_bytes_affect_the_key() {
    let keymsg = sample_keymsg();
    let ekey = sample_ekey();
    let key = decrypt_key(&keymsg, &ekey).expect("decrypts");

    let mut ignored_keymsg = keymsg.clone();
    for i in (13..16).chain(144..164) {
        ignored_keymsg[i] ^= 0xa5;
    }
    assert_eq!(decrypt_key(&ignored_keymsg, &ekey), Ok(key));
    let mut ignored_ekey = ekey.clone();
    for i in (0..16).chain(32..56) {
        ignored_ekey[i] ^= 0x5a;
    }
    assert_eq!(decrypt_key(&keymsg, &ignored_ekey), Ok(key));

    for i in [16, 80, 143] {
        let mut changed = keymsg.clone();
        changed[i] ^= 0x01;
        assert_ne!(decrypt_key(&changed, &ekey), Ok(key), "keymsg byte {i}");
    }
    for i in [16, 31, 56, 71] {
        let mut changed = ekey.clone();
        changed[i] ^= 0x01;
        assert_ne!(decrypt_key(&keymsg, &changed), Ok(key), "ekey byte {i}");
    }
    let mut other_mode = keymsg.clone();
    other_mode[12] = (other_mode[12] + 1) % 4;
    assert_ne!(decrypt_key(&other_mode, &ekey), Ok(key));
}

// ---------------------------------------------------------------- table integrity

#[test]
fn tables_match_manifest_sha256() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/proto/fairplay/tables");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("manifest"),
    )
    .expect("manifest is JSON");
    let tables = manifest["tables"].as_array().expect("tables array");
    assert_eq!(tables.len(), 29);
    for table in tables {
        let file = table["file"].as_str().expect("file");
        let bytes = std::fs::read(dir.join(file)).expect("table file");
        let element_size = match table["element"].as_str().expect("element") {
            "u8" => 1,
            "u32le" | "i32le" => 4,
            other => panic!("{file}: unknown element type {other}"),
        };
        let count = table["count"].as_u64().expect("count") as usize;
        assert_eq!(bytes.len(), count * element_size, "{file} size");
        let digest = hex::encode(Sha256::digest(&bytes));
        assert_eq!(
            digest,
            table["sha256"].as_str().expect("sha256"),
            "{file} sha256"
        );
    }
}

// ---------------------------------------------------------------- rejections

#[test]
fn rejects_truncated_and_oversized_setup_requests() {
    let stage1 = stage1_request(0).expect("mode 0");
    let keymsg = sample_keymsg();
    for len in 0..STAGE1_REQUEST_LEN {
        assert!(
            matches!(setup_reply(&stage1[..len]), Err(FairPlayError::WrongLength { actual, .. }) if actual == len),
            "stage 1 truncated to {len}"
        );
    }
    let mut long1 = stage1.to_vec();
    long1.push(0);
    assert!(matches!(
        setup_reply(&long1),
        Err(FairPlayError::WrongLength {
            expected: 16,
            actual: 17,
            ..
        })
    ));
    for len in [12, 16, 100, 163] {
        assert!(
            matches!(setup_reply(&keymsg[..len]), Err(FairPlayError::WrongLength { expected: 164, actual, .. }) if actual == len),
            "stage 2 truncated to {len}"
        );
    }
    let mut long2 = keymsg.clone();
    long2.extend_from_slice(&[0; 20]);
    assert!(matches!(
        setup_reply(&long2),
        Err(FairPlayError::WrongLength {
            expected: 164,
            actual: 184,
            ..
        })
    ));
}

#[test]
fn rejects_mode_above_3_at_both_stages_and_in_decrypt() {
    let keymsg = sample_keymsg();
    let ekey = sample_ekey();
    for mode in 4..=u8::MAX {
        assert_eq!(stage1_request(mode), Err(FairPlayError::BadMode(mode)));
        let mut stage1 = stage1_request(0).expect("mode 0");
        stage1[14] = mode;
        assert_eq!(setup_reply(&stage1), Err(FairPlayError::BadMode(mode)));
        let mut stage2 = keymsg.clone();
        stage2[12] = mode;
        assert_eq!(setup_reply(&stage2), Err(FairPlayError::BadMode(mode)));
        assert_eq!(
            decrypt_key(&stage2, &ekey),
            Err(FairPlayError::BadMode(mode))
        );
    }
}

#[test]
fn rejects_version_other_than_3_and_reports_it() {
    for version in [0x00, 0x01, 0x02, 0x04, 0xff] {
        let mut stage1 = stage1_request(1).expect("mode 1");
        stage1[4] = version;
        assert_eq!(
            setup_reply(&stage1),
            Err(FairPlayError::UnsupportedVersion(version))
        );
        let mut stage2 = sample_keymsg();
        stage2[4] = version;
        assert_eq!(
            setup_reply(&stage2),
            Err(FairPlayError::UnsupportedVersion(version))
        );
        assert_eq!(
            decrypt_key(&stage2, &sample_ekey()),
            Err(FairPlayError::UnsupportedVersion(version))
        );
    }
}

#[test]
fn rejects_bad_magic() {
    let mut stage1 = stage1_request(2).expect("mode 2");
    stage1[..4].copy_from_slice(b"FPLX");
    assert_eq!(setup_reply(&stage1), Err(FairPlayError::BadMagic(*b"FPLX")));
    let mut keymsg = sample_keymsg();
    keymsg[0] = b'f';
    assert_eq!(setup_reply(&keymsg), Err(FairPlayError::BadMagic(*b"fPLY")));
    assert_eq!(
        decrypt_key(&keymsg, &sample_ekey()),
        Err(FairPlayError::BadMagic(*b"fPLY"))
    );
}

#[test]
fn rejects_unknown_message_type() {
    for kind in [0x00, 0x02, 0x04, 0xff] {
        let mut stage1 = stage1_request(0).expect("mode 0");
        stage1[6] = kind;
        assert_eq!(
            setup_reply(&stage1),
            Err(FairPlayError::UnknownMessageType(kind))
        );
    }
    // A stage-1 request is not a keymsg.
    let stage1 = stage1_request(0).expect("mode 0");
    assert_eq!(
        decrypt_key(&stage1, &sample_ekey()),
        Err(FairPlayError::UnknownMessageType(0x01))
    );
}

#[test]
fn rejects_short_or_long_ekey_and_keymsg() {
    let keymsg = sample_keymsg();
    let ekey = sample_ekey();
    for len in [0, 1, 16, 32, 56, 71] {
        assert_eq!(
            decrypt_key(&keymsg, &ekey[..len]),
            Err(FairPlayError::WrongLength {
                what: "ekey",
                expected: EKEY_LEN,
                actual: len
            })
        );
    }
    let mut long = ekey.clone();
    long.push(0);
    assert!(matches!(
        decrypt_key(&keymsg, &long),
        Err(FairPlayError::WrongLength {
            expected: 72,
            actual: 73,
            ..
        })
    ));
    for len in [0, 12, 143, 163] {
        assert!(
            matches!(decrypt_key(&keymsg[..len], &ekey), Err(FairPlayError::WrongLength { actual, .. }) if actual == len),
            "keymsg truncated to {len}"
        );
    }
}

// ---------------------------------------------------------------- never panics

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn setup_reply_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = setup_reply(&bytes);
    }

    #[test]
    fn decrypt_key_never_panics_on_arbitrary_bytes(
        keymsg in prop::collection::vec(any::<u8>(), 0..200),
        ekey in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let _ = decrypt_key(&keymsg, &ekey);
    }

    /// Well-formed headers with random bodies reach every step of the decryption.
    #[test]
    fn decrypt_key_never_panics_on_random_well_formed_input(
        mode in 0u8..4,
        body in prop::collection::vec(any::<u8>(), 151),
        ekey in prop::collection::vec(any::<u8>(), EKEY_LEN),
    ) {
        let mut keymsg = hex::decode("46504c590301030000000098").expect("hex");
        keymsg.push(mode);
        keymsg.extend_from_slice(&body);
        prop_assert_eq!(keymsg.len(), STAGE2_REQUEST_LEN);
        prop_assert!(setup_reply(&keymsg).is_ok());
        let first = decrypt_key(&keymsg, &ekey);
        prop_assert!(first.is_ok());
        prop_assert_eq!(first, decrypt_key(&keymsg, &ekey));
    }
}
