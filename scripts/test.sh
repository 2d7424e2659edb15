#!/bin/sh
# test.sh - the README's second command (and what CI runs): install
# dependencies, build, run every test (unit and integration), then the
# same suite again in an AddressSanitizer + UndefinedBehaviorSanitizer build,
# and a short run of each libFuzzer target.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh --test

[ -d build ] || meson setup build
ninja -C build
meson test -C build --print-errorlogs

[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debug
ninja -C build-asan
# The load scenarios run smaller here (PER_WRITER): the normal build above
# does 4 x 1,000; under the sanitizers every sendmail start costs much more,
# and what this pass looks for is memory errors, not counts.
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    PER_WRITER=200 meson test -C build-asan --print-errorlogs --timeout-multiplier 3

# Every parser that reads outside bytes, fuzzed briefly (longer by hand:
# FUZZ_SECONDS=300 tests/fuzz/run.sh).
FUZZ_SECONDS=${FUZZ_SECONDS:-15} tests/fuzz/run.sh
