#!/usr/bin/env bash
# Builds (if needed) and runs the receiver with embedded defaults: full screen through KMS when
# the machine has a display and no desktop, a desktop window under X11/Wayland, decoding to
# nowhere when headless. Extra arguments go to airglass (see `airglass --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked --bin airglass
exec target/release/airglass "$@"
