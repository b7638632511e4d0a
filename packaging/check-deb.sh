#!/usr/bin/env bash
# Build the airglass .deb with cargo-deb and check what it installs.
#
#   packaging/check-deb.sh                    release build + package + checks
#   packaging/check-deb.sh --no-build         package the existing target/release binaries
#   packaging/check-deb.sh --from-test-build  package the dev-profile binaries `cargo test`
#                                             already built (what CI does: same package
#                                             layout and checks, no release build)
#
# Needs cargo-deb (`cargo install cargo-deb --locked`) and dpkg-deb. Suitable for
# CI: it prints one line per check and exits non-zero if any check failed.
# The release build dominates: about 5 CPU-minutes (15 min wall on two busy
# shared cores); with --no-build the checks take about 2 s.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "check-deb: cargo-deb is not installed (cargo install cargo-deb --locked)" >&2
    exit 2
fi

started=$(date +%s)
build_args=()
case ${1:-} in
    --no-build) build_args+=(--no-build) ;;
    # cargo-deb warns that dev profiles are for testing only, which is exactly this use.
    --from-test-build) build_args+=(--no-build --profile dev) ;;
    "") ;;
    *) echo "check-deb: unknown option $1" >&2; exit 2 ;;
esac

log=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$log" "$work"' EXIT

# cargo-deb prints the path of the package it wrote as its last line.
if ! cargo deb "${build_args[@]}" >"$log" 2>&1; then
    cat "$log" >&2
    echo "check-deb: cargo deb failed" >&2
    exit 1
fi
deb=$(tail -n 1 "$log")
[[ -f $deb ]] || { cat "$log" >&2; echo "check-deb: no package at '$deb'" >&2; exit 1; }
echo "package: $deb ($(du -h "$deb" | cut -f1))"

failures=0
check() {
    local what=$1
    shift
    if "$@"; then
        echo "ok   $what"
    else
        echo "FAIL $what"
        failures=$((failures + 1))
    fi
}

contents=$(dpkg-deb -c "$deb")
has_file() { # path mode
    grep -Eq "^$2 .* \./$1\$" <<<"$contents"
}
check "/usr/bin/airglass, executable" has_file 'usr/bin/airglass' '-rwxr-xr-x'
check "/usr/bin/airglass-shim, executable" has_file 'usr/bin/airglass-shim' '-rwxr-xr-x'
check "/etc/default/airglass" has_file 'etc/default/airglass' '-rw-r--r--'
check "systemd unit airglass.service" has_file '(usr/)?lib/systemd/system/airglass\.service' '-rw-r--r--'

dpkg-deb -R "$deb" "$work/pkg"
control=$work/pkg/DEBIAN
unit=$(find "$work/pkg" -path '*systemd/system/airglass.service' | head -n 1)
check "unit is the one in packaging/" cmp -s "$unit" packaging/airglass.service
check "/etc/default/airglass is a conffile" grep -qx '/etc/default/airglass' "$control/conffiles"
depends=$(dpkg-deb -f "$deb" Depends)
for dep in gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
    gstreamer1.0-libav gstreamer1.0-alsa libc6; do
    check "Depends: $dep" grep -q "$dep" <<<"$depends"
done
check "postinst enables the unit" grep -q 'deb-systemd-helper.*enable.*airglass.service' "$control/postinst"
check "postinst starts the unit" grep -q 'deb-systemd-invoke .*airglass.service' "$control/postinst"
check "prerm stops the unit on removal" grep -q 'airglass.service' "$control/prerm"
check "postrm purges the unit state" grep -q 'deb-systemd-helper purge' "$control/postrm"
if command -v systemd-analyze >/dev/null 2>&1; then
    # Verify the packaged unit as installed, pointing at the packaged binary.
    sed "s#^ExecStart=/usr/bin/airglass#ExecStart=$work/pkg/usr/bin/airglass#" "$unit" >"$work/airglass.service"
    check "systemd-analyze verify" systemd-analyze verify "$work/airglass.service"
    exposure=$(systemd-analyze security --offline=yes "$work/airglass.service" 2>/dev/null |
        awk '/Overall exposure level/ { print $(NF - 2) }')
    check "systemd exposure level ${exposure:-?} is at most 3.0" \
        awk -v e="${exposure:-99}" 'BEGIN { exit !(e + 0 <= 3.0) }'
fi
shim_runs() { # health must answer "unhealthy: ... missing" and exit 1
    local out rc=0
    out=$(AIRGLASS_STATUS_FILE=/nonexistent/status.json "$work/pkg/usr/bin/airglass-shim" health) || rc=$?
    [[ $rc -eq 1 && $out == *missing* ]]
}
check "packaged airglass-shim runs (health without a receiver)" shim_runs

elapsed=$(($(date +%s) - started))
echo "check-deb: $failures failure(s), ${elapsed}s"
[[ $failures -eq 0 ]]
