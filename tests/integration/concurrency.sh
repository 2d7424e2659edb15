#!/bin/bash
# concurrency.sh - 4 processes x 1,000 sendmail runs at once give exactly
# 4,000 intact messages: first with mtad running (socket, group commit),
# then with mtad stopped (maildrop through mta-postdrop) and started after.
. "$(dirname "$0")/lib.sh"
MSGTOOL="$(dirname "$0")/msgtool.py"
PER_WRITER=${PER_WRITER:-1000}

# writer PHASE W: sends PER_WRITER messages, records each marker sent with
# exit 0, and each failure.
writer() {
    local phase=$1 w=$2 i marker
    for ((i = 1; i <= PER_WRITER; i++)); do
        marker="$phase-w$w-$i"
        if "$SENDMAIL" -i rcpt@example.com <"$T/msgs/$marker"; then
            echo "$marker" >>"$T/sent.$phase.$w"
        else
            echo "$marker exit $?" >>"$T/failed"
        fi
    done
}

run_writers() {
    local phase=$1 w pids=()
    "$PY" "$MSGTOOL" gendir "$T/msgs" 1024 $(for w in 1 2 3 4; do
        seq -f "$phase-w$w-%g" 1 "$PER_WRITER"; done)
    for w in 1 2 3 4; do
        bg writer "$phase" "$w"
        pids+=("$BG_PID")
    done
    for w in "${pids[@]}"; do wait "$w"; done
}

setup
start_mtad

log "phase 1: 4 x $PER_WRITER sendmail runs with mtad running"
run_writers live
[ -s "$T/failed" ] && fail "sendmail failures: $(head -5 "$T/failed")"
cat "$T"/sent.live.* >"$T/want.live"
check_eq "$(wc -l <"$T/want.live")" $((4 * PER_WRITER)) "messages acknowledged"
check_eq "$(queue_count)" $((4 * PER_WRITER)) "messages in the queue"
"$PY" "$MSGTOOL" verify "$T/want.live" --exact --body-bytes 1024 || fail "queue content (phase 1)"

log "phase 2: the same with mtad stopped (maildrop)"
"$MTAQ" list --json | "$PY" -c 'import json,sys; [print(m["id"]) for m in json.load(sys.stdin)]' \
    | xargs -r -n 200 "$MTAQ" delete >/dev/null
check_eq "$(queue_count)" 0 "queue emptied between phases"
stop_mtad
run_writers drop
[ -s "$T/failed" ] && fail "sendmail failures without mtad: $(head -5 "$T/failed")"
check_eq "$(find "$T/spool/maildrop" -type f | wc -l)" $((4 * PER_WRITER)) "files in maildrop"
start_mtad
drained() { [ "$(find "$T/spool/maildrop" -type f | wc -l)" = 0 ]; }
wait_until 120 drained || fail "maildrop not drained: $(find "$T/spool/maildrop" -type f | wc -l) left"
cat "$T"/sent.drop.* >"$T/want.drop"
check_eq "$(queue_count)" $((4 * PER_WRITER)) "messages imported from the maildrop"
"$PY" "$MSGTOOL" verify "$T/want.drop" --exact --body-bytes 1024 || fail "queue content (phase 2)"
check_eq "$(find "$T/spool/corrupt" -type f | wc -l)" 0 "nothing set aside"
stop_mtad
pass
