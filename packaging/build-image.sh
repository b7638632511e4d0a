#!/usr/bin/env bash
# Build the airglass container image without a registry or a Docker engine, then
# run the built image's binaries.
#
# It makes local stand-ins for the Dockerfile's two base images:
#   runtime: debootstrap --variant=minbase bookworm, committed with buildah
#            as localhost/airglass-base/debian:bookworm-slim
#   builder: the same plus gcc/g++, with this machine's Rust toolchain copied
#            in, as localhost/airglass-base/rust:bookworm
# then builds the top-level Dockerfile with
#   buildah --storage-driver vfs bud --isolation chroot --pull=never --build-arg ...
# and runs `airglass --version`, `airglass-shim health`, a no-compiler check and
# `airglass --test-stream=3 --video-sink fakesink`.
#
# Needs: root, buildah, debootstrap, and the Debian and crates.io registries (apt
# and cargo run inside the build). The stand-ins are kept and reused; pass
# --fresh to rebuild them. Measured on two busy shared cores: 19 min from
# nothing (12.5 min of it the two debootstraps), 5.5 min with the bases kept;
# too slow for every CI run.
#
#   packaging/build-image.sh [--fresh]
# Environment: AIRGLASS_IMAGE_WORK (default /var/tmp/airglass-image),
#              AIRGLASS_IMAGE_TAG (default localhost/airglass:dev),
#              DEBIAN_MIRROR (default: debootstrap's own).
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)

work=${AIRGLASS_IMAGE_WORK:-/var/tmp/airglass-image}
tag=${AIRGLASS_IMAGE_TAG:-localhost/airglass:dev}
runtime_base=localhost/airglass-base/debian:bookworm-slim
builder_base=localhost/airglass-base/rust:bookworm
mirror=${DEBIAN_MIRROR:-}
buildah=(buildah --storage-driver vfs)

for tool in buildah debootstrap; do
    command -v "$tool" >/dev/null || { echo "build-image: $tool is missing (apt-get install $tool)" >&2; exit 2; }
done
[[ $(id -u) -eq 0 ]] || { echo "build-image: run as root (debootstrap, buildah mount)" >&2; exit 2; }

fresh=false
[[ ${1:-} == --fresh ]] && fresh=true

t0=$(date +%s)
stamp() { echo "[$(($(date +%s) - t0))s] $*"; }

have_image() { "${buildah[@]}" inspect --type image "$1" >/dev/null 2>&1; }

# debootstrap a minimal bookworm into $1, with extra packages $2 (comma list).
bootstrap() {
    local dir=$1 include=$2
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    local args=(--variant=minbase)
    [[ -n $include ]] && args+=("--include=$include")
    # shellcheck disable=SC2086 # the mirror is optional
    debootstrap "${args[@]}" bookworm "$dir" $mirror >"$dir.log" 2>&1 \
        || { tail -n 20 "$dir.log" >&2; exit 1; }
    chroot "$dir" apt-get clean
    rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin
}

# Commit directory $1 as image $2, with extra `buildah config` arguments after.
commit_dir() {
    local dir=$1 image=$2
    shift 2
    local ctr mnt
    ctr=$("${buildah[@]}" from scratch)
    mnt=$("${buildah[@]}" mount "$ctr")
    cp -a "$dir"/. "$mnt"/
    "${buildah[@]}" umount "$ctr" >/dev/null
    "${buildah[@]}" config \
        --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd /bin/bash "$@" "$ctr"
    "${buildah[@]}" commit --quiet "$ctr" "$image" >/dev/null
    "${buildah[@]}" rm "$ctr" >/dev/null
}

if $fresh || ! have_image "$runtime_base"; then
    stamp "debootstrap runtime base"
    bootstrap "$work/runtime" ""
    commit_dir "$work/runtime" "$runtime_base"
    stamp "committed $runtime_base"
fi

if $fresh || ! have_image "$builder_base"; then
    stamp "debootstrap builder base"
    bootstrap "$work/builder" "gcc,g++,libc6-dev,binutils,make,ca-certificates"
    # Trust the same extra CAs as this machine (a TLS-inspecting proxy in front of
    # crates.io would otherwise fail cargo's downloads inside the build).
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$work/builder/usr/local/share/ca-certificates/"
        chroot "$work/builder" update-ca-certificates >/dev/null
    fi
    toolchain=$(rustc --print sysroot)
    mkdir -p "$work/builder/usr/local/rust" "$work/builder/usr/local/cargo"
    # The compiler and the standard library; docs and sources are not needed.
    cp -a "$toolchain/bin" "$toolchain/lib" "$work/builder/usr/local/rust/"
    commit_dir "$work/builder" "$builder_base" \
        --env PATH=/usr/local/rust/bin:/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env CARGO_HOME=/usr/local/cargo
    stamp "committed $builder_base ($(rustc --version))"
fi

stamp "buildah bud $tag"
"${buildah[@]}" bud --isolation chroot --pull=never \
    --build-arg "BUILDER_IMAGE=$builder_base" \
    --build-arg "RUNTIME_IMAGE=$runtime_base" \
    --layers=false -t "$tag" "$repo" >"$work/bud.log" 2>&1 \
    || { tail -n 40 "$work/bud.log" >&2; echo "build-image: bud failed (log: $work/bud.log)" >&2; exit 1; }
stamp "built $tag ($("${buildah[@]}" images --format '{{.Size}}' "$tag" | head -n 1))"

ctr=$("${buildah[@]}" from "$tag")
trap '"${buildah[@]}" rm "$ctr" >/dev/null 2>&1 || true' EXIT
in_image() { "${buildah[@]}" run --isolation chroot "$ctr" -- "$@"; }

stamp "airglass --version"
in_image /usr/local/bin/airglass --version

stamp "airglass-shim health (no receiver running: expect unhealthy)"
if in_image /usr/local/bin/airglass-shim health 2>/dev/null; then
    echo "build-image: health said healthy without a receiver" >&2
    exit 1
fi

stamp "no compilers in the runtime image"
if in_image sh -c 'for c in cc gcc g++ clang cargo rustc; do command -v "$c" && exit 0; done; exit 1' 2>/dev/null; then
    echo "build-image: a compiler is in the runtime image" >&2
    exit 1
fi

stamp "airglass --test-stream=3 --video-sink fakesink (headless, inside the image)"
in_image env AIRGLASS_STATE_DIR=/tmp/airglass \
    /usr/local/bin/airglass --test-stream=3 --video-sink fakesink --test-stream-size 640x360@30

stamp "done"
