#!/bin/sh
# Healthy when the server accepts connections (pg_isready exits 0). Asked as user postgres over
# the Unix socket (peer authentication), so the server logs nothing for it.
exec setpriv --reuid=postgres --regid=postgres --init-groups -- \
  {{params.pg_bin}}/pg_isready -q -t 1 -h {{params.socket_dir}} -p {{params.port}} -U postgres -d postgres
