#!/bin/bash
# hostile.sh - receivers that break the rules: a scripted server
# (hostile_server.py) plays one misbehaviour per domain, each domain's MX
# pointing at its own 127.0.3.1x:2525. For every one the message must end
# up deferred (an attempt counted, last_reply saying why), mtad must stay
# up, and a message to a well-behaved Postfix (ok.test, 127.0.3.9) sent
# right after must be delivered. At the end mtad must stop cleanly (exit
# status 0; under ASan/UBSan that includes no leak and no report).
#
#   multiline    "250-ok" then "251 x" after EHLO     -> malformed reply
#   bigline      a 1 MB EHLO reply line without CRLF  -> oversized reply
#   greet554     "554" greeting                        -> deferred, not bounced
#   hangdot      no reply to the final dot             -> smtp_data_done_timeout
#   garbage      binary bytes before the 220           -> malformed reply
#   early        "250 early bird" before the 220       -> not a greeting
#   unsolicited  two "250 ok" to one MAIL, one write   -> out of step: deferred
#   data250      "250 ok" to DATA instead of 354       -> nothing sent: deferred
#   closedata    closes after 16 KB of DATA            -> lost connection
export DNS_PORT=${DNS_PORT:-5421}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_mx.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
# mode | what its last_reply must match (grep -Ei)
MODES=(
    "multiline|malformed reply"
    "bigline|oversized reply"
    "greet554|554"
    "hangdot|timeout.*end of data"
    "garbage|malformed reply"
    "early|early bird"
    "unsolicited|unexpected|malformed|out of (step|turn)"
    "data250|unexpected|DATA|354"
    "closedata|lost connection"
)

# Short stage timeouts: the sanitizer build runs this too.
setup_delivery "inet_protocols = ipv4" "smtp_connect_timeout = 3s" \
    "smtp_helo_timeout = 3s" "smtp_mail_timeout = 3s" "smtp_rcpt_timeout = 3s" \
    "smtp_data_init_timeout = 3s" "smtp_data_xfer_timeout = 3s" \
    "smtp_data_done_timeout = 2s" "smtp_quit_timeout = 2s"

dns=("--mx-host=ok.test,mx.ok.test,10" "--host-record=mx.ok.test,127.0.3.9")
specs=()
i=1
for entry in "${MODES[@]}"; do
    m=${entry%%|*}
    dns+=("--mx-host=$m.test,mx.$m.test,10" "--host-record=mx.$m.test,127.0.3.$((10 + i))")
    specs+=("127.0.3.$((10 + i)):$MX_PORT=$m")
    i=$((i + 1))
done
start_dns "${dns[@]}"

bg "$PY" "$HERE/hostile_server.py" "${specs[@]}" >"$T/hostile.log" 2>&1
HOSTILE_PID=$BG_PID
wait_until 10 grep -qx ready "$T/hostile.log" ||
    fail "hostile_server.py did not start: $(cat "$T/hostile.log")"
start_postfix ok 127.0.3.9 ok.test
start_mtad

# mtad_healthy: the process lives and answers on its socket.
mtad_healthy() {
    kill -0 "$MTAD_PID" 2>/dev/null || fail "mtad died: $(tail -n 40 "$T/mtad.out")"
    "$MTAQ" stats >/dev/null 2>&1 || fail "mtad alive but mtaq stats fails"
}

# logged_id ADDRESS: the queue id in the first outcome mtad logged for
# ADDRESS (a delivered message leaves the queue, so the log is where to
# find it); sets LOGGED to that log line.
logged_id() {
    LOGGED=$(grep -m1 " to=<$1>, .*status=" "$T/mtad.log")
    [ -n "$LOGGED" ] && sed 's/.*: \([0-9A-Z]*\): to=<.*/\1/' <<<"$LOGGED"
}

# rcpt_state ID: the state of the message's (single) recipient.
rcpt_state() { msg_json "$1" 'm["recipients"][0]["state"]' 2>/dev/null || echo gone; }
settled() { case "$(rcpt_state "$1")" in ready | sending) return 1 ;; *) return 0 ;; esac; }

# A wrong outcome for one mode is recorded and the others still run; the
# scenario fails at the end with all of them. mtad dying fails at once.
FAILURES=()
IDS=()
bad() {
    log "  WRONG: $*"
    FAILURES+=("$*")
}

OK_SENT=0
# deliver_ok: a message to the normal receiver arrives.
deliver_ok() {
    OK_SENT=$((OK_SENT + 1))
    printf 'Subject: ok %s\n\nafter %s\n' "$OK_SENT" "$1" | "$SENDMAIL" -i "user$OK_SENT@ok.test" ||
        fail "sendmail to ok.test"
    wait_delivered ok "$OK_SENT" 30
    log "  ok.test got message $OK_SENT"
}

log "baseline: the normal receiver works"
deliver_ok start

for entry in "${MODES[@]}"; do
    m=${entry%%|*}
    why=${entry#*|}
    log "mode $m"
    addr="user@$m.test"
    size=2000
    # closedata: large enough that the client is still writing when the server goes
    [ "$m" = closedata ] && size=200000
    "$PY" "$HERE/msgtool.py" gen "hostile-$m" "$size" | "$SENDMAIL" -i "$addr" ||
        fail "sendmail to $addr"
    wait_until 30 logged_id "$addr" >/dev/null || fail "$m: no outcome logged for $addr in 30 s"
    id=$(logged_id "$addr")
    IDS+=("$m=$id")
    log "  mtad.log: ${LOGGED#*mtad\[*\]: }"
    wait_until 10 settled "$id" || fail "$m: still $(rcpt_state "$id") 10 s after the outcome"
    if [ "$(rcpt_state "$id")" = gone ]; then
        bad "$m: message $id left the queue (mtaq show fails), want deferred; mtad.log: $LOGGED"
    else
        read -r state attempts reply < <(msg_json "$id" \
            '"%s %d %s" % (m["recipients"][0]["state"], m["recipients"][0]["attempts"], m["recipients"][0]["last_reply"])')
        log "  mtaq show: $state, $attempts attempt(s), last_reply: $reply"
        [ "$state" = deferred ] || bad "$m: state of $addr is '$state', want deferred (last_reply: $reply)"
        [ "$attempts" -ge 1 ] || bad "$m: attempts $attempts, want >= 1"
        grep -Eqi "$why" <<<"$reply" || bad "$m: last_reply '$reply' does not match '$why'"
    fi
    grep -q "^$m: connection$" "$T/hostile.log" || bad "$m: the hostile server saw no connection"
    kill -0 "$HOSTILE_PID" 2>/dev/null || fail "hostile_server.py died: $(tail "$T/hostile.log")"
    mtad_healthy
    deliver_ok "$m"
done

log "what the hostile server saw"
grep -E ': (mismatched|1 MB|final dot|two replies|250 to DATA|closing|message of)' "$T/hostile.log" | sort | uniq -c >&2
# the hostile ones really met the client, the normal part of the story too
grep -q "^bigline: 1 MB EHLO reply line$" "$T/hostile.log" || fail "bigline: no long line sent"
grep -q "^hangdot: final dot after" "$T/hostile.log" || fail "hangdot: the content never came"
grep -q "^closedata: closing after" "$T/hostile.log" || fail "closedata: did not close mid-DATA"
grep -q "^unsolicited: two replies to MAIL$" "$T/hostile.log" || fail "unsolicited: MAIL never came"
grep -q "^data250: 250 to DATA$" "$T/hostile.log" || fail "data250: DATA never came"

log "ok.test got every message, and nothing else was delivered"
for e in "${IDS[@]}"; do
    st=$(rcpt_state "${e#*=}")
    [ "$st" = deferred ] || [ "$st" = gone ] || bad "${e%%=*}: state '$st' at the end, want deferred"
done
sent=$(grep -c 'status=sent' "$T/mtad.log")
[ "$sent" = "$OK_SENT" ] || bad "mtad.log has $sent deliveries logged as sent, want $OK_SENT (ok.test only)"
check_eq "$(received ok | wc -l)" "$OK_SENT" "messages stored by ok.test"
mtad_healthy
stop_mtad
check_not_contains "$(cat "$T/mtad.out")" "Sanitizer" "mtad stderr"
check_not_contains "$(cat "$T/mtad.out")" "runtime error" "mtad stderr"
if [ ${#FAILURES[@]} -gt 0 ]; then
    for f in "${FAILURES[@]}"; do log "WRONG: $f"; done
    fail "${#FAILURES[@]} hostile mode(s) ended wrong (above)"
fi
pass
