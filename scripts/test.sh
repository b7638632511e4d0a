#!/usr/bin/env bash
# Installs what is missing, then runs every test (unit, integration, end to end on loopback).
# The discovery test isolates itself in a private network namespace and needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo test --locked --all-targets "$@"
cargo test --locked --doc
