# Builds both binaries; the compose file runs them as api and workers.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bins

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/sigmasight-api /src/target/release/sigmasight-worker /usr/local/bin/
EXPOSE 8080
CMD ["sigmasight-api"]
