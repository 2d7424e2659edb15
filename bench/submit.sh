#!/bin/bash
# submit.sh - acceptance rate of the submission service: Postfix's
# smtp-source sends N 4 KB messages over SESSIONS (20) parallel SMTP
# sessions, one message per connection, no TLS, from a trusted address
# (127.0.0.1, in trusted_networks: no AUTH) to mtad's submission_listen
# 127.0.4.41:2587; and in the same run the same load to a private Postfix
# instance's smtpd on 127.0.4.42:2525. Prints both rates, the ratio
# mtad/Postfix and mtad's VmRSS and VmHWM after its run.
#
#   bench/submit.sh [BUILD_DIR]        (as root; N=2000 by default)
#
# What "accepted" means on each side: smtp-source has had the 250 after
# the final "." of every message, and the message is on disk.
#  - mtad: delivery = off, so the message stays queued; the submission
#    service commits it to the queue (LMDB, group commit) and syncs before
#    its 250. Counted with `mtaq stats`.
#  - Postfix: smtpd -> cleanup -> queue file written and fsynced, exactly
#    as for mail it will relay; "smtpd_data_restrictions =
#    check_client_access static:HOLD" makes cleanup file it in the hold
#    queue instead of incoming, so nothing is delivered or discarded and
#    qmgr does no work while we measure (in_flow_delay = 0, as nothing
#    drains the queue). Counted as the files under hold/.
# For scale, REF=1 (the default) also sends the same load to Postfix's
# smtp-sink on 127.0.4.43:2525 (accepts and discards, no disk): what
# smtp-source and the machine can push at all. The output adds each
# server's CPU per message, smtp-source's, and the machine's busy share.
# Each side first takes WARMUP (100) messages untimed, so that Postfix has
# spawned its smtpd and cleanup processes; then the timed run: t0 before
# smtp-source starts, t1 when it has exited. A run whose smtp-source
# failed, or whose queue does not hold exactly WARMUP + N messages per
# round, prints FAILED instead of a rate, and the script exits 1.
#
# Knobs (defaults in brackets): N [2000] messages per run, SESSIONS [20],
# MSG_BYTES [4096] smtp-source -l, WARMUP [100], ROUNDS [1] (mtad then
# Postfix, repeated; the summary adds the rounds up), CLIENT_LIMIT [40]
# mtad's submission_client_limit (see below), TIMEOUT [300] seconds per
# run, TMPBASE [/var/tmp] (a real disk: fsync costs what it costs),
# KEEP [0] keep the temp dir (logs) if 1, REF [1] the smtp-sink
# reference (0: none), NICE [0] niceness of mtad, the Postfix instance,
# smtp-sink and smtp-source (on a machine that others load, NICE=-10 lets the two servers be measured rather than the scheduler's
# share: Postfix's 40 processes otherwise win more of it than mtad's few).
# submission_client_limit defaults to 20, as many as the sessions: a
# session that has had its QUIT reply may still count on the server while
# smtp-source's next connection arrives, and a 421 would abort the run, so
# the bench allows twice the sessions; CLIENT_LIMIT=20 shows the default.
# Needs: postfix (with smtp-source and smtp-sink). Only 127.0.4.41:2587,
# 127.0.4.42:2525 and 127.0.4.43:2525 are used; nothing outside the temp
# dir is changed; every process started here is stopped by its PID.
set -euo pipefail
# mtad becomes the unprivileged user mta once started (scripts/install-system.sh
# creates it; so does this, when it is missing).
getent passwd mta >/dev/null || useradd --system --user-group --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin mta
B=$(cd "${1:-$(dirname "$0")/../build}" && pwd)
N=${N:-2000}
SESSIONS=${SESSIONS:-20}
MSG_BYTES=${MSG_BYTES:-4096}
WARMUP=${WARMUP:-100}
ROUNDS=${ROUNDS:-1}
CLIENT_LIMIT=${CLIENT_LIMIT:-40}
TIMEOUT=${TIMEOUT:-300}
TMPBASE=${TMPBASE:-/var/tmp}
KEEP=${KEEP:-0}
NICE=${NICE:-0}
REF=${REF:-1}
M_IP=127.0.4.41
M_PORT=2587
P_IP=127.0.4.42
P_PORT=2525
S_IP=127.0.4.43
S_PORT=2525
FROM=sender@bench.example
RCPT=user@d1.bench.test

. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root (private Postfix instance)"
for b in postfix postconf smtp-source; do
    command -v "$b" >/dev/null || die "missing $b (postfix)"
done
[ -x "$B/mta/mtad" ] && [ -x "$B/mta/mtaq" ] || die "no $B/mta/mtad or mtaq: build first (ninja -C build)"
for hp in "$M_IP:$M_PORT" "$P_IP:$P_PORT" "$S_IP:$S_PORT"; do
    ! ss -Hltn "sport = :${hp##*:}" | awk '{print $4}' | grep -qxE "(${hp%:*}|0\.0\.0\.0|\*):${hp##*:}" ||
        die "$hp already in use"
done

T=$(mktemp -d "$TMPBASE/mtasubmit.XXXXXX")
chmod 755 "$T" # mtad runs as mta and must reach the queue inside
chmod 755 "$T"
PFCONF=$T/pf/etc
PFQ=$T/pf/spool
MTAD_PID=""
SRC_PID=""
SINK_PID=""

stop_postfix() { pf_stop "$PFCONF" "$PFQ"; }
cleanup() {
    set +e
    # timeout(1) passes the TERM on to smtp-source
    [ -n "$SRC_PID" ] && kill "$SRC_PID" 2>/dev/null && wait "$SRC_PID" 2>/dev/null
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
    [ -n "$MTAD_PID" ] && kill -9 "$MTAD_PID" 2>/dev/null && wait "$MTAD_PID" 2>/dev/null
    stop_postfix
    if [ "$KEEP" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

now() { echo "$EPOCHREALTIME"; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ticks_of() { # utime+stime+cutime+cstime of the PIDs
    local p f=(/dev/null)
    for p in "$@"; do f+=("/proc/$p/stat"); done
    { cat "${f[@]}" 2>/dev/null || true; } | awk 'NF > 17 { s += $14 + $15 + $16 + $17 } END { print s + 0 }'
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# source IP PORT COUNT OUT: the load; its status is smtp-source's, and
# src_ticks its CPU time. timeout(1) ends it after TIMEOUT (status 124) so
# that a server that hangs cannot hang the bench; nothing polls meanwhile
# (a polling loop's forks would load the 2 cores we measure).
source_run() {
    local ip=$1 port=$2 count=$3 out=$4 rc=0 st0 st1
    read -r -a st0 </proc/$$/stat # cutime, cstime: fields 16 and 17
    timeout -k 5 "$TIMEOUT" nice -n "$NICE" smtp-source -c -s "$SESSIONS" -m "$count" -l "$MSG_BYTES" \
        -M client.bench.example -f "$FROM" -t "$RCPT" "$ip:$port" >"$out" 2>&1 &
    SRC_PID=$!
    wait "$SRC_PID" || rc=$?
    read -r -a st1 </proc/$$/stat
    src_ticks=$((st1[15] + st1[16] - st0[15] - st0[16]))
    SRC_PID=""
    [ "$rc" != 124 ] || echo "TIMEOUT: smtp-source still running after ${TIMEOUT}s" >>"$out"
    return $rc
}
# the last counter smtp-source -c printed: messages whose DATA completed
source_count() {
    local c
    c=$(tr '\r' '\n' <"$1" | grep -xE '[0-9]+' | tail -1)
    echo "${c:-0}"
}
source_errors() { tr '\r' '\n' <"$1" | grep -vxE '[0-9]*' | head -3 | tr '\n' ' '; }

# ---------------------------------------------------------------- mtad
cat >"$T/mta.conf" <<EOF
hostname = mta.bench.example
queue_dir = $T/spool
log = $T/mtad.log
aliases =
delivery = off
submission_listen = $M_IP:$M_PORT
trusted_networks = 127.0.0.0/8
submission_client_limit = $CLIENT_LIMIT
EOF
export MTA_CONF=$T/mta.conf
nice -n "$NICE" "$B/mta/mtad" run >>"$T/mtad.out" 2>&1 &
MTAD_PID=$!
for _ in $(seq 100); do
    [ -S "$T/spool/public/mtad.sock" ] && ss -Hltn "sport = :$M_PORT" | grep -q "$M_IP:$M_PORT" && break
    kill -0 "$MTAD_PID" 2>/dev/null || die "mtad exited: $(tail -5 "$T/mtad.out" "$T/mtad.log" 2>/dev/null)"
    sleep 0.1
done
ss -Hltn "sport = :$M_PORT" | grep -q "$M_IP:$M_PORT" || die "mtad does not listen on $M_IP:$M_PORT"
mtad_queued() { "$B/mta/mtaq" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])'; }

# ---------------------------------------------------------------- Postfix
mkdir -p "$PFCONF" "$PFQ" "$T/pf/data"
chown postfix "$T/pf/data"
cat >"$PFCONF/main.cf" <<EOF
$(pf_main_base "$PFQ" "$T/pf/data" submit "$T/pf/maillog")
myhostname = mta.bench.example
mydomain = bench.example
myorigin = \$mydomain
local_transport = error:5.1.1 local delivery disabled in benchmark
# accepted mail is filed in the hold queue by cleanup (after its fsync):
# nothing is delivered or discarded while we measure
smtpd_data_restrictions = check_client_access static:HOLD
default_process_limit = 100
# nothing drains the queue: without this cleanup would wait up to 1 s per
# message for qmgr's tokens
in_flow_delay = 0
EOF
pf_master "$P_IP:$P_PORT" >"$PFCONF/master.cf"
postfix -c "$PFCONF" check >"$T/pf/start.log" 2>&1 || die "postfix check: $(cat "$T/pf/start.log")"
nice -n "$NICE" postfix -c "$PFCONF" start >>"$T/pf/start.log" 2>&1 || die "postfix start: $(cat "$T/pf/start.log")"
for _ in $(seq 50); do [ -s "$PFQ/pid/master.pid" ] && break; sleep 0.1; done
PF_MASTER=$(tr -dc 0-9 <"$PFQ/pid/master.pid")
pf_version=$(postconf -c "$PFCONF" -h mail_version)
for _ in $(seq 50); do ss -Hltn "sport = :$P_PORT" | grep -q "$P_IP:$P_PORT" && break; sleep 0.1; done
ss -Hltn "sport = :$P_PORT" | grep -q "$P_IP:$P_PORT" || die "postfix does not listen on $P_IP:$P_PORT"
pf_held() { find "$PFQ/hold" -type f 2>/dev/null | wc -l; }
pf_other() { find "$PFQ/incoming" "$PFQ/active" "$PFQ/deferred" "$PFQ/maildrop" -type f 2>/dev/null | wc -l; }
pf_cpu() { ticks_of "$PF_MASTER" $(ps -o pid= --ppid "$PF_MASTER" 2>/dev/null); }

# ---------------------------------------------------------------- reference
if [ "$REF" = 1 ]; then
    nice -n "$NICE" smtp-sink -u nobody "$S_IP:$S_PORT" 256 >"$T/sink.log" 2>&1 &
    SINK_PID=$!
    for _ in $(seq 50); do ss -Hltn "sport = :$S_PORT" | grep -q "$S_IP:$S_PORT" && break; sleep 0.1; done
    ss -Hltn "sport = :$S_PORT" | grep -q "$S_IP:$S_PORT" || die "smtp-sink did not start: $(cat "$T/sink.log")"
fi

# ---------------------------------------------------------------- runs
ok=1
load0=$(loadavg)
log "load average before: $load0"
log "warm-up: $WARMUP messages to each (untimed)"
source_run "$M_IP" "$M_PORT" "$WARMUP" "$T/warm-mtad.out" || die "warm-up to mtad failed: $(source_errors "$T/warm-mtad.out")"
source_run "$P_IP" "$P_PORT" "$WARMUP" "$T/warm-pf.out" || die "warm-up to postfix failed: $(source_errors "$T/warm-pf.out")"
m_want=$WARMUP p_want=$WARMUP m_have=0 p_have=0
m_tot_s=0 p_tot_s=0 m_tot_n=0 p_tot_n=0
m_cpu_t=0 p_cpu_t=0
declare -a ROWS=() SROWS=()
TCK=$(getconf CLK_TCK)
# one SIDE: timed run, then the checks; sets r_rate, r_secs, r_ok, r_got
timed() {
    local side=$1 ip=$2 port=$3 out=$4 t0 t1 c0 c1 rc=0 have
    case $side in
    mtad) c0=$(ticks_of "$MTAD_PID") ;;
    postfix) c0=$(pf_cpu) ;;
    *) c0=$(ticks_of "$SINK_PID") ;;
    esac
    read -r -a k0 </proc/stat
    t0=$(now)
    source_run "$ip" "$port" "$N" "$out" || rc=$?
    t1=$(now)
    read -r -a k1 </proc/stat
    case $side in
    mtad) c1=$(ticks_of "$MTAD_PID") ;;
    postfix) c1=$(pf_cpu) ;;
    *) c1=$(ticks_of "$SINK_PID") ;;
    esac
    r_cpu=$((c1 - c0))
    r_ms=$(awk -v t="$r_cpu" -v n="$N" -v hz="$TCK" 'BEGIN { printf "%.2f", 1000 * t / hz / n }')
    r_src_ms=$(awk -v t="$src_ticks" -v n="$N" -v hz="$TCK" 'BEGIN { printf "%.2f", 1000 * t / hz / n }')
    # the machine's busy share over the run: cpu user..steal, idle = idle + iowait
    r_busy=$(awk -v a="${k0[*]:1:8}" -v b="${k1[*]:1:8}" 'BEGIN {
        split(a, x, " "); split(b, y, " "); for (i = 1; i <= 8; i++) t += y[i] - x[i]
        idle = y[4] - x[4] + y[5] - x[5]; printf "%.0f", t ? 100 * (1 - idle / t) : 0 }')
    r_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    r_got=$(source_count "$out")
    r_ok=1
    if [ "$rc" != 0 ]; then
        r_ok=0
        log "$side: smtp-source exited $rc after $r_got messages: $(source_errors "$out")"
    fi
    if [ "$side" = sink ]; then
        have=-
        [ "$r_got" = "$N" ] || {
            r_ok=0
            log "sink: smtp-source counted $r_got, want $N"
        }
    elif [ "$side" = mtad ]; then
        m_want=$((m_want + N))
        # the 250 came after the commit, so the count is final at once
        have=$(mtad_queued)
        m_have=$have
        [ "$have" = "$m_want" ] || {
            r_ok=0
            log "mtad: the queue holds $have messages, want $m_want"
        }
    else
        p_want=$((p_want + N))
        for _ in $(seq 20); do [ "$(pf_held)" -ge "$p_want" ] && break; sleep 0.1; done
        have=$(pf_held)
        p_have=$have
        [ "$have" = "$p_want" ] && [ "$(pf_other)" = 0 ] || {
            r_ok=0
            log "postfix: hold queue has $have messages, want $p_want; $(pf_other) elsewhere in the queue"
        }
    fi
    r_rate=$(awk -v n="$N" -v s="$r_secs" 'BEGIN { printf "%.0f", n / s }')
    log "$side: $N messages in $r_secs s ($r_rate msgs/s), queue $have; server ${r_ms} ms/msg," \
        "smtp-source ${r_src_ms} ms/msg, CPUs ${r_busy}% busy; $([ $r_ok = 1 ] && echo ok || echo FAILED)"
    # the reference's failure only loses its figure
    [ "$r_ok" = 1 ] || [ "$side" = sink ] || ok=0
}
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round/$ROUNDS: mtad, $N messages, $SESSIONS sessions"
    timed mtad "$M_IP" "$M_PORT" "$T/mtad-$round.out"
    m_rate=$r_rate m_secs=$r_secs m_ok=$r_ok m_ms=$r_ms m_src=$r_src_ms m_busy=$r_busy
    m_rss=$(status_kb "$MTAD_PID" VmRSS)
    m_hwm=$(status_kb "$MTAD_PID" VmHWM)
    m_anon=$(status_kb "$MTAD_PID" RssAnon)
    m_tot_s=$(awk -v a="$m_tot_s" -v b="$m_secs" 'BEGIN { print a + b }')
    m_tot_n=$((m_tot_n + N)) m_cpu_t=$((m_cpu_t + r_cpu))
    log "round $round/$ROUNDS: postfix, $N messages, $SESSIONS sessions"
    timed postfix "$P_IP" "$P_PORT" "$T/pf-$round.out"
    p_rate=$r_rate p_secs=$r_secs p_ok=$r_ok p_ms=$r_ms p_src=$r_src_ms p_busy=$r_busy
    p_tot_s=$(awk -v a="$p_tot_s" -v b="$p_secs" 'BEGIN { print a + b }')
    p_tot_n=$((p_tot_n + N)) p_cpu_t=$((p_cpu_t + r_cpu))
    s_rate=- s_src=- s_busy=-
    if [ "$REF" = 1 ]; then
        log "round $round/$ROUNDS: smtp-sink (reference), $N messages, $SESSIONS sessions"
        timed sink "$S_IP" "$S_PORT" "$T/sink-$round.out"
        [ "$r_ok" = 1 ] && s_rate=$r_rate
        s_src=$r_src_ms s_busy=$r_busy
    fi
    ROWS+=("$round $m_rate $m_secs $m_ok $m_ms $p_rate $p_secs $p_ok $p_ms $s_rate $(mb "$m_rss") $(mb "$m_hwm")")
    SROWS+=("$round $m_src $m_busy $p_src $p_busy $s_src $s_busy")
done
load1=$(loadavg)
m_refused=$(grep -c 'submission: refused' "$T/mtad.log" || true)
# after its start-up (which warns about delivery = off, no DKIM key, ...)
m_errors=$(sed '1,/daemon started/d' "$T/mtad.log" | grep -ciE 'error|not queued|warn|fatal' || true)
p_errors=$(grep -ciE 'reject|warning|fatal|panic' "$T/pf/maillog" || true)
m_cpums=$(awk -v t="$m_cpu_t" -v n="$m_tot_n" -v hz="$TCK" 'BEGIN { printf "%.2f", 1000 * t / hz / n }')
p_cpums=$(awk -v t="$p_cpu_t" -v n="$p_tot_n" -v hz="$TCK" 'BEGIN { printf "%.2f", 1000 * t / hz / n }')
stop_mtad
stop_postfix

# ---------------------------------------------------------------- report
fmt_rate() { if [ "$2" = 1 ]; then echo "$1"; else echo FAILED; fi; }
echo
echo "submission benchmark: $(nproc) CPUs, smtp-source -c -s $SESSIONS -m $N -l $MSG_BYTES (one message per"
echo "connection, no TLS, client 127.0.0.1 trusted: no AUTH), queues on $(df --output=fstype "$T" | tail -1) under $TMPBASE, nice $NICE"
echo "mtad: $M_IP:$M_PORT, delivery = off, submission_client_limit = $CLIENT_LIMIT: accepted = committed + synced in its queue"
echo "postfix $pf_version: smtpd $P_IP:$P_PORT -> cleanup -> queue file fsync, filed in the hold queue"
echo "(smtpd_data_restrictions HOLD; nothing delivered or discarded; in_flow_delay = 0); warm-up $WARMUP each, untimed"
echo "CPU ms/msg: the server's own CPU time (mtad; postfix master + all its processes) per message"
echo "sink/s: the same load into smtp-sink (no disk, no queue): what smtp-source and the box can push at all"
printf '%-5s %8s %7s %7s %10s %7s %7s %7s %7s %15s\n' round "mtad/s" seconds "ms/msg" "postfix/s" seconds "ms/msg" "x pf" "sink/s" "mtad RSS/HWM MB"
for r in "${ROWS[@]}"; do
    read -r rd mr ms mo mc pr ps po pc sr rss hwm <<<"$r"
    x=$(awk -v a="$mr" -v b="$pr" -v o="$mo$po" 'BEGIN { if (o == "11" && b) printf "%.2f", a / b; else print "-" }')
    printf '%-5s %8s %7s %7s %10s %7s %7s %7s %7s %15s\n' "$rd" "$(fmt_rate "$mr" "$mo")" "$ms" "$mc" "$(fmt_rate "$pr" "$po")" "$ps" "$pc" "$x" "$sr" "$rss / $hwm"
done
echo "smtp-source's own CPU ms/msg and the machine's CPU busy share during each run (against mtad / postfix / sink):"
for r in "${SROWS[@]}"; do
    read -r rd a ab b bb c cb <<<"$r"
    echo "  round $rd: smtp-source $a / $b / $c ms/msg; CPUs busy $ab% / $bb% / $cb%"
done
if [ "$ok" = 1 ]; then
    m_all=$(awk -v n="$m_tot_n" -v s="$m_tot_s" 'BEGIN { printf "%.0f", n / s }')
    p_all=$(awk -v n="$p_tot_n" -v s="$p_tot_s" 'BEGIN { printf "%.0f", n / s }')
    ratio=$(awk -v a="$m_all" -v b="$p_all" 'BEGIN { printf "%.2f", a / b }')
    echo "accepted msgs/s: mtad $m_all, postfix $p_all, ratio mtad/postfix ${ratio}x"
else
    echo "accepted msgs/s: FAILED (a run did not complete or a queue count is wrong; no rate printed)"
fi
echo "mtad after its run(s): VmRSS $(mb "$m_rss") MB (anonymous $(mb "$m_anon") MB), VmHWM $(mb "$m_hwm") MB; CPU $m_cpums ms/msg (postfix, all processes: $p_cpums ms/msg)"
echo "queue counts after the last run: mtad $m_have (want $m_want), postfix hold $p_have (want $p_want);"
echo "mtad log: $m_refused refused connections, $m_errors warning/error lines after start-up; postfix maillog: $p_errors reject/warning lines"
echo "load average before: $load0; after: $load1"
if [ "$ok" = 1 ]; then
    echo "target: mtad >= 3x postfix: $(awk -v r="$ratio" 'BEGIN { print (r >= 3 ? "yes" : "no") }') (${ratio}x)"
else
    exit 1
fi
