#!/bin/bash
# delivery_crash.sh - mtad is killed with SIGKILL in the middle of
# delivering 1000 queued messages and started again: every message
# still arrives (at least once; a message in flight at the kill may
# arrive twice), intact, and the queue ends empty with nothing set aside.
export DNS_PORT=5404
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_mx.sh"
MSGTOOL="$(dirname "$0")/msgtool.py"
N=1000 BODY=1024 WRITERS=4
MX_IP=127.0.1.8

# free IP: nothing listens on IP:2525 yet (start_postfix would take a
# stray listener there for the new receiver).
free() { ! ss -Hltn "sport = :$MX_PORT" | grep -qF " $1:$MX_PORT " || fail "something already listens on $1:$MX_PORT"; }
# arrived: how many distinct messages the receiver has stored.
arrived() { received mxd | xargs -r grep -h '^X-Marker: ' | sort -u | wc -l; }

# The queue first, with delivery off (the last value in mta.conf wins).
setup_delivery "delivery = off"
start_dns --mx-host=d.test,mx.d.test,10 --host-record=mx.d.test,$MX_IP
free $MX_IP
start_postfix mxd $MX_IP d.test
start_mtad

seq -f 'dc-%04g' 1 $N >"$T/markers"
"$PY" "$MSGTOOL" gendir "$T/msgs" $BODY $(cat "$T/markers")
writer() {
    local m
    for m in $(sed -n "$1~${WRITERS}p" "$T/markers"); do
        "$SENDMAIL" -i -f s@test.example rcpt@d.test <"$T/msgs/$m" || echo "$m" >>"$T/sendmail_failed"
    done
}
pids=()
for w in $(seq $WRITERS); do
    bg writer "$w"
    pids+=("$BG_PID")
done
for p in "${pids[@]}"; do wait "$p"; done
[ ! -s "$T/sendmail_failed" ] || fail "sendmail failed for $(wc -l <"$T/sendmail_failed") messages"
"$PY" "$MSGTOOL" verify "$T/markers" --exact --body-bytes $BODY || fail "queue does not hold the $N messages intact"
check_eq "$(grep -c ': connect from' "$T/mxd/maillog")" 0 "connections while delivery is off"

# Delivery on; SIGKILL once part of the queue has arrived.
stop_mtad
echo "delivery = on" >>"$T/mta.conf"
start_mtad
some() { [ "$(received mxd | wc -l)" -ge 150 ]; }
wait_until 60 some || fail "fewer than 150 messages arrived in 60 s"
kill_mtad
at_kill=$(arrived)
log "killed mtad with $at_kill of $N messages arrived"
[ "$at_kill" -lt $N ] || fail "all $N messages arrived before the kill: nothing was left to test"

# Started again, it delivers the rest.
start_mtad
all() { [ "$(arrived)" -ge $N ]; }
wait_until 90 all || fail "$(arrived) of $N messages arrived within 90 s of the restart"
wait_until 20 queue_empty || fail "queue not empty: $(queue_count) messages left"
check_eq "$("$MTAQ" stats --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["set_aside"])')" \
    0 "damaged records set aside"

# Every stored copy is the generated message after mtad's Received
# header (and the receiver's own lines); each marker at least once.
"$PY" - "$T" "$MSGTOOL" $N $BODY <<'EOF' || fail "stored messages missing or damaged"
import glob, importlib.util, re, sys
T, tool, n, body = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
spec = importlib.util.spec_from_file_location("msgtool", tool)
msgtool = importlib.util.module_from_spec(spec); spec.loader.exec_module(msgtool)
seen, bad = {}, 0
for path in glob.glob(f"{T}/mxd/mail/*/new/*"):
    lines = open(path, "rb").read().split(b"\n")
    while lines and re.match(rb"(Return-Path|X-Original-To|Delivered-To): ", lines[0]):
        lines.pop(0)
    for who in (b"Received: from ", b"Received: by mta.test.example "):  # the receiver's, then mtad's
        if not lines or not lines[0].startswith(who):
            print(f"{path}: no {who.decode()!r} header where expected"); bad += 1
            break
        lines.pop(0)
        while lines and lines[0][:1] in (b"\t", b" "):
            lines.pop(0)
    rest = b"\n".join(lines)
    m = re.search(rb"\nX-Marker: (\S+)\n", rest)
    marker = m.group(1).decode() if m else "?"
    seen[marker] = seen.get(marker, 0) + 1
    if rest != msgtool.gen(marker, body).encode():
        print(f"{path}: {marker} differs from what was sent"); bad += 1
want = {f"dc-{i:04d}" for i in range(1, n + 1)}
missing = sorted(want - set(seen))
extra = sorted(set(seen) - want)
dups = sum(c - 1 for c in seen.values())
print(f"stored={sum(seen.values())} distinct={len(seen)} missing={len(missing)} "
      f"duplicates={dups} unexpected={len(extra)} damaged={bad}")
for m in missing[:10]:
    print(f"missing: {m}")
sys.exit(1 if missing or extra or bad else 0)
EOF
# The log is the record of what was delivered: each of the N queued
# messages has its status=sent line (a crash may repeat one, never drop
# one), and nothing was deferred or bounced.
check_eq "$(grep -cE 'status=(deferred|bounced)' "$T/mtad.log")" 0 "deferred or bounced lines"
check_eq "$(sed -n 's/.*: \([0-9A-Z]*\): to=<rcpt@d.test>, relay=mx.d.test\[.*status=sent (250 .*/\1/p' "$T/mtad.log" | sort -u | wc -l)" \
    $N "queued messages with a status=sent line in mtad.log"
stop_mtad
pass
