//! mDNS / DNS-SD advertisement of the receiver (PROTOCOL §1).
//!
//! Owns: registering `_airplay._tcp` (instance = name) and `_raop._tcp` (instance =
//! `DEVICEID@name`) on the control port with the TXT values from `proto::records`, renaming
//! both to `Name (2)`, `Name (3)`, … when another device holds the name (the device id stays
//! the same), and withdrawing them with goodbye packets. The [`Advertiser`] trait keeps the
//! backend replaceable (an avahi backend can join later).
//!
//! Must not touch: the control port itself, key material, or what the TXT values are (they
//! come from `proto::records` only). Loopback interfaces are off unless a test asks.
//!
//! The mdns-sd daemon runs its own thread; [`MdnsAdvertiser`] adds one small watcher thread
//! that turns the daemon's name-conflict events into a consistent rename of both services.
//! Calls block only briefly (`withdraw` waits for the daemon, bounded by a timeout); async
//! callers should use `spawn_blocking`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mdns_sd::{
    DaemonEvent, IfKind, Receiver, RecvTimeoutError, ServiceDaemon, ServiceInfo, UnregisterStatus,
};
use tracing::{debug, info, warn};

use crate::proto::records::{self, DeviceInfo, MAX_NAME_BYTES};

/// The AirPlay service type.
pub const AIRPLAY_SERVICE: &str = "_airplay._tcp.local.";
/// The RAOP (AirTunes audio) service type.
pub const RAOP_SERVICE: &str = "_raop._tcp.local.";

/// How often the watcher thread checks whether it should stop.
const WATCH_POLL: Duration = Duration::from_millis(200);
/// mdns-sd repeats a goodbye 120 ms after the first; wait that long before shutting down.
const GOODBYE_REPEAT: Duration = Duration::from_millis(150);

/// What to advertise: the identity and the TCP port of the control server.
#[derive(Debug, Clone, PartialEq)]
pub struct Advertisement {
    pub info: DeviceInfo,
    pub port: u16,
}

/// Errors from discovery backends.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("mDNS daemon error: {0}")]
    Daemon(#[from] mdns_sd::Error),
    #[error("timed out after {0:?} waiting for the mDNS daemon to {1}")]
    Timeout(Duration, &'static str),
    #[error("the mDNS daemon stopped")]
    DaemonGone,
    #[error("could not start the mDNS watcher thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// A way of announcing the receiver on the network.
pub trait Advertiser {
    /// Starts advertising `ad` (replacing anything published before).
    fn publish(&mut self, ad: &Advertisement) -> Result<(), DiscoveryError>;
    /// Stops advertising, telling peers the services are gone.
    fn withdraw(&mut self) -> Result<(), DiscoveryError>;
    /// The name currently advertised, which differs from the configured one after a clash.
    fn current_name(&self) -> Option<String> {
        None
    }
}

/// Settings for [`MdnsAdvertiser`].
#[derive(Debug, Clone)]
pub struct MdnsOptions {
    /// Host name for our A/AAAA records (must end in `.local.`). `None` derives
    /// `<sanitized-name>-airglass.local.` so we never fight the system's avahi over its name.
    pub host_name: Option<String>,
    /// Also advertise on loopback interfaces. Tests only; the product keeps this off.
    pub include_loopback: bool,
    /// Bound on how long [`Advertiser::withdraw`] waits for the daemon.
    pub withdraw_timeout: Duration,
}

impl Default for MdnsOptions {
    fn default() -> Self {
        MdnsOptions {
            host_name: None,
            include_loopback: false,
            withdraw_timeout: Duration::from_secs(2),
        }
    }
}

/// What is registered right now.
struct Published {
    /// The advertisement as published; `ad.info.name` is the name in use.
    ad: Advertisement,
    /// The configured name that renames are numbered from.
    base_name: String,
    /// 1 for the configured name, 2 for `Name (2)`, …
    attempt: u32,
    host_name: String,
    airplay_fullname: String,
    raop_fullname: String,
}

/// State shared with the watcher thread.
struct Shared {
    published: Mutex<Option<Published>>,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Option<Published>> {
        // A panic elsewhere while holding the lock leaves plain data behind; keep going.
        self.published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The mdns-sd backend.
pub struct MdnsAdvertiser {
    daemon: ServiceDaemon,
    shared: Arc<Shared>,
    watcher: Option<JoinHandle<()>>,
    options: MdnsOptions,
}

impl MdnsAdvertiser {
    /// Starts an mDNS daemon (binding UDP 5353 with address reuse, so it coexists with avahi)
    /// and the watcher thread. Nothing is advertised until [`Advertiser::publish`].
    pub fn new(options: MdnsOptions) -> Result<Self, DiscoveryError> {
        let daemon = ServiceDaemon::new()?;
        if options.include_loopback {
            daemon.enable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])?;
        }
        let events = daemon.monitor()?;
        let shared = Arc::new(Shared {
            published: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let watcher = {
            let daemon = daemon.clone();
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("mdns-watch".to_owned())
                .spawn(move || watch(&daemon, &shared, &events))
                .map_err(DiscoveryError::Thread)?
        };
        Ok(MdnsAdvertiser {
            daemon,
            shared,
            watcher: Some(watcher),
            options,
        })
    }

    /// The advertisement as currently published (with the name in use), if any.
    pub fn published(&self) -> Option<Advertisement> {
        self.shared.lock().as_ref().map(|p| p.ad.clone())
    }
}

impl Advertiser for MdnsAdvertiser {
    fn publish(&mut self, ad: &Advertisement) -> Result<(), DiscoveryError> {
        self.withdraw()?;
        let base_name = records::clean_name(&ad.info.name);
        let host_name = match &self.options.host_name {
            Some(host) => host.clone(),
            None => default_host_name(&base_name),
        };
        let mut ad = ad.clone();
        ad.info.name = base_name.clone();
        let (airplay_fullname, raop_fullname) = register(&self.daemon, &ad, &host_name)?;
        info!(
            name = %ad.info.name,
            port = ad.port,
            host = %host_name,
            "advertising {AIRPLAY_SERVICE} and {RAOP_SERVICE}"
        );
        *self.shared.lock() = Some(Published {
            ad,
            base_name,
            attempt: 1,
            host_name,
            airplay_fullname,
            raop_fullname,
        });
        Ok(())
    }

    fn withdraw(&mut self) -> Result<(), DiscoveryError> {
        let Some(published) = self.shared.lock().take() else {
            return Ok(());
        };
        let deadline = Instant::now() + self.options.withdraw_timeout;
        let pending = [
            self.daemon.unregister(&published.airplay_fullname)?,
            self.daemon.unregister(&published.raop_fullname)?,
        ];
        for (receiver, fullname) in pending
            .iter()
            .zip([&published.airplay_fullname, &published.raop_fullname])
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok(UnregisterStatus::OK) => debug!(%fullname, "withdrawn"),
                Ok(UnregisterStatus::NotFound) => debug!(%fullname, "was not registered"),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(DiscoveryError::Timeout(
                        self.options.withdraw_timeout,
                        "withdraw",
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(DiscoveryError::DaemonGone);
                }
            }
        }
        info!(name = %published.ad.info.name, "stopped advertising");
        Ok(())
    }

    fn current_name(&self) -> Option<String> {
        self.shared.lock().as_ref().map(|p| p.ad.info.name.clone())
    }
}

impl Drop for MdnsAdvertiser {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let was_published = self.shared.lock().is_some();
        if let Err(e) = self.withdraw() {
            warn!("withdrawing mDNS services on drop: {e}");
        }
        if was_published {
            // Let the daemon repeat the goodbye before it exits.
            std::thread::sleep(GOODBYE_REPEAT);
        }
        match self.daemon.shutdown() {
            Ok(status) => {
                let _ = status.recv_timeout(self.options.withdraw_timeout);
            }
            Err(e) => debug!("mDNS daemon shutdown: {e}"),
        }
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
    }
}

/// Registers both services for `ad`; returns their full names (airplay, raop).
fn register(
    daemon: &ServiceDaemon,
    ad: &Advertisement,
    host_name: &str,
) -> Result<(String, String), DiscoveryError> {
    let airplay = ServiceInfo::new(
        AIRPLAY_SERVICE,
        &ad.info.name,
        host_name,
        (),
        ad.port,
        &records::airplay_txt(&ad.info)[..],
    )?
    .enable_addr_auto();
    let raop = ServiceInfo::new(
        RAOP_SERVICE,
        &records::raop_instance_name(&ad.info),
        host_name,
        (),
        ad.port,
        &records::raop_txt(&ad.info)[..],
    )?
    .enable_addr_auto();
    let names = (
        airplay.get_fullname().to_owned(),
        raop.get_fullname().to_owned(),
    );
    daemon.register(airplay)?;
    daemon.register(raop)?;
    Ok(names)
}

/// The watcher thread: reacts to name conflicts until told to stop.
fn watch(daemon: &ServiceDaemon, shared: &Shared, events: &Receiver<DaemonEvent>) {
    while !shared.stop.load(Ordering::Relaxed) {
        match events.recv_timeout(WATCH_POLL) {
            Ok(DaemonEvent::NameChange(change)) => {
                debug!(?change, "mDNS name change");
                rename_after_conflict(daemon, shared, &change.original);
            }
            Ok(DaemonEvent::Error(e)) => warn!("mDNS daemon: {e}"),
            Ok(other) => debug!(?other, "mDNS event"),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
}

/// One of our names is taken on the network: move both services to the next free-looking
/// name, `Name (n)`, keeping the device id. Events about names that are no longer ours
/// (e.g. the second event of a pair, or host-name records) are ignored.
fn rename_after_conflict(daemon: &ServiceDaemon, shared: &Shared, original: &str) {
    let mut guard = shared.lock();
    let Some(published) = guard.as_mut() else {
        return;
    };
    let ours = original.eq_ignore_ascii_case(&published.airplay_fullname)
        || original.eq_ignore_ascii_case(&published.raop_fullname);
    if !ours {
        return;
    }
    let attempt = published.attempt + 1;
    let new_name = numbered_name(&published.base_name, attempt);
    warn!(
        taken = %published.ad.info.name,
        new = %new_name,
        "mDNS name already in use on the network; renaming"
    );
    for fullname in [&published.airplay_fullname, &published.raop_fullname] {
        if let Err(e) = daemon.unregister(fullname) {
            warn!(%fullname, "unregistering after a name conflict: {e}");
        }
    }
    let mut ad = published.ad.clone();
    ad.info.name = new_name;
    match register(daemon, &ad, &published.host_name) {
        Ok((airplay_fullname, raop_fullname)) => {
            published.ad = ad;
            published.attempt = attempt;
            published.airplay_fullname = airplay_fullname;
            published.raop_fullname = raop_fullname;
        }
        Err(e) => {
            warn!("re-registering under a new name failed: {e}");
            *guard = None;
        }
    }
}

/// `base` for attempt 1, else `base (n)`, with `base` cut so the whole stays within
/// [`MAX_NAME_BYTES`].
pub fn numbered_name(base: &str, attempt: u32) -> String {
    if attempt <= 1 {
        return records::truncate_on_char_boundary(base, MAX_NAME_BYTES).to_owned();
    }
    let suffix = format!(" ({attempt})");
    let room = MAX_NAME_BYTES.saturating_sub(suffix.len());
    let stem = records::truncate_on_char_boundary(base, room).trim_end();
    format!("{stem}{suffix}")
}

/// `<sanitized-name>-airglass.local.`: lower-case ASCII letters and digits, every other run
/// of characters becomes one `-`, within one 63-byte DNS label.
pub fn default_host_name(name: &str) -> String {
    const SUFFIX: &str = "-airglass";
    let mut label = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            label.push(c.to_ascii_lowercase());
        } else if !label.is_empty() && !label.ends_with('-') {
            label.push('-');
        }
    }
    label.truncate(63 - SUFFIX.len());
    let label = label.trim_end_matches('-');
    if label.is_empty() {
        "airglass.local.".to_owned()
    } else {
        format!("{label}{SUFFIX}.local.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names_follow_dns_sd_convention() {
        assert_eq!(numbered_name("Living Room", 1), "Living Room");
        assert_eq!(numbered_name("Living Room", 2), "Living Room (2)");
        assert_eq!(numbered_name("Living Room", 12), "Living Room (12)");
        let long = "x".repeat(MAX_NAME_BYTES);
        let renamed = numbered_name(&long, 2);
        assert_eq!(renamed.len(), MAX_NAME_BYTES);
        assert!(renamed.ends_with("x (2)"));
        let wide = "ü".repeat(MAX_NAME_BYTES / 2);
        assert!(numbered_name(&wide, 3).len() <= MAX_NAME_BYTES);
    }

    #[test]
    fn host_names_are_one_safe_label() {
        assert_eq!(
            default_host_name("Living Room TV"),
            "living-room-tv-airglass.local."
        );
        assert_eq!(
            default_host_name("UxPlay@my.host"),
            "uxplay-my-host-airglass.local."
        );
        assert_eq!(default_host_name("--Küche!!"), "k-che-airglass.local.");
        assert_eq!(default_host_name("日本"), "airglass.local.");
        let long = default_host_name(&"a".repeat(200));
        let label = long.trim_end_matches(".local.");
        assert_eq!(label.len(), 63);
        assert!(label.ends_with("-airglass"));
    }
}
