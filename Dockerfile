# syntax=docker/dockerfile:1
#
# drover's image: one static binary (musl) on distroless static, running as the nonroot user
# (65532), which is what the Helm chart's securityContext expects.
#
#   docker build -t registry.example.com/drover:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t registry.example.com/drover:0.1.0 --push .
#
# NOT BUILT OR RUN YET: the machines this was written on reach no container registry, so neither
# this file nor the image has been tried. Treat the first build as its test.
#
# TLS is rustls with the aws-lc-rs provider: aws-lc-sys compiles AWS-LC from C sources. For
# x86_64/aarch64 musl it needs only a C compiler (its cc builder; no CMake, no bindgen/libclang),
# here musl-gcc from musl-tools. Each platform builds natively (under emulation for a foreign one).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
ARG TARGETARCH
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
RUN case "${TARGETARCH:-amd64}" in \
      amd64) echo x86_64-unknown-linux-musl ;; \
      arm64) echo aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH ${TARGETARCH}" >&2; exit 1 ;; \
    esac > /rust-target \
 && rustup target add "$(cat /rust-target)"
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# musl-gcc for every C dependency (aws-lc-sys); the binary links statically (musl's default).
ENV CC_x86_64_unknown_linux_musl=musl-gcc \
    CC_aarch64_unknown_linux_musl=musl-gcc
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    target="$(cat /rust-target)" \
 && cargo build --release --locked --target "$target" --bin drover \
 && cp "target/$target/release/drover" /drover \
 && strip /drover

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /drover /drover
USER 65532:65532
ENTRYPOINT ["/drover"]
CMD ["run"]
