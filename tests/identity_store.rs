//! The identity file on a real filesystem: creation, modes, reuse, corruption, IO errors.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use airglass::identity::{CORRUPT_SUFFIX, IDENTITY_FILE, Identity, IdentityError};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn creates_dir_0700_and_file_0600() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("var/lib/airglass");
    let identity = Identity::load_or_create(&state).expect("create");
    assert_eq!(mode(&state), 0o700);
    let file = state.join(IDENTITY_FILE);
    assert_eq!(mode(&file), 0o600);
    // Only the identity file is left behind (no temporary).
    let names: Vec<_> = fs::read_dir(&state)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, [IDENTITY_FILE]);
    let text = fs::read_to_string(&file).expect("read");
    assert!(text.contains(&identity.device_id_string()), "{text}");
}

#[test]
fn same_identity_after_reload() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let first = Identity::load_or_create(tmp.path()).expect("create");
    let before = fs::read(tmp.path().join(IDENTITY_FILE)).expect("read");
    let second = Identity::load_or_create(tmp.path()).expect("reload");
    assert_eq!(first.public_key(), second.public_key());
    assert_eq!(first.device_id(), second.device_id());
    assert_eq!(
        first.signing_key().to_bytes(),
        second.signing_key().to_bytes()
    );
    let after = fs::read(tmp.path().join(IDENTITY_FILE)).expect("read");
    assert_eq!(before, after, "a reload must not rewrite the file");
    // A different directory gets a different identity.
    let other = tempfile::tempdir().expect("tempdir");
    let third = Identity::load_or_create(other.path()).expect("create");
    assert_ne!(third.public_key(), first.public_key());
}

#[test]
fn device_ids_are_local_unicast() {
    for seed in 0..64 {
        let id = Identity::generate(&mut StdRng::seed_from_u64(seed)).device_id();
        assert_eq!(id[0] & 0x02, 0x02, "locally administered: {id:02x?}");
        assert_eq!(id[0] & 0x01, 0x00, "unicast: {id:02x?}");
    }
}

#[test]
fn stored_text_round_trips_exactly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let made = Identity::from_parts([0x5c; 32], [0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f]);
    made.store(tmp.path()).expect("store");
    let loaded = Identity::load_or_create(tmp.path()).expect("load");
    assert_eq!(loaded.signing_key().to_bytes(), [0x5c; 32]);
    assert_eq!(loaded.device_id_string(), "0a:1b:2c:3d:4e:5f");
    assert_eq!(loaded.device_id_compact(), "0A1B2C3D4E5F");
}

#[test]
fn corrupt_files_are_moved_aside_and_replaced() {
    let corrupt = [
        &b"not json at all"[..],
        br#"{"version":1,"device_id":"02:11:22:33:44:55","ed25519_seed":"abcd"}"#,
        br#"{"version":1,"device_id":"02:11:22:33:44","ed25519_seed":"1111111111111111111111111111111111111111111111111111111111111111"}"#,
        br#"{"version":9,"device_id":"02:11:22:33:44:55","ed25519_seed":"1111111111111111111111111111111111111111111111111111111111111111"}"#,
        br#"{"version":1,"device_id":"02:11:22:33:44:55","ed25519_seed":"1111111111111111111111111111111111111111111111111111111111111111","x":1}"#,
        &[0xff, 0xfe, 0x00][..],
        &b""[..],
    ];
    for bad in corrupt {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join(IDENTITY_FILE);
        fs::write(&file, bad).expect("write");
        let identity = Identity::load_or_create_with_rng(tmp.path(), &mut StdRng::seed_from_u64(1))
            .expect("replaced");
        let aside = tmp.path().join(format!("{IDENTITY_FILE}{CORRUPT_SUFFIX}"));
        assert_eq!(fs::read(&aside).expect("moved aside"), bad);
        assert_eq!(mode(&file), 0o600);
        let reloaded = Identity::load_or_create(tmp.path()).expect("reload");
        assert_eq!(reloaded.public_key(), identity.public_key());
    }
}

#[test]
fn loose_permissions_are_tightened_and_the_key_kept() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let first = Identity::load_or_create(tmp.path()).expect("create");
    let file = tmp.path().join(IDENTITY_FILE);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("chmod");
    let again = Identity::load_or_create(tmp.path()).expect("reload");
    assert_eq!(again.public_key(), first.public_key());
    assert_eq!(mode(&file), 0o600);
}

#[test]
fn stale_temporary_file_does_not_leak_its_mode() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let temp = tmp.path().join(format!("{IDENTITY_FILE}.tmp"));
    fs::write(&temp, b"half written").expect("write");
    fs::set_permissions(&temp, fs::Permissions::from_mode(0o666)).expect("chmod");
    Identity::load_or_create(tmp.path()).expect("create");
    assert_eq!(mode(&tmp.path().join(IDENTITY_FILE)), 0o600);
    assert!(!temp.exists());
}

#[test]
fn io_errors_are_errors_not_new_keys() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // The state directory is a regular file.
    let not_a_dir = tmp.path().join("state");
    fs::write(&not_a_dir, b"").expect("write");
    let err = Identity::load_or_create(&not_a_dir).expect_err("not a directory");
    assert!(matches!(err, IdentityError::CreateDir { .. }), "{err}");

    // The identity file is unreadable (here: a directory); nothing is moved or replaced.
    let state = tmp.path().join("other");
    fs::create_dir_all(state.join(IDENTITY_FILE)).expect("mkdir");
    let err = Identity::load_or_create(&state).expect_err("unreadable");
    assert!(matches!(err, IdentityError::Read { .. }), "{err}");
    assert!(state.join(IDENTITY_FILE).is_dir());
    assert!(
        !state
            .join(format!("{IDENTITY_FILE}{CORRUPT_SUFFIX}"))
            .exists()
    );
}

#[test]
fn debug_does_not_print_the_secret() {
    let identity = Identity::from_parts([0x3a; 32], [0x02, 0, 0, 0, 0, 1]);
    let shown = format!("{identity:?}");
    assert!(!shown.contains(&hex::encode([0x3a; 32])), "{shown}");
    assert!(!shown.contains("3a3a3a"), "{shown}");
    assert!(shown.contains("02:00:00:00:00:01"), "{shown}");
    assert!(
        shown.contains(&hex::encode(identity.public_key())),
        "{shown}"
    );
}
