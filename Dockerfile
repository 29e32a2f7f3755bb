# wsdoctor's container image: a Rust build stage and a small Debian runtime
# with CA certificates, running as a non-root user.
#
#   VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
#   docker build --build-arg VERSION="$VERSION" -t "$REGISTRY/wsdoctor:$VERSION" .
#   docker push "$REGISTRY/wsdoctor:$VERSION"
#
# (podman and buildah take the same arguments.) tests/dockerfile.rs checks
# this file where no builder can run: stages, user, label, pinned bases, and
# the build command against the workspace.

# The toolchain the tests run on; the workspace needs 1.89 or newer.
ARG RUST_VERSION=1.95.0

FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
# --locked: the committed Cargo.lock, exactly, as CI builds it.
RUN cargo build --release --locked -p wsdoctor --bin wsdoctor \
 && install -D -m 0755 target/release/wsdoctor /out/bin/wsdoctor \
 && /out/bin/wsdoctor man --dir /out/share/man/man1 \
 && install -d /out/share/bash-completion/completions \
 && /out/bin/wsdoctor completions bash > /out/share/bash-completion/completions/wsdoctor

FROM docker.io/library/debian:bookworm-slim AS runtime
# The workspace version (Cargo.toml); the build command above passes it.
ARG VERSION=0.1.0
# ca-certificates: wss:// targets are verified against the system roots.
# Not version-pinned (hadolint DL3008): bookworm's point releases replace
# the exact version, and a pin would break the build rather than secure it.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/bin/wsdoctor /usr/local/bin/wsdoctor
COPY --from=build /out/share /usr/local/share
LABEL org.opencontainers.image.title="wsdoctor" \
      org.opencontainers.image.description="Finds out why WebSocket connections drop, fail to connect, or set off reconnect storms" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
# A numeric non-root user, so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# wsdoctor is a command, not a service: `watch` serves /healthz on its
# --metrics address, which deploy/k8s/watch.yaml probes; nothing else has
# a health to check.
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/wsdoctor"]
CMD ["--help"]
