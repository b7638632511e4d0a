//! Pairing state machine: order, lengths, flags, keys and signatures. The known-answer
//! vectors live in `tests/vectors_crypto.rs`.

use super::*;
use proptest::prelude::*;

const SERVER_SEED: [u8; 32] = [0x11; 32];
const SERVER_EPHEMERAL: [u8; 32] = [0x22; 32];
const CLIENT_EPHEMERAL: [u8; 32] = [0x33; 32];
const CLIENT_SEED: [u8; 32] = [0x44; 32];

fn server_key() -> SigningKey {
    SigningKey::from_bytes(&SERVER_SEED)
}

fn client() -> PairingClient {
    PairingClient::new(CLIENT_EPHEMERAL, CLIENT_SEED)
}

fn after_setup() -> PairingServer {
    let (state, _) = PairingServer::new()
        .pair_setup(&client().setup_request(), &server_key())
        .expect("pair-setup");
    state
}

fn after_stage1() -> (PairingServer, Vec<u8>) {
    after_setup()
        .pair_verify(&client().verify_request1(), &server_key(), SERVER_EPHEMERAL)
        .expect("stage 1")
}

fn request2() -> Vec<u8> {
    let (_, reply) = after_stage1();
    let server_public = server_key().verifying_key().to_bytes();
    client()
        .verify_request2(&server_public, &reply)
        .expect("client accepts the reply")
}

#[test]
fn full_exchange_agrees_on_the_secret() {
    let (state, reply) = PairingServer::new()
        .pair_setup(&client().setup_request(), &server_key())
        .expect("pair-setup");
    assert_eq!(reply, server_key().verifying_key().to_bytes());
    let server_public = PairingClient::parse_setup_reply(&reply).expect("32 bytes");

    let mut sender = client();
    let (state, reply) = state
        .pair_verify(&sender.verify_request1(), &server_key(), SERVER_EPHEMERAL)
        .expect("stage 1");
    assert_eq!(reply.len(), PAIR_VERIFY_REPLY_LEN);
    assert!(!state.is_verified());
    let request2 = sender
        .verify_request2(&server_public, &reply)
        .expect("server signature");
    let (state, reply) = state
        .pair_verify(&request2, &server_key(), [0; 32])
        .expect("stage 2");
    assert!(reply.is_empty());
    assert!(state.is_verified());
    let secret = state.ecdh_secret_for_session_key();
    assert!(secret.is_some());
    assert_eq!(secret, sender.shared_secret());
}

#[test]
fn ecdh_secret_follows_uxplays_rule() {
    assert_eq!(PairingServer::new().ecdh_secret_for_session_key(), None);
    assert_eq!(after_setup().ecdh_secret_for_session_key(), Some([0; 32]));
    let (state, _) = after_stage1();
    let secret = state
        .ecdh_secret_for_session_key()
        .expect("secret after stage 1");
    assert_ne!(secret, [0; 32]);
    let expected = StaticSecret::from(SERVER_EPHEMERAL)
        .diffie_hellman(&PublicKey::from(client().x25519_public()))
        .to_bytes();
    assert_eq!(secret, expected);
    assert_eq!(PairingServer::Failed.ecdh_secret_for_session_key(), None);
}

#[test]
fn rejects_pair_setup_of_wrong_length() {
    for len in [0, 31, 33, 64] {
        let err = PairingServer::new()
            .pair_setup(&vec![0x42; len], &server_key())
            .expect_err("wrong length");
        assert_eq!(
            err,
            PairingError::WrongLength {
                what: "pair-setup body",
                expected: 32,
                got: len
            }
        );
    }
}

#[test]
fn rejects_verify_requests_of_wrong_length() {
    let mut long = client().verify_request1();
    long.push(0);
    for body in [
        vec![FLAG_VERIFY_STAGE1; 67],
        long,
        vec![FLAG_VERIFY_STAGE1; 4],
        vec![],
    ] {
        let err = after_setup()
            .pair_verify(&body, &server_key(), SERVER_EPHEMERAL)
            .expect_err("wrong length");
        assert!(matches!(err, PairingError::WrongLength { .. }), "{err:?}");
    }
    let (state, _) = after_stage1();
    let short = &request2()[..60];
    let err = state.verify_stage2(short).expect_err("short stage 2");
    assert!(
        matches!(err, PairingError::WrongLength { got: 60, .. }),
        "{err:?}"
    );
}

#[test]
fn rejects_bad_flag() {
    let mut body = client().verify_request1();
    body[0] = 0x02;
    let err = after_setup()
        .pair_verify(&body, &server_key(), SERVER_EPHEMERAL)
        .expect_err("flag 2");
    assert_eq!(err, PairingError::BadFlag { got: 0x02 });

    body[0] = FLAG_VERIFY_STAGE2;
    let err = after_setup()
        .verify_stage1(&body, &server_key(), SERVER_EPHEMERAL)
        .expect_err("stage-2 flag on stage 1");
    assert_eq!(err, PairingError::BadFlag { got: 0x00 });

    let (state, _) = after_stage1();
    let mut body = request2();
    body[0] = FLAG_VERIFY_STAGE1;
    let err = state
        .verify_stage2(&body)
        .expect_err("stage-1 flag on stage 2");
    assert_eq!(err, PairingError::BadFlag { got: 0x01 });
}

#[test]
fn rejects_verify_before_setup() {
    let err = PairingServer::new()
        .pair_verify(&client().verify_request1(), &server_key(), SERVER_EPHEMERAL)
        .expect_err("no pair-setup");
    assert!(
        matches!(
            err,
            PairingError::OutOfOrder {
                state: "Initial",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn rejects_stage2_before_stage1() {
    let err = after_setup()
        .pair_verify(&request2(), &server_key(), SERVER_EPHEMERAL)
        .expect_err("stage 2 first");
    assert!(
        matches!(
            err,
            PairingError::OutOfOrder {
                state: "SetupDone",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn rejects_anything_after_verified_or_failed() {
    let (state, _) = after_stage1();
    let (verified, _) = state.verify_stage2(&request2()).expect("stage 2");
    let err = verified
        .verify_stage2(&request2())
        .expect_err("stage 2 twice");
    assert!(
        matches!(
            err,
            PairingError::OutOfOrder {
                state: "Verified",
                ..
            }
        ),
        "{err:?}"
    );

    let (state, _) = after_stage1();
    let (verified, _) = state.verify_stage2(&request2()).expect("stage 2");
    let err = verified
        .pair_setup(&[0; 32], &server_key())
        .expect_err("pair-setup after verify");
    assert!(matches!(err, PairingError::OutOfOrder { .. }), "{err:?}");

    let err = PairingServer::Failed
        .pair_setup(&[0; 32], &server_key())
        .expect_err("failed stays failed");
    assert!(
        matches!(
            err,
            PairingError::OutOfOrder {
                state: "Failed",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn stage1_may_be_repeated_before_stage2() {
    let (state, first) = after_stage1();
    let (state, second) = state
        .pair_verify(&client().verify_request1(), &server_key(), [0x55; 32])
        .expect("stage 1 again");
    assert_ne!(first[..32], second[..32]);
    let server_public = server_key().verifying_key().to_bytes();
    let request2 = client()
        .verify_request2(&server_public, &second)
        .expect("reply to the second stage 1");
    let (state, _) = state.verify_stage2(&request2).expect("stage 2");
    assert!(state.is_verified());
}

#[test]
fn rejects_bad_client_public_keys() {
    // y = 2 is not the y coordinate of any point on edwards25519.
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 0x02;
    // The identity point: valid encoding, but of small order.
    let mut identity = [0u8; 32];
    identity[0] = 0x01;
    for ed in [not_a_point, identity] {
        let mut body = client().verify_request1();
        body[36..].copy_from_slice(&ed);
        let err = after_setup()
            .pair_verify(&body, &server_key(), SERVER_EPHEMERAL)
            .expect_err("bad Ed25519 key");
        assert_eq!(
            err,
            PairingError::BadPublicKey {
                which: "client Ed25519"
            }
        );
    }

    let mut body = client().verify_request1();
    body[4..36].copy_from_slice(&[0; 32]);
    let err = after_setup()
        .pair_verify(&body, &server_key(), SERVER_EPHEMERAL)
        .expect_err("low-order X25519 key");
    assert_eq!(
        err,
        PairingError::BadPublicKey {
            which: "client X25519"
        }
    );
}

#[test]
fn rejects_bad_client_signature() {
    for index in [4, 40, 67] {
        let (state, _) = after_stage1();
        let mut body = request2();
        body[index] ^= 0x01;
        let err = state.verify_stage2(&body).expect_err("tampered signature");
        assert_eq!(err, PairingError::SignatureMismatch { which: "client" });
    }

    // A valid signature, but by a key other than the one announced in stage 1.
    let (state, reply) = after_stage1();
    let server_public = server_key().verifying_key().to_bytes();
    let impostor = PairingClient::new(CLIENT_EPHEMERAL, [0x66; 32])
        .verify_request2(&server_public, &reply)
        .expect("same ephemeral key, so the reply checks out");
    let err = state.verify_stage2(&impostor).expect_err("wrong signer");
    assert_eq!(err, PairingError::SignatureMismatch { which: "client" });
}

#[test]
fn client_rejects_bad_server_signature() {
    let (_, reply) = after_stage1();
    let server_public = server_key().verifying_key().to_bytes();
    let mut tampered = reply.clone();
    tampered[50] ^= 0x80;
    let mut sender = client();
    let err = sender
        .verify_request2(&server_public, &tampered)
        .expect_err("tampered reply");
    assert_eq!(err, PairingError::SignatureMismatch { which: "server" });
    assert_eq!(sender.shared_secret(), None);

    let other = SigningKey::from_bytes(&[0x77; 32])
        .verifying_key()
        .to_bytes();
    let err = client()
        .verify_request2(&other, &reply)
        .expect_err("wrong long-term key");
    assert_eq!(err, PairingError::SignatureMismatch { which: "server" });

    let err = client()
        .verify_request2(&server_public, &reply[..95])
        .expect_err("short reply");
    assert!(
        matches!(err, PairingError::WrongLength { got: 95, .. }),
        "{err:?}"
    );
    let err = PairingClient::parse_setup_reply(&[0; 31]).expect_err("short setup reply");
    assert!(
        matches!(err, PairingError::WrongLength { got: 31, .. }),
        "{err:?}"
    );
}

#[test]
fn debug_hides_secrets() {
    let (state, _) = after_stage1();
    let shown = format!("{state:?} {:?}", client());
    let secret = hex::encode(state.ecdh_secret_for_session_key().unwrap_or_default());
    assert!(!shown.contains(&secret), "{shown}");
    assert!(!shown.contains(&hex::encode(CLIENT_SEED)), "{shown}");
    assert!(shown.contains("AwaitingFinish"), "{shown}");
}

fn state_named(which: u8) -> PairingServer {
    match which % 4 {
        0 => PairingServer::new(),
        1 => after_setup(),
        2 => after_stage1().0,
        _ => PairingServer::Failed,
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(which in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..140)) {
        let key = server_key();
        let _ = state_named(which).pair_setup(&body, &key);
        let _ = state_named(which).pair_verify(&body, &key, SERVER_EPHEMERAL);
        let _ = state_named(which).verify_stage1(&body, &key, SERVER_EPHEMERAL);
        let _ = state_named(which).verify_stage2(&body);
        let _ = PairingClient::parse_setup_reply(&body);
        let _ = client().verify_request2(&key.verifying_key().to_bytes(), &body);
    }

    #[test]
    fn verify_shaped_bodies_never_panic(which in any::<u8>(), flag in 0u8..3, rest in proptest::array::uniform32(any::<u8>()), more in proptest::array::uniform32(any::<u8>())) {
        let mut body = vec![flag, 0, 0, 0];
        body.extend_from_slice(&rest);
        body.extend_from_slice(&more);
        let key = server_key();
        let result = state_named(which).pair_verify(&body, &key, SERVER_EPHEMERAL);
        // Random stage-2 bytes never carry a valid signature.
        if flag == FLAG_VERIFY_STAGE2 {
            prop_assert!(result.is_err());
        }
    }
}
