#!/bin/sh
# Runs the PostgreSQL server in the foreground, supervised by the agent on the primary. It starts as
# root to prepare the directories, then becomes user postgres (setpriv) and execs the server, so
# the supervised process is the postmaster itself. Values come from the module instance's
# parameters through quoted variables.
#
# Layout: the replicated directory (data_dir, owned by root) holds the cluster in its subdirectory
# `pgdata` (PGDATA, owned by postgres, mode 0700) - PostgreSQL's own advice for a directory that is
# a mount point.
set -eu
bin={{params.pg_bin}}
dir={{params.data_dir}}
port={{params.port}}
listen={{params.listen}}
sock={{params.socket_dir}}
clients={{params.clients}}
auth={{params.client_auth}}
locale={{params.locale}}
user=postgres
pgdata="$dir/pgdata"

say() { echo "postgresql module: $*" >&2; }
as_pg() { setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"; }

uid=$(id -u "$user" 2>/dev/null) || { say "no user $user on this node (install postgresql-15)"; exit 1; }
[ -x "$bin/postgres" ] || { say "$bin/postgres not found (install postgresql-15, or set pg_bin)"; exit 1; }
[ -d "$dir" ] || { say "the replicated directory $dir does not exist"; exit 1; }
if [ -e "$dir/PG_VERSION" ]; then
  # Module 1.0.0 used data_dir itself as PGDATA.
  say "$dir holds a cluster directly (layout of module 1.0.0): move its content into $pgdata"
  exit 1
fi

# First start: create the cluster beside PGDATA, then rename it into place, so that PGDATA either
# holds a complete cluster or does not exist (a crash during initdb leaves only the temporary
# directory, removed at the next attempt). The rename is replicated like any other change.
if [ ! -s "$pgdata/PG_VERSION" ]; then
  if [ -e "$pgdata" ]; then
    say "$pgdata exists but holds no cluster (no PG_VERSION): not touching it"
    exit 1
  fi
  tmp="$dir/.pgdata.initdb"
  rm -rf -- "$tmp"
  install -d -o "$user" -g "$user" -m 0700 "$tmp"
  say "creating the cluster in $pgdata (initdb, locale $locale)"
  as_pg "$bin/initdb" -D "$tmp" -E UTF8 --locale="$locale" --auth-local=peer --auth-host=scram-sha-256 >&2
  mv -- "$tmp" "$pgdata"
  sync -- "$dir"
fi

# The cluster's files carry numeric ids: the postgres user must have the same uid on both nodes.
owner=$(stat -c %u "$pgdata")
if [ "$owner" != "$uid" ]; then
  say "$pgdata belongs to uid $owner but $user is uid $uid on this node: give $user the same uid and gid on both nodes"
  exit 1
fi

# A postmaster.pid left by a crash of this node (the file is not replicated) is removed unless a
# process still works in PGDATA (a postmaster or an orphaned backend: then PostgreSQL's own check
# must see it and refuse to start). Left in place, a stale file whose pid now belongs to another
# process of user postgres would stop the server from starting. Only processes of this mount
# namespace are considered, by their working directory's path (readlink: no file system access, so
# a hung mount elsewhere cannot block this).
if [ -f "$pgdata/postmaster.pid" ]; then
  real=$(readlink -f -- "$pgdata")
  myns=$(readlink /proc/self/ns/mnt)
  busy=
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/cwd" 2>/dev/null || true)" = "$real" ] || continue
    [ "$(readlink "$p/ns/mnt" 2>/dev/null || true)" = "$myns" ] || continue
    busy=${p#/proc/}
    break
  done
  if [ -z "$busy" ]; then
    say "removing the stale $pgdata/postmaster.pid (no process works in $pgdata)"
    rm -f -- "$pgdata/postmaster.pid"
  else
    say "process $busy still works in $pgdata: leaving postmaster.pid for PostgreSQL to judge"
  fi
fi

# Network clients: a managed block at the end of pg_hba.conf, rewritten from the parameters. The
# candidate is built outside the replicated directory; pg_hba.conf is replaced (atomic rename)
# only when it changes. The rest of the file is the administrator's.
hba="$pgdata/pg_hba.conf"
cand=$(mktemp)
trap 'rm -f -- "$cand"' EXIT
{
  awk '/^# BEGIN hamod/ { skip = 1 } !skip { print } /^# END hamod/ { skip = 0 }' "$hba"
  echo "# BEGIN hamod: network clients (parameters clients, client_auth), rewritten at each start"
  old_ifs=$IFS
  IFS=,
  set -f
  for c in $clients; do
    c=$(echo "$c" | tr -d ' ')
    if [ -n "$c" ]; then echo "host all all $c $auth"; fi
  done
  set +f
  IFS=$old_ifs
  echo "# END hamod"
} >"$cand"
if ! cmp -s "$cand" "$hba"; then
  new="$pgdata/.pg_hba.conf.hamod"
  cp -- "$cand" "$new"
  chown "$user:$user" "$new"
  chmod 0600 "$new"
  mv -- "$new" "$hba"
  say "pg_hba.conf: network clients set to '$clients' ($auth)"
fi
rm -f -- "$cand"
trap - EXIT

# The Unix socket directory (Debian's postgresql-common creates it at boot; not when unused).
[ -d "$sock" ] || install -d -o "$user" -g "$user" -m 2775 "$sock"

# dynamic_shared_memory_type=mmap would put shared memory in files under PGDATA, mapped shared:
# the replicated file system opens written files with direct I/O, which refuses such mappings
# (ENODEV). posix (/dev/shm) is initdb's choice on Linux; it is forced here.
exec setpriv --reuid="$user" --regid="$user" --init-groups -- \
  "$bin/postgres" -D "$pgdata" -p "$port" \
  -c listen_addresses="$listen" -c unix_socket_directories="$sock" -c dynamic_shared_memory_type=posix
