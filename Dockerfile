# The image `mqtk bench k8s --image` runs: mqtk on a slim Debian, nothing else.
#   docker build -t mqtk:dev .
#   docker run --rm mqtk:dev bench --help
# Build stage: the release binary (debug symbols stripped). Runtime stage: the binary
# and CA certificates (for mqtts:// with the system roots), running as a non-root user.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin mqtk \
    && strip target/release/mqtk

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 mqtk
COPY --from=build /src/target/release/mqtk /usr/local/bin/mqtk
USER mqtk
ENTRYPOINT []
CMD ["mqtk", "--help"]
