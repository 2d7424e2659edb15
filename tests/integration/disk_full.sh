#!/bin/bash
# disk_full.sh - when the queue cannot grow (a tiny LMDB map, then a small
# tmpfs that really fills up), sendmail exits 75, nothing half-written
# appears, everything queued before stays intact, and mtad keeps working.
. "$(dirname "$0")/lib.sh"
MSGTOOL="$(dirname "$0")/msgtool.py"

# fill NAME: sends 100 KB messages until one is refused; records acked ones.
fill() {
    local i rc
    : >"$T/acked.$1"
    for i in $(seq 1 200); do
        "$PY" "$MSGTOOL" gen "$1-$i" 100000 >"$T/msg"
        rc=0
        "$SENDMAIL" -i rcpt@example.com <"$T/msg" 2>"$T/err" || rc=$?
        if [ $rc != 0 ]; then
            check_eq "$rc" 75 "sendmail exit status when the queue is full"
            check_contains "$(cat "$T/err")" "message not queued: 4.3." "sendmail's message"
            return 0
        fi
        echo "$1-$i" >>"$T/acked.$1"
    done
    fail "the queue never filled up"
}

setup "queue_map_size = 1M"
start_mtad

log "a 1 MB map"
fill map
n=$(wc -l <"$T/acked.map")
[ "$n" -gt 0 ] || fail "not even one message fitted"
check_eq "$(queue_count)" "$n" "messages in the queue after the refusal"
"$PY" "$MSGTOOL" verify "$T/acked.map" --exact --body-bytes 100000 || fail "queue content"
# The daemon is healthy: room made by deletes is used again. (LMDB reuses
# pages freed by a transaction only a few write transactions later, once
# no snapshot can see them: hold and release make those.)
"$MTAQ" delete $(queue_ids | head -2) >/dev/null
keep=$(queue_ids | head -1)
"$MTAQ" hold "$keep" >/dev/null
"$MTAQ" release "$keep" >/dev/null
"$PY" "$MSGTOOL" gen again 100000 | "$SENDMAIL" -i rcpt@example.com || fail "send after delete"
check_eq "$(queue_count)" "$((n - 1))" "messages after two deletes and one more send"
stop_mtad

log "a 2 MB tmpfs under a 64 MB map"
mkdir "$T/small"
mount -t tmpfs -o size=2m tmpfs "$T/small" 2>/dev/null || skip "cannot mount a tmpfs here"
trap 'rc=$?; umount "$T/small" 2>/dev/null; (exit $rc); cleanup' EXIT
sed -i "s|^queue_dir = .*|queue_dir = $T/small/spool|; s|^queue_map_size = .*|queue_map_size = 64M|" \
    "$T/mta.conf"
start_mtad
fill disk
n=$(wc -l <"$T/acked.disk")
check_eq "$(queue_count)" "$n" "messages in the queue after ENOSPC"
"$PY" "$MSGTOOL" verify "$T/acked.disk" --exact --body-bytes 100000 || fail "queue content"
# Restart: the queue opens cleanly and holds the same messages.
kill_mtad
start_mtad
check_eq "$(queue_count)" "$n" "messages after a restart on a full disk"
stop_mtad
pass
