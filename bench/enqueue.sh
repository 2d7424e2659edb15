#!/bin/bash
# enqueue.sh - enqueue rate through the sendmail program (4 KB messages,
# mtad running), with 1 and with 16 parallel writers, beside the raw LMDB
# rate of one durable commit per message measured in the same run.
#
# Starting a process costs a lot on some machines (gVisor sandboxes), so it
# also prints the rate of starting /bin/true (the ceiling of any
# one-process-per-message path) and the rate of the same submissions made
# by threads of one process (bench/submit_load): that is what group commit
# itself gives.
#
#   bench/enqueue.sh [BUILD_DIR]     (N=2000 messages per run by default)
# Runs as any user that may write TMPBASE (default /var/tmp: a real disk,
# so that fsync costs what it costs).
set -euo pipefail
# mtad becomes the unprivileged user mta once started (scripts/install-system.sh
# creates it; so does this, when it is missing).
getent passwd mta >/dev/null || useradd --system --user-group --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin mta
B=$(cd "${1:-$(dirname "$0")/../build}" && pwd)
N=${N:-2000}
TMPBASE=${TMPBASE:-/var/tmp}
T=$(mktemp -d "$TMPBASE/mtabench.XXXXXX")
chmod 755 "$T" # mtad runs as mta and must reach the queue inside
MTAD_PID=""
cleanup() {
    [ -n "$MTAD_PID" ] && kill "$MTAD_PID" 2>/dev/null && wait "$MTAD_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

cat >"$T/mta.conf" <<CONF
hostname = mta.bench.example
queue_dir = $T/spool
log = $T/mtad.log
delivery = off
CONF
export MTA_CONF=$T/mta.conf
python3 "$(dirname "$0")/../tests/integration/msgtool.py" gen bench 4096 >"$T/msg"

"$B/mta/mtad" run &
MTAD_PID=$!
for _ in $(seq 100); do [ -S "$T/spool/public/mtad.sock" ] && break; sleep 0.1; done

now() { date +%s.%N; }
# writers W: N messages in total split over W parallel sendmail loops
writers() {
    local w=$1 per=$((N / $1)) i pids=() t0 t1
    t0=$(now)
    for ((i = 0; i < w; i++)); do
        (for ((j = 0; j < per; j++)); do "$B/mta/sendmail" -i bench@example.com <"$T/msg"; done) &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i"; done
    t1=$(now)
    awk -v n=$((per * w)) -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }'
}

spawn() { # rate of starting /bin/true from 16 loops
    local per=$((N / 16)) i pids=() t0 t1
    t0=$(now)
    for ((i = 0; i < 16; i++)); do
        (for ((j = 0; j < per; j++)); do /bin/true; done) &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i"; done
    t1=$(now)
    awk -v n=$((per * 16)) -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }'
}

mkdir "$T/raw"
raw=$("$B/bench/lmdb_commit" "$T/raw" "$N" 4096 | awk '{print $3}')
one=$(writers 1)
sixteen=$(writers 16)
true16=$(spawn)
sock1=$("$B/bench/submit_load" "$T/spool/public/mtad.sock" 1 "$N" "$T/msg" | awk '{print $4}')
sock16=$("$B/bench/submit_load" "$T/spool/public/mtad.sock" 16 "$N" "$T/msg" | awk '{print $4}')
sock64=$("$B/bench/submit_load" "$T/spool/public/mtad.sock" 64 "$N" "$T/msg" | awk '{print $4}')
queued=$("$B/mta/mtaq" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')

echo "enqueue benchmark: $(nproc) CPUs, 4 KB messages, N=$N per run, queue on $(df --output=fstype "$T" | tail -1)"
printf '%-34s %10s %8s\n' "what" "msgs/s" "x raw"
printf '%-34s %10s %8s\n' "raw LMDB, 1 commit per message" "$raw" "1.00"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-34s %10s %8s\n' "sendmail, 1 writer" "$one" "$(ratio "$one" "$raw")"
printf '%-34s %10s %8s\n' "sendmail, 16 writers" "$sixteen" "$(ratio "$sixteen" "$raw")"
printf '%-34s %10s %8s\n' "(/bin/true, 16 loops: spawn bound)" "$true16" "$(ratio "$true16" "$raw")"
printf '%-34s %10s %8s\n' "socket, 1 thread" "$sock1" "$(ratio "$sock1" "$raw")"
printf '%-34s %10s %8s\n' "socket, 16 threads" "$sock16" "$(ratio "$sock16" "$raw")"
printf '%-34s %10s %8s\n' "socket, 64 threads" "$sock64" "$(ratio "$sock64" "$raw")"
total=$(( N + (N / 16) * 16 + N + (N / 16) * 16 + (N / 64) * 64 ))
echo "messages queued: $queued (expected $total)"
