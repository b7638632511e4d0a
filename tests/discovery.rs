//! Integration tests for `discovery`: the real mdns-sd advertiser seen by a real mdns-sd
//! browser on an isolated loopback-only network.
//!
//! Each test re-executes this test binary inside a fresh network namespace
//! (`common::netns`), where only `lo` exists and carries multicast; nothing reaches the real
//! LAN and parallel tests cannot see each other.

use std::time::{Duration, Instant};

use airglass::discovery::{
    AIRPLAY_SERVICE, Advertisement, Advertiser, MdnsAdvertiser, MdnsOptions, RAOP_SERVICE,
};
use airglass::proto::records::{self, DeviceInfo};
use mdns_sd::{IfKind, Receiver, ResolvedService, ServiceDaemon, ServiceEvent};

mod common;
use common::netns::isolated;

const WAIT: Duration = Duration::from_secs(10);

fn new_browser() -> ServiceDaemon {
    let daemon = ServiceDaemon::new().expect("browser daemon");
    daemon
        .enable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])
        .expect("enable loopback");
    daemon
}

fn advertiser() -> MdnsAdvertiser {
    MdnsAdvertiser::new(MdnsOptions {
        include_loopback: true,
        ..MdnsOptions::default()
    })
    .expect("advertiser daemon")
}

fn device(name: &str, last_byte: u8) -> DeviceInfo {
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7) ^ last_byte;
    }
    DeviceInfo::new(name, [0x02, 0x11, 0x22, 0x33, 0x44, last_byte], key)
}

/// Waits for a resolution of `fullname` that satisfies `accept`.
fn wait_resolved(
    events: &Receiver<ServiceEvent>,
    fullname: &str,
    accept: impl Fn(&ResolvedService) -> bool,
) -> ResolvedService {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(ServiceEvent::ServiceResolved(service))
                if service.fullname.eq_ignore_ascii_case(fullname) && accept(&service) =>
            {
                return *service;
            }
            Ok(_) => {}
            Err(e) => panic!("no resolution of {fullname} within {WAIT:?}: {e}"),
        }
    }
}

fn wait_removed(events: &Receiver<ServiceEvent>, fullname: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(ServiceEvent::ServiceRemoved(_, name)) if name.eq_ignore_ascii_case(fullname) => {
                return;
            }
            Ok(_) => {}
            Err(e) => panic!("{fullname} not removed within {WAIT:?}: {e}"),
        }
    }
}

fn txt_of(service: &ResolvedService) -> Vec<(String, String)> {
    service
        .txt_properties
        .iter()
        .map(|p| (p.key().to_owned(), p.val_str().to_owned()))
        .collect()
}

fn has_loopback_v4(service: &ResolvedService) -> bool {
    service.get_addresses_v4().iter().any(|a| a.is_loopback())
}

#[test]
fn publishes_both_services_and_withdraws() {
    if !isolated("publishes_both_services_and_withdraws") {
        return;
    }
    let browser = new_browser();
    let airplay_events = browser.browse(AIRPLAY_SERVICE).expect("browse airplay");
    let raop_events = browser.browse(RAOP_SERVICE).expect("browse raop");

    let info = device("Airglass Test", 0x55);
    let mut advertiser = advertiser();
    let ad = Advertisement {
        info: info.clone(),
        port: 7000,
    };
    advertiser.publish(&ad).expect("publish");
    assert_eq!(advertiser.current_name().as_deref(), Some("Airglass Test"));

    let airplay_name = format!("Airglass Test.{AIRPLAY_SERVICE}");
    let raop_name = format!("021122334455@Airglass Test.{RAOP_SERVICE}");
    let airplay = wait_resolved(&airplay_events, &airplay_name, has_loopback_v4);
    let raop = wait_resolved(&raop_events, &raop_name, has_loopback_v4);

    assert_eq!(airplay.port, 7000);
    assert_eq!(raop.port, 7000);
    assert_eq!(airplay.host, "airglass-test-airglass.local.");
    assert_eq!(txt_of(&airplay), records::airplay_txt(&info));
    assert_eq!(txt_of(&raop), records::raop_txt(&info));
    // The TXT bytes on the wire are what /info returns as txtAirPlay / txtRAOP.
    assert_eq!(
        records::encode_txt(&txt_of(&airplay)),
        records::encode_txt(&records::airplay_txt(&info))
    );

    advertiser.withdraw().expect("withdraw");
    assert_eq!(advertiser.current_name(), None);
    wait_removed(&airplay_events, &airplay_name);
    wait_removed(&raop_events, &raop_name);
}

#[test]
fn second_advertiser_with_the_same_name_is_renamed() {
    if !isolated("second_advertiser_with_the_same_name_is_renamed") {
        return;
    }
    let browser = new_browser();
    let airplay_events = browser.browse(AIRPLAY_SERVICE).expect("browse airplay");
    let raop_events = browser.browse(RAOP_SERVICE).expect("browse raop");

    let first_info = device("Clash TV", 0x01);
    let mut first = advertiser();
    first
        .publish(&Advertisement {
            info: first_info.clone(),
            port: 7000,
        })
        .expect("publish first");
    let taken = format!("Clash TV.{AIRPLAY_SERVICE}");
    wait_resolved(&airplay_events, &taken, |s| s.port == 7000);

    let second_info = device("Clash TV", 0x02);
    let mut second = advertiser();
    second
        .publish(&Advertisement {
            info: second_info.clone(),
            port: 7001,
        })
        .expect("publish second");

    let renamed = format!("Clash TV (2).{AIRPLAY_SERVICE}");
    let airplay = wait_resolved(&airplay_events, &renamed, |s| s.port == 7001);
    assert_eq!(
        airplay.get_property_val_str("deviceid"),
        Some("02:11:22:33:44:02")
    );
    // The RAOP instance follows the new name and keeps the device id.
    let raop_renamed = format!("021122334402@Clash TV (2).{RAOP_SERVICE}");
    let raop = wait_resolved(&raop_events, &raop_renamed, |s| s.port == 7001);
    let mut renamed_info = second_info.clone();
    renamed_info.name = "Clash TV (2)".to_owned();
    assert_eq!(txt_of(&raop), records::raop_txt(&renamed_info));

    assert_eq!(second.current_name().as_deref(), Some("Clash TV (2)"));
    assert_eq!(first.current_name().as_deref(), Some("Clash TV"));
    // The first advertiser still answers for the original name (a fresh browser, so no
    // cached answers, sees it with the first device's id).
    let late_browser = new_browser();
    let late_events = late_browser.browse(AIRPLAY_SERVICE).expect("browse again");
    let original = wait_resolved(&late_events, &taken, |s| s.port == 7000);
    assert_eq!(
        original.get_property_val_str("deviceid"),
        Some("02:11:22:33:44:01")
    );
    assert_eq!(
        second.published().map(|ad| ad.info.device_id),
        Some(second_info.device_id)
    );
}
