#!/usr/bin/env bash
# Installs the build tree BUILD into a temporary prefix, then builds the consumer from scratch
# two ways and runs each: `cmake` (find_package(Yardmaster)) or `pkg-config` (yardmaster.pc).
# Usage: tests/consumer/run.sh cmake|pkg-config BUILD
set -euo pipefail
how=$1
build=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ym-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
case "$how" in
  cmake)
    cmake -S "$here" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$work/build" >/dev/null
    bin="$work/build/consumer"
    ;;
  pkg-config)
    pcdir=$(dirname "$(find "$work/prefix" -name yardmaster.pc | head -1)")
    flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs yardmaster-fake yardmaster)
    libdir=$(PKG_CONFIG_PATH="$pcdir" pkg-config --variable=libdir yardmaster)
    # shellcheck disable=SC2086
    g++ -std=c++20 -fsyntax-only "$here/light.cpp" $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags yardmaster)
    # shellcheck disable=SC2086
    g++ -std=c++20 -O1 "$here/consumer.cpp" -o "$work/consumer" $flags -Wl,-rpath,"$libdir"
    bin="$work/consumer"
    ;;
  *) echo "usage: $0 cmake|pkg-config BUILD" >&2; exit 2 ;;
esac
# The program must use the installed libraries, not the build tree's. (ldd's output is kept
# first: `ldd | grep -q` under pipefail fails whenever grep stops reading early.)
libs=$(ldd "$bin")
if grep -q "$build/" <<<"$libs"; then
  echo "the consumer links the build tree's libraries:" >&2
  echo "$libs" >&2
  exit 1
fi
if ! grep -q "$work/prefix/.*libyardmaster-db" <<<"$libs"; then
  echo "the consumer does not link the installed libraries:" >&2
  echo "$libs" >&2
  exit 1
fi
"$bin" "$work/consumer.sqlite"
