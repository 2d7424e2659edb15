#!/bin/bash
# dns.sh - dns/ against a real DNS server: dnsmasq on loopback serves test
# zones under .test, and dns_query prints what dns.c and route.c make of
# them: MX/A/AAAA/TXT answers, the RFC 5321 5.1 route (sorting, shuffling,
# implicit MX, null MX, NXDOMAIN, hosts without addresses, temporary
# failures), the TTL cache (positive, negative with and without SOA,
# failures not cached), shared lookups, and cancellation in dns_free.
#
# A second dnsmasq is authoritative for auth.test with a 2 s TTL: its
# negative answers carry an SOA, which is what RFC 2308 caching reads.
. "$(dirname "$0")/lib.sh"

DNS_QUERY=${DNS_QUERY:-${MTA_BUILD:-}/dns/dns_query}
DNSMASQ=/usr/sbin/dnsmasq
[ -x "$DNS_QUERY" ] || fail "DNS_QUERY ($DNS_QUERY) not built"
[ -x "$DNSMASQ" ] || skip "no $DNSMASQ (package dnsmasq-base)"

T=$(mktemp -d "${TMPBASE:-/var/tmp}/mtatest.XXXXXX")

# start_dnsmasq NAME PROBE ARGS...: dnsmasq in the foreground on 127.0.0.1
# and a free high port (tries a few), PID in BG_PIDS for cleanup; ready
# when it answers a query for PROBE; the port goes to the variable NAME.
start_dnsmasq() {
    local var=$1 probe=$2 port i _
    shift 2
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 40000))
        bg "$DNSMASQ" -k --conf-file=/dev/null --pid-file= --no-resolv --no-hosts \
            --listen-address=127.0.0.1 --bind-interfaces --port="$port" \
            --log-queries --log-facility="$T/dnsmasq-$var.log" "$@" 2>>"$T/dnsmasq-$var.err"
        for i in $(seq 50); do
            kill -0 "$BG_PID" 2>/dev/null || break
            case "$("$DNS_QUERY" -t 100 -r 1 "127.0.0.1:$port" a "$probe" 2>/dev/null)" in
            "status TEMPFAIL" | "") sleep 0.1 ;;
            *)
                printf -v "$var" '%s' "$port"
                return 0
                ;;
            esac
        done
        kill "$BG_PID" 2>/dev/null
        wait "$BG_PID" 2>/dev/null
    done
    fail "dnsmasq did not start: $(cat "$T/dnsmasq-$var.err")"
}

# A TXT record of 4 strings of 250 characters: the answer does not fit in
# 512 bytes, so c-ares retries over TCP.
BIG=""
for c in a b c d; do BIG+=$(printf "%0250d" 0 | tr 0 "$c"),; done
BIG=${BIG%,}
USER_OPT=()
[ "$(id -u)" = 0 ] && USER_OPT=(--user=root)

# The main server. TTLs are 300 s unless said otherwise.
start_dnsmasq MAIN_PORT probe.test "${USER_OPT[@]}" --local=/test/ --local-ttl=300 \
    --mx-host=example.test,mx1.example.test,10 \
    --mx-host=example.test,mx2.example.test,20 \
    --host-record=mx1.example.test,127.0.0.11,::1 \
    --host-record=mx2.example.test,127.0.0.12 \
    --mx-host=equal.test,a.equal.test,10 \
    --mx-host=equal.test,b.equal.test,10 \
    --mx-host=equal.test,c.equal.test,30 \
    --host-record=a.equal.test,127.0.0.21 \
    --host-record=b.equal.test,127.0.0.22 \
    --host-record=c.equal.test,127.0.0.23 \
    --mx-host=v6only.test,v6.v6only.test,10 \
    --host-record=v6.v6only.test,::1 \
    --host-record=implicit.test,127.0.0.31 \
    --txt-record=bare.test,"exists without addresses" \
    --mx-host=noaddr.test,nohost.noaddr.test,10 \
    --dns-rr=nullmx.test,15,000000 \
    --server=/servfail.test/127.0.0.1#1 \
    --mx-host=tempmx.test,mx.servfail.test,10 \
    --mx-host=mixed.test,mx.servfail.test,10 \
    --mx-host=mixed.test,mx1.example.test,20 \
    --txt-record=txt.test,"v=spf1 -all" \
    "--txt-record=txt.test,part one ,part two" \
    --cname=alias.test,mx1.example.test \
    --txt-record=big.test,"$BIG"
# The authoritative one: everything, SOA included, has a 2 s TTL.
start_dnsmasq AUTH_PORT probe.auth.test "${USER_OPT[@]}" --auth-zone=auth.test \
    --auth-server=ns.auth.test,127.0.0.1 --auth-ttl=2 \
    --host-record=www.auth.test,127.0.0.51 \
    --mx-host=mail.auth.test,www.auth.test,10 \
    --txt-record=txt.auth.test,"short lived"

MAIN=127.0.0.1:$MAIN_PORT
AUTH=127.0.0.1:$AUTH_PORT
# Short timeouts: servfail.test times out (the port behind it is closed).
q() { "$DNS_QUERY" -t 300 -r 2 "$@"; }
# expect WANT ARGS...: dns_query ARGS prints exactly WANT and exits 0.
expect() {
    local want=$1 got rc=0
    shift
    got=$(q "$@" 2>&1) || rc=$?
    check_eq "$rc" 0 "exit status of dns_query $*"
    check_eq "$got" "$want" "dns_query $*"
}
nl=$'\n'

log "plain lookups"
expect "status OK${nl}10 mx1.example.test${nl}20 mx2.example.test" "$MAIN" mx example.test
expect "status OK${nl}127.0.0.11" "$MAIN" a mx1.example.test
expect "status OK${nl}::1" "$MAIN" aaaa mx1.example.test
expect "status NODATA" "$MAIN" aaaa mx2.example.test
expect "status NODATA" "$MAIN" mx implicit.test
expect "status NXDOMAIN" "$MAIN" a nosuch.test
expect "status NXDOMAIN" "$MAIN" mx nosuch.test
expect "status OK${nl}127.0.0.11" "$MAIN" a alias.test
expect "status OK${nl}\"part one part two\"${nl}\"v=spf1 -all\"" "$MAIN" txt txt.test
expect "status OK${nl}\"${BIG//,/}\"" "$MAIN" txt big.test
expect "status OK${nl}0 ." "$MAIN" mx nullmx.test
expect "status TEMPFAIL" "$MAIN" mx servfail.test
# Case and the trailing dot do not matter.
expect "status OK${nl}127.0.0.11" "$MAIN" a MX1.Example.TEST.

log "invalid input"
out=$(q "$MAIN" a "bad name.test" 2>&1) && fail "a name with a space was accepted: $out"
check_contains "$out" "Invalid argument" "invalid name"
out=$(q "$MAIN" a "a..test" 2>&1) && fail "an empty label was accepted: $out"
for s in "" "not-an-ip" "127.0.0.1:99999" "127.0.0.1:53x" "1.2.3.4,"; do
    rc=0
    out=$(q "$s" a x.test 2>&1) || rc=$?
    check_eq "$rc" 2 "servers '$s' rejected ($out)"
done

log "routes"
expect "status OK
implicit 0
10 mx1.example.test 127.0.0.11,::1
20 mx2.example.test 127.0.0.12
why example.test: 2 MX hosts" "$MAIN" route example.test
expect "status OK
implicit 0
10 mx1.example.test 127.0.0.11
20 mx2.example.test 127.0.0.12
why example.test: 2 MX hosts" "$MAIN" route Example.Test. ipv4
expect "status OK
implicit 0
10 mx1.example.test ::1
why example.test: 1 MX host; no address: mx2.example.test" "$MAIN" route example.test ipv6
expect "status OK
implicit 0
10 v6.v6only.test ::1
why v6only.test: 1 MX host" "$MAIN" route v6only.test
expect "status NO_HOSTS
implicit 0
why v6only.test: no MX host has an address: v6.v6only.test" "$MAIN" route v6only.test ipv4
expect "status OK
implicit 1
0 implicit.test 127.0.0.31
why implicit.test: no MX record, the domain itself is the host" "$MAIN" route implicit.test
expect "status NO_HOSTS
implicit 1
why bare.test: no MX record and no address for the domain" "$MAIN" route bare.test
expect "status NO_HOSTS
implicit 0
why noaddr.test: no MX host has an address: nohost.noaddr.test" "$MAIN" route noaddr.test
expect "status NULL_MX
implicit 0
why nullmx.test: null MX (RFC 7505): the domain accepts no mail" "$MAIN" route nullmx.test
expect "status NXDOMAIN
implicit 0
why nosuch.test: the domain does not exist (NXDOMAIN)" "$MAIN" route nosuch.test
expect "status TEMPFAIL
implicit 0
why servfail.test: MX lookup failed temporarily (server failure or timeout)" \
    "$MAIN" route servfail.test
expect "status TEMPFAIL
implicit 0
why tempmx.test: address lookup failed temporarily for mx.servfail.test" "$MAIN" route tempmx.test
expect "status OK
implicit 0
20 mx1.example.test 127.0.0.11,::1
why mixed.test: 1 MX host; lookup failed: mx.servfail.test" "$MAIN" route mixed.test

log "equal preferences are shuffled, lower ones still come first"
seen_ab=0 seen_ba=0
for i in $(seq 40); do
    hosts=$(q "$MAIN" route equal.test ipv4 | sed -n 's/^[0-9]* \([^ ]*\) .*/\1/p' | tr '\n' ' ')
    case "$hosts" in
    "a.equal.test b.equal.test c.equal.test ") seen_ab=1 ;;
    "b.equal.test a.equal.test c.equal.test ") seen_ba=1 ;;
    *) fail "equal.test: unexpected host order: $hosts" ;;
    esac
    [ $seen_ab = 1 ] && [ $seen_ba = 1 ] && break
done
check_eq "$seen_ab$seen_ba" 11 "both orders of the two preference-10 hosts seen in $i runs"

log "one lookup for many messages"
# 100 routes at once, then 100 more once they are done: 1 MX query, then
# A and AAAA for the two hosts; all the rest is shared or cached.
out=$(q "$MAIN" repeat 100 route example.test ipv4)
check_contains "$out" "10 mx1.example.test 127.0.0.11${nl}20 mx2.example.test 127.0.0.12" "repeat"
check_contains "$out" "lookups 200${nl}counters hits=597 queries=3" "repeat ipv4: MX + 2 A"
out=$(q "$MAIN" repeat 100 route example.test)
check_contains "$out" "counters hits=995 queries=5" "repeat: MX + 2 A + 2 AAAA"

log "TTL cache"
# expire: a lookup, the same at once (cached), and again after 2.5 s.
cached_then_expired="counters hits=0 queries=1${nl}counters hits=1 queries=1${nl}counters hits=1 queries=2"
cached_still="counters hits=0 queries=1${nl}counters hits=1 queries=1${nl}counters hits=2 queries=1"
expect "status OK${nl}127.0.0.51${nl}$cached_then_expired" "$AUTH" expire 2500 a www.auth.test
expect "status OK${nl}10 www.auth.test${nl}$cached_then_expired" "$AUTH" expire 2500 mx mail.auth.test
expect "status OK${nl}\"short lived\"${nl}$cached_then_expired" "$AUTH" expire 2500 txt txt.auth.test
# Negative answers with an SOA live as long as it says (RFC 2308)...
expect "status NXDOMAIN${nl}$cached_then_expired" "$AUTH" expire 2500 a nosuch.auth.test
expect "status NODATA${nl}$cached_then_expired" "$AUTH" expire 2500 mx www.auth.test
# ...without one, 60 s; positive answers their TTL (300 s here).
expect "status NXDOMAIN${nl}$cached_still" "$MAIN" expire 2500 a nosuch.test
expect "status OK${nl}127.0.0.11${nl}$cached_still" "$MAIN" expire 2500 a mx1.example.test
# Temporary failures are not kept.
expect "status TEMPFAIL${nl}counters hits=0 queries=1${nl}counters hits=0 queries=2${nl}counters hits=0 queries=3" \
    "$MAIN" expire 0 mx servfail.test

log "dns_free cancels what is pending"
expect "dns_free
mx CANCELLED
route CANCELLED
txt CANCELLED
dns_free returned" "$MAIN" cancel example.test

pass
