#!/bin/bash
# dkim.sh - DKIM signing rate for a 4 KB message (RSA-2048, Ed25519, and
# both on one message), with 1 thread and with THREADS threads, beside the
# raw BearSSL RSA-2048 and libsodium Ed25519 sign rates measured in the
# same run (bench/dkim_bench.c says what each figure is).
#
#   bench/dkim.sh [BUILD_DIR] [-s SECONDS] [-t THREADS]
# BUILD_DIR defaults to ./build; it is set up with meson if it does not
# exist, and bench/dkim_bench is (re)built in it when out of date. The
# options go to dkim_bench: -s SECONDS per figure (3), -t THREADS (2),
# -r ROUNDS each figure's time is cut into (10; the best is kept), -v.
#
# The figures are CPU-bound and the machine is shared: other work steals
# cycles, mostly from the multi-thread figures. The load average is
# printed before and after, and dkim_bench prints the share of a core its
# threads got and per-CPU-second figures that other load barely moves;
# trust the ratios of one run, not absolute rates across runs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    B=$1
    shift
fi
if [ ! -f "$B/build.ninja" ]; then
    meson setup "$B" "$ROOT" >/dev/null
fi
B=$(cd "$B" && pwd)
ninja -C "$B" bench/dkim_bench >/dev/null

echo "\$ $B/bench/dkim_bench $*"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs; a shared, noisy machine: compare the ratios of one run)"
"$B/bench/dkim_bench" "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
