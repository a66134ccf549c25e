#!/usr/bin/env bash
# Sourced by dev.sh and test.sh: makes sure a Postgres is reachable and exports DATABASE_URL.
#   - DATABASE_URL set: wait for it.
#   - SIGMASIGHT_PG=system (tests' default): the machine's cluster on 127.0.0.1:5432 (started if down),
#     falling back to a private cluster.
#   - otherwise (dev's default): a private cluster under .dev/pg on port ${SIGMASIGHT_PG_PORT:-55432}.
# Private clusters use Debian's initdb/pg_ctl, run as the `postgres` user when we are root.

pg_bin() {
  local b
  b=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$b" ]; then
    echo "PostgreSQL server binaries not found; installing Debian's postgresql" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2 || return 1
    b=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  fi
  echo "$b"
}

as_pg() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

wait_for_pg() { # host port
  for _ in $(seq 1 60); do
    if pg_isready -q -h "$1" -p "$2" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  return 1
}

start_private_pg() {
  local root port bin
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.dev"
  port="${SIGMASIGHT_PG_PORT:-55432}"
  bin=$(pg_bin) || { echo "cannot find or install PostgreSQL" >&2; return 1; }
  mkdir -p "$root"
  if [ ! -s "$root/pg/PG_VERSION" ]; then
    mkdir -p "$root/pg"
    [ "$(id -u)" = "0" ] && chown -R postgres:postgres "$root"
    as_pg "$bin/initdb" -D "$root/pg" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  [ "$(id -u)" = "0" ] && chown -R postgres:postgres "$root"
  if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
    as_pg "$bin/pg_ctl" -D "$root/pg" -l "$root/pg.log" -w \
      -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
  fi
  wait_for_pg 127.0.0.1 "$port" || { echo "private Postgres did not start; see $root/pg.log" >&2; return 1; }
  psql -h 127.0.0.1 -p "$port" -U postgres -tAc "select 1 from pg_database where datname='sigmasight'" | grep -q 1 \
    || psql -h 127.0.0.1 -p "$port" -U postgres -qc "create database sigmasight"
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/sigmasight"
  echo "Private Postgres on 127.0.0.1:$port (data in $root/pg)" >&2
}

ensure_pg() {
  if [ -n "${DATABASE_URL:-}" ]; then
    return 0
  fi
  if [ "${SIGMASIGHT_PG:-private}" = "system" ]; then
    if ! pg_isready -q -h 127.0.0.1 -p 5432 && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start >&2 || true
      wait_for_pg 127.0.0.1 5432 || true
    fi
    if pg_isready -q -h 127.0.0.1 -p 5432 && psql -h 127.0.0.1 -U postgres -tAc "select 1" >/dev/null 2>&1; then
      export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
      return 0
    fi
    echo "system Postgres unavailable; starting a private one" >&2
  fi
  start_private_pg
}
