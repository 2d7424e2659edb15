#!/bin/bash
# submission.sh - mtad's submission service (ports 587/465, here 2587 and
# 2465 on 127.0.10.1) against real mail clients and a hostile raw-socket
# client (submission_hostile.py), with delivery on to private Postfix
# receivers:
#   dest.test  MX 127.0.10.21   Postfix "dest", running throughout
#   hold.test  MX 127.0.10.22   nobody listens until the end: what is sent
#                               there stays queued (deferred), to be counted
# Client addresses: 127.0.10.5 is trusted_networks (no AUTH needed),
# 127.0.10.9 the outsider (must authenticate), others for the checks that
# count per address (wrong password, connection limit, slow client, AUTH
# lockout, trickling data).
#   - swaks STARTTLS + AUTH PLAIN, STARTTLS + AUTH LOGIN, implicit TLS;
#     Python smtplib; msmtp: delivered, with mtad's Received header
#     (ESMTPSA, authenticated user) and Date/Message-ID added if missing
#   - refusals: AUTH before TLS 538, wrong password 535, relay without
#     AUTH 530, foreign sender 553, too big 552, too many recipients 452,
#     overlong command 500
#   - SMTP smuggling with six bare CR/LF endings: submission_bare_lf =
#     reject (550, nothing queued) and normalize (one message, unsplit)
#   - STARTTLS with a pipelined RSET; a one-byte-a-second client timed out
#     while another submits; message data below submission_min_data_rate;
#     a hang-up inside DATA; the per-address limit; wrong passwords from one
#     address: growing delays, then 421 and refused at connect
#   - a 250 survives kill -9 and the message is then delivered
export DNS_PORT=5471
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_mx.sh"
. "$(dirname "$0")/lib_tls.sh"
command -v swaks >/dev/null || skip "swaks is not installed"

HOST=127.0.10.1 SUB=127.0.10.1:2587 SMTPS=127.0.10.1:2465
TRUSTED=127.0.10.5 OUTSIDER=127.0.10.9 BADPW=127.0.10.8 SLOW=127.0.10.6 CROWD=127.0.10.7
LOCKED=127.0.10.11 TRICKLE=127.0.10.12
DEST=127.0.10.21 HOLD=127.0.10.22
HOSTILE=$(dirname "$0")/submission_hostile.py
ALICE_PW='correct horse battery'
CAROL_PW='msmtp-secret'

setup_delivery "retry_schedule = 1h" "connection_idle_timeout = 1s" "mta_sts = off"
tls_ca
# The clients connect to the IP and check it against the certificate: an
# IP address in subjectAltName beside the name (tls_cert puts its second
# argument after "DNS:").
tls_cert subm "mta.test.example,IP:$HOST"
{
    echo "submission_listen = $SUB"
    echo "smtps_listen = $SMTPS"
    echo "tls_cert = $TLS_DIR/subm.crt"
    echo "tls_key = $TLS_DIR/subm.key"
    echo "auth_users = $T/auth_users"
    echo "trusted_networks = $TRUSTED/32, $TRICKLE/32"
    echo "max_recipients = 3"
    echo "submission_client_limit = 3"
    echo "submission_timeout = 3s"
    echo "submission_min_data_rate = 100"
    echo "submission_bare_lf = reject"
    echo "max_message_size = 100K"
} >>"$T/mta.conf"
echo "$ALICE_PW" | "$MTAD" passwd --senders "alice@test.example,@team.test" alice@test.example \
    >"$T/passwd.out" 2>&1 || fail "mtad passwd alice: $(cat "$T/passwd.out")"
echo "$CAROL_PW" | "$MTAD" passwd carol >>"$T/passwd.out" 2>&1 || fail "mtad passwd carol"
check_contains "$(cat "$T/auth_users")" "alice@test.example:" "auth_users has alice"
check_not_contains "$(cat "$T/auth_users")" "$ALICE_PW" "auth_users holds no clear password"

log "${SECONDS}s: setup done"
start_dns --mx-host=dest.test,mx.dest.test,10 --host-record=mx.dest.test,$DEST \
    --mx-host=hold.test,mx.hold.test,10 --host-record=mx.hold.test,$HOLD
# local_header_rewrite_clients empty: Postfix adds no Date or Message-ID of
# its own, so the ones found are mtad's or the client's
start_postfix dest $DEST dest.test "local_header_rewrite_clients ="
start_mtad
wait_until 5 grep -q "submission: listening on $SMTPS" "$T/mtad.log" || fail "no submission listener"
log "${SECONDS}s: started"

hostile() { "$PY" "$HOSTILE" "$@" 2>&1; }
# got NAME: the text after "NAME: " in $OUT
got() { printf '%s\n' "$OUT" | sed -n "s/^$1: //p" | head -n 1; }
# stored INSTANCE MARKER: the stored file with that X-Marker
stored() { received "$1" | xargs -r grep -l "^X-Marker: $2\$" | head -n 1; }
# hdrs FILE: the header section, unfolded
hdrs() { sed -n '1,/^$/p' "$1" | tr -d '\r' | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n[ \t]\+/ /g'; }
# codes "R1 || R2 ...": the reply codes, "250|354|..."
codes() { printf '%s\n' "$1" | sed 's/ || /\n/g' | cut -c1-3 | paste -sd'|'; }
# held_rcpts: the recipients of every queued message, one per line
held_rcpts() {
    "$MTAQ" list --json | "$PY" -c 'import json,sys
for m in json.load(sys.stdin):
    for r in m.get("recipients", []): print(r["address"])'
}

# ---- real clients ----
log "${SECONDS}s: real clients"
mkmsg() { # FILE TO MARKER FROM: a message without Date and Message-ID
    printf 'From: %s\nTo: %s\nSubject: %s\nX-Marker: %s\n\nbody of %s\n' "$4" "$2" "$3" "$3" "$3" >"$1"
}
swaks_common=(--server "$HOST" --local-interface "$OUTSIDER" --ehlo swaks.example
    --tls-verify --tls-ca-path "$TLS_DIR/ca.crt" --auth-user alice@test.example
    --auth-password "$ALICE_PW" --from alice@test.example --timeout 20)
mkmsg "$T/m1" r1@dest.test swaks-plain alice@test.example
swaks "${swaks_common[@]}" --port 2587 --tls --auth PLAIN --to r1@dest.test --data "$T/m1" \
    >"$T/swaks1.log" 2>&1 || fail "swaks STARTTLS PLAIN: $(tail -n 20 "$T/swaks1.log")"
mkmsg "$T/m2" r2@dest.test swaks-login alice@test.example
swaks "${swaks_common[@]}" --port 2587 --tls --auth LOGIN --to r2@dest.test --data "$T/m2" \
    >"$T/swaks2.log" 2>&1 || fail "swaks STARTTLS LOGIN: $(tail -n 20 "$T/swaks2.log")"
# a sender of the domain the user may use
mkmsg "$T/m3" r3@dest.test swaks-smtps alice@test.example
swaks "${swaks_common[@]}" --port 2465 --tlsc --auth PLAIN --from anyone@team.test \
    --to r3@dest.test --data "$T/m3" >"$T/swaks3.log" 2>&1 ||
    fail "swaks implicit TLS: $(tail -n 20 "$T/swaks3.log")"
check_contains "$(cat "$T/swaks1.log")" "235 " "swaks PLAIN: AUTH accepted"
check_contains "$(cat "$T/swaks2.log")" "334 VXNlcm5hbWU6" "swaks LOGIN: the LOGIN dialogue"
check_contains "$(cat "$T/swaks3.log")" "250 2.0.0 Ok: queued as" "swaks smtps: queued"

# smtplib: starttls with a verifying context, login (PLAIN by smtplib's
# preference), its own Date and Message-ID kept
"$PY" - "$HOST" "$OUTSIDER" "$TLS_DIR/ca.crt" "$ALICE_PW" >"$T/smtplib.log" 2>&1 <<'EOF' || fail "smtplib: $(cat "$T/smtplib.log")"
import smtplib, ssl, sys
from email.message import EmailMessage
host, src, ca, pw = sys.argv[1:5]
m = EmailMessage()
m["From"] = "alice@test.example"
m["To"] = "r4@dest.test"
m["Subject"] = "smtplib"
m["X-Marker"] = "smtplib"
m["Date"] = "Mon, 01 Jan 2024 10:00:00 +0000"
m["Message-ID"] = "<smtplib-own@client.example>"
m.set_content("body of smtplib\n")
with smtplib.SMTP(host, 2587, local_hostname="smtplib.example", source_address=(src, 0), timeout=20) as s:
    s.starttls(context=ssl.create_default_context(cafile=ca))
    s.login("alice@test.example", pw)
    print(s.send_message(m))
EOF

if [ -x /usr/bin/msmtp ]; then
    cat >"$T/msmtprc" <<EOF
account sub
host $HOST
port 2587
source_ip $OUTSIDER
domain msmtp.example
tls on
tls_starttls on
tls_trust_file $TLS_DIR/ca.crt
auth plain
user carol
password $CAROL_PW
from carol@test.example
logfile $T/msmtp.log
account default : sub
EOF
    chmod 600 "$T/msmtprc"
    mkmsg "$T/m5" r5@dest.test msmtp carol@test.example
    /usr/bin/msmtp -C "$T/msmtprc" r5@dest.test <"$T/m5" >"$T/msmtp.out" 2>&1 ||
        fail "msmtp: $(cat "$T/msmtp.out" "$T/msmtp.log" 2>/dev/null)"
    NREAL=5
else
    log "msmtp is not installed (/usr/bin/msmtp, Debian package msmtp): msmtp part skipped"
    NREAL=4
fi

wait_delivered dest $NREAL
# check_delivered MARKER USER TLSDESC: mtad's Received header and the
# fields it adds
check_delivered() {
    local f h
    f=$(stored dest "$1") && [ -n "$f" ] || fail "$1: not stored by the receiver"
    h=$(hdrs "$f")
    check_contains "$h" "by mta.test.example (mtad) with ESMTPSA (TLSv1.2" "$1: mtad's Received: ESMTPSA over TLS"
    check_contains "$h" "(authenticated as $2);" "$1: mtad's Received: the user"
    check_contains "$h" "[$OUTSIDER]" "$1: mtad's Received: the client address"
    check_eq "$(printf '%s\n' "$h" | grep -ci '^Date:')" 1 "$1: Date fields"
    check_eq "$(printf '%s\n' "$h" | grep -ci '^Message-ID:')" 1 "$1: Message-ID fields"
}
# swaks sends a --data file as it is: no Date, no Message-ID
for m in swaks-plain swaks-login swaks-smtps; do
    check_delivered $m alice@test.example
    check_contains "$(hdrs "$(stored dest $m)")" "@mta.test.example>" "$m: Message-ID added by mtad"
done
# msmtp adds both itself; carol's sender is carol@local_domain
[ $NREAL = 5 ] && check_delivered msmtp carol
check_delivered smtplib alice@test.example
check_contains "$(hdrs "$(stored dest smtplib)")" "Message-ID: <smtplib-own@client.example>" "smtplib: own Message-ID kept"
check_contains "$(hdrs "$(stored dest smtplib)")" "Date: Mon, 01 Jan 2024 10:00:00 +0000" "smtplib: own Date kept"
check_contains "$(hdrs "$(stored dest swaks-smtps)")" "Return-Path: <anyone@team.test>" "smtps: a sender of the user's domain"
check_contains "$(grep 'r1@dest.test' "$T/mtad.log" | grep status=sent)" "status=sent" "r1 logged as sent"

# ---- refusals ----
log "${SECONDS}s: refusals"
# Meanwhile, wrong passwords from one address until it is locked out: the
# other addresses' sessions go on unaffected.
bg "$PY" "$HOSTILE" authlock $SUB $LOCKED "$TLS_DIR/ca.crt" alice@test.example "wrong $ALICE_PW" 9 \
    >"$T/authlock.log" 2>&1
LOCK_PID=$BG_PID
OUT=$(hostile refusals $SUB $OUTSIDER "$TLS_DIR/ca.crt" alice@test.example "$ALICE_PW" $BADPW bob@elsewhere.test)
printf '%s\n' "$OUT" >"$T/refusals.log"
check_not_contains "$OUT" "error:" "refusals dialogue"
check_not_contains "$(got ehlo-plain)" "AUTH" "EHLO before TLS offers no AUTH"
check_contains "$(got ehlo-plain)" "STARTTLS" "EHLO before TLS offers STARTTLS"
check_contains "$(got auth-before-tls)" "538 5.7.11" "AUTH before TLS"
check_contains "$(got relay-mail)" "530 5.7.0" "MAIL without AUTH from outside"
check_contains "$(got relay-rcpt)" "503" "RCPT after the refused MAIL"
check_contains "$(got overlong)" "500 5.5.6" "overlong command"
check_contains "$(got after-overlong)" "250" "the session goes on after an overlong line"
check_contains "$(got wrong-password)" "535" "wrong password"
check_contains "$(got auth-ok)" "235" "right password"
check_contains "$(got bad-sender)" "553 5.7.1" "sender not allowed for the user"
check_contains "$(got good-sender)" "250" "the user's own sender"
for i in 1 2 3; do check_contains "$(got rcpt-$i)" "250" "recipient $i of max_recipients 3"; done
for i in 4 5; do check_contains "$(got rcpt-$i)" "452 4.5.3" "recipient $i past max_recipients"; done
check_contains "$(got size-declared)" "552" "MAIL with SIZE over max_message_size"
check_contains "$(got big-data)" "354" "DATA of the big message"
check_contains "$(got big-dot)" "552" "a message over max_message_size"
check_contains "$(got after-big)" "250" "the session goes on after 552"
check_contains "$(cat "$T/mtad.log")" "failed to authenticate as alice@test.example" "failed AUTH logged"
check_eq "$(held_rcpts | grep -c '^many\|^big@')" 0 "refused transactions queued"

# AUTH failures from one address: the first two answered at once, then
# 1 s, 2 s, 4 s, 4 s..., the eighth 421 and the connection closed; that
# address is then refused at connect (AUTH_FAIL_* in mta/submission.c).
wait $LOCK_PID
OUT=$(cat "$T/authlock.log")
check_not_contains "$OUT" "error:" "authlock dialogue"
for i in 1 2 3 4 5 6 7; do check_contains "$(got authfail-$i)" "535 5.7.8" "wrong password $i"; done
tenths() { got "$1" | sed -n 's/.* after \([0-9]*\)\.\([0-9]\)s$/\1\2/p'; }
for m in 3:9 4:19 5:39 6:39; do
    t=$(tenths authfail-${m%%:*})
    [ -n "$t" ] && [ "$t" -ge "${m#*:}" ] ||
        fail "AUTH failure ${m%%:*} answered after $(got authfail-${m%%:*}), want a delay of at least ${m#*:}/10 s"
done
check_contains "$(got authfail-8)" "421 4.7.0 Too many authentication failures" "the eighth failure: 421"
check_eq "$(got authfail-after)" "EOF" "the connection closed after the 421"
check_eq "$(got authfail-9)" "" "no ninth attempt in that session"
check_contains "$(got authfail-reconnect)" "421 4.7.0 Too many authentication failures" \
    "the locked-out address refused at connect"
check_contains "$(cat "$T/mtad.log")" "submission: $LOCKED locked out" "lockout logged"

# ---- smuggling: every bare CR/LF ending, refused ----
log "${SECONDS}s: smuggling: every bare CR/LF ending, refused"
OUT=$(hostile smuggle $SUB $TRUSTED rej)
printf '%s\n' "$OUT" >"$T/smuggle-reject.log"
check_not_contains "$OUT" "error:" "smuggle (reject) dialogue"
check_eq "$(printf '%s\n' "$OUT" | grep -c '^smuggle-')" 6 "smuggle (reject) variants run"
for n in 0 1 2 3 4 5; do
    r=$(printf '%s\n' "$OUT" | sed -n "s/^smuggle-$n [^:]*: //p")
    check_eq "$(codes "$r")" "250|250|354|550|221|EOF" "smuggle variant $n (reject): replies"
    check_contains "$r" "550 5.6.0" "smuggle variant $n (reject): 5.6.0"
done
check_eq "$(held_rcpts | grep -c -- '-rej-')" 0 "messages queued by smuggling attempts (reject)"
check_eq "$(grep -c 'smug-rej' "$T/mtad.log")" 0 "smuggled recipients in mtad's log (reject)"

# ---- STARTTLS with a pipelined RSET ----
log "${SECONDS}s: STARTTLS with a pipelined RSET"
OUT=$(hostile inject $SUB $OUTSIDER "$TLS_DIR/ca.crt")
printf '%s\n' "$OUT" >"$T/inject.log"
check_not_contains "$OUT" "error:" "inject dialogue"
case "$(got inject-starttls)" in
554*) check_eq "$(got inject-after)" "EOF" "STARTTLS with pipelined RSET: closed after 554" ;;
220*)
    check_eq "$(got inject-unprompted)" "TIMEOUT" "nothing unprompted over TLS (no reply to the injected RSET)"
    check_contains "$(got inject-ehlo)" "250-mta.test.example" "EHLO over TLS answered as EHLO"
    ;;
*) fail "STARTTLS with pipelined RSET: $(got inject-starttls)" ;;
esac

# ---- a client trickling a command, while another one submits ----
log "${SECONDS}s: a client trickling a command, while another one submits"
bg "$PY" "$HOSTILE" slow $SUB $SLOW >"$T/slow.log" 2>&1
SLOW_PID=$BG_PID
sleep 0.5
OUT=$(hostile submit $SUB $TRUSTED r6@dest.test beside-slow)
check_contains "$(got submit)" "250 2.0.0 Ok: queued as" "a submission beside the slow client"
kill -0 $SLOW_PID 2>/dev/null || fail "the slow client was gone before the other submission ended: $(cat "$T/slow.log")"
wait $SLOW_PID
OUT=$(cat "$T/slow.log")
check_contains "$(got slow)" "421 4.4.2" "slow client timed out"
secs=$(got slow | sed 's/.* after \([0-9]*\)\..*/\1/')
[ "$secs" -le 6 ] || fail "slow client held the connection ${secs}s with submission_timeout 3s"
wait_delivered dest $((NREAL + 1))
# a trusted client without AUTH: plain ESMTP, no user
f=$(stored dest beside-slow) && [ -n "$f" ] || fail "beside-slow: not stored by the receiver"
check_contains "$(hdrs "$f")" "from client.example ([$TRUSTED]) by mta.test.example (mtad) with ESMTP;" \
    "trusted client: mtad's Received header"
check_not_contains "$(hdrs "$f")" "authenticated as" "trusted client: no user"

# ---- message data at two bytes a second: below submission_min_data_rate ----
log "${SECONDS}s: message data below submission_min_data_rate"
OUT=$(hostile trickle $SUB $TRICKLE trickle@hold.test)
check_contains "$(got trickle-data)" "354" "trickle: DATA accepted"
check_contains "$(got trickle)" "421 4.4.2 Minimum data rate not met" "trickle: ended for its rate"
# every read came within submission_timeout: only the rate can end it, one
# timeout (3 s) into DATA
secs=$(got trickle | sed 's/.* after \([0-9]*\)\..*/\1/')
[ "$secs" -ge 2 ] && [ "$secs" -le 10 ] || fail "trickling client ended after ${secs}s, want about 3"
check_eq "$(held_rcpts | grep -c '^trickle@')" 0 "messages queued from the trickling client"

# ---- a hang-up inside DATA ----
log "${SECONDS}s: a hang-up inside DATA"
OUT=$(hostile hangup $SUB $TRUSTED hangup@hold.test)
check_contains "$(got hangup-data)" "354" "hangup: DATA accepted"
sleep 1
check_eq "$(held_rcpts | grep -c '^hangup@')" 0 "messages queued after a hang-up before the dot"
check_eq "$(grep -c 'hangup@hold.test' "$T/mtad.log")" 0 "hang-up message in mtad's log"

# ---- per-address connection limit ----
log "${SECONDS}s: per-address connection limit"
OUT=$(hostile limit $SUB $CROWD 3)
for i in 1 2 3; do check_contains "$(got limit-$i)" "220 " "connection $i of 3"; done
check_contains "$(got limit-4)" "421 4.7.0" "connection 4 of 3"
check_contains "$(got limit-again)" "220 " "a connection after the others closed"

# ---- certificate renewal: SIGHUP, no restart ----
log "${SECONDS}s: certificate renewal on SIGHUP"
# served ADDR [OPTS...]: the serial number of the certificate presented there
served() {
    local a=$1
    shift
    openssl s_client -connect "$a" "$@" -CAfile "$TLS_DIR/ca.crt" </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null
}
OLD_SERIAL=$(openssl x509 -in "$TLS_DIR/subm.crt" -noout -serial)
check_eq "$(served $SUB -starttls smtp)" "$OLD_SERIAL" "certificate before the renewal"
tls_cert renewed "mta2.test.example,IP:$HOST"
# mtad rereads as its user (a certbot deploy hook's copy, README: install)
chown mta "$TLS_DIR/subm.key" "$TLS_DIR/renewed.key"
# First a broken renewal: the new chain with the old key. Refused, logged,
# and the running certificate stays.
cp "$TLS_DIR/renewed.crt" "$TLS_DIR/subm.crt"
kill -HUP "$MTAD_PID"
wait_until 10 grep -q "submission: reload failed, keeping the running certificate" "$T/mtad.log" ||
    fail "a key that does not match the certificate: no reload error logged"
check_contains "$(grep 'reload failed' "$T/mtad.log")" "the key does not match the certificate" \
    "the reload error says why"
check_eq "$(served $SUB -starttls smtp)" "$OLD_SERIAL" "certificate after a failed reload"
# Then the whole renewal: the new certificate on new connections.
cp -p "$TLS_DIR/renewed.key" "$TLS_DIR/subm.key"
kill -HUP "$MTAD_PID"
wait_until 10 grep -q "submission: certificate and .* reloaded" "$T/mtad.log" || fail "no reload logged"
NEW_SERIAL=$(openssl x509 -in "$TLS_DIR/renewed.crt" -noout -serial)
[ "$NEW_SERIAL" != "$OLD_SERIAL" ] || fail "the renewed certificate has the old serial"
check_eq "$(served $SUB -starttls smtp)" "$NEW_SERIAL" "certificate after SIGHUP (STARTTLS)"
check_eq "$(served $SMTPS)" "$NEW_SERIAL" "certificate after SIGHUP (implicit TLS)"
kill -0 "$MTAD_PID" || fail "mtad gone after SIGHUP"

# ---- smuggling again, normalised: one message each, not split ----
log "${SECONDS}s: smuggling again, normalised: one message each, not split"
stop_mtad
sed -i 's/^submission_bare_lf = reject$/submission_bare_lf = normalize/' "$T/mta.conf"
start_mtad
wait_until 5 grep -q "submission: listening on $SMTPS" "$T/mtad.log" || fail "no submission listener after restart"
OUT=$(hostile smuggle $SUB $TRUSTED norm)
printf '%s\n' "$OUT" >"$T/smuggle-normalize.log"
check_not_contains "$OUT" "error:" "smuggle (normalize) dialogue"
held_rcpts >"$T/held"
for n in 0 1 2 3 4 5; do
    r=$(printf '%s\n' "$OUT" | sed -n "s/^smuggle-$n [^:]*: //p")
    check_eq "$(codes "$r")" "250|250|354|250|221|EOF" "smuggle variant $n (normalize): replies"
    check_eq "$(grep -c "^victim-norm-$n@" "$T/held")" 1 "smuggle variant $n (normalize): messages queued"
    id=$(printf '%s' "$r" | sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p')
    [ -n "$id" ] || fail "smuggle variant $n: no queue id in '$r'"
    c=$("$MTAQ" cat "$id" | tr -d '\r')
    check_contains "$c" "first part" "variant $n: the first part"
    check_contains "$c" "RCPT TO:<smug-norm-$n@hold.test>" "variant $n: the would-be command is text"
    check_contains "$c" "smuggled part" "variant $n: the rest is in the same message"
done
check_eq "$(grep -c '^smug-' "$T/held")" 0 "smuggled recipients queued (normalize)"
check_eq "$(grep -c 'smug-norm' "$T/mtad.log")" 0 "smuggled recipients in mtad's log (normalize)"

# ---- acknowledged = durable ----
log "${SECONDS}s: acknowledged = durable"
OUT=$(hostile durable $SUB $TRUSTED durable@hold.test durable)
kill_mtad
check_contains "$(got queued)" "250 2.0.0 Ok: queued as" "durable: acknowledged"
id=$(got queued | sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p')
start_mtad
check_contains "$(queue_ids)" "$id" "durable: queued after kill -9 and restart"
check_contains "$("$MTAQ" cat "$id" | tr -d '\r')" "X-Marker: durable" "durable: the content survived"
# now hold.test gets a receiver: everything held there is delivered
start_postfix hold $HOLD hold.test "local_header_rewrite_clients ="
"$MTAQ" flush >/dev/null || fail "mtaq flush"
wait_delivered hold 7 60
f=$(stored hold durable) && [ -n "$f" ] || fail "durable: not delivered"
check_eq "$(received hold | xargs grep -l '^Delivered-To: smug-' | wc -l)" 0 "smuggled messages delivered"
wait_until 20 queue_empty || fail "queue not empty at the end: $(held_rcpts | tr '\n' ' ')"
stop_mtad
pass
