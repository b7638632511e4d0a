//! The fleet packaging checked as data: balena.yml, the compose file, the
//! Dockerfile, the systemd unit, the .deb metadata and the helper scripts.
//! Nothing here builds an image; `packaging/build-image.sh` and
//! `packaging/check-deb.sh` do that (too slow for every test run).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn text<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    let mut at = value;
    for key in path {
        at = at
            .get(*key)
            .unwrap_or_else(|| panic!("missing {}", path.join(".")));
    }
    at.as_str()
        .unwrap_or_else(|| panic!("{} is not text", path.join(".")))
}

/// balena.yml lists variables as one-key maps: `- NAME: value`.
fn variables(list: &Value) -> Vec<(String, Value)> {
    list.as_sequence()
        .expect("a list of variables")
        .iter()
        .map(|entry| {
            let map = entry.as_mapping().expect("a one-key map");
            assert_eq!(map.len(), 1, "one variable per entry: {entry:?}");
            let (key, value) = map.iter().next().expect("one entry");
            (key.as_str().expect("name").to_string(), value.clone())
        })
        .collect()
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("variable value is not a scalar: {other:?}"),
    }
}

#[test]
fn balena_yml_describes_the_fleet() {
    let doc = yaml("balena.yml");
    assert_eq!(text(&doc, &["type"]), "sw.application");
    assert_eq!(text(&doc, &["name"]), "airglass");
    let version = match doc.get("version") {
        Some(v) => scalar(v),
        None => panic!("no version"),
    };
    assert_eq!(
        version,
        env!("CARGO_PKG_VERSION"),
        "balena.yml version follows the crate"
    );
    assert!(text(&doc, &["description"]).contains("AirPlay"));
    let welcome = text(&doc, &["post-provisioning"]);
    for must in [
        "Screen Mirroring",
        "AIRGLASS_NAME",
        "AIRGLASS_PAIRING",
        "update lock",
    ] {
        assert!(
            welcome.contains(must),
            "post-provisioning text lacks {must:?}"
        );
    }

    assert_eq!(
        text(&doc, &["data", "defaultDeviceType"]),
        "raspberrypi4-64"
    );
    let types: BTreeSet<&str> = doc["data"]["supportedDeviceTypes"]
        .as_sequence()
        .expect("device types")
        .iter()
        .map(|v| v.as_str().expect("slug"))
        .collect();
    let wanted: BTreeSet<&str> = [
        "raspberrypi3",
        "raspberrypi3-64",
        "raspberrypi0-2w-64",
        "raspberrypi4-64",
        "raspberrypi5",
        "generic-amd64",
        "genericx86-64-ext",
        "intel-nuc",
    ]
    .into();
    assert_eq!(types, wanted);
}

#[test]
fn balena_yml_offers_every_operator_setting() {
    let doc = yaml("balena.yml");
    let env = variables(&doc["data"]["applicationEnvironmentVariables"]);
    let names: BTreeSet<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    for name in [
        "AIRGLASS_NAME",
        "AIRGLASS_PORT",
        "AIRGLASS_PAIRING",
        "AIRGLASS_LOG",
        "AIRGLASS_VIDEO_SINK",
        "AIRGLASS_VIDEO_DECODER",
        "AIRGLASS_VIDEO_SYNC",
        "AIRGLASS_H265",
        "AIRGLASS_RESOLUTION",
        "AIRGLASS_FPS",
        "AIRGLASS_MAX_LOCK_SECONDS",
    ] {
        assert!(
            names.contains(name),
            "{name} missing from applicationEnvironmentVariables"
        );
    }
    for (name, value) in &env {
        assert!(
            name.starts_with("AIRGLASS_"),
            "{name}: only airglass settings belong here"
        );
        let value = scalar(value);
        let allowed: &[&str] = match name.as_str() {
            "AIRGLASS_VIDEO_SYNC" => &["", "on", "off"],
            "AIRGLASS_H265" => &["", "auto", "on", "off"],
            _ => &[],
        };
        assert!(
            allowed.is_empty() || allowed.contains(&value.as_str()),
            "{name}={value:?}"
        );
        if name == "AIRGLASS_MAX_LOCK_SECONDS" {
            assert!(
                value.parse::<u64>().is_ok_and(|s| s > 0),
                "{name}={value:?}"
            );
        }
    }
    // The state directory is the image's business, not the operator's.
    assert!(!names.contains("AIRGLASS_STATE_DIR"));
}

#[test]
fn balena_yml_keeps_full_kms_with_enough_cma() {
    let doc = yaml("balena.yml");
    let config = variables(&doc["data"]["applicationConfigVariables"]);
    for (name, _) in &config {
        assert!(name.starts_with("BALENA_HOST_CONFIG_"), "{name}");
    }
    let get = |name: &str| {
        config
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| scalar(v))
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    // Several overlays are written as a JSON array's insides: "a,p","b".
    let overlays: Vec<String> =
        serde_json::from_str(&format!("[{}]", get("BALENA_HOST_CONFIG_dtoverlay")))
            .expect("dtoverlay is a list of quoted overlays");
    let kms = overlays
        .iter()
        .find(|o| o.split(',').next() == Some("vc4-kms-v3d"))
        .expect("full KMS overlay (not vc4-fkms-v3d)");
    let cma: u32 = kms
        .split(',')
        .find_map(|p| p.strip_prefix("cma-"))
        .and_then(|mb| mb.parse().ok())
        .expect("a cma-<MB> parameter");
    assert!((128..=512).contains(&cma), "cma-{cma}");
    let gpu_mem: u32 = get("BALENA_HOST_CONFIG_gpu_mem")
        .parse()
        .expect("gpu_mem number");
    assert!((64..=256).contains(&gpu_mem), "gpu_mem={gpu_mem}");
    let params: Vec<String> =
        serde_json::from_str(&format!("[{}]", get("BALENA_HOST_CONFIG_dtparam")))
            .expect("dtparam list");
    assert!(
        params.iter().any(|p| p == "audio=on"),
        "analogue/HDMI audio stays on"
    );
}

#[test]
fn the_compose_file_gives_the_receiver_host_network_devices_and_data() {
    let doc = yaml("packaging/docker-compose.yml");
    assert_eq!(scalar(&doc["version"]), "2.4", "balena reads compose 2.x");
    let service = &doc["services"]["airglass"];
    assert!(service.get("build").is_some() || service.get("image").is_some());
    assert_eq!(text(service, &["network_mode"]), "host");
    assert_eq!(text(service, &["restart"]), "always");
    let devices: Vec<&str> = service["devices"]
        .as_sequence()
        .expect("devices")
        .iter()
        .map(|d| d.as_str().expect("device"))
        .collect();
    for node in ["/dev/dri", "/dev/snd"] {
        assert!(
            devices.iter().any(|d| d.split(':').next() == Some(node)),
            "{node}"
        );
    }
    // Video decoder nodes vary per board; privileged reaches whichever exist.
    assert_eq!(service["privileged"].as_bool(), Some(true));
    assert_eq!(
        scalar(&service["labels"]["io.balena.features.supervisor-api"]),
        "1"
    );
    let volumes: Vec<&str> = service["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .map(|v| v.as_str().expect("volume"))
        .collect();
    let data = volumes
        .iter()
        .find_map(|v| v.strip_suffix(":/data"))
        .expect("a volume on /data");
    assert!(
        doc["volumes"].get(data).is_some(),
        "named volume {data} declared"
    );
    assert_eq!(
        scalar(&service["environment"]["AIRGLASS_STATE_DIR"]),
        "/data/airglass"
    );
    for v3_only in ["deploy", "configs", "secrets"] {
        assert!(
            service.get(v3_only).is_none(),
            "{v3_only} is compose v3 only"
        );
    }
}

/// Dockerfile instructions with continuations joined and comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => pending.push_str(&format!("{} ", part.trim())),
            None => {
                pending.push_str(trimmed);
                let (word, rest) = pending.split_once(' ').unwrap_or((&pending, ""));
                out.push((word.to_uppercase(), rest.trim().to_string()));
                pending.clear();
            }
        }
    }
    out
}

fn apt_packages(run: &str) -> Vec<String> {
    run.split("&&")
        .filter_map(|cmd| cmd.trim().strip_prefix("apt-get install"))
        .flat_map(|args| args.split_whitespace())
        .filter(|w| !w.starts_with('-'))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_dockerfile_builds_in_rust_and_runs_on_slim_debian() {
    let steps = dockerfile();
    let froms: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].0 == "FROM").collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    let before_from = &steps[..froms[0]];
    let arg = |name: &str| {
        before_from
            .iter()
            .find_map(|(w, rest)| (w == "ARG").then(|| rest.strip_prefix(&format!("{name}=")))?)
            .unwrap_or_else(|| panic!("ARG {name}=default before the first FROM"))
    };
    let builder = arg("BUILDER_IMAGE");
    assert!(
        builder.contains("rust:1.9") && builder.ends_with("-bookworm"),
        "{builder}"
    );
    assert!(arg("RUNTIME_IMAGE").ends_with("debian:bookworm-slim"));
    assert!(
        !read("Dockerfile").contains("balenalib/"),
        "balenalib images are frozen"
    );
    assert_eq!(steps[froms[0]].1, "${BUILDER_IMAGE} AS builder");
    assert!(steps[froms[1]].1.starts_with("${RUNTIME_IMAGE}"));

    let build = &steps[froms[0]..froms[1]];
    assert!(
        build
            .iter()
            .any(|(w, r)| w == "RUN" && r.contains("cargo build --release --locked"))
    );

    let runtime = &steps[froms[1]..];
    let packages: BTreeSet<String> = runtime
        .iter()
        .filter(|(w, _)| w == "RUN")
        .flat_map(|(_, r)| apt_packages(r))
        .collect();
    let wanted: BTreeSet<String> = [
        "ca-certificates",
        "gstreamer1.0-plugins-base",
        "gstreamer1.0-plugins-good",
        "gstreamer1.0-plugins-bad",
        "gstreamer1.0-libav",
        "gstreamer1.0-alsa",
    ]
    .map(String::from)
    .into();
    assert_eq!(packages, wanted, "only the GStreamer the receiver uses");
    for (word, rest) in runtime {
        let lower = rest.to_lowercase();
        for compiler in [
            "gcc",
            "g++",
            "clang",
            "cargo ",
            "rustc",
            "build-essential",
            "-dev ",
            "pkg-config",
        ] {
            assert!(
                !(word == "RUN" && lower.contains(compiler)),
                "runtime stage must not install {compiler}: {rest}"
            );
        }
    }
    assert!(
        runtime
            .iter()
            .any(|(w, r)| w == "RUN" && r.contains("--no-install-recommends"))
    );
    assert!(
        runtime
            .iter()
            .any(|(w, r)| w == "COPY" && r.starts_with("--from=builder"))
    );
    let health = runtime
        .iter()
        .find(|(w, _)| w == "HEALTHCHECK")
        .expect("a HEALTHCHECK");
    assert!(
        health
            .1
            .contains(r#"CMD ["/usr/local/bin/airglass-shim", "health"]"#),
        "{}",
        health.1
    );
    let entry = runtime
        .iter()
        .find(|(w, _)| w == "ENTRYPOINT")
        .expect("an ENTRYPOINT");
    assert_eq!(entry.1, r#"["/usr/local/bin/airglass-shim"]"#);
    assert!(
        runtime
            .iter()
            .any(|(w, r)| w == "ENV" && r == "AIRGLASS_STATE_DIR=/data/airglass")
    );

    let ignore = read(".dockerignore");
    for entry in ["target/", ".git/"] {
        assert!(
            ignore.lines().any(|l| l.trim() == entry),
            ".dockerignore lacks {entry}"
        );
    }
}

/// `Key=value` lines of a systemd unit (repeated keys kept in order).
fn unit() -> Vec<(String, String)> {
    read("packaging/airglass.service")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn the_systemd_unit_restarts_hardens_and_still_reaches_the_devices() {
    let unit = unit();
    let all = |key: &str| -> Vec<&str> {
        unit.iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let one = |key: &str| {
        all(key)
            .first()
            .copied()
            .unwrap_or_else(|| panic!("{key} missing"))
    };
    assert_eq!(one("ExecStart"), "/usr/bin/airglass");
    assert_eq!(one("Restart"), "on-failure");
    let prevent: Vec<&str> = one("RestartPreventExitStatus").split_whitespace().collect();
    assert!(
        prevent.contains(&"78") && prevent.contains(&"2"),
        "{prevent:?}"
    );
    assert_eq!(one("StateDirectory"), "airglass");
    assert!(one("Environment").starts_with("AIRGLASS_STATE_DIR=/var/lib/airglass"));
    let groups: Vec<&str> = one("SupplementaryGroups").split_whitespace().collect();
    for group in ["video", "render", "audio"] {
        assert!(groups.contains(&group), "{group}");
    }
    let devices = all("DeviceAllow");
    for class in ["char-drm rw", "char-alsa rw", "char-video4linux rw"] {
        assert!(devices.contains(&class), "DeviceAllow={class}");
    }
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("DynamicUser", "yes"),
        ("DevicePolicy", "closed"),
    ] {
        assert_eq!(one(key), value, "{key}");
    }
    // These would take away the display or break GStreamer's ORC code generation.
    assert!(all("PrivateDevices").iter().all(|v| *v != "yes"));
    assert!(all("MemoryDenyWriteExecute").is_empty());
    assert_eq!(one("WantedBy"), "multi-user.target");
}

#[test]
fn the_deb_metadata_installs_binaries_shim_and_unit() {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(root().join("Cargo.toml"))
        .output()
        .expect("cargo metadata");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let package = meta["packages"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "airglass"))
        .expect("airglass package");
    let deb = &package["metadata"]["deb"];
    let assets: Vec<(String, String)> = deb["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .map(|a| {
            (
                a[0].as_str().unwrap_or("").to_string(),
                a[1].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (source, dest) in [
        ("target/release/airglass", "usr/bin/"),
        ("target/release/airglass-shim", "usr/bin/"),
        ("packaging/airglass.default", "etc/default/airglass"),
    ] {
        assert!(
            assets.contains(&(source.into(), dest.into())),
            "asset {source} -> {dest}"
        );
        if !source.starts_with("target/") {
            assert!(root().join(source).is_file(), "{source} exists");
        }
    }
    let scripts = deb["maintainer-scripts"]
        .as_str()
        .expect("maintainer-scripts");
    assert!(
        root().join(scripts).is_dir(),
        "cargo-deb needs {scripts} for systemd scripts"
    );
    let units = deb["systemd-units"]["unit-scripts"]
        .as_str()
        .expect("unit-scripts");
    assert!(root().join(units).join("airglass.service").is_file());
    assert_eq!(deb["systemd-units"]["enable"], true);

    // The package depends on the same GStreamer set the image installs.
    let depends: BTreeSet<&str> = deb["depends"]
        .as_str()
        .expect("depends")
        .split(',')
        .map(str::trim)
        .filter(|d| d.starts_with("gstreamer"))
        .collect();
    let image: BTreeSet<String> = dockerfile()
        .iter()
        .filter(|(w, r)| w == "RUN" && r.contains("gstreamer1.0-alsa"))
        .flat_map(|(_, r)| apt_packages(r))
        .filter(|p| p.starts_with("gstreamer"))
        .collect();
    assert_eq!(depends, image.iter().map(String::as_str).collect());
}

#[test]
fn the_packaging_scripts_are_executable_bash() {
    use std::os::unix::fs::PermissionsExt;
    for script in ["packaging/check-deb.sh", "packaging/build-image.sh"] {
        let path: &Path = &root().join(script);
        let mode = std::fs::metadata(path).expect(script).permissions().mode();
        assert!(mode & 0o111 != 0, "{script} is not executable");
        let status = Command::new("bash")
            .arg("-n")
            .arg(path)
            .status()
            .expect("bash -n");
        assert!(status.success(), "{script} has a syntax error");
    }
}
