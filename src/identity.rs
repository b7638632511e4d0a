//! The receiver's long-term identity: its Ed25519 key (published as `pk`, used to sign
//! pair-verify) and its 6-byte device id (`deviceid`, the MAC-like name phones remember).
//!
//! Owns: generating the identity and keeping it in `<state_dir>/identity.json` so that a
//! restart keeps the same key and id and phones keep trusting the TV. Must not touch the
//! protocol: `proto` receives the key and id from here as plain values.
//!
//! File format (`identity.json`, mode 0600, in a 0700 directory it creates if missing):
//!
//! ```json
//! {"version":1,"device_id":"02:ab:cd:ef:01:23","ed25519_seed":"<64 hex digits>"}
//! ```
//!
//! It is written to `identity.json.tmp`, synced and renamed into place, so a crash never
//! leaves half a file. A file that cannot be parsed is renamed to `identity.json.corrupt`
//! (replacing an older one) with a warning, and a fresh identity is made. Any other IO error
//! (permission denied, not a directory, ...) is returned: silently replacing the key would
//! make every paired phone distrust the TV.

use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

/// Name of the identity file inside the state directory.
pub const IDENTITY_FILE: &str = "identity.json";
/// Suffix given to a file that could not be parsed.
pub const CORRUPT_SUFFIX: &str = ".corrupt";
const TEMP_SUFFIX: &str = ".tmp";
const FORMAT_VERSION: u32 = 1;
const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;
/// Permission bits for group and others, which the file must not have.
const GROUP_OTHER_BITS: u32 = 0o077;
/// First octet of a MAC: bit 1 set = locally administered, bit 0 clear = unicast.
const LOCALLY_ADMINISTERED: u8 = 0x02;
const MULTICAST: u8 = 0x01;

/// Why the identity could not be loaded or stored.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot create state directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot read identity file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write identity file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot move corrupt identity file {path} aside: {source}")]
    MoveAside { path: PathBuf, source: io::Error },
}

/// The on-disk form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredIdentity {
    version: u32,
    device_id: String,
    ed25519_seed: String,
}

/// The receiver's Ed25519 key and device id.
#[derive(Clone)]
pub struct Identity {
    signing_key: SigningKey,
    device_id: [u8; 6],
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("device_id", &self.device_id_string())
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// An identity from known parts (tests, or a key provisioned elsewhere).
    pub fn from_parts(seed: [u8; 32], device_id: [u8; 6]) -> Self {
        Self {
            signing_key: SigningKey::from_bytes(&seed),
            device_id,
        }
    }

    /// A new random identity; the device id is a locally administered unicast MAC.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let mut device_id = [0u8; 6];
        rng.fill_bytes(&mut device_id);
        device_id[0] = (device_id[0] | LOCALLY_ADMINISTERED) & !MULTICAST;
        Self::from_parts(seed, device_id)
    }

    /// Loads `<state_dir>/identity.json`, creating the directory and the file when missing.
    pub fn load_or_create(state_dir: &Path) -> Result<Self, IdentityError> {
        Self::load_or_create_with_rng(state_dir, &mut rand::rngs::OsRng)
    }

    /// [`Identity::load_or_create`] with the randomness for a new identity passed in.
    pub fn load_or_create_with_rng<R: RngCore + CryptoRng>(
        state_dir: &Path,
        rng: &mut R,
    ) -> Result<Self, IdentityError> {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(state_dir)
            .map_err(|source| IdentityError::CreateDir {
                path: state_dir.to_path_buf(),
                source,
            })?;
        let path = Self::file_path(state_dir);
        match fs::read(&path) {
            Ok(bytes) => match parse(&bytes) {
                Ok(identity) => {
                    tighten_permissions(&path);
                    tracing::debug!(device_id = %identity.device_id_string(), "loaded identity");
                    return Ok(identity);
                }
                Err(reason) => move_aside(&path, &reason)?,
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(IdentityError::Read { path, source }),
        }
        let identity = Self::generate(rng);
        identity.store(state_dir)?;
        tracing::info!(device_id = %identity.device_id_string(), path = %path.display(), "created a new identity");
        Ok(identity)
    }

    /// Where the identity of `state_dir` lives.
    pub fn file_path(state_dir: &Path) -> PathBuf {
        state_dir.join(IDENTITY_FILE)
    }

    /// Writes the identity atomically: a 0600 temporary file, synced, renamed over the old.
    pub fn store(&self, state_dir: &Path) -> Result<(), IdentityError> {
        let path = Self::file_path(state_dir);
        let temp = with_suffix(&path, TEMP_SUFFIX);
        let write_err = |source| IdentityError::Write {
            path: path.clone(),
            source,
        };
        // A leftover from a crash may have other permissions; never reuse it.
        match fs::remove_file(&temp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(write_err(e)),
            _ => {}
        }
        let stored = StoredIdentity {
            version: FORMAT_VERSION,
            device_id: self.device_id_string(),
            ed25519_seed: hex::encode(self.signing_key.to_bytes()),
        };
        let mut text = serde_json::to_vec_pretty(&stored).map_err(|e| write_err(e.into()))?;
        text.push(b'\n');
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&temp)
            .map_err(write_err)?;
        file.write_all(&text).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        drop(file);
        fs::rename(&temp, &path).map_err(write_err)?;
        File::open(state_dir)
            .and_then(|dir| dir.sync_all())
            .map_err(write_err)
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    /// The raw Ed25519 public key (`pk` in /info and the TXT records, the pair-setup reply).
    pub fn public_key(&self) -> [u8; 32] {
        self.signing_key.verifying_key().to_bytes()
    }

    pub fn device_id(&self) -> [u8; 6] {
        self.device_id
    }

    /// `aa:bb:cc:dd:ee:ff`, lower case (the `deviceid` TXT value and /info field).
    pub fn device_id_string(&self) -> String {
        let parts: Vec<String> = self.device_id.iter().map(|b| format!("{b:02x}")).collect();
        parts.join(":")
    }

    /// `AABBCCDDEEFF`, upper case without separators (the `_raop._tcp` instance-name prefix).
    pub fn device_id_compact(&self) -> String {
        hex::encode_upper(self.device_id)
    }
}

/// Parses the file; the error is a human-readable reason for the warning.
fn parse(bytes: &[u8]) -> Result<Identity, String> {
    let stored: StoredIdentity = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if stored.version != FORMAT_VERSION {
        return Err(format!("unknown version {}", stored.version));
    }
    let seed: [u8; 32] = hex::decode(&stored.ed25519_seed)
        .map_err(|e| format!("ed25519_seed: {e}"))?
        .try_into()
        .map_err(|v: Vec<u8>| format!("ed25519_seed has {} bytes, want 32", v.len()))?;
    let device_id = parse_device_id(&stored.device_id)
        .ok_or_else(|| format!("device_id {:?} is not aa:bb:cc:dd:ee:ff", stored.device_id))?;
    Ok(Identity::from_parts(seed, device_id))
}

/// Reads `aa:bb:cc:dd:ee:ff` (either case).
fn parse_device_id(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for byte in out.iter_mut() {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn move_aside(path: &Path, reason: &str) -> Result<(), IdentityError> {
    let aside = with_suffix(path, CORRUPT_SUFFIX);
    tracing::warn!(
        path = %path.display(),
        moved_to = %aside.display(),
        %reason,
        "identity file is corrupt; making a new identity (paired phones must pair again)"
    );
    fs::rename(path, &aside).map_err(|source| IdentityError::MoveAside {
        path: path.to_path_buf(),
        source,
    })
}

/// A readable-by-others key file is fixed to 0600 (with a warning) rather than refused.
fn tighten_permissions(path: &Path) {
    let Ok(meta) = fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode();
    if mode & GROUP_OTHER_BITS == 0 {
        return;
    }
    tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "identity file was readable by others; setting 0600");
    if let Err(e) = fs::set_permissions(path, fs::Permissions::from_mode(FILE_MODE)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot restrict identity file permissions");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_text_forms() {
        let id = Identity::from_parts([7; 32], [0x02, 0xAB, 0xcd, 0x0e, 0xf0, 0x01]);
        assert_eq!(id.device_id_string(), "02:ab:cd:0e:f0:01");
        assert_eq!(id.device_id_compact(), "02ABCD0EF001");
        assert_eq!(parse_device_id("02:AB:cd:0e:f0:01"), Some(id.device_id()));
        for bad in [
            "02:ab:cd:0e:f0",
            "02:ab:cd:0e:f0:01:02",
            "02:ab:cd:0e:f0:1",
            "02:ab:cd:0e:f0:zz",
            "",
        ] {
            assert_eq!(parse_device_id(bad), None, "{bad}");
        }
    }
}
