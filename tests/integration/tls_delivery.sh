#!/bin/bash
# tls_delivery.sh - outbound STARTTLS through mtad, to real Postfix
# receivers with certificates from a test CA. Each destination domain has
# its own outbound_tls level (tls_policy):
#   may.test      may      valid certificate       delivered over TLS
#   enc.test      encrypt  self-signed             delivered over TLS, unverified
#   ver.test      verify   valid certificate       delivered over verified TLS
#   wrong.test    verify   certificate for another name  deferred, nothing sent
#   self.test     verify   self-signed             deferred, nothing sent
#   old.test      verify   expired                 deferred, nothing sent
#   plain.test    encrypt  no STARTTLS             deferred, no MAIL command seen
#   clear.test    may      no STARTTLS             delivered in plaintext
# and against tls_hostile.py, a scripted receiver:
#   inject.test   may      fake replies after "220 Ready to start TLS":
#                          ignored, delivered over TLS
#   late.test     may      the handshake fails: that host once more in
#                          plaintext, logged, delivered
#   latex.test    encrypt  the same: deferred, no MAIL in plaintext
# The receivers' Received headers show TLS; mtad's log lines and `mtaq
# show` give the version, cipher and verdict.
export DNS_PORT=5425
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_mx.sh"
. "$(dirname "$0")/lib_tls.sh"

GOOD=127.0.1.50 SELF=127.0.1.51 WRONG=127.0.1.52 OLD=127.0.1.53 PLAIN=127.0.1.54
INJECT=127.0.1.55 LATE=127.0.1.56

setup_delivery "connection_idle_timeout = 1s" "retry_schedule = 1h"
tls_ca
{
    echo "tls_ca_file = $TLS_DIR/ca.crt"
    echo "tls_policy = enc.test encrypt"
    echo "tls_policy = ver.test verify"
    echo "tls_policy = wrong.test verify"
    echo "tls_policy = self.test verify"
    echo "tls_policy = old.test verify"
    echo "tls_policy = plain.test encrypt"
    echo "tls_policy = latex.test encrypt"
    echo "mta_sts = off"
} >>"$T/mta.conf"
tls_cert good mx.may.test
tls_cert_selfsigned self mx.self.test
tls_cert wrongname mx.elsewhere.test
tls_cert_expired old mx.old.test
tls_cert hostile mx.hostile.test

dns=()
# ver.test's MX is the host of may.test: the certificate names that host.
dns+=(--mx-host=may.test,mx.may.test,10 --mx-host=ver.test,mx.may.test,10 --host-record=mx.may.test,$GOOD)
dns+=(--mx-host=enc.test,mx.self.test,10)
dns+=(--mx-host=self.test,mx.self.test,10 --host-record=mx.self.test,$SELF)
dns+=(--mx-host=wrong.test,mx.wrong.test,10 --host-record=mx.wrong.test,$WRONG)
dns+=(--mx-host=old.test,mx.old.test,10 --host-record=mx.old.test,$OLD)
dns+=(--mx-host=plain.test,mx.plain.test,10 --host-record=mx.plain.test,$PLAIN)
dns+=(--mx-host=clear.test,mx.clear.test,10 --host-record=mx.clear.test,$PLAIN)
dns+=(--mx-host=inject.test,mx.inject.test,10 --host-record=mx.inject.test,$INJECT)
dns+=(--mx-host=late.test,mx.late.test,10 --mx-host=latex.test,mx.late.test,10 --host-record=mx.late.test,$LATE)
start_dns "${dns[@]}"
bg "$PY" "$(dirname "$0")/tls_hostile.py" "$TLS_DIR/hostile.crt" "$TLS_DIR/hostile.key" \
    "$INJECT:$MX_PORT=inject" "$LATE:$MX_PORT=late554" >"$T/hostile.log" 2>&1
wait_until 10 grep -q '^ready' "$T/hostile.log" || fail "tls_hostile.py: $(cat "$T/hostile.log")"
start_postfix good $GOOD "may.test ver.test"
start_postfix self $SELF "enc.test self.test"
start_postfix wrong $WRONG "wrong.test"
start_postfix old $OLD "old.test"
start_postfix plain $PLAIN "plain.test clear.test"
postfix_tls good good
postfix_tls self self
postfix_tls wrong wrongname
postfix_tls old old

start_mtad
for d in may enc ver wrong self old plain clear inject late latex; do
    printf 'From: s@test.example\nTo: u@%s.test\nSubject: tls %s\nX-Marker: %s\n\nbody %s\n.dot\n' \
        $d $d $d $d | "$SENDMAIL" -i -f s@test.example u@$d.test || fail "sendmail $d"
done

wait_delivered good 2
wait_delivered self 1
wait_delivered plain 1
# The deferred ones: one attempt each.
for d in wrong self old plain; do
    wait_until 20 grep -q "to=<u@$d.test>.*status=deferred" "$T/mtad.log" ||
        fail "u@$d.test not deferred"
done
wait_until 10 queue_empty && fail "the refused mail left the queue"

# The scripted receiver: injected lines dropped, TLS used; the failed
# handshake retried once in plaintext under may, never under encrypt.
wait_until 20 grep -q "to=<u@inject.test>.*status=sent" "$T/mtad.log" || fail "inject.test not sent"
wait_until 20 grep -q "to=<u@late.test>.*status=sent" "$T/mtad.log" || fail "late.test not sent"
wait_until 20 grep -q "to=<u@latex.test>.*status=deferred" "$T/mtad.log" || fail "latex.test not deferred"
hl=$(cat "$T/hostile.log")
check_contains "$hl" "inject: delivered" "inject: delivered"
check_contains "$hl" "over TLS" "inject: over TLS"
check_not_contains "$hl" "inject: pipelined" "inject: the client did not act on injected PIPELINING"
check_contains "$(grep 'to=<u@inject.test>' "$T/mtad.log")" "tls=TLSv1.2" "inject: logged TLS"
check_contains "$(cat "$T/mtad.log")" "late.test: TLS with mx.late.test[$LATE]:$MX_PORT failed; trying that host once more in plaintext" \
    "late: the plaintext retry is logged"
check_contains "$(grep 'to=<u@late.test>' "$T/mtad.log")" "tls=none" "late: delivered in plaintext"
check_eq "$(grep -c 'late554: delivered' "$T/hostile.log")" 1 "late554: one message delivered (late.test only)"
check_contains "$(grep 'to=<u@latex.test>' "$T/mtad.log")" "dsn=4.7.5" "latex: deferred 4.7.5"

# stored FILE of marker in instance
stored() { received "$1" | xargs -r grep -l "^X-Marker: $2\$" | head -n 1; }
hdrs() { sed -n '1,/^$/p' "$1" | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n[ \t]\+/ /g'; }
line() { grep "to=<u@$1.test>" "$T/mtad.log" | tail -n 1; }

for m in may:good ver:good enc:self; do
    d=${m%%:*} inst=${m#*:}
    f=$(stored "$inst" "$d") && [ -n "$f" ] || fail "$d not stored by $inst"
    check_contains "$(hdrs "$f")" "(using TLSv1.2 with cipher" "$d: receiver's Received header"
    check_contains "$(line "$d")" "tls=TLSv1.2 TLS_ECDHE_" "$d: log line names TLS"
    check_contains "$(line "$d")" "status=sent" "$d: sent"
done
check_contains "$(line may)" " verified," "may: certificate verified (and logged)"
check_contains "$(line ver)" " verified," "verify: certificate verified"
check_contains "$(line enc)" "unverified:BR_ERR_X509_NOT_TRUSTED" "encrypt: self-signed logged as unverified"
f=$(stored plain clear) && [ -n "$f" ] || fail "clear not stored"
check_not_contains "$(hdrs "$f")" "using TLS" "may without STARTTLS: plaintext"
check_contains "$(line clear)" "tls=none," "may without STARTTLS: logged as plaintext"

# Refused: deferred with the reason, and the receiver never got MAIL.
check_contains "$(line wrong)" "dsn=4.7.5" "wrong name: 4.7.5"
check_contains "$(line wrong)" "BAD_SERVER_NAME" "wrong name: reason"
check_contains "$(line self)" "NOT_TRUSTED" "self-signed: reason"
check_contains "$(line old)" "EXPIRED" "expired: reason"
check_contains "$(line plain)" "dsn=4.7.4" "no STARTTLS under encrypt: 4.7.4"
check_contains "$(line plain)" "not offered" "no STARTTLS under encrypt: reason"
for inst in wrong old; do
    check_eq "$(received $inst | wc -l)" 0 "messages stored by $inst"
    check_not_contains "$(smtpd_sessions $inst)" "mail=" "$inst got no MAIL command"
done
check_eq "$(stored self self)" "" "self.test stored"
# plain: the encrypt session must have ended after EHLO (the clear.test one
# delivered; exactly one session carried MAIL).
check_eq "$(smtpd_sessions plain | grep -c 'mail=')" 1 "sessions with MAIL on the plain receiver"
check_eq "$(stored plain plain)" "" "plain.test stored"

# mtaq show tells how the deferred attempt went.
show=$("$MTAQ" show "$(grep 'to=<u@wrong.test>' "$T/mtad.log" | head -1 | sed 's/.*: \([0-9A-Z]\{12\}\): to=.*/\1/')")
check_contains "$show" "BAD_SERVER_NAME" "mtaq show: the reason"
stop_mtad
pass
