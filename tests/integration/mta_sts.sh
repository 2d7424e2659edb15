#!/bin/bash
# mta_sts.sh - mtad honours MTA-STS (RFC 8461) end to end: the _mta-sts
# TXT record from dnsmasq, the policy fetched over verified HTTPS from
# sts_server.py on 127.0.8.x:443, cached in the queue database, applied
# to real Postfix receivers on 127.0.8.x:2525. One domain per case:
#
#   domain         policy (server on 127.0.8.N:443)  MX host -> receiver (127.0.8.x:2525)
#   enforce.test   enforce, mx.enforce.test (1)      mx.enforce.test -> tls1 (STARTTLS, CA cert)
#   nomatch.test   enforce, other.nomatch.test (2)   mx.nomatch.test -> tls2 (STARTTLS, CA cert)
#   notls.test     enforce, *.notls.test (3)         mx.notls.test -> plain3 (no STARTTLS)
#   testing.test   testing, other.testing.test (4)   mx.testing.test -> plain4 (no STARTTLS)
#   redirect.test  301 to enforce.test's (5)         mx.redirect.test -> plain5 (no STARTTLS)
#   cache.test     enforce, mx.cache.test (6)        mx.cache.test -> tls6 (STARTTLS, CA cert),
#                                                    later mx2.cache.test -> plain7 (no STARTTLS)
#
# enforce delivers only over verified TLS to a listed MX and defers
# otherwise without a byte of the message in plaintext; testing delivers
# and says what enforce would refuse; a redirect is no policy. A new TXT
# id fetches again, the same id does not. The cache: after a restart of
# mtad with the policy server gone and the MX moved to an unlisted,
# plaintext host, mail to cache.test is deferred (without the cache it
# would go there in plaintext); a new TXT id then fails to fetch and the
# cached policy stays in force.
export DNS_PORT=5461
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_mx.sh"
. "$(dirname "$0")/lib_tls.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
NET=127.0.8

# free IP PORT: nothing listens there yet (ours would not get the traffic).
free() { ! ss -Hltn "sport = :$2" | grep -qF " $1:$2 " || fail "something already listens on $1:$2"; }

# dns ENFORCE_ID CACHE_ID CACHE_MX: dnsmasq (re)started with every record
# of the scenario; the two ids and cache.test's MX host vary.
dns() {
    local args=() d i=0
    for d in enforce nomatch notls testing redirect cache; do
        i=$((i + 1))
        args+=("--host-record=mta-sts.$d.test,$NET.$i")
    done
    # no quotes around the text: dnsmasq would keep them, as \034 bytes
    args+=("--txt-record=_mta-sts.enforce.test,v=STSv1; id=$1"
        "--txt-record=_mta-sts.cache.test,v=STSv1; id=$2")
    for d in nomatch notls testing redirect; do
        args+=("--txt-record=_mta-sts.$d.test,v=STSv1; id=1")
    done
    for d in enforce nomatch notls testing redirect; do
        args+=("--mx-host=$d.test,mx.$d.test,10")
    done
    args+=("--mx-host=cache.test,$3,10")
    i=10
    for d in enforce nomatch notls testing redirect cache; do
        i=$((i + 1))
        args+=("--host-record=mx.$d.test,$NET.$i")
    done
    args+=("--host-record=mx2.cache.test,$NET.17")
    if [ -n "$DNS_PID" ]; then restart_dns "${args[@]}"; else start_dns "${args[@]}"; fi
    # the record mtad will see, as it will see it
    check_eq "$("$DNS_QUERY" "127.0.0.1:$DNS_PORT" txt _mta-sts.cache.test 2>&1 | tail -n 1)" \
        "\"v=STSv1; id=$2\"" "dnsmasq's _mta-sts.cache.test"
}

# policy N DOMAIN MODE MX...: the policy file served by server N.
policy() {
    local n=$1 d=$2 mode=$3 mx
    shift 3
    {
        printf 'version: STSv1\r\nmode: %s\r\n' "$mode"
        for mx; do printf 'mx: %s\r\n' "$mx"; done
        printf 'max_age: 86400\r\n'
    } >"$T/policy$n.txt"
}

# sts_start N DOMAIN [sts_server options]: the policy server of DOMAIN on
# $NET.N:443 with a certificate for mta-sts.DOMAIN; its requests go to
# $T/sts$N.log. STS_PID[N] is its PID.
declare -A STS_PID=()
sts_start() {
    local n=$1 d=$2
    shift 2
    free "$NET.$n" 443
    [ -f "$TLS_DIR/sts$n.crt" ] || TLS_KEY=ec tls_cert "sts$n" "mta-sts.$d"
    bg "$PY" "$HERE/sts_server.py" --listen "$NET.$n:443" --cert "$TLS_DIR/sts$n.crt" \
        --key "$TLS_DIR/sts$n.key" --policy "$T/policy$n.txt" --pidfile "$T/sts$n.pid" \
        --log "$T/sts$n.log" "$@" 2>>"$T/sts$n.err"
    STS_PID[$n]=$BG_PID
    wait_until 10 test -s "$T/sts$n.pid" || fail "sts_server $n did not start: $(cat "$T/sts$n.err")"
}
sts_stop() {
    local pid=${STS_PID[$1]} keep=() p
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    # gone: lib.sh's cleanup must not signal whatever gets its PID next
    for p in "${BG_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    BG_PIDS=("${keep[@]}")
    free "$NET.$1" 443
}
# fetches N: how many policy requests server N answered (any status).
fetches() {
    local n
    n=$(grep -c ' GET /.well-known/mta-sts.txt ' "$T/sts$1.log" 2>/dev/null)
    echo "${n:-0}"
}

N=0
# send RCPT: a message with a unique Message-ID <mN@test.example>; MID is it.
send() {
    N=$((N + 1))
    MID="m$N-$RANDOM@test.example"
    printf 'From: s@test.example\nTo: %s\nSubject: %s\nMessage-ID: <%s>\n\nbody\n' "$1" "$MID" \
        "$MID" | "$SENDMAIL" -i -f s@test.example "$1" || fail "sendmail to $1"
}

# logged PATTERN: the count of mtad.log lines matching the ERE PATTERN.
logged() {
    local n
    n=$(grep -cE "$1" "$T/mtad.log")
    echo "${n:-0}"
}
# wait_logged SECONDS PATTERN COUNT: until COUNT lines match.
wait_logged() {
    WL_PAT=$2 WL_N=$3
    wait_until "$1" logged_enough || fail "no $3 lines matching /$2/ in mtad.log within $1 s"
}
logged_enough() { [ "$(logged "$WL_PAT")" -ge "$WL_N" ]; }

# rcpt_state RCPT: "state: last reply" of the (only) queued message for RCPT.
rcpt_state() {
    "$MTAQ" list --json | "$PY" -c '
import json, sys
for m in json.load(sys.stdin):
    for r in m["recipients"]:
        if r["address"] == sys.argv[1]:
            print("%s: %s" % (r["state"], r["last_reply"]))' "$1"
}

# mtad_idle: mtad has no SMTP connection open (its live status).
mtad_idle() {
    "$MTAQ" stats --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("daemon", ""))' |
        grep -q '^connections 0,'
}

# has_mid NAME: the number of messages NAME stored with Message-ID MID.
has_mid() {
    local n
    n=$(received "$1" | xargs -r grep -l "^Message-ID: <$MID>" | wc -l)
    echo "${n:-0}"
}

# ---- set up ----
for i in 1 2 3 4 5 6; do free $NET.$i 443; done
for i in 11 12 13 14 15 16 17; do free $NET.$i $MX_PORT; done
setup_delivery "mta_sts = on" "outbound_tls = may" \
    "connection_idle_timeout = 1s"
tls_ca
echo "tls_ca_file = $TLS_DIR/ca.crt" >>"$MTA_CONF" # the CA needs $T, made by setup
for d in enforce nomatch cache; do tls_cert "mx.$d" "mx.$d.test"; done

dns 1 1 mx.cache.test
start_postfix tls1 $NET.11 enforce.test
start_postfix tls2 $NET.12 nomatch.test
start_postfix plain3 $NET.13 notls.test
start_postfix plain4 $NET.14 testing.test
start_postfix plain5 $NET.15 redirect.test
start_postfix tls6 $NET.16 cache.test
start_postfix plain7 $NET.17 cache.test
postfix_tls tls1 mx.enforce
postfix_tls tls2 mx.nomatch
postfix_tls tls6 mx.cache

policy 1 enforce.test enforce mx.enforce.test
policy 2 nomatch.test enforce other.nomatch.test
policy 3 notls.test enforce '*.notls.test'
policy 4 testing.test testing other.testing.test
policy 5 redirect.test enforce other.redirect.test # served only if the redirect were followed
policy 6 cache.test enforce mx.cache.test
sts_start 1 enforce.test
sts_start 2 nomatch.test
sts_start 3 notls.test
sts_start 4 testing.test
sts_start 5 redirect.test --redirect https://mta-sts.enforce.test/.well-known/mta-sts.txt
sts_start 6 cache.test

start_mtad

# ---- 1. enforce, listed MX with a certificate from the CA: verified TLS ----
send user@enforce.test
wait_delivered tls1 1
check_eq "$(has_mid tls1)" 1 "enforce.test: the message at tls1"
check_contains "$(received tls1 | xargs sed -n '/^Received:/,/^[^ \t]/p')" "using TLSv1.2 with cipher" \
    "enforce.test: tls1's Received header shows TLS"
wait_logged 10 'to=<user@enforce.test>, relay=mx\.enforce\.test\[127\.0\.8\.11\]:2525, tls=TLSv1\.2 [^ ]+ verified, .*status=sent' 1
check_eq "$(logged 'enforce.test: MTA-STS policy of enforce.test fetched: id 1, mode enforce, max_age 86400')" 1 \
    "enforce.test: policy fetched"
check_eq "$(fetches 1)" 1 "enforce.test: requests to its policy server"
check_contains "$(cat "$T/sts1.log")" "GET /.well-known/mta-sts.txt mta-sts.enforce.test 200" \
    "enforce.test: the policy request (Host)"

# ---- 2. enforce, MX not in the policy: deferred, never connected ----
# (postfix_tls's own readiness handshake counts as a connection: compare)
tls2_before=$(connections tls2)
send user@nomatch.test
wait_logged 20 'to=<user@nomatch.test>, ' 1
check_eq "$(logged 'to=<user@nomatch.test>, relay=none, .*dsn=4\.7\.5, status=deferred \(no MX host of this domain matches its MTA-STS policy')" 1 \
    "nomatch.test: deferred for want of a listed MX"
check_eq "$(logged 'nomatch.test: MX host mx.nomatch.test is not in the MTA-STS policy \(mode enforce\): skipped')" 1 \
    "nomatch.test: MX skipped"
check_contains "$(rcpt_state user@nomatch.test)" "deferred: " "nomatch.test: queue state"
check_contains "$(rcpt_state user@nomatch.test)" "no MX host of this domain matches its MTA-STS policy" \
    "nomatch.test: mtaq's last reply"
check_eq "$(connections tls2)" "$tls2_before" "nomatch.test: connections to the unlisted MX"
check_eq "$(received tls2 | wc -l)" 0 "nomatch.test: messages at the unlisted MX"

# ---- 3. enforce, listed MX without STARTTLS: deferred, no MAIL FROM ----
send user@notls.test
wait_logged 20 'to=<user@notls.test>, ' 1
check_eq "$(logged 'to=<user@notls.test>, relay=mx\.notls\.test\[127\.0\.8\.13\]:2525, .*dsn=4\.7\.4, status=deferred \(TLS is required, but was not offered.*the MTA-STS policy of notls.test requires verified TLS')" 1 \
    "notls.test: deferred for want of TLS"
check_contains "$(rcpt_state user@notls.test)" "deferred: " "notls.test: queue state"
wait_until 10 eval '[ -n "$(smtpd_sessions plain3)" ]' || fail "plain3 logged no session"
check_not_contains "$(smtpd_sessions plain3)" "mail=" "notls.test: commands plain3 got"
check_eq "$(grep -c 'from=<s@test.example>' "$T/plain3/maillog")" 0 "notls.test: a sender at plain3"
check_eq "$(received plain3 | wc -l)" 0 "notls.test: messages at plain3"
check_eq "$(fetches 3)" 1 "notls.test: requests to its policy server"

# ---- 4. testing: delivered in plaintext to an unlisted MX, and said ----
send user@testing.test
wait_delivered plain4 1
check_eq "$(has_mid plain4)" 1 "testing.test: the message at plain4"
wait_logged 10 'to=<user@testing.test>, relay=mx\.testing\.test\[127\.0\.8\.14\]:2525, tls=none, .*status=sent' 1
check_eq "$(logged 'testing.test: MTA-STS policy 1 in force, mode testing')" 1 "testing.test: policy"
check_eq "$(logged 'testing.test: MX host mx.testing.test is not in the MTA-STS policy \(mode testing\); enforce would skip it')" 1 \
    "testing.test: the MX enforce would skip"
check_eq "$(logged 'testing.test: MTA-STS policy in testing mode: mx.testing.test\[127.0.8.14\]:2525 has no TLS; enforce would defer the mail')" 1 \
    "testing.test: the missing TLS enforce would refuse"

# ---- 5. a redirect is no policy: delivered as without MTA-STS ----
send user@redirect.test
wait_delivered plain5 1
check_eq "$(has_mid plain5)" 1 "redirect.test: the message at plain5"
wait_logged 10 'to=<user@redirect.test>, relay=mx\.redirect\.test\[127\.0\.8\.15\]:2525, tls=none, .*status=sent' 1
check_eq "$(logged 'redirect.test: MTA-STS policy fetch for redirect.test failed: .*; no policy applies')" 1 \
    "redirect.test: the fetch failed"
check_eq "$(logged 'redirect.test: MTA-STS policy .* in force')" 0 "redirect.test: a policy in force"
check_contains "$(cat "$T/sts5.log")" "GET /.well-known/mta-sts.txt mta-sts.redirect.test 301" \
    "redirect.test: the server redirected"
check_eq "$(fetches 1)" 1 "redirect.test: the redirect was not followed (requests at enforce.test's server)"

# ---- 6a. cache.test under enforce: fetched, cached, verified TLS ----
send user@cache.test
wait_delivered tls6 1
check_eq "$(has_mid tls6)" 1 "cache.test: the message at tls6"
wait_logged 10 'to=<user@cache.test>, relay=mx\.cache\.test\[127\.0\.8\.16\]:2525, tls=TLSv1\.2 [^ ]+ verified, .*status=sent' 1
check_eq "$(fetches 6)" 1 "cache.test: requests to its policy server"

# ---- TXT id: the same id is not fetched again, a new one is ----
# Once mtad's connections have ended (connection_idle_timeout), the
# destination is forgotten and the next message looks its policy up afresh.
wait_until 15 mtad_idle || fail "mtad's connections did not end: $("$MTAQ" stats)"
send user@enforce.test
wait_delivered tls1 2
check_eq "$(has_mid tls1)" 1 "enforce.test (same id): the second message at tls1"
check_eq "$(logged 'enforce.test: MTA-STS policy 1 in force, mode enforce')" 2 \
    "enforce.test (same id): policy lookups (the second from the cache)"
check_eq "$(fetches 1)" 1 "enforce.test (same id): requests to its policy server"
wait_until 15 mtad_idle || fail "mtad's connections did not end: $("$MTAQ" stats)"
policy 1 enforce.test enforce mx.enforce.test '*.enforce.test' # what id 2 names
dns 2 1 mx.cache.test
send user@enforce.test
wait_delivered tls1 3
check_eq "$(has_mid tls1)" 1 "enforce.test (id 2): the third message at tls1"
check_eq "$(fetches 1)" 2 "enforce.test (id 2): requests to its policy server"
check_eq "$(logged 'enforce.test: MTA-STS policy of enforce.test fetched: id 2, mode enforce')" 1 \
    "enforce.test: policy id 2 fetched"
check_eq "$(logged 'to=<user@enforce.test>, relay=mx\.enforce\.test\[127\.0\.8\.11\]:2525, tls=TLSv1\.2 [^ ]+ verified, .*status=sent')" 3 \
    "enforce.test: verified deliveries"

# ---- 6b. the cache after a restart, with the policy server gone ----
# cache.test's MX now points at plain7: unlisted, and plaintext only.
# Without the cached policy, the fetch would fail and the mail would go
# there as without MTA-STS.
sts_stop 6
stop_mtad
dns 2 1 mx2.cache.test
RESTART=$(wc -l <"$T/mtad.log")
start_mtad
send user@cache.test
wait_logged 20 'to=<user@cache.test>, ' 2
check_eq "$(logged 'to=<user@cache.test>, relay=none, .*dsn=4\.7\.5, status=deferred \(no MX host of this domain matches its MTA-STS policy')" 1 \
    "cache.test: deferred by the cached policy"
after() { tail -n +"$((RESTART + 1))" "$T/mtad.log"; }
check_eq "$(after | grep -c 'cache.test: MTA-STS policy 1 in force, mode enforce')" 1 "cache.test: the cached policy in force"
check_eq "$(after | grep -c 'MTA-STS policy fetch for cache.test')" 0 "cache.test: fetch attempts with the id unchanged"
check_eq "$(after | grep -c 'cache.test: MX host mx2.cache.test is not in the MTA-STS policy (mode enforce): skipped')" 1 \
    "cache.test: the new MX skipped"
check_eq "$(connections plain7)" 0 "cache.test: connections to the unlisted MX"
check_eq "$(received plain7 | wc -l)" 0 "cache.test: messages at the unlisted MX"
check_eq "$(fetches 6)" 1 "cache.test: requests to its (stopped) policy server"

# ---- 6c. a new id with the server down: the cached policy stays ----
dns 2 2 mx2.cache.test
send user@cache.test
wait_logged 30 'to=<user@cache.test>, ' 3
check_eq "$(logged 'to=<user@cache.test>, relay=none, .*dsn=4\.7\.5, status=deferred \(no MX host of this domain matches its MTA-STS policy')" 2 \
    "cache.test (id 2): deferred by the cached policy"
check_eq "$(after | grep -cE 'cache.test: MTA-STS policy fetch for cache.test failed: .*; the cached policy stays in force')" 1 \
    "cache.test: the failed refresh"
check_eq "$(connections plain7)" 0 "cache.test (id 2): connections to the unlisted MX"
check_eq "$(received plain7 | wc -l)" 0 "cache.test (id 2): messages at the unlisted MX"

# Nothing bounced, and nothing else got through.
check_eq "$(logged 'status=bounced')" 0 "bounced lines"
check_eq "$(received tls2 | wc -l)$(received plain3 | wc -l)" 00 "messages where enforce refused"
stop_mtad
for i in 1 2 3 4 5; do sts_stop $i; done
pass
