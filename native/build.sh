#!/bin/sh
# Builds the native components from source (run at install and by the tests/benchmarks).
# Debian packages needed: native/apt-packages.txt. Output: native/hamod-repl/build/hamod-repl
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for p in fuse3 libcrypto; do
  pkg-config --exists "$p" || { echo "native/build.sh: missing $p development files (apt-get install $(grep -v '^#' "$here/apt-packages.txt" | tr '\n' ' '))" >&2; exit 1; }
done
make -s -C "$here/hamod-repl" -j"$(nproc 2>/dev/null || echo 2)"
echo "$here/hamod-repl/build/hamod-repl"
