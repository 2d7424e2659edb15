#!/bin/bash
# delivery_throttle.sh - a provider asking us to slow down pauses its
# destination only.
#
# a.test and b.test have receivers of their own; a.test's answers RCPT
# with "421 4.7.28" (a rate limit, as large providers send). The first
# refusal pauses a.test for throttle_pause (10 s) and halves its
# concurrency; mtaq stats shows the pause and why while it lasts. During
# the pause b.test mail keeps flowing and new a.test mail waits without a
# connection. The receiver relents (its table is cleared), the pause ends,
# and a.test mail is delivered. Then a.test throttles again and keeps
# throttling at the retry: the further pause is twice as long, at half the
# concurrency again.
export DNS_PORT=${DNS_PORT:-5413}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_mx.sh"

# retry_schedule is longer than the pause: a throttled recipient is retried
# after the pause is over, and a.test has nothing waiting when it ends.
setup_delivery "throttle_pause = 10s" "retry_schedule = 15s" "connection_idle_timeout = 1s"
start_dns --mx-host=a.test,mx1.a.test,10 --host-record=mx1.a.test,127.0.2.21 \
    --mx-host=b.test,mx1.b.test,10 --host-record=mx1.b.test,127.0.2.22
start_postfix mxa 127.0.2.21 a.test
start_postfix mxb 127.0.2.22 b.test
throttle="421 4.7.28 too fast, come back later"
postfix_access mxa "a.test $throttle"
start_mtad

send() { # send RCPT: a message from sender@s.test, Subject: RCPT
    printf 'Subject: %s\n\nfor %s\n' "$1" "$1" | "$SENDMAIL" -f sender@s.test "$1" ||
        fail "sendmail $1: exit status $?"
}
rcpt_id() { grep -F "to=<$1>" "$T/mtad.log" | head -1 | sed 's/^.*\]: \([^:]*\): .*/\1/'; }
# log_lines PATTERN: the matching lines of mtad.log without their prefix.
log_lines() { grep -e "$1" "$T/mtad.log" | sed 's/^.*\]: //'; }
# log_time PATTERN: the second of the day of the first matching line.
log_time() {
    grep -m1 -e "$1" "$T/mtad.log" | awk '{split($3, t, ":"); print t[1] * 3600 + t[2] * 60 + t[3]}'
}
paused_count() { [ "$(grep -c "a.test: destination paused" "$T/mtad.log")" -ge "$1" ]; }
resumed() { grep -q "a.test: destination resumed" "$T/mtad.log"; }
sent() { grep -q "to=<$1>.*status=sent" "$T/mtad.log"; }
mxa_idle() { [ "$(grep -c "smtpd.*: disconnect from" "$T/mxa/maillog")" = "$(connections mxa | head -1)" ]; }
# (head -1: lib_mx.sh's connections prints "0" twice when there are none)

# 1. The first refusal pauses a.test; b.test is delivered.
send a1@a.test
send b1@b.test
wait_until 15 paused_count 1 || fail "a.test not paused"
reply='421 4.7.28 <a1@a.test>: Recipient address rejected: too fast, come back later'
pause=$(log_lines "a.test: destination paused")
check_eq "${pause%%concurrency 2: *}" "warning: a.test: destination paused for 10s, " "pause log line"
check_contains "$pause" "for 10s, concurrency 2: " "pause log line (slow start 5, halved)"
reason=${pause#*concurrency 2: }
check_eq "$(log_lines "to=<a1@a.test>" | sed 's/delay=[0-9]*, //')" \
    "$(rcpt_id a1@a.test): to=<a1@a.test>, relay=mx1.a.test[127.0.2.21]:2525, tls=none, dsn=4.7.28, status=deferred ($reply)" \
    "a1@a.test deferred by the throttle"
wait_until 15 sent b1@b.test || fail "b1@b.test not delivered"

# 2. While paused: stats say so, b.test flows, a.test mail waits.
stats=$("$MTAQ" stats) || fail "mtaq stats"
check_contains "$stats" "daemon:" "mtaq stats while mtad runs"
line=$(grep -o "paused a.test for [0-9]*s more, concurrency [0-9]*: .*" <<<"$stats")
[ -n "$line" ] || fail "mtaq stats does not show the pause of a.test: $stats"
left=$(sed 's/paused a.test for \([0-9]*\)s more.*/\1/' <<<"$line")
[ "$left" -ge 1 ] && [ "$left" -le 10 ] || fail "pause left: got ${left}s, want 1-10s"
check_eq "${line#*s more, }" "concurrency 2: $reason" "mtaq stats: the pause's concurrency and reason"
send b2@b.test
send a2@a.test
wait_delivered mxb 2 15
a2=$(grep -F "to=<a2@a.test>" "$T/mtad.log")
check_eq "$a2" "" "log of a2@a.test while paused (no attempt)"
check_contains "$("$MTAQ" stats)" "paused a.test for " "mtaq stats after b2@b.test was delivered (still paused)"
check_eq "$(connections mxa | head -1)" 1 "connections to a.test's receiver during the pause"
a2=$(queue_ids | while read -r id; do
    [ "$(msg_json "$id" 'm["recipients"][0]["address"]')" = a2@a.test ] && echo "$id"
done)
check_eq "$(msg_json "$a2" 'm["recipients"][0]["attempts"], m["recipients"][0]["state"]')" \
    "0 ready" "a2@a.test in the queue during the pause"
# it is due when the pause ends: 10 s after the pause began
due=$(msg_json "$a2" '__import__("calendar").timegm(__import__("time").strptime(m["recipients"][0]["next_attempt"], "%Y-%m-%dT%H:%M:%SZ"))')
check_eq "$(date -d "@$due" +%H:%M:%S)" \
    "$(date -d "$(grep -m1 "a.test: destination paused" "$T/mtad.log" | awk '{print $3}') 10 seconds" +%H:%M:%S)" \
    "a2@a.test due at the end of the pause"

# 3. The receiver relents; after the pause a.test is delivered.
postfix_access mxa
wait_until 15 resumed || fail "a.test not resumed"
check_eq "$(log_lines "a.test: destination resumed")" "a.test: destination resumed, concurrency 2" "resume log line"
wait_until 10 sent a2@a.test || fail "a2@a.test not delivered after the pause"
wait_until 15 sent a1@a.test || fail "a1@a.test not delivered at its retry"
wait_delivered mxa 2
t0=$(log_time "a.test: destination paused")
for r in a2@a.test a1@a.test; do
    t=$(log_time "to=<$r>.*status=sent")
    [ $(((t - t0 + 86400) % 86400)) -ge 10 ] || fail "$r delivered $(((t - t0 + 86400) % 86400))s after the pause began, want >= 10s"
done
check_not_contains "$("$MTAQ" stats)" "paused" "mtaq stats after the pause"
check_eq "$(queue_count)" 0 "queue after the pause"
# Why it paused: what the receiver said, not a generic word.
check_eq "$reason" "$reply" "pause reason in the log and in mtaq stats"

# 4. Throttled again, and again at the retry: the pause doubles, the
# concurrency halves again.
wait_until 10 mxa_idle || fail "connections to a.test still open"
postfix_access mxa "a.test $throttle"
send a3@a.test
wait_until 15 paused_count 2 || fail "a.test not paused by a3@a.test"
first=$(log_lines "a.test: destination paused" | sed -n 2p)
p1=$(sed 's/.*paused for \([0-9]*\)s.*/\1/' <<<"$first")
c1=$(sed 's/.*concurrency \([0-9]*\):.*/\1/' <<<"$first")
wait_until 25 paused_count 3 || fail "a.test not paused again at a3@a.test's retry"
check_eq "$(log_lines "to=<a3@a.test>" | sed 's/^[^:]*: //; s/delay=[0-9]*, //' | sort -u)" \
    "to=<a3@a.test>, relay=mx1.a.test[127.0.2.21]:2525, tls=none, dsn=4.7.28, status=deferred (${reply//a1@/a3@})" \
    "a3@a.test deferred twice by the throttle"
c2=$((c1 > 1 ? c1 / 2 : 1))
check_eq "$(log_lines "a.test: destination paused" | sed -n 3p | sed 's/: [0-9]\{3\} .*//')" \
    "warning: a.test: destination paused for $((2 * p1))s, concurrency $c2" \
    "further pause (after '$first')"
postfix_access mxa
wait_until $((2 * p1 + 20)) sent a3@a.test || fail "a3@a.test not delivered after the longer pause"
stop_mtad
pass
