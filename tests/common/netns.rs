//! Running a test inside a private network namespace: only `lo` exists and carries
//! multicast, so mDNS works and nothing reaches the real LAN (needs root and `unshare`, as on
//! the build machine and in CI). The test binary re-executes itself inside the namespace;
//! the environment variable `AIRGLASS_NETNS_INNER` marks the inner run.

use std::process::Command;

const INNER_ENV: &str = "AIRGLASS_NETNS_INNER";
const NETNS_SCRIPT: &str = "ip link set lo up && ip link set lo multicast on && \
                            ip route add 224.0.0.0/4 dev lo && exec \"$0\" \"$@\"";

/// Returns true in the inner (isolated) run. In the outer run, runs `test_name` inside a
/// new network namespace, asserts it passed, and returns false.
pub fn isolated(test_name: &str) -> bool {
    if std::env::var_os(INNER_ENV).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let output = Command::new("unshare")
        .args(["-n", "sh", "-c", NETNS_SCRIPT])
        .arg(exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER_ENV, "1")
        .output()
        .expect("`unshare` must be runnable (util-linux, as root)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "isolated run of {test_name} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    false
}
