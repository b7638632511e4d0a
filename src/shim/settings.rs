//! The shim's configuration, read from the environment.
//!
//! Owns: which program to supervise, the state directory and status file paths,
//! the lock path and bound, the policy's timing knobs, and the environment the
//! receiver is started with (defaults for `AIRGLASS_STATE_DIR` and `AIRGLASS_NAME`;
//! empty `AIRGLASS_*` values dropped so the receiver's own defaults apply).
//!
//! Must not touch: the receiver's flags themselves (every `AIRGLASS_*` variable
//! passes through untouched) or anything at run time; reading goes through a lookup
//! function so tests need not change the process environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::lock::DEFAULT_LOCK_PATH;
use super::policy::PolicyConfig;
use super::supervisor_api;

/// The state directory when `AIRGLASS_STATE_DIR` is not set: under balena's `/data`.
pub const DEFAULT_STATE_DIR: &str = "/data/airglass";
/// Name of the status file inside the state directory.
pub const STATUS_FILE_NAME: &str = "status.json";
/// How long to wait for the Supervisor API when asking for the device name.
pub const SUPERVISOR_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{name}={value:?} is not a whole number")]
    NotANumber { name: &'static str, value: String },
}

/// Everything the shim needs to know, resolved once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimSettings {
    /// The receiver program (`AIRGLASS_SHIM_CHILD`, else `airglass` beside the shim,
    /// else `airglass` found on PATH).
    pub child_program: PathBuf,
    pub state_dir: PathBuf,
    /// The state directory came from the default, so the receiver must be told.
    pub state_dir_defaulted: bool,
    pub status_file: PathBuf,
    pub lock_path: PathBuf,
    /// How often the status file is read.
    pub poll_interval: Duration,
    pub policy: PolicyConfig,
}

impl ShimSettings {
    /// Read the settings through `lookup` (normally `std::env::var`); `own_exe` is the
    /// shim's own path, used to find `airglass` beside it.
    pub fn from_lookup(
        lookup: &dyn Fn(&str) -> Option<String>,
        own_exe: Option<&Path>,
    ) -> Result<ShimSettings, SettingsError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let child_program = match get("AIRGLASS_SHIM_CHILD") {
            Some(program) => PathBuf::from(program),
            None => own_exe
                .and_then(Path::parent)
                .map(|dir| dir.join("airglass"))
                .filter(|candidate| candidate.is_file())
                .unwrap_or_else(|| PathBuf::from("airglass")),
        };
        let state_dir_defaulted = get("AIRGLASS_STATE_DIR").is_none();
        let state_dir =
            PathBuf::from(get("AIRGLASS_STATE_DIR").unwrap_or_else(|| DEFAULT_STATE_DIR.into()));
        let status_file = get("AIRGLASS_STATUS_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| state_dir.join(STATUS_FILE_NAME));
        let lock_path =
            PathBuf::from(get("BALENA_APP_LOCK_PATH").unwrap_or_else(|| DEFAULT_LOCK_PATH.into()));

        let defaults = PolicyConfig::default();
        let millis = |name: &'static str, default: Duration| -> Result<Duration, SettingsError> {
            number(&get, name).map(|v| v.map_or(default, Duration::from_millis))
        };
        let watchdog = match number(&get, "AIRGLASS_SHIM_WATCHDOG_MS")? {
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
            None => defaults.watchdog,
        };
        let policy = PolicyConfig {
            backoff_initial: millis("AIRGLASS_SHIM_BACKOFF_MS", defaults.backoff_initial)?,
            backoff_max: millis("AIRGLASS_SHIM_BACKOFF_MAX_MS", defaults.backoff_max)?,
            healthy_run: millis("AIRGLASS_SHIM_HEALTHY_MS", defaults.healthy_run)?,
            stop_grace: millis("AIRGLASS_SHIM_STOP_GRACE_MS", defaults.stop_grace)?,
            max_lock: number(&get, "AIRGLASS_MAX_LOCK_SECONDS")?
                .map_or(defaults.max_lock, Duration::from_secs),
            watchdog,
            startup_grace: millis("AIRGLASS_SHIM_STARTUP_GRACE_MS", defaults.startup_grace)?,
            health: defaults.health,
        };
        Ok(ShimSettings {
            child_program,
            state_dir,
            state_dir_defaulted,
            status_file,
            lock_path,
            poll_interval: millis("AIRGLASS_SHIM_POLL_MS", Duration::from_millis(500))?,
            policy,
        })
    }

    /// Read the settings from the process environment.
    pub fn from_env() -> Result<ShimSettings, SettingsError> {
        let exe = std::env::current_exe().ok();
        ShimSettings::from_lookup(&|name| std::env::var(name).ok(), exe.as_deref())
    }
}

fn number(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<u64>, SettingsError> {
    match get(name) {
        None => Ok(None),
        Some(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| SettingsError::NotANumber { name, value }),
    }
}

/// Where the receiver's name came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameSource {
    /// `AIRGLASS_NAME` was set; nothing to add.
    Configured,
    SupervisorApi(String),
    NameAtInit(String),
    HostName(String),
    /// Nothing found; the receiver's own default applies.
    None,
}

impl NameSource {
    pub fn name(&self) -> Option<&str> {
        match self {
            NameSource::SupervisorApi(n) | NameSource::NameAtInit(n) | NameSource::HostName(n) => {
                Some(n)
            }
            NameSource::Configured | NameSource::None => None,
        }
    }
}

/// Choose the receiver's name when `AIRGLASS_NAME` is unset: the balena device name
/// from the Supervisor API, else `BALENA_DEVICE_NAME_AT_INIT`, else the host name.
/// Failures are returned as notes for the log.
pub fn resolve_name(
    lookup: &dyn Fn(&str) -> Option<String>,
    host_name: &dyn Fn() -> Option<String>,
) -> (NameSource, Vec<String>) {
    let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let mut notes = Vec::new();
    if get("AIRGLASS_NAME").is_some() {
        return (NameSource::Configured, notes);
    }
    if let (Some(address), Some(key)) = (
        get("BALENA_SUPERVISOR_ADDRESS"),
        get("BALENA_SUPERVISOR_API_KEY"),
    ) {
        match supervisor_api::device_name(&address, &key, SUPERVISOR_TIMEOUT) {
            Ok(name) => return (NameSource::SupervisorApi(name), notes),
            Err(error) => notes.push(format!("device name from the supervisor API: {error}")),
        }
    }
    if let Some(name) = get("BALENA_DEVICE_NAME_AT_INIT") {
        return (NameSource::NameAtInit(name.trim().to_string()), notes);
    }
    match host_name() {
        Some(name) if !name.trim().is_empty() => {
            (NameSource::HostName(name.trim().to_string()), notes)
        }
        _ => (NameSource::None, notes),
    }
}

/// The host name from the kernel, if it has one.
pub fn kernel_host_name() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is writable for its full length, which is passed.
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if rc != 0 {
        return None;
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8(buffer.get(..end)?.to_vec()).ok()
}

/// The environment changes for the receiver: variables to set and to remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildEnvironment {
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
}

/// Compute the receiver's environment changes from the shim's environment `vars`.
pub fn child_environment(
    vars: &[(String, String)],
    settings: &ShimSettings,
    name: &NameSource,
) -> ChildEnvironment {
    let mut env = ChildEnvironment::default();
    // An empty AIRGLASS_* value (as a blank balena variable) means "use the default".
    for (key, value) in vars {
        if key.starts_with("AIRGLASS_") && value.trim().is_empty() {
            env.remove.push(key.clone());
        }
    }
    if settings.state_dir_defaulted {
        env.set.push((
            "AIRGLASS_STATE_DIR".to_string(),
            settings.state_dir.display().to_string(),
        ));
    }
    if let Some(name) = name.name() {
        env.set
            .push(("AIRGLASS_NAME".to_string(), name.to_string()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup_from(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn container_defaults_apply_when_nothing_is_set() {
        let settings = ShimSettings::from_lookup(&lookup_from(&[]), None).expect("settings");
        assert_eq!(settings.child_program, PathBuf::from("airglass"));
        assert_eq!(settings.state_dir, PathBuf::from("/data/airglass"));
        assert!(settings.state_dir_defaulted);
        assert_eq!(
            settings.status_file,
            PathBuf::from("/data/airglass/status.json")
        );
        assert_eq!(
            settings.lock_path,
            PathBuf::from("/tmp/balena/updates.lock")
        );
        assert_eq!(settings.policy, PolicyConfig::default());
        assert_eq!(settings.policy.max_lock, Duration::from_secs(4 * 3600));
    }

    #[test]
    fn the_environment_overrides_every_default() {
        let lookup = lookup_from(&[
            ("AIRGLASS_SHIM_CHILD", "/opt/fake"),
            ("AIRGLASS_STATE_DIR", "/var/lib/x"),
            ("AIRGLASS_STATUS_FILE", "/run/x.json"),
            ("BALENA_APP_LOCK_PATH", "/tmp/l"),
            ("AIRGLASS_MAX_LOCK_SECONDS", "60"),
            ("AIRGLASS_SHIM_BACKOFF_MS", "5"),
            ("AIRGLASS_SHIM_BACKOFF_MAX_MS", "50"),
            ("AIRGLASS_SHIM_WATCHDOG_MS", "0"),
            ("AIRGLASS_SHIM_POLL_MS", " 20 "),
        ]);
        let settings = ShimSettings::from_lookup(&lookup, None).expect("settings");
        assert_eq!(settings.child_program, PathBuf::from("/opt/fake"));
        assert_eq!(settings.state_dir, PathBuf::from("/var/lib/x"));
        assert!(!settings.state_dir_defaulted);
        assert_eq!(settings.status_file, PathBuf::from("/run/x.json"));
        assert_eq!(settings.lock_path, PathBuf::from("/tmp/l"));
        assert_eq!(settings.policy.max_lock, Duration::from_secs(60));
        assert_eq!(settings.policy.backoff_initial, Duration::from_millis(5));
        assert_eq!(settings.policy.backoff_max, Duration::from_millis(50));
        assert_eq!(settings.policy.watchdog, None);
        assert_eq!(settings.poll_interval, Duration::from_millis(20));
    }

    #[test]
    fn rejects_numbers_that_are_not() {
        let lookup = lookup_from(&[("AIRGLASS_MAX_LOCK_SECONDS", "4h")]);
        assert!(matches!(
            ShimSettings::from_lookup(&lookup, None),
            Err(SettingsError::NotANumber {
                name: "AIRGLASS_MAX_LOCK_SECONDS",
                ..
            })
        ));
    }

    #[test]
    fn finds_airglass_beside_the_shim() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shim = dir.path().join("airglass-shim");
        std::fs::write(dir.path().join("airglass"), b"").expect("write");
        let settings = ShimSettings::from_lookup(&lookup_from(&[]), Some(&shim)).expect("settings");
        assert_eq!(settings.child_program, dir.path().join("airglass"));
    }

    #[test]
    fn the_child_environment_fills_defaults_and_drops_blanks() {
        let settings = ShimSettings::from_lookup(&lookup_from(&[]), None).expect("settings");
        let vars = vec![
            ("AIRGLASS_PAIRING".to_string(), "".to_string()),
            ("AIRGLASS_PORT".to_string(), "7000".to_string()),
            ("OTHER".to_string(), "".to_string()),
        ];
        let env = child_environment(&vars, &settings, &NameSource::HostName("pi".into()));
        assert_eq!(env.remove, vec!["AIRGLASS_PAIRING".to_string()]);
        assert_eq!(
            env.set,
            vec![
                (
                    "AIRGLASS_STATE_DIR".to_string(),
                    "/data/airglass".to_string()
                ),
                ("AIRGLASS_NAME".to_string(), "pi".to_string()),
            ]
        );
        let configured = child_environment(&[], &settings, &NameSource::Configured);
        assert_eq!(configured.set.len(), 1);
    }

    #[test]
    fn name_resolution_prefers_configured_then_init_then_host() {
        let host = || Some("host-1".to_string());
        let (source, _) = resolve_name(&lookup_from(&[("AIRGLASS_NAME", "TV")]), &host);
        assert_eq!(source, NameSource::Configured);
        let (source, _) = resolve_name(
            &lookup_from(&[("BALENA_DEVICE_NAME_AT_INIT", "init")]),
            &host,
        );
        assert_eq!(source, NameSource::NameAtInit("init".into()));
        let (source, _) = resolve_name(&lookup_from(&[("AIRGLASS_NAME", "  ")]), &host);
        assert_eq!(source, NameSource::HostName("host-1".into()));
        let (source, _) = resolve_name(&lookup_from(&[]), &|| None);
        assert_eq!(source, NameSource::None);
    }
}
