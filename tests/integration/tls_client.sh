#!/bin/bash
# tls_client.sh - outbound STARTTLS (smtp/client.c over smtp/tls.c) at each
# outbound_tls level, against real Postfix receivers on 127.0.6.x:2525
# and the scripted tls_hostile.py, driven by smtp/tls_probe (one session,
# one message; it prints tls=/verified=/result= lines).
#
#   mx1 127.0.6.1  STARTTLS, certificate for mx1.example.test (test CA)
#   mx2 127.0.6.2  STARTTLS, self-signed for mx2.example.test
#   mx3 127.0.6.3  STARTTLS, expired, for mx3.example.test (test CA)
#   mx4 127.0.6.4  STARTTLS, wildcard *.example.test (test CA)
#   mx5 127.0.6.5  no STARTTLS
#   127.0.6.10-13  tls_hostile.py: inject, inject554, late554, refuse
#
# verify must refuse another name, a self-signed and an expired
# certificate (klass 4, nothing delivered, no MAIL sent); may must deliver
# over TLS to all of them with verified=no; encrypt must not send a byte
# of the message to a receiver without STARTTLS; lines injected after
# "220 Ready to start TLS" must never be taken as replies.
export DNS_PORT=${DNS_PORT:-5451}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_mx.sh"
. "$(dirname "$0")/lib_tls.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
PROBE=${TLS_PROBE:-${MTA_BUILD:-}/smtp/tls_probe}
[ -x "$PROBE" ] || fail "tls_probe not built (TLS_PROBE or MTA_BUILD): $PROBE"

setup
tls_ca
tls_cert mx1 mx1.example.test
tls_cert_selfsigned mx2 mx2.example.test
tls_cert_expired mx3 mx3.example.test
tls_cert mx4 '*.example.test'
TLS_KEY=ec tls_cert hostile mx.hostile.test

for i in 1 2 3 4 5; do
    start_postfix mx$i 127.0.6.$i example.test
done
for i in 1 2 3 4; do
    postfix_tls mx$i mx$i
done

bg "$PY" "$HERE/tls_hostile.py" "$TLS_DIR/hostile.crt" "$TLS_DIR/hostile.key" \
    "127.0.6.10:$MX_PORT=inject" "127.0.6.11:$MX_PORT=inject554" \
    "127.0.6.12:$MX_PORT=late554" "127.0.6.13:$MX_PORT=refuse" >"$T/hostile.log" 2>&1
wait_until 10 grep -qx ready "$T/hostile.log" ||
    fail "tls_hostile.py did not start: $(cat "$T/hostile.log")"

N=0
# probe LEVEL MXNAME IP [INSTANCE]: one session with a message (a token in
# X-Probe) to user@example.test; OUT is what tls_probe printed, RC its
# status, TOKEN the message's token. With INSTANCE, waits until that
# Postfix logged the session's end.
probe() {
    local level=$1 name=$2 ip=$3 inst=${4:-} before=0
    N=$((N + 1))
    TOKEN="probe-$N-$level-$RANDOM"
    {
        printf 'From: <sender@mta.test>\nTo: <user@example.test>\nSubject: %s\n' "$TOKEN"
        printf 'X-Probe: %s\n\nfirst line\n.a line that starts with a dot\n..two\nend\n' "$TOKEN"
    } >"$T/$TOKEN.eml"
    [ -n "$inst" ] && before=$(smtpd_sessions "$inst" | wc -l)
    RC=0
    OUT=$("$PROBE" "$ip" "$MX_PORT" "$name" "$level" "$TLS_DIR/ca.crt" sender@mta.test \
        user@example.test "$T/$TOKEN.eml" 2>&1) || RC=$?
    log "$level $name[$ip]: rc=$RC $(tr '\n' ' ' <<<"$OUT")"
    # a sanitizer build (TLS_PROBE) reports on stderr, which OUT holds
    check_not_contains "$OUT" "Sanitizer" "$level $name: sanitizer report"
    check_not_contains "$OUT" "runtime error" "$level $name: sanitizer report"
    if [ -n "$inst" ]; then
        wait_until 10 eval '[ "$(smtpd_sessions "$inst" | wc -l)" -gt "$before" ]' ||
            fail "$inst logged no end of session"
        SESSION=$(smtpd_sessions "$inst" | tail -n 1)
    fi
}

# delivered_file INSTANCE: the stored message carrying TOKEN (waits for it).
delivered_file() {
    local f end=$((SECONDS + 15))
    while :; do
        f=$(received "$1" | xargs -r grep -l "^X-Probe: $TOKEN\$" 2>/dev/null | head -n 1)
        [ -n "$f" ] && { echo "$f"; return 0; }
        [ $SECONDS -lt $end ] || return 1
        sleep 0.2
    done
}

# headers FILE: the header block, folded lines joined.
headers() { sed -n '1,/^$/p' "$1" | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n[ \t]\+/ /g'; }

# expect_tls_delivery INSTANCE VERIFIED: the probe succeeded over TLS 1.2,
# with the verdict given, and INSTANCE stored the message received over TLS.
expect_tls_delivery() {
    local f
    check_eq "$RC" 0 "tls_probe status"
    check_contains "$OUT" "tls=yes version=TLSv1.2 cipher=TLS_ECDHE_" "TLS parameters"
    check_contains "$OUT" "verified=$2" "verdict"
    check_contains "$OUT" "result=2 250" "result"
    f=$(delivered_file "$1") || fail "$1 did not store $TOKEN"
    check_contains "$(headers "$f")" "(using TLSv1.2 with cipher" "Received header of $TOKEN"
    check_contains "$(cat "$f")" $'\n.a line that starts with a dot\n..two\n' "dot-stuffing"
}

# expect_refused ENHANCED TEXT: deferred before MAIL, nothing stored.
expect_refused() {
    check_eq "$RC" 1 "tls_probe status"
    check_contains "$OUT" "result=4 0 $1 " "result"
    check_contains "$OUT" "$2" "result text"
    local f
    f=$(for i in 1 2 3 4 5; do received mx$i; done | xargs -r grep -l "^X-Probe: $TOKEN\$")
    check_eq "$f" "" "stored copies of $TOKEN"
}

log "--- levels against a good certificate (mx1)"
probe verify mx1.example.test 127.0.6.1 mx1
expect_tls_delivery mx1 yes
check_contains "$OUT" "verify_error=-" "no verify error"
check_contains "$OUT" "ext=PIPELINING,SIZE,8BITMIME," "capabilities after TLS"
check_not_contains "$OUT" "STARTTLS," "no STARTTLS offered over TLS"
probe encrypt mx1.example.test 127.0.6.1 mx1
expect_tls_delivery mx1 yes
probe may mx1.example.test 127.0.6.1 mx1
expect_tls_delivery mx1 yes
probe none mx1.example.test 127.0.6.1 mx1
check_eq "$RC" 0 "none: status"
check_contains "$OUT" "tls=no" "none: no TLS"
f=$(delivered_file mx1) || fail "mx1 did not store $TOKEN"
check_not_contains "$(headers "$f")" "using TLS" "none: Received header"
check_contains "$SESSION" "ehlo=1 mail=1 rcpt=1 data=1 quit=1" "none: commands"
check_not_contains "$SESSION" "starttls" "none: commands"

log "--- verify refuses: another name, self-signed, expired"
probe verify other.example.test 127.0.6.1 mx1
expect_refused 4.7.5 "server certificate not verified: BR_ERR_X509_BAD_SERVER_NAME"
check_not_contains "$SESSION" "mail=" "wrong name: commands"
probe verify mx2.example.test 127.0.6.2 mx2
expect_refused 4.7.5 "server certificate not verified: BR_ERR_X509_NOT_TRUSTED"
check_not_contains "$SESSION" "mail=" "self-signed: commands"
probe verify mx3.example.test 127.0.6.3 mx3
expect_refused 4.7.5 "server certificate not verified: BR_ERR_X509_EXPIRED"
check_not_contains "$SESSION" "mail=" "expired: commands"
check_contains "$OUT" "tls_failed=1" "handshake failure flagged"

log "--- may and encrypt deliver over TLS whatever the certificate, verified=no"
probe may other.example.test 127.0.6.1 mx1
expect_tls_delivery mx1 no
check_contains "$OUT" "verify_error=BR_ERR_X509_BAD_SERVER_NAME" "wrong name recorded"
probe may mx2.example.test 127.0.6.2 mx2
expect_tls_delivery mx2 no
check_contains "$OUT" "verify_error=BR_ERR_X509_NOT_TRUSTED" "self-signed recorded"
probe encrypt mx3.example.test 127.0.6.3 mx3
expect_tls_delivery mx3 no
check_contains "$OUT" "verify_error=BR_ERR_X509_EXPIRED" "expired recorded"

log "--- wildcard *.example.test"
probe verify mx4.example.test 127.0.6.4 mx4
expect_tls_delivery mx4 yes
probe verify a.mx4.example.test 127.0.6.4 mx4
expect_refused 4.7.5 "BR_ERR_X509_BAD_SERVER_NAME"

log "--- a receiver without STARTTLS (mx5)"
for level in encrypt verify; do
    probe $level mx5.example.test 127.0.6.5 mx5
    expect_refused 4.7.4 "TLS is required, but was not offered by mx5.example.test[127.0.6.5]"
    # the session's command counts: EHLO and the polite QUIT, nothing else
    check_eq "$SESSION" "ehlo=1 quit=1 commands=2" "$level: commands"
    check_contains "$OUT" "tls_failed=0" "$level: not a handshake failure"
done
probe may mx5.example.test 127.0.6.5 mx5
check_eq "$RC" 0 "may without STARTTLS: status"
check_contains "$OUT" "tls=no" "may without STARTTLS: plaintext"
delivered_file mx5 >/dev/null || fail "mx5 did not store $TOKEN"

log "--- a large message over TLS (records queued as the socket drains)"
"$PY" - "$T/big.eml" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("From: <sender@mta.test>\nTo: <user@example.test>\nSubject: big\n")
    f.write("X-Probe: BIGTOKEN\n\n")
    for i in range(60000):
        f.write(("." if i % 7 == 0 else "") + f"line {i} " + "x" * (i % 90) + "\n")
EOF
TOKEN="big-$RANDOM"
sed -i "s/BIGTOKEN/$TOKEN/" "$T/big.eml"
RC=0
OUT=$("$PROBE" 127.0.6.1 "$MX_PORT" mx1.example.test encrypt "$TLS_DIR/ca.crt" sender@mta.test \
    user@example.test "$T/big.eml" 2>&1) || RC=$?
log "big: rc=$RC $(tr '\n' ' ' <<<"$OUT")"
check_eq "$RC" 0 "big message: status"
f=$(delivered_file mx1) || fail "mx1 did not store the big message"
body_size=$(sed '1,/^$/d' "$T/big.eml" | wc -c)
cmp <(sed '1,/^$/d' "$T/big.eml") <(tail -c "$body_size" "$f") ||
    fail "big message body differs after delivery ($body_size bytes)"

log "--- STARTTLS response injection (tls_hostile.py)"
probe may mx.hostile.test 127.0.6.10
check_eq "$RC" 0 "inject: status"
check_contains "$OUT" "tls=yes version=TLSv1.2 cipher=TLS_ECDHE_ECDSA_" "inject: TLS"
check_contains "$OUT" "ext=SIZE,8BITMIME, " "inject: only the capabilities after TLS"
check_contains "$OUT" "discarded=30" "inject: the 30 injected bytes dropped"
check_contains "$(cat "$T/hostile.log")" "inject: delivered" "inject: message"
probe encrypt mx.hostile.test 127.0.6.11
check_eq "$RC" 0 "inject554: status"
check_contains "$OUT" "discarded=20" "inject554: the injected reply dropped"
check_contains "$(cat "$T/hostile.log")" "inject554: delivered" "inject554: message"
probe may mx.hostile.test 127.0.6.12
check_eq "$RC" 1 "late554: status"
check_contains "$OUT" "result=4 0 4.7.5 TLS handshake with mx.hostile.test" "late554: result"
check_contains "$OUT" "tls_failed=1" "late554: flagged for a plaintext retry"
check_not_contains "$OUT" "injected" "late554: the injected text was never a reply"
hostile=$(cat "$T/hostile.log")
check_not_contains "$hostile" "pipelined" "hostile: no command sent before its turn"
check_not_contains "$hostile" "late554: got MAIL" "late554: no MAIL"

log "--- STARTTLS refused"
probe may mx.hostile.test 127.0.6.13
check_eq "$RC" 0 "refused, may: delivered in plaintext"
check_contains "$OUT" "tls=no" "refused, may: plaintext"
check_contains "$OUT" "tls_failed=1" "refused, may: flagged"
check_contains "$(cat "$T/hostile.log")" "refuse: delivered" "refused, may: message"
mails=$(grep -c "refuse: got MAIL" "$T/hostile.log")
probe encrypt mx.hostile.test 127.0.6.13
expect_refused 4.7.4 "refused STARTTLS: 454 4.7.0 TLS not available now"
sleep 0.5
check_eq "$(grep -c "refuse: got MAIL" "$T/hostile.log")" "$mails" "refused, encrypt: no MAIL"
check_eq "$(tail -n 1 "$T/hostile.log")" "refuse: got QUIT" "refused, encrypt: QUIT last"

pass
