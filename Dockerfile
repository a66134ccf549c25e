# Builds both binaries; the compose file and deploy/k8s run them as the migration, the api and
# the workers.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bins

FROM debian:bookworm-slim
# curl: the compose health checks ask /readyz and /metrics over HTTP.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# A fixed numeric uid, so Kubernetes' runAsNonRoot can check it (deploy/k8s runs as 10001).
RUN groupadd --system --gid 10001 sigmasight \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin sigmasight
COPY --from=build /src/target/release/sigmasight-api /src/target/release/sigmasight-worker /usr/local/bin/
USER 10001:10001
EXPOSE 8080 9464
CMD ["sigmasight-api"]
