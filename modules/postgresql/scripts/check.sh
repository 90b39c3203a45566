#!/bin/sh
# Healthy when the server accepts connections (pg_isready exits 0).
exec {{params.pg_bin}}/pg_isready -q -h /var/run/postgresql -p {{params.port}}
