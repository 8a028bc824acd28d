#!/usr/bin/env bash
# Builds tests/osquery_peer/core.cpp, the C++ osquery peer of the end-to-end
# tests, on Debian's thrift-compiler and libthrift-dev 0.17 (the Thrift stack
# osqueryd links): C++ generated from osquery.thrift into
# target/osquery_peer/gen, the program into target/osquery_peer/osquery_core.
# Rebuilds only when a source (or this script) is newer than the binary.
# Prints the binary's path on stdout; build output goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."

src=tests/osquery_peer
out=target/osquery_peer
bin=$out/osquery_core

stale=0
[ -x "$bin" ] || stale=1
for f in "$src/osquery.thrift" "$src/core.cpp" "$src/build.sh"; do
    [ "$f" -nt "$bin" ] && stale=1
done

if [ "$stale" = 1 ]; then
    command -v thrift >/dev/null || { echo "build.sh: thrift not found (apt-get install thrift-compiler)" >&2; exit 1; }
    [ -e /usr/include/thrift/Thrift.h ] || { echo "build.sh: Thrift headers not found (apt-get install libthrift-dev)" >&2; exit 1; }
    rm -rf "$out/gen"
    mkdir -p "$out/gen"
    thrift --gen cpp -out "$out/gen" "$src/osquery.thrift"
    # The generated *_server.skeleton.cpp files are examples with a main().
    gen=$(find "$out/gen" -name '*.cpp' ! -name '*skeleton*' | sort)
    # shellcheck disable=SC2086
    g++ -O1 -std=c++17 -pthread -I"$out/gen" -o "$bin.tmp.$$" "$src/core.cpp" $gen -lthrift >&2
    mv -f "$bin.tmp.$$" "$bin"
fi
echo "$PWD/$bin"
