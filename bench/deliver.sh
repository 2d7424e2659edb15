#!/bin/bash
# deliver.sh - end-to-end delivery: N queued 4 KB messages (1 recipient
# each) to DOMAINS domains whose MX, served by a dnsmasq on loopback, is
# Postfix's smtp-sink on 127.0.4.2:2525; and in the same run the same
# messages through a private Postfix instance that relays everything to
# the same sink (transport_maps, no DNS). Prints both rates, their ratio
# and mtad's peak RSS. Then the connection target: a sink that holds every
# session before its 354 (smtp-sink -w) on 127.0.4.3:2525, CONN_DOMAINS
# domains with messages for more than max_connections = CONNS sessions;
# prints how many outbound connections mtad holds open at the peak and
# its RSS with them.
#
#   bench/deliver.sh [BUILD_DIR]        (as root; N=5000 by default)
#
# How each side is timed (both start with the messages already queued,
# nothing is delivering, and stop when the sink has counted all N):
#  - mtad: enqueued through the sendmail program (WRITERS in parallel) by
#    an mtad with "delivery = off", which then stops; t0 is the start of
#    an mtad with "delivery = on" on that queue, so its start, its queue
#    scan and its DNS lookups count against it.
#  - Postfix: the same message file injected over SMTP into its smtpd on
#    127.0.4.1:10025 (WRITERS sessions in parallel; its sendmail/postdrop
#    path manages only tens per second on a busy 2-core box); a
#    header_checks HOLD keeps every message on hold; t0 is
#    "postsuper -H ALL; postqueue -f" on the running instance.
# mtad's peak RSS is VmHWM from /proc at the end of its timed run;
# Postfix's memory is the peak sum of PSS over master and its children
# (sampled every 0.5 s), for context.
#
# Knobs (defaults in brackets): N [5000], DOMAINS [5], WRITERS [16],
# PF_CONC [20] Postfix smtp_destination_concurrency_limit (one next hop:
# this caps its smtp processes; 20 is the anchor's setting), CONNS [1000],
# CONN_DOMAINS [250] (mtad's slow start opens 5 sessions per destination
# until one succeeds: 250 x 5 asks for 1250), HOLD_S [30] seconds the slow
# sink waits before its 354, TIMEOUT [300] seconds per timed run,
# TMPBASE [/var/tmp] (a real disk: fsync costs what it costs), DNS_PORT
# [5431], KEEP [0] keep the temp dir (logs) if 1, PARTS ["e2e conns"]
# which measurements to run.
# Needs: dnsmasq (dnsmasq-base), postfix with smtp-sink, python3.
# Only 127.0.4.x and 127.0.0.1:DNS_PORT are used; nothing outside the
# temp dir is changed; every process started here is stopped by its PID.
set -euo pipefail
# mtad becomes the unprivileged user mta once started (scripts/install-system.sh
# creates it; so does this, when it is missing).
getent passwd mta >/dev/null || useradd --system --user-group --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin mta
B=$(cd "${1:-$(dirname "$0")/../build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
N=${N:-5000}
DOMAINS=${DOMAINS:-5}
WRITERS=${WRITERS:-16}
PF_CONC=${PF_CONC:-20}
CONNS=${CONNS:-1000}
CONN_DOMAINS=${CONN_DOMAINS:-250}
HOLD_S=${HOLD_S:-30}
TIMEOUT=${TIMEOUT:-300}
TMPBASE=${TMPBASE:-/var/tmp}
DNS_PORT=${DNS_PORT:-5431}
KEEP=${KEEP:-0}
PARTS=${PARTS:-e2e conns}
INJ_IP=127.0.4.1
INJ_PORT=10025
SINK_IP=127.0.4.2
SLOW_IP=127.0.4.3
PORT=2525
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
DNSMASQ=/usr/sbin/dnsmasq

. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root (private Postfix instance, smtp-sink -u nobody)"
for b in postfix postconf postsuper postqueue smtp-sink; do
    command -v "$b" >/dev/null || die "missing $b (postfix)"
done
[ -x "$DNSMASQ" ] || die "missing $DNSMASQ (dnsmasq-base)"
[ -x "$B/mta/mtad" ] || die "no $B/mta/mtad: build first (ninja -C build)"
for hp in "$SINK_IP:$PORT" "$SLOW_IP:$PORT" "$INJ_IP:$INJ_PORT"; do
    ! ss -Hltn "sport = :${hp##*:}" | awk '{print $4}' | grep -qxE "(${hp%:*}|0\.0\.0\.0|\*):${hp##*:}" ||
        die "$hp already in use"
done
! ss -Hlun "sport = :$DNS_PORT" | grep -q . || die "udp port $DNS_PORT in use (set DNS_PORT)"
# 1,000 sessions need more descriptors than the usual 1024
if [ "$(ulimit -n)" -lt $((CONNS + 500)) ]; then
    ulimit -n $((CONNS + 500)) 2>/dev/null || die "cannot raise the descriptor limit to $((CONNS + 500))"
fi

T=$(mktemp -d "$TMPBASE/mtadeliver.XXXXXX")
chmod 755 "$T" # mtad runs as mta and must reach the queue inside
chmod 755 "$T"
PFCONF=$T/pf/etc
PFQ=$T/pf/spool
MTAD_PID=""
declare -a BGPIDS=()

stop_postfix() { pf_stop "$PFCONF" "$PFQ"; }
cleanup() {
    set +e
    [ -n "$MTAD_PID" ] && kill -9 "$MTAD_PID" 2>/dev/null && wait "$MTAD_PID" 2>/dev/null
    stop_postfix
    local p
    for p in "${BGPIDS[@]}"; do stop_pid "$p"; done
    if [ "$KEEP" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

now() { echo "$EPOCHREALTIME"; }
sink_count() { # last complete counter record of a smtp-sink -c output file
    local c
    c=$(tail -c 200 "$1" 2>/dev/null | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9][0-9]*\)$/\1/p' | tail -1)
    echo "${c:-0}"
}
wait_count() { # file target seconds
    local end=$((SECONDS + $3))
    while (($(sink_count "$1") < $2)); do
        ((SECONDS < end)) || return 1
        sleep 0.02
    done
}
start_sink() { # ip out [options]
    local ip=$1 out=$2
    shift 2
    smtp-sink -u nobody -c "$@" "$ip:$PORT" 4096 >"$out" 2>"$out.err" &
    BGPIDS+=($!)
    for _ in $(seq 50); do
        ss -Hltn "sport = :$PORT" | grep -q "$ip:$PORT" && return 0
        sleep 0.1
    done
    die "smtp-sink on $ip did not start: $(cat "$out.err")"
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# mem_sampler PID FILE: "VmRSS RssAnon RssFile" (kB) every 0.1 s while PID lives
mem_sampler() {
    (
        while [ -r "/proc/$1/status" ]; do
            awk '$1 == "VmRSS:" { r = $2 } $1 == "RssAnon:" { a = $2 } $1 == "RssFile:" { f = $2 }
                 END { if (r) print r, a, f }' "/proc/$1/status" 2>/dev/null >>"$2" || true
            sleep 0.1
        done
    ) &
    BGPIDS+=($!)
}
peak_col() { awk -v c="$2" '$c > m { m = $c } END { print m + 0 }' "$1" 2>/dev/null || echo 0; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# ---- peers: DNS and the sinks
dns=()
for ((i = 1; i <= DOMAINS; i++)); do dns+=("--mx-host=d$i.bench.test,mx.sink.test,10"); done
for ((i = 1; i <= CONN_DOMAINS; i++)); do dns+=("--mx-host=c$i.conn.test,mx.slow.test,10"); done
dns+=("--host-record=mx.sink.test,$SINK_IP" "--host-record=mx.slow.test,$SLOW_IP")
"$DNSMASQ" -k --port="$DNS_PORT" --listen-address=127.0.0.1 --bind-interfaces --no-resolv \
    --no-hosts --pid-file= --conf-file=/dev/null --local=/test/ --log-facility="$T/dnsmasq.log" \
    "${dns[@]}" &
BGPIDS+=($!)
for _ in $(seq 50); do ss -Hlun "sport = :$DNS_PORT" | grep -q "127.0.0.1:$DNS_PORT" && break; sleep 0.1; done
start_sink "$SINK_IP" "$T/sink.out"

"$PY" "$HERE/../tests/integration/msgtool.py" gen bench 4096 >"$T/msg"
MSG_BYTES=$(wc -c <"$T/msg")

# inject PROGRAM COUNT DOMAINFMT [ARGS]: COUNT copies of the message, over
# WRITERS parallel loops, message i to user<i>@<DOMAINFMT with %d = i % D + 1>
inject() {
    local prog=$1 count=$2 fmt=$3 ndom=$4 w pids=() rc=0
    shift 4
    for ((w = 0; w < WRITERS; w++)); do
        (
            for ((i = w; i < count; i += WRITERS)); do
                # shellcheck disable=SC2059
                "$prog" "$@" -i "user$i@$(printf "$fmt" $((i % ndom + 1)))" <"$T/msg" || exit 1
            done
        ) &
        pids+=($!)
    done
    for w in "${pids[@]}"; do wait "$w" || rc=1; done
    return $rc
}

# mtad_conf NAME DELIVERY [lines]: a config for queue NAME
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
queued() { "$B/mta/mtaq" stats --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["messages"])'; }

ok=1
has_part() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
if has_part e2e; then
    # ---------------------------------------------------------------- mtad
    log "mtad: queueing $N messages (${MSG_BYTES} B) to $DOMAINS domains, $WRITERS writers, delivery off"
    mtad_conf q1 off
    mtad_start
    mtad_wait_socket "$T/q1"
    inject "$B/mta/sendmail" "$N" "d%d.bench.test" "$DOMAINS" || die "sendmail failed"
    [ "$(queued)" = "$N" ] || die "mtad queued $(queued), want $N"
    stop_mtad
    mtad_conf q1 on
    base=$(sink_count "$T/sink.out")
    log "mtad: delivering"
    t0=$(now)
    mtad_start
    mem_sampler "$MTAD_PID" "$T/mem-q1"
    wait_count "$T/sink.out" $((base + N)) "$TIMEOUT" || {
        ok=0
        log "TIMEOUT: the sink has $(($(sink_count "$T/sink.out") - base))/$N"
    }
    t1=$(now)
    m_hwm=$(status_kb "$MTAD_PID" VmHWM)
    m_cpu=$(awk '{ print $14 + $15 }' "/proc/$MTAD_PID/stat")
    m_got=$(($(sink_count "$T/sink.out") - base))
    for _ in $(seq 100); do [ "$(queued)" = 0 ] && break; sleep 0.1; done
    m_left=$(queued)
    stop_mtad
    m_rate=$(awk -v n="$m_got" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
    m_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    m_cpums=$(awk -v t="$m_cpu" -v n="$N" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", 1000 * t / hz / n }')
    m_anon=$(peak_col "$T/mem-q1" 2)
    m_file=$(peak_col "$T/mem-q1" 3)
    log "mtad: $m_got/$N in $m_secs s, $m_left left in the queue, VmHWM $(mb "$m_hwm") MB"

    # ---------------------------------------------------------------- Postfix
    mkdir -p "$PFCONF" "$PFQ" "$T/pf/data"
    chown postfix "$T/pf/data"
    cat >"$PFCONF/main.cf" <<EOF
$(pf_main_base "$PFQ" "$T/pf/data" deliver "$T/pf/maillog")
myhostname = mta.bench.example
mydomain = bench.example
myorigin = \$mydomain
local_transport = error:5.1.1 local delivery disabled in benchmark
transport_maps = texthash:$PFCONF/transport
header_checks = regexp:$PFCONF/hold
default_process_limit = 100
smtp_destination_concurrency_limit = $PF_CONC
# nothing is delivered while the messages are injected on hold: without
# this, pickup/cleanup would wait 1 s per message for delivery to catch up
in_flow_delay = 0
EOF
    echo "*   smtp:[$SINK_IP]:$PORT" >"$PFCONF/transport"
    echo "/^Subject:/ HOLD benchmark: released at t0" >"$PFCONF/hold"
    pf_master "$INJ_IP:$INJ_PORT" >"$PFCONF/master.cf"
    postfix -c "$PFCONF" start >"$T/pf/start.log" 2>&1 || die "postfix start: $(cat "$T/pf/start.log")"
    for _ in $(seq 50); do [ -s "$PFQ/pid/master.pid" ] && break; sleep 0.1; done
    PF_MASTER=$(tr -dc 0-9 <"$PFQ/pid/master.pid")
    pf_version=$(postconf -c "$PFCONF" -h mail_version)
    for _ in $(seq 50); do ss -Hltn "sport = :$INJ_PORT" | grep -q "$INJ_IP:$INJ_PORT" && break; sleep 0.1; done
    log "postfix $pf_version: queueing $N messages on hold, $WRITERS SMTP sessions"
    "$PY" - "$INJ_IP" "$INJ_PORT" "$N" "d%d.bench.test" "$DOMAINS" "$WRITERS" "$T/msg" <<'PYEOF' ||
import smtplib, sys, threading
host, port, n, fmt, ndom, writers, path = sys.argv[1:]
n, ndom, writers = int(n), int(ndom), int(writers)
msg = open(path, "rb").read().replace(b"\n", b"\r\n")  # the same bytes mtad queued
errors = []
def writer(w):
    try:
        s = smtplib.SMTP(host, int(port))
        for i in range(w, n, writers):
            s.sendmail("root@bench.example", ["user%d@%s" % (i, fmt % (i % ndom + 1))], msg)
        s.quit()
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
for t in ts: t.start()
for t in ts: t.join()
sys.exit("; ".join(errors[:3]) if errors else 0)
PYEOF
        die "injection into postfix failed"
    held() { find "$PFQ/hold" -type f 2>/dev/null | wc -l; }
    for _ in $(seq 600); do [ "$(held)" -ge "$N" ] && break; sleep 0.1; done
    [ "$(held)" = "$N" ] || die "postfix holds $(held) messages, want $N"

    pss_kb() { # master + children: summed PSS in kB
        local p f=(/dev/null)
        for p in "$PF_MASTER" $(ps -o pid= --ppid "$PF_MASTER" 2>/dev/null); do f+=("/proc/$p/smaps_rollup"); done
        { cat "${f[@]}" 2>/dev/null || true; } | awk '/^Pss:/ { q += $2 } END { print q + 0 }'
    }
    (
        while :; do
            pss_kb >>"$T/pf/pss"
            sleep 0.5
        done
    ) &
    SAMPLER=$!
    BGPIDS+=("$SAMPLER")
    base=$(sink_count "$T/sink.out")
    log "postfix: releasing (postsuper -H ALL; postqueue -f)"
    t0=$(now)
    postsuper -c "$PFCONF" -H ALL 2>>"$T/pf/start.log"
    postqueue -c "$PFCONF" -f
    wait_count "$T/sink.out" $((base + N)) "$TIMEOUT" || {
        ok=0
        log "TIMEOUT: the sink has $(($(sink_count "$T/sink.out") - base))/$N"
    }
    t1=$(now)
    stop_pid "$SAMPLER"
    p_got=$(($(sink_count "$T/sink.out") - base))
    p_rate=$(awk -v n="$p_got" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
    p_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    p_pss=$(awk '$1 > m { m = $1 } END { print m + 0 }' "$T/pf/pss")
    log "postfix: $p_got/$N in $p_secs s, peak PSS $(mb "$p_pss") MB"
    stop_postfix

fi

if has_part conns; then
    # ---------------------------------------------------------------- connections
    C_MSGS=$((CONN_DOMAINS * 6))
    want=$((CONN_DOMAINS * 5 < CONNS ? CONN_DOMAINS * 5 : CONNS))
    start_sink "$SLOW_IP" "$T/slow.out" -w "$HOLD_S"
    log "connections: queueing $C_MSGS messages to $CONN_DOMAINS domains; the sink waits ${HOLD_S}s before each 354"
    mtad_conf q3 off
    mtad_start
    mtad_wait_socket "$T/q3"
    inject "$B/mta/sendmail" "$C_MSGS" "c%d.conn.test" "$CONN_DOMAINS" || die "sendmail failed"
    stop_mtad
    mtad_conf q3 on "max_connections = $CONNS" "max_connections_per_destination = 1000" \
        "smtp_data_init_timeout = $((HOLD_S + 60))s"
    t0=$(now)
    mtad_start
    peak=0 peak_rss=0 peak_anon=0 peak_fds=0 peak_t=0 max_rss=0
    end=$((SECONDS + HOLD_S - 4))
    while ((SECONDS < end)); do
        c=$(ss -Htn state established dst "$SLOW_IP:$PORT" | wc -l)
        r=$(status_kb "$MTAD_PID" VmRSS)
        ((r > max_rss)) && max_rss=$r
        if ((c > peak)); then
            peak_anon=$(status_kb "$MTAD_PID" RssAnon)
            peak=$c peak_rss=$r peak_t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
            peak_fds=$(find "/proc/$MTAD_PID/fd" -mindepth 1 2>/dev/null | wc -l)
        fi
        # at the target for 2 s: enough
        if ((peak >= want)) && [ "$(awk -v a="$peak_t" -v a0="$t0" -v n="$(now)" 'BEGIN { print (n - a0 - a > 2) }')" = 1 ]; then break; fi
        sleep 0.2
    done
    c_hwm=$(status_kb "$MTAD_PID" VmHWM)
    c_now=$(ss -Htn state established dst "$SLOW_IP:$PORT" | wc -l)
    log "connections: peak $peak after ${peak_t}s, still $c_now; stopping mtad"
    t2=$(now)
    stop_mtad
    stop_t=$(awk -v a="$t2" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')

fi

# ---------------------------------------------------------------- report
if has_part e2e; then
    ratio=$(awk -v a="$m_rate" -v b="$p_rate" 'BEGIN { printf "%.2f", b ? a / b : 0 }')
    echo
    echo "deliver benchmark: $(nproc) CPUs, ${MSG_BYTES} B messages, 1 recipient each, N=$N to $DOMAINS domains,"
    echo "sink = smtp-sink on $SINK_IP:$PORT; queue on $(df --output=fstype "$T" | tail -1); status: $([ $ok = 1 ] && echo ok || echo CHECK)"
    printf '%-46s %8s %8s %10s\n' "end to end (queued -> sink counted N)" "msgs/s" "seconds" "x postfix"
    printf '%-46s %8s %8s %10s\n' "postfix $pf_version (hold released, $PF_CONC conc)" "$p_rate" "$p_secs" "1.00"
    printf '%-46s %8s %8s %10s\n' "mtad (started on the queue, DNS MX)" "$m_rate" "$m_secs" "$ratio"
    echo "mtad peak RSS (VmHWM) $(mb "$m_hwm") MB (sampled peaks: anonymous $(mb "$m_anon") MB, file-backed $(mb "$m_file") MB),"
    echo "mtad CPU $m_cpums ms/msg; postfix peak PSS (all processes) $(mb "$p_pss") MB"
    echo "target: mtad >= 5x postfix end to end: $(awk -v r="$ratio" 'BEGIN { print (r >= 5 ? "yes" : "no") }') (${ratio}x)"
fi
if has_part conns; then
    has_part e2e && echo
    echo "connections: max_connections=$CONNS, $CONN_DOMAINS domains x slow start 5 (asks for $((CONN_DOMAINS * 5))),"
    echo "sink holds each session ${HOLD_S}s before 354"
    printf '%-46s %10s\n' "open outbound connections at the peak (ss)" "$peak"
    printf '%-46s %10s\n' "seconds from mtad start to the peak" "$peak_t"
    printf '%-46s %10s\n' "mtad descriptors at the peak" "$peak_fds"
    printf '%-46s %10s\n' "mtad RSS at the peak (anonymous), MB" "$(mb "$peak_rss") ($(mb "$peak_anon"))"
    printf '%-46s %10s\n' "mtad RSS max while sampled / VmHWM, MB" "$(mb "$max_rss") / $(mb "$c_hwm")"
    printf '%-46s %10s\n' "seconds for mtad to stop with them open" "$stop_t"
    echo "target: $CONNS connections under 32 MB RSS: $(awk -v c="$peak" -v w="$CONNS" -v r="$c_hwm" \
        'BEGIN { print (c >= w && r < 32 * 1024 ? "yes" : "no") }')"
fi