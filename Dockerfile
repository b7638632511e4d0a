# airglass container image: an AirPlay screen-mirroring receiver for balena fleets
# (and any Docker host). Multi-stage: compile in the Rust image, run on Debian slim
# with only the GStreamer plugins the receiver uses. No compiler reaches the
# final image.
#
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 .
# (each platform compiles natively, under QEMU when the build host differs).
#
# On balena, a fleet whose repository has only this Dockerfile runs it as one
# service with host networking, privileged device access, a persistent /data
# volume and the Supervisor API labels: exactly what airglass needs. See
# packaging/docker-compose.yml for multi-container fleets.
#
# Base images are build arguments so that offline builds can stand in local
# images: --build-arg BUILDER_IMAGE=... --build-arg RUNTIME_IMAGE=...

ARG BUILDER_IMAGE=docker.io/library/rust:1.92-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

# ---------------------------------------------------------------- build stage
FROM ${BUILDER_IMAGE} AS builder

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        pkg-config \
        nasm \
        libgstreamer1.0-dev \
        libgstreamer-plugins-base1.0-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin airglass --bin airglass-shim \
    && mkdir -p /out \
    && cp target/release/airglass target/release/airglass-shim /out/ \
    && strip /out/airglass /out/airglass-shim

# -------------------------------------------------------------- runtime stage
FROM ${RUNTIME_IMAGE} AS runtime

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates \
        gstreamer1.0-plugins-base \
        gstreamer1.0-plugins-good \
        gstreamer1.0-plugins-bad \
        gstreamer1.0-libav \
        gstreamer1.0-alsa \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

COPY --from=builder /out/airglass /out/airglass-shim /usr/local/bin/

# Identity and pairings survive updates in balena's persistent /data volume.
ENV AIRGLASS_STATE_DIR=/data/airglass

LABEL io.balena.features.supervisor-api="1"

# The shim judges the receiver by its status file (fresh, not stuck starting).
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["/usr/local/bin/airglass-shim", "health"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/airglass-shim"]
