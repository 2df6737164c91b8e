# syntax=docker/dockerfile:1
#
# Build:  docker build -t driftwatch:dev --build-arg REVISION=$(git rev-parse HEAD) .
# Daemon: docker run -d -p 9184:9184 -v /etc/driftwatch:/etc/driftwatch:ro -e GITOPS_TOKEN driftwatch:dev
#         (audits on [schedule] cron; config.toml must set [server] listen = "0.0.0.0:9184",
#         the default 127.0.0.1 is unreachable from outside the container; SIGTERM stops it
#         gracefully, so give `docker stop -t` more than [schedule] shutdown_grace)
# Once:   docker run --rm -v /etc/driftwatch:/etc/driftwatch:ro -e GITOPS_TOKEN driftwatch:dev \
#           --once --config /etc/driftwatch/config.toml
#         (exit code 0 = clean, 1 = drift found, 2 = audit error)
# Kubernetes: deploy/ (two replicas with leader election).

# Pinned by tag so that the kustomize version used for rendering only changes on purpose;
# pin by digest too (kustomize:v5.5.0@sha256:...) if builds must be fully reproducible.
FROM registry.k8s.io/kustomize/kustomize:v5.5.0 AS kustomize

# bookworm matches the runtime image, so the glibc and OpenSSL the binary links against exist
# there. rust:1 follows the latest stable toolchain, which satisfies edition 2024 / rust 1.89.
FROM rust:1-bookworm AS builder

# git2's https transport links OpenSSL (found via pkg-config); libgit2 and libssh2 are built
# from the vendored sources with the image's C compiler, so cmake and libgit2-dev are not needed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Dependencies change far less often than our code: build them against stub targets first so
# this (slow) layer is reused until Cargo.toml or Cargo.lock change.
# Every target Cargo.toml declares must exist for cargo to read the manifest, so each bench gets
# a stub too (tests/it/dockerfile.rs checks both this layer and the final sources).
# The test-support crate is a workspace member: cargo needs its manifest (and a library file)
# to load the workspace, although a release build never compiles it. The crates/ libraries are
# dependencies: their manifests and stub libraries build with the dependencies' layer. xtask
# (CI's checks) is a member too, never built here.
COPY Cargo.toml Cargo.lock ./
COPY tests/support/Cargo.toml ./tests/support/
COPY crates/yaml/Cargo.toml ./crates/yaml/
COPY crates/kustomize/Cargo.toml ./crates/kustomize/
COPY crates/helm/Cargo.toml ./crates/helm/
COPY crates/signatures/Cargo.toml ./crates/signatures/
COPY xtask/Cargo.toml ./xtask/
RUN mkdir src benches crates/yaml/src crates/kustomize/src crates/helm/src crates/signatures/src xtask/src \
    && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > xtask/src/main.rs \
    && touch src/lib.rs tests/support/lib.rs crates/yaml/src/lib.rs crates/kustomize/src/lib.rs crates/helm/src/lib.rs crates/signatures/src/lib.rs \
    && echo 'fn main() {}' > benches/audit.rs \
    && echo 'fn main() {}' > benches/render.rs \
    && echo 'fn main() {}' > benches/watch.rs \
    && echo 'fn main() {}' > benches/store.rs \
    && echo 'fn main() {}' > benches/status_load.rs \
    && echo 'fn main() {}' > benches/helm.rs \
    && echo 'fn main() {}' > benches/discovery.rs \
    && echo 'fn main() {}' > benches/signatures.rs \
    && cargo build --release --locked \
    && rm -rf src benches tests/support/lib.rs crates/yaml/src crates/kustomize/src crates/helm/src crates/signatures/src \
        xtask/src

COPY src ./src
COPY crates ./crates
# The status pages' askama templates and assets are compiled into the binary.
COPY templates ./templates
# The store's migrations are compiled into the binary (sqlx::migrate!).
COPY migrations ./migrations
COPY benches ./benches
COPY tests/support ./tests/support
COPY xtask ./xtask
# COPY keeps the files' original mtimes, which can be older than the stub build; touching them
# makes cargo rebuild the crate instead of shipping the stub binary.
RUN touch src/main.rs src/lib.rs crates/*/src/lib.rs \
    && cargo build --release --locked \
    && install -D -m 0755 target/release/driftwatch /out/driftwatch

# slim rather than distroless: the binary needs glibc and libssl3 at run time, and the audit
# shells out to kustomize, so a minimal Debian of the same release is the simplest fit.
FROM debian:bookworm-slim

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="driftwatch" \
      org.opencontainers.image.description="Catches deployment drift: image digests declared in a GitOps repo vs digests running in Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# ca-certificates: git over https (OpenSSL) and the Kubernetes API (rustls) verify servers
# against the system roots. libssl3: git2 links OpenSSL dynamically.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/*

# The kustomize renderer runs `kustomize build`. The upstream image (kustomize.Dockerfile in
# kubernetes-sigs/kustomize) puts a static CGO_ENABLED=0 binary at /app/kustomize, so it runs
# on glibc even though that image is Alpine. Remote bases (git URLs in kustomization.yaml)
# would additionally need git in this image; local overlays do not.
COPY --from=kustomize /app/kustomize /usr/local/bin/kustomize
COPY --from=builder /out/driftwatch /usr/local/bin/driftwatch
# Apache-2.0 section 4(a): recipients of the image get a copy of the licence.
COPY LICENSE /usr/share/doc/driftwatch/LICENSE

# A fixed numeric UID (the distroless "nonroot" convention) lets Kubernetes enforce
# runAsNonRoot without an /etc/passwd entry. The state dir holds the git cache
# (/var/lib/driftwatch/gitops by default) and must be writable by that user; HOME points there
# because libgit2 and kube look up files under $HOME and "/" is not writable.
RUN install -d -o 65532 -g 65532 -m 0750 /var/lib/driftwatch
ENV HOME=/var/lib/driftwatch
USER 65532:65532
WORKDIR /var/lib/driftwatch

# /healthz, /readyz, /metrics, /report, POST /-/reload and the status page (/); documentation only, the port is set
# by [server] listen in the mounted config.
EXPOSE 9184

ENTRYPOINT ["driftwatch"]
# The daemon schedules its own audits; for a single audit (CI, a CronJob) pass
# `--once --config …` instead. The config is mounted, not baked in.
CMD ["run", "--config", "/etc/driftwatch/config.toml"]
