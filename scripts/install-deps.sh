#!/usr/bin/env bash
# Installs what airglass needs on Debian 12 / Raspberry Pi OS (bookworm), skipping what is
# already there: GStreamer (runtime and -dev), build tools, and a Rust toolchain new enough
# for edition 2024. Usage: scripts/install-deps.sh [--runtime-only]
set -euo pipefail

runtime=(gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
         gstreamer1.0-libav gstreamer1.0-alsa)
build=(pkg-config build-essential libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
       iproute2 util-linux ca-certificates curl)
want=("${runtime[@]}")
[ "${1:-}" = "--runtime-only" ] || want+=("${build[@]}")

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

[ "${1:-}" = "--runtime-only" ] && exit 0
# Rust 1.92 or newer (Debian's own cargo is too old for this crate).
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
need_rust=1
if command -v rustc >/dev/null 2>&1; then
  minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
  [ "${minor:-0}" -ge 92 ] && need_rust=0
fi
if [ "$need_rust" -eq 1 ]; then
  echo "installing the Rust toolchain with rustup" >&2
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt >&2
fi
