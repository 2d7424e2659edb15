#!/bin/bash
# tls.sh - what outbound STARTTLS costs mtad end to end: N queued 4 KB
# messages (1 recipient each) to DOMAINS domains whose MX, served by a
# dnsmasq on loopback, is one private Postfix smtpd on 127.0.4.21:2525
# with STARTTLS on (an RSA-2048 certificate from a test CA made here) that
# accepts and discards every message. Four runs on the same queue and the
# same receiver:
#   1. plaintext, connections reused  (outbound_tls = none)
#   2. STARTTLS, connections reused   (outbound_tls = may)
#   3. plaintext, one message per connection (max_messages_per_connection = 1)
#   4. STARTTLS, one message per connection: every message is a new
#      connection and a full handshake (mtad resumes no TLS sessions), so
#      its rate is the handshakes per second.
# Prints msgs/s for each, the STARTTLS/plaintext ratio with reuse, the
# handshakes/s, mtad's CPU per message and per handshake, and checks in
# mtad's log (tls= in the status=sent lines) and the receiver's log
# (TLS connection established) that runs 2 and 4 used TLS and 1 and 3 not.
# Before them, for scale, the receiver alone: Postfix's smtp-source sends
# the same N messages in plaintext over 100 sessions (mtad's
# max_connections), reusing connections (-d) and one per connection; this
# also starts the receiver's smtpd processes before mtad's first run.
#
#   bench/tls.sh [BUILD_DIR]            (as root; N=2000 by default)
#
# Timing, as in bench/deliver.sh: the messages are queued once through the
# sendmail program (WRITERS in parallel) by an mtad with "delivery = off";
# each run gets a copy of that queue directory, and t0 is the start of an
# mtad with "delivery = on" on it (its start, queue scan and DNS lookups
# count), t1 the moment its log has an outcome for all N recipients and
# `mtaq stats` says the queue is empty.
#
# The receiver is made cheap so that it limits mtad as little as it can:
# its spool is on tmpfs (RCV_BASE), smtpd answers every RCPT with DISCARD
# (the message is read and thrown away by cleanup, never queued, so no
# qmgr or delivery agent runs; in_flow_delay = 0, as nothing reaches qmgr
# to refill cleanup's flow-control tokens), no reverse DNS for the client.
# It still shares the 2 CPUs with mtad and does the server's half of
# every handshake (OpenSSL: an RSA signature and the ECDHE): the handshake
# rate is the pair's, not mtad's alone; mtad's own share is its CPU time
# per handshake (utime + stime from /proc), printed below.
#
# Knobs (defaults in brackets): N [2000], DOMAINS [5], WRITERS [16],
# TLS_KEY [rsa] or ec (the receiver's key: RSA-2048 or P-256), TIMEOUT
# [300] seconds per run, TMPBASE [/var/tmp] (mtad's queue: a real disk,
# fsync costs what it costs), RCV_BASE [/dev/shm] (the receiver's spool),
# DNS_PORT [5432], MTA_STS [off] (mtad's mta_sts; off so that the runs
# differ only in TLS), KEEP [0] keep the temp dirs (logs) if 1, RUNS
# ["plain tls plain1 tls1"] which runs, in that order, ROUNDS [1] times
# (the summary lines then add up all rounds), REF [1] the smtp-source
# figures (0: a 200-message warm-up instead), RCV_CURVES [Postfix's
# default] the receiver's tls_eecdh_auto_curves: OpenSSL takes the
# client's order, and BearSSL 0.6 offers secp256r1 first (then 384, 521,
# X25519), so "X25519" shows what the cheaper curve would save.
# Needs: postfix (with TLS, smtp-source), dnsmasq (dnsmasq-base), openssl,
# python3.
# Only 127.0.4.21 and 127.0.0.1:DNS_PORT are used; nothing outside the
# temp dirs is changed; every process started here is stopped by its PID
# (Postfix by its master's PID and its MAIL_CONFIG).
set -euo pipefail
# mtad becomes the unprivileged user mta once started (scripts/install-system.sh
# creates it; so does this, when it is missing).
getent passwd mta >/dev/null || useradd --system --user-group --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin mta
B=$(cd "${1:-$(dirname "$0")/../build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
N=${N:-2000}
DOMAINS=${DOMAINS:-5}
WRITERS=${WRITERS:-16}
TIMEOUT=${TIMEOUT:-300}
TMPBASE=${TMPBASE:-/var/tmp}
RCV_BASE=${RCV_BASE:-/dev/shm}
DNS_PORT=${DNS_PORT:-5432}
MTA_STS=${MTA_STS:-off}
KEEP=${KEEP:-0}
RUNS=${RUNS:-plain tls plain1 tls1}
ROUNDS=${ROUNDS:-1}
REF=${REF:-1}
RCV_CURVES=${RCV_CURVES:-}
export TLS_KEY=${TLS_KEY:-rsa}
RCV_IP=127.0.4.21
PORT=2525
MX_NAME=mx.tls.test
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
DNSMASQ=/usr/sbin/dnsmasq

. "$(dirname "$0")/lib.sh"
# lib_tls.sh reports through these
fail() { die "$*"; }
skip() { die "$*"; }

[ "$(id -u)" = 0 ] || die "run as root (private Postfix instance)"
for b in postfix postconf openssl smtp-source; do
    command -v "$b" >/dev/null || die "missing $b"
done
[ -x "$DNSMASQ" ] || die "missing $DNSMASQ (dnsmasq-base)"
[ -x "$B/mta/mtad" ] || die "no $B/mta/mtad: build first (ninja -C build)"
! ss -Hltn "sport = :$PORT" | awk '{print $4}' | grep -qxE "($RCV_IP|0\.0\.0\.0|\*):$PORT" ||
    die "$RCV_IP:$PORT already in use"
! ss -Hlun "sport = :$DNS_PORT" | grep -q . || die "udp port $DNS_PORT in use (set DNS_PORT)"

T=$(mktemp -d "$TMPBASE/mtatls.XXXXXX")
chmod 755 "$T" # mtad runs as mta and must reach the queue inside
R=$(mktemp -d "$RCV_BASE/mtatls-rcv.XXXXXX")
chmod 755 "$R"
RCONF=$R/etc
RQ=$R/spool
MTAD_PID=""
declare -a BGPIDS=()

stop_postfix() { pf_stop "$RCONF" "$RQ"; }
cleanup() {
    set +e
    [ -n "$MTAD_PID" ] && kill -9 "$MTAD_PID" 2>/dev/null && wait "$MTAD_PID" 2>/dev/null
    stop_postfix
    local p
    for p in "${BGPIDS[@]}"; do stop_pid "$p"; done
    if [ "$KEEP" = 1 ]; then
        log "kept $T and $R"
    else
        rm -rf "$T" "$R"
    fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

now() { echo "$EPOCHREALTIME"; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# machine CPU: "busy total" jiffies since boot, from /proc/stat
machine_ticks() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# count PATTERN FILE: lines of FILE matching the extended regexp PATTERN
count() {
    local c
    c=$(grep -cE "$1" "$2" 2>/dev/null) || true
    echo "${c:-0}"
}

LOAD_BEFORE=$(loadavg)

# ---- peers: DNS, the test CA, the receiver
dns=()
for ((i = 1; i <= DOMAINS; i++)); do dns+=("--mx-host=d$i.tls.test,$MX_NAME,10"); done
dns+=("--host-record=$MX_NAME,$RCV_IP")
"$DNSMASQ" -k --port="$DNS_PORT" --listen-address=127.0.0.1 --bind-interfaces --no-resolv \
    --no-hosts --pid-file= --conf-file=/dev/null --local=/test/ --log-facility="$T/dnsmasq.log" \
    "${dns[@]}" &
BGPIDS+=($!)
for _ in $(seq 50); do ss -Hlun "sport = :$DNS_PORT" | grep -q "127.0.0.1:$DNS_PORT" && break; sleep 0.1; done

# tls_ca and tls_cert: $T/tls/ca.crt and $T/tls/mx.{key,crt} for MX_NAME
# shellcheck source=tests/integration/lib_tls.sh disable=SC1091
. "$HERE/../tests/integration/lib_tls.sh"
tls_ca
tls_cert mx "$MX_NAME"
# smtpd reads the key as root before it drops privileges
chmod 600 "$TLS_DIR/mx.key"

mkdir -p "$RCONF" "$RQ" "$R/data"
chown postfix "$R/data"
cat >"$RCONF/main.cf" <<EOF
$(pf_main_base "$RQ" "$R/data" tlsbench "$T/maillog")
myhostname = $MX_NAME
# every message is read and thrown away by cleanup: nothing is queued
smtpd_recipient_restrictions = check_recipient_access static:DISCARD
smtpd_peername_lookup = no
# discarded messages never reach qmgr, which is what hands cleanup its
# flow-control tokens: without this every message would wait 1 s
in_flow_delay = 0
default_process_limit = 100
smtpd_tls_cert_file = $TLS_DIR/mx.crt
smtpd_tls_key_file = $TLS_DIR/mx.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
EOF
[ -z "$RCV_CURVES" ] || echo "tls_eecdh_auto_curves = $RCV_CURVES" >>"$RCONF/main.cf"
pf_master "$RCV_IP:$PORT" >"$RCONF/master.cf"
postfix -c "$RCONF" start >"$T/postfix-start.log" 2>&1 || die "postfix start: $(cat "$T/postfix-start.log")"
for _ in $(seq 100); do ss -Hltn "sport = :$PORT" | grep -qF " $RCV_IP:$PORT " && break; sleep 0.1; done
ss -Hltn "sport = :$PORT" | grep -qF " $RCV_IP:$PORT " || die "postfix did not listen on $RCV_IP:$PORT"
pf_version=$(postconf -c "$RCONF" -h mail_version)
case "$TLS_KEY" in ec) cert_desc="an ECDSA P-256" ;; *) cert_desc="an RSA-2048" ;; esac

"$PY" "$HERE/../tests/integration/msgtool.py" gen tlsbench 4096 >"$T/msg"
MSG_BYTES=$(wc -c <"$T/msg")

# mtad_conf NAME DELIVERY [lines]: a config for queue $T/NAME
mtad_conf() {
    local name=$1 delivery=$2 line
    shift 2
    {
        echo "hostname = mta.bench.example"
        echo "queue_dir = $T/$name"
        echo "log = $T/mtad-$name.log"
        echo "aliases ="
        echo "delivery = $delivery"
        echo "dns_servers = 127.0.0.1:$DNS_PORT"
        echo "smtp_port = $PORT"
        echo "inet_protocols = ipv4"
        echo "mta_sts = $MTA_STS"
        echo "tls_ca_file = $TLS_DIR/ca.crt"
        for line in "$@"; do echo "$line"; done
    } >"$T/$name.conf"
    export MTA_CONF=$T/$name.conf
}
mtad_start() {
    "$B/mta/mtad" run >>"$T/mtad.out" 2>&1 &
    MTAD_PID=$!
}
mtad_wait_socket() {
    for _ in $(seq 100); do
        [ -S "$1/public/mtad.sock" ] && "$B/mta/mtaq" stats >/dev/null 2>&1 && return 0
        kill -0 "$MTAD_PID" 2>/dev/null || die "mtad exited: $(tail "$T/mtad.out")"
        sleep 0.1
    done
    die "mtad did not start"
}
# no python here: it is polled at the end of each timed run
queued() { "$B/mta/mtaq" stats | awk '$1 == "messages:" { print $2 }'; }

# ---- the queue, made once: every run starts from a copy of it
log "queueing $N messages (${MSG_BYTES} B) to $DOMAINS domains, $WRITERS writers, delivery off"
mtad_conf q0 off
mtad_start
mtad_wait_socket "$T/q0"
pids=()
for ((w = 0; w < WRITERS; w++)); do
    (
        for ((i = w; i < N; i += WRITERS)); do
            "$B/mta/sendmail" -i "user$i@d$((i % DOMAINS + 1)).tls.test" <"$T/msg" || exit 1
        done
    ) &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || die "sendmail failed"; done
[ "$(queued)" = "$N" ] || die "mtad queued $(queued), want $N"
stop_mtad

ok=1
# per run and round ("tls1.2"): seconds, sent, mtad CPU ticks, machine
# busy/total ticks, VmHWM; the receiver's sessions, those that carried
# mail, those of them with STARTTLS, and its TLS handshakes; status=sent
# lines with tls=TLSv1.2 and with tls=none, other outcomes
declare -A SECS SENT TICKS MBUSY MTOTAL HWM CONNS MCONNS TCONNS RTLS STLS SNONE OTHER
OUTCOME='status=(sent|deferred|bounced) '
HZ=$(getconf CLK_TCK)

# receiver_counts: "connections TLS-connections discarded" so far in its log
receiver_counts() {
    echo "$(count 'smtpd\[[0-9]+\]: connect from' "$T/maillog")" \
        "$(count 'smtpd\[[0-9]+\]: .*TLS connection established from' "$T/maillog")" \
        "$(count 'smtpd\[[0-9]+\]: .*discard: RCPT from' "$T/maillog")"
}
# receiver_settle: once the client is gone, until every session the
# receiver opened has its "disconnect from" line (postlogd writes the
# log asynchronously), at most 15 s
receiver_settle() {
    local end=$((SECONDS + 15))
    while (($(count 'smtpd\[[0-9]+\]: connect from' "$T/maillog") >
        $(count 'smtpd\[[0-9]+\]: disconnect from' "$T/maillog"))) && ((SECONDS < end)); do
        sleep 0.2
    done
}

# reference NAME [smtp-source options]: N messages of the same file into
# the receiver by smtp-source (plaintext), 100 sessions like mtad's
# max_connections; prints "seconds connections"
reference() {
    local name=$1 t0 t1 a b
    shift
    read -ra a <<<"$(receiver_counts)"
    t0=$(now)
    smtp-source -s 100 -m "$N" -F "$T/msg" -f sender@test.example -t "user@d1.tls.test" \
        -M mta.bench.example "$@" "$RCV_IP:$PORT" >"$T/ref-$name.out" 2>&1 ||
        die "smtp-source: $(tail -3 "$T/ref-$name.out")"
    t1=$(now)
    receiver_settle
    read -ra b <<<"$(receiver_counts)"
    [ $((b[2] - a[2])) = "$N" ] || log "reference $name: the receiver discarded $((b[2] - a[2])), want $N"
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') $((b[0] - a[0]))"
}

# run NAME.ROUND TLS_LEVEL MSGS_PER_CONN: one timed delivery of a copy of q0
run() {
    local k=$1 level=$2 per=$3 q=run-${1%.*} t0 t1 m0 m1 got=0 end left a b
    rm -rf "${T:?}/$q"
    cp -a "$T/q0" "$T/$q"
    rm -f "$T/$q/public/mtad.sock" "$T/$q/mtad.pid"
    rm -f "$T/mtad-$q.log"
    mtad_conf "$q" on "outbound_tls = $level" "max_messages_per_connection = $per"
    read -ra a <<<"$(receiver_counts)"
    local from
    from=$(($(wc -l <"$T/maillog") + 1))
    log "$k: outbound_tls = $level, max_messages_per_connection = $per: delivering"
    m0=$(machine_ticks)
    t0=$(now)
    mtad_start
    end=$((SECONDS + TIMEOUT))
    while :; do
        got=$(count "$OUTCOME" "$T/mtad-$q.log")
        ((got >= N)) && break
        ((SECONDS < end)) || break
        kill -0 "$MTAD_PID" 2>/dev/null || die "mtad exited: $(tail "$T/mtad.out")"
        sleep 0.1
    done
    # the log line is written just before the commit that empties the queue
    if ((got >= N)); then
        for _ in $(seq 250); do [ "$(queued)" = 0 ] && break; sleep 0.02; done
    fi
    t1=$(now)
    m1=$(machine_ticks)
    TICKS[$k]=$(cpu_ticks "$MTAD_PID")
    HWM[$k]=$(status_kb "$MTAD_PID" VmHWM)
    left=$(queued)
    stop_mtad
    if ((got < N)) || [ "$left" != 0 ]; then
        ok=0
        log "$k: TIMEOUT or left over: $got/$N outcomes logged, $left messages in the queue"
    fi
    receiver_settle
    read -ra b <<<"$(receiver_counts)"
    SECS[$k]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    SENT[$k]=$(count 'status=sent ' "$T/mtad-$q.log")
    OTHER[$k]=$(count 'status=(deferred|bounced) ' "$T/mtad-$q.log")
    STLS[$k]=$(count 'tls=TLSv1\.2 .*status=sent ' "$T/mtad-$q.log")
    SNONE[$k]=$(count 'tls=none,.*status=sent ' "$T/mtad-$q.log")
    CONNS[$k]=$((b[0] - a[0]))
    RTLS[$k]=$((b[1] - a[1]))
    # smtpd's "disconnect from" line counts the commands of the session
    # ("ehlo=2 starttls=1 mail=17 ..."): sessions opened as the queue ran
    # out carry no mail, and mtad's stop cuts them before STARTTLS
    local sessions
    sessions=$(tail -n +"$from" "$T/maillog" | awk '
        /smtpd\[[0-9]+\]: disconnect from/ {
            m = 0; t = 0
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^mail=[1-9]/) m = 1
                if ($i == "starttls=1") t = 1
            }
            if (m) { ms++; if (t) ts++ }
        }
        END { print ms + 0, ts + 0 }')
    MCONNS[$k]=${sessions% *}
    TCONNS[$k]=${sessions#* }
    MBUSY[$k]=$(awk -v a="${m0% *}" -v b="${m1% *}" 'BEGIN { print b - a }')
    MTOTAL[$k]=$(awk -v a="${m0#* }" -v b="${m1#* }" 'BEGIN { print b - a }')
    log "$k: ${SENT[$k]}/$N sent in ${SECS[$k]} s; the receiver: ${CONNS[$k]} sessions," \
        "${MCONNS[$k]} with mail, ${TCONNS[$k]} of them with STARTTLS; ${RTLS[$k]} handshakes," \
        "$((b[2] - a[2])) messages discarded"
    if [ "$level" != none ] && [ "${TCONNS[$k]}" != "${MCONNS[$k]}" ]; then
        log "$k: the receiver's sessions with mail and without STARTTLS:"
        tail -n +"$from" "$T/maillog" | grep -E 'smtpd\[[0-9]+\]: disconnect from.* mail=[1-9]' |
            grep -v 'starttls=1' | head -20 >&2 || true
    fi
    rm -rf "${T:?}/$q"
}

# the receiver alone first: it also starts its smtpd processes, so that
# the first timed run of mtad does not pay for that
if [ "$REF" = 1 ]; then
    log "receiver alone: smtp-source, 100 sessions, $N messages, connections reused (-d)"
    read -r REF_D_SECS REF_D_CONNS <<<"$(reference reuse -d)"
    log "receiver alone: smtp-source, 100 sessions, $N messages, one per connection"
    read -r REF_1_SECS REF_1_CONNS <<<"$(reference one)"
else
    log "warm-up: smtp-source, 100 sessions, 200 messages"
    N=200 reference warmup >/dev/null
fi

has_run() { case " $RUNS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
for ((round = 1; round <= ROUNDS; round++)); do
    for r in $RUNS; do
        case "$r" in
        plain) run "plain.$round" none 100 ;;
        tls) run "tls.$round" may 100 ;;
        plain1) run "plain1.$round" none 1 ;;
        tls1) run "tls1.$round" may 1 ;;
        *) die "unknown run $r (RUNS: plain tls plain1 tls1)" ;;
        esac
    done
done
LOAD_AFTER=$(loadavg)

# ---------------------------------------------------------------- report
# sum NAME ARRAY: ARRAY summed over the rounds of run NAME
sum() {
    local -n arr=$2
    local s=0 i
    for ((i = 1; i <= ROUNDS; i++)); do s=$(awk -v s="$s" -v v="${arr[$1.$i]}" 'BEGIN { print s + v }'); done
    echo "$s"
}
declare -A RATE CPUMS
for r in $RUNS; do
    RATE[$r]=$(awk -v n="$(sum "$r" SENT)" -v s="$(sum "$r" SECS)" 'BEGIN { printf "%.0f", s ? n / s : 0 }')
    CPUMS[$r]=$(awk -v t="$(sum "$r" TICKS)" -v n="$((N * ROUNDS))" -v hz="$HZ" \
        'BEGIN { printf "%.3f", 1000 * t / hz / n }')
done
echo
echo "STARTTLS delivery benchmark: $(nproc) CPUs, ${MSG_BYTES} B messages, 1 recipient each, N=$N to $DOMAINS domains,"
echo "ROUNDS=$ROUNDS; receiver: Postfix $pf_version smtpd on $RCV_IP:$PORT (STARTTLS with $cert_desc certificate"
echo "from a test CA, which mtad verifies; every message discarded, spool on $(df --output=fstype "$R" | tail -1));"
echo "mtad: queue on $(df --output=fstype "$T" | tail -1), mta_sts = $MTA_STS, max_connections 100; status: $([ $ok = 1 ] && echo ok || echo CHECK)"
echo "load average before: $LOAD_BEFORE"
row() { printf '%-36s %7s %8s %6s %6s %6s %7s %8s %6s\n' "$@"; }
row "run (queued -> queue empty)" "msgs/s" "seconds" "conns" "TLS" "sent" "tls=" "mtad" "CPU"
row "" "" "" "(rcv)" "(rcv)" "(log)" "TLSv1.2" "ms/msg" "busy"
# conns: the receiver's sessions that carried mail; TLS: those with STARTTLS
if [ "$REF" = 1 ]; then
    row "receiver alone: smtp-source -d" "$(awk -v n="$N" -v s="$REF_D_SECS" 'BEGIN { printf "%.0f", n / s }')" \
        "$REF_D_SECS" "$REF_D_CONNS" 0 - - - -
    row "receiver alone: smtp-source, 1/conn" "$(awk -v n="$N" -v s="$REF_1_SECS" 'BEGIN { printf "%.0f", n / s }')" \
        "$REF_1_SECS" "$REF_1_CONNS" 0 - - - -
fi
label() {
    case "$1" in
    plain) echo "1 plaintext, reuse (<=100/conn)" ;;
    tls) echo "2 STARTTLS, reuse (<=100/conn)" ;;
    plain1) echo "3 plaintext, 1 msg/conn" ;;
    tls1) echo "4 STARTTLS, 1 msg/conn" ;;
    esac
}
for ((round = 1; round <= ROUNDS; round++)); do
    for r in $RUNS; do
        k=$r.$round
        row "$(label "$r")$([ "$ROUNDS" -gt 1 ] && echo ", #$round")" \
            "$(awk -v n="${SENT[$k]}" -v s="${SECS[$k]}" 'BEGIN { printf "%.0f", n / s }')" "${SECS[$k]}" \
            "${MCONNS[$k]}" "${TCONNS[$k]}" "${SENT[$k]}" "${STLS[$k]}" \
            "$(awk -v t="${TICKS[$k]}" -v n="$N" -v hz="$HZ" 'BEGIN { printf "%.3f", 1000 * t / hz / n }')" \
            "$(awk -v b="${MBUSY[$k]}" -v t="${MTOTAL[$k]}" 'BEGIN { printf "%.0f%%", t ? 100 * b / t : 0 }')"
    done
done
echo "load average after: $LOAD_AFTER"
[ "$ROUNDS" -gt 1 ] && echo "(below: all rounds together: messages / seconds, CPU / messages)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
if has_run plain && has_run tls; then
    echo "STARTTLS/plaintext with reuse: $(ratio "${RATE[tls]}" "${RATE[plain]}")x msgs/s" \
        "(${RATE[tls]} / ${RATE[plain]}); mtad CPU per message $(ratio "${CPUMS[tls]}" "${CPUMS[plain]}")x" \
        "(${CPUMS[tls]} / ${CPUMS[plain]} ms)"
fi
if has_run tls1; then
    echo "TLS handshakes/s (STARTTLS, 1 msg/conn): ${RATE[tls1]}"
fi
if has_run plain1 && has_run tls1; then
    echo "plaintext connections/s (1 msg/conn): ${RATE[plain1]}; STARTTLS/plaintext:" \
        "$(ratio "${RATE[tls1]}" "${RATE[plain1]}")x; mtad CPU per handshake:" \
        "$(awk -v a="${CPUMS[tls1]}" -v b="${CPUMS[plain1]}" 'BEGIN { printf "%.3f", a - b }') ms" \
        "(${CPUMS[tls1]} - ${CPUMS[plain1]} ms/msg)"
fi
# the TLS runs must have used TLS for every message, the plaintext runs never
check=ok
echo "check (mtad's status=sent lines; the receiver's TLS connections):"
for ((round = 1; round <= ROUNDS; round++)); do
    for r in $RUNS; do
        k=$r.$round
        v=ok
        case "$r" in
        plain*) [ "${STLS[$k]}" = 0 ] && [ "${RTLS[$k]}" = 0 ] && [ "${SNONE[$k]}" = "${SENT[$k]}" ] || v=WRONG ;;
        tls*) [ "${STLS[$k]}" = "${SENT[$k]}" ] && [ "${TCONNS[$k]}" = "${MCONNS[$k]}" ] || v=WRONG ;;
        esac
        [ "${SENT[$k]}" = "$N" ] && [ "${OTHER[$k]}" = 0 ] || v=WRONG
        [ "$v" = ok ] || check=WRONG
        echo "  $k: ${SENT[$k]}/$N sent, ${STLS[$k]} with tls=TLSv1.2, ${SNONE[$k]} with tls=none," \
            "${OTHER[$k]} deferred/bounced; receiver: ${TCONNS[$k]} of ${MCONNS[$k]} sessions with mail" \
            "had STARTTLS ($((CONNS[$k] - MCONNS[$k])) more without mail), ${RTLS[$k]} handshakes: $v"
    done
done
echo "TLS used exactly where asked: $check"
echo "mtad VmHWM, MB: $(for r in $RUNS; do awk -v n="$r" -v k="${HWM[$r.1]}" 'BEGIN { printf "%s %.1f  ", n, k / 1024 }'; done)"
[ "$check" = ok ] && [ "$ok" = 1 ]
