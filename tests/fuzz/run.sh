#!/bin/sh
# run.sh - builds the libFuzzer targets in build-fuzz (clang, -Dfuzz=true)
# and runs each one for FUZZ_SECONDS (default 30).
#
# Usage: tests/fuzz/run.sh [TARGET...]     (TARGET: submit message address config reply)
#
# Each target starts from its seed corpus tests/fuzz/corpus/TARGET (read,
# never written) and a working corpus build-fuzz/fuzz/corpus/TARGET that
# keeps what earlier runs found. A crash, leak, sanitizer report or input
# slower than FUZZ_TIMEOUT seconds (default 10) is saved as
# build-fuzz/fuzz/artifacts/TARGET/crash-* (or leak-*, timeout-*, oom-*);
# keep it as tests/fuzz/crashes/TARGET-<what>-<sha1> and reproduce with
#   build-fuzz/tests/fuzz/fuzz_TARGET tests/fuzz/crashes/TARGET-...
# Exits 1 if any target failed, 2 if the build failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build-fuzz"
seconds=${FUZZ_SECONDS:-30}
timeout=${FUZZ_TIMEOUT:-10}
targets=${*:-submit message address config reply canon sts command}

cd "$root" || exit 2
if [ ! -f "$build/build.ninja" ]; then
    CC=${CC:-clang} meson setup "$build" -Dfuzz=true || exit 2
else
    meson configure "$build" -Dfuzz=true || exit 2
fi
for t in $targets; do
    if [ ! -d "$here/corpus/$t" ]; then
        echo "run.sh: unknown target '$t' (no $here/corpus/$t)" >&2
        exit 2
    fi
done
# ninja, not meson compile: it regenerates a stale build dir before it
# looks up the targets.
ninja -C "$build" $(for t in $targets; do printf 'tests/fuzz/fuzz_%s ' "$t"; done) || exit 2

# Leaks are failures; UBSan aborts (-fno-sanitize-recover) with a stack.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=""
for t in $targets; do
    work="$build/fuzz/corpus/$t"
    artifacts="$build/fuzz/artifacts/$t"
    log="$build/fuzz/$t.log"
    mkdir -p "$work" "$artifacts"
    echo "== fuzz_$t: ${seconds}s (log: $log)"
    "$build/tests/fuzz/fuzz_$t" -max_len=65536 -max_total_time="$seconds" \
        -timeout="$timeout" -print_final_stats=1 -artifact_prefix="$artifacts/" \
        "$work" "$here/corpus/$t" >"$log" 2>&1
    rc=$?
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$log"
    if [ "$rc" -ne 0 ]; then
        echo "!! fuzz_$t failed (exit $rc); artifacts in $artifacts:" >&2
        ls "$artifacts" >&2
        grep -E -m 5 'ERROR: |SUMMARY: |FUZZ_ASSERT|runtime error' "$log" >&2
        failed="$failed $t"
    fi
done

if [ -n "$failed" ]; then
    echo "FAILED:$failed" >&2
    exit 1
fi
echo "all targets ran ${seconds}s without a failure"
