#!/bin/sh
# Runs the PostgreSQL server in the foreground as user postgres, creating the cluster on the very
# first start. Values come from the module instance's parameters through quoted variables.
set -eu
bin={{params.pg_bin}}
data={{params.data_dir}}
port={{params.port}}
listen={{params.listen}}
if [ ! -s "$data/PG_VERSION" ]; then
  mkdir -p "$data"
  chmod 0700 "$data"
  "$bin/initdb" -D "$data" -E UTF8 --auth-local=peer --auth-host=scram-sha-256 >&2
fi
mkdir -p /var/run/postgresql 2>/dev/null || true
exec "$bin/postgres" -D "$data" -p "$port" -c listen_addresses="$listen" -c unix_socket_directories=/var/run/postgresql
