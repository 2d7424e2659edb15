#!/bin/bash
# crash.sh - sendmail runs in a loop while mtad and some sendmail
# processes are killed with SIGKILL at random moments (and mtad
# restarted): every message whose sendmail exited 0 is in the queue
# intact, and the queue opens cleanly afterwards.
. "$(dirname "$0")/lib.sh"
MSGTOOL="$(dirname "$0")/msgtool.py"
PER_WRITER=${PER_WRITER:-400}
WRITERS=4

writer() {
    local w=$1 i marker rc
    for ((i = 1; i <= PER_WRITER; i++)); do
        marker="crash-w$w-$i"
        "$SENDMAIL" -i rcpt@example.com <"$T/msgs/$marker"
        rc=$?
        echo "$marker $rc" >>"$T/result.$w"
    done
}

setup
"$PY" "$MSGTOOL" gendir "$T/msgs" 2048 $(for w in $(seq $WRITERS); do
    seq -f "crash-w$w-%g" 1 "$PER_WRITER"; done)
start_mtad

pids=()
for w in $(seq $WRITERS); do
    bg writer "$w"
    pids+=("$BG_PID")
done
running() {
    local p
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done
    return 1
}

# The killer: mtad down and up again, and a random sendmail, at random
# moments. The first pass always kills mtad, so a fast run still does.
kills=0 sendmail_kills=0
while running; do
    sleep "0.$((RANDOM % 6 + 1))"
    case $((kills == 0 ? 0 : RANDOM % 3)) in
    0)
        kill_mtad
        kills=$((kills + 1))
        sleep "0.$((RANDOM % 4))"
        start_mtad
        ;;
    *)
        victim=$(pgrep -f "^$SENDMAIL -i" | shuf -n 1)
        if [ -n "$victim" ]; then
            kill -9 "$victim" 2>/dev/null && sendmail_kills=$((sendmail_kills + 1))
        fi
        ;;
    esac
done
for p in "${pids[@]}"; do wait "$p"; done
log "mtad killed $kills times, sendmail killed $sendmail_kills times"
[ "$kills" -gt 0 ] || fail "the test never killed mtad"

# Everything left in the maildrop is imported once mtad runs.
[ -n "$MTAD_PID" ] || start_mtad
drained() { [ "$(find "$T/spool/maildrop" -type f -perm -g+r | wc -l)" = 0 ]; }
wait_until 60 drained || fail "maildrop not drained"

cat "$T"/result.* | awk '$2 == 0 { print $1 }' >"$T/acked"
log "$(wc -l <"$T/acked") of $((WRITERS * PER_WRITER)) sendmail runs exited 0"
other=$(cat "$T"/result.* | awk '$2 != 0 && $2 != 137 { print }' | head -5)
[ -z "$other" ] || fail "sendmail failed other than by SIGKILL: $other"
"$PY" "$MSGTOOL" verify "$T/acked" --body-bytes 2048 || fail "acknowledged messages missing or damaged"

# The queue opens cleanly after the last crash, nothing was set aside.
kill_mtad
start_mtad
check_eq "$("$MTAQ" stats --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["set_aside"])')" \
    0 "damaged records set aside"
stop_mtad
pass
