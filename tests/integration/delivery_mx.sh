#!/bin/bash
# delivery_mx.sh - mtad follows the MX records: when the preferred MX
# (10) has nothing listening, the same attempt goes on to the next one
# (20) and the mail is sent there, not deferred; a domain whose MX host
# has only an AAAA record (::1) is delivered over IPv6; a domain without
# MX records is delivered to its own A address (RFC 5321 5.1 implicit MX).
export DNS_PORT=5402
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_mx.sh"

DOWN_IP=127.0.1.4 BACKUP_IP=127.0.1.5 IMPLICIT_IP=127.0.1.6

# free IP: nothing listens on IP:2525 yet (start_postfix would take a
# stray listener there for the new receiver).
free() { ! ss -Hltn "sport = :$MX_PORT" | grep -qF " $1:$MX_PORT " || fail "something already listens on $1:$MX_PORT"; }

# IPv6 loopback: can we bind [::1]? Without it, the AAAA part is skipped.
v6=1
"$PY" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null || v6=0
[ $v6 = 1 ] || log "no IPv6 loopback ([::1] cannot be bound): skipping the AAAA-only domain"

# start_postfix_v6 NAME DOMAINS: a receiver on [::1]:2525. start_postfix
# cannot be given "[::1]" directly: it waits for `ss | grep "[::1]:2525"`,
# a bracket expression that never matches "[::1]:2525" (only some IPv4
# listener ending in 1). So: start it on a spare IPv4 address, then move
# its smtpd to [::1] and reload.
start_postfix_v6() {
    local name=$1 domains=$2 spare=127.0.1.9
    free $spare
    start_postfix "$name" $spare "$domains" "inet_protocols = all" "mynetworks = 127.0.0.0/8 [::1]/128"
    sed -i "s/^$spare:$MX_PORT /[::1]:$MX_PORT /" "$T/$name/etc/master.cf"
    grep -q "^\[::1\]:$MX_PORT inet" "$T/$name/etc/master.cf" || fail "no [::1] service in $name's master.cf"
    postfix -c "$T/$name/etc" reload >>"$T/$name/start.log" 2>&1 || fail "postfix reload $name"
    ready6() { ss -Hltn "sport = :$MX_PORT" | grep -qF " [::1]:$MX_PORT "; }
    wait_until 20 ready6 || fail "postfix $name does not listen on [::1]:$MX_PORT"
}

setup_delivery
start_dns --mx-host=backup.test,mx1.backup.test,10 --mx-host=backup.test,mx2.backup.test,20 \
    --host-record=mx1.backup.test,$DOWN_IP --host-record=mx2.backup.test,$BACKUP_IP \
    --mx-host=v6.test,mx.v6.test,10 --host-record=mx.v6.test,::1 \
    --host-record=implicit.test,$IMPLICIT_IP
free $DOWN_IP
free $BACKUP_IP
free $IMPLICIT_IP
start_postfix mx2 $BACKUP_IP backup.test
start_postfix imp $IMPLICIT_IP implicit.test
if [ $v6 = 1 ]; then
    free "[::1]"
    start_postfix_v6 mx6 v6.test
fi
free $DOWN_IP # still nothing on the first MX
start_mtad

send() { printf 'From: s@test.example\nSubject: %s\nMessage-ID: <%s@test.example>\n\nbody of %s\n' "$1" "$1" "$1" |
    "$SENDMAIL" -i -f s@test.example "$2" || fail "sendmail $1"; }
send backup user@backup.test
send implicit user@implicit.test
[ $v6 = 1 ] && send v6 user@v6.test

wait_delivered mx2 1
wait_delivered imp 1
[ $v6 = 1 ] && wait_delivered mx6 1
wait_until 20 queue_empty || fail "queue not empty: $("$MTAQ" list)"

# Each arrived where it should, once, and the log names that relay.
check_eq "$(received mx2 | xargs grep -l '^Message-ID: <backup@test.example>' | wc -l)" 1 "backup.test message at the pref-20 MX"
check_eq "$(grep -c 'to=<user@backup.test>, relay=mx2.backup.test\['"$BACKUP_IP"'\]:2525, tls=none, delay=[0-9]*, dsn=2.0.0, status=sent (250 ' "$T/mtad.log")" \
    1 "backup.test sent through mx2"
check_eq "$(grep -c "backup.test: mx1.backup.test\[$DOWN_IP\]:2525 (connect to mx1.backup.test\[$DOWN_IP\]:2525: connection refused)" "$T/mtad.log")" \
    1 "the pref-10 MX tried first, refused"
check_eq "$(grep -c 'to=<user@backup.test>.*status=deferred' "$T/mtad.log")" 0 \
    "backup.test deferred although the second MX is up"
check_eq "$(received imp | xargs grep -l '^Message-ID: <implicit@test.example>' | wc -l)" 1 "implicit.test message at its A address"
check_eq "$(grep -c 'to=<user@implicit.test>, relay=implicit.test\['"$IMPLICIT_IP"'\]:2525, tls=none, delay=[0-9]*, dsn=2.0.0, status=sent (250 ' "$T/mtad.log")" \
    1 "implicit.test sent to its A address"
if [ $v6 = 1 ]; then
    check_eq "$(received mx6 | xargs grep -l '^Message-ID: <v6@test.example>' | wc -l)" 1 "v6.test message at the IPv6 MX"
    check_eq "$(grep -c 'to=<user@v6.test>, relay=mx.v6.test\[::1\]:2525, tls=none, delay=[0-9]*, dsn=2.0.0, status=sent (250 ' "$T/mtad.log")" \
        1 "v6.test sent over IPv6"
    check_eq "$(grep -c ': connect from [^[]*\[::1\]' "$T/mx6/maillog")" 1 "connections to the IPv6 MX from ::1"
fi
check_eq "$(grep -cE 'status=(deferred|bounced)' "$T/mtad.log")" 0 "deferred or bounced lines"
stop_mtad
pass
