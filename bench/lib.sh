# lib.sh - what the Postfix-comparing benchmarks (deliver.sh, tls.sh,
# submit.sh) share: logging, stopping their background children, and the
# private Postfix instance helpers of the tests (pf_main_base, pf_master,
# pf_stop from tests/integration/lib_postfix.sh). Sourced; the caller sets
# T (its temp dir) before it stops anything.
. "$(dirname "${BASH_SOURCE[0]}")/../tests/integration/lib_postfix.sh"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
    log "FATAL: $*"
    exit 1
}

# stop_pid PID: one of our background children, TERM then KILL.
stop_pid() {
    local p=$1
    kill "$p" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

# stop_mtad: TERM to $MTAD_PID and its exit status logged if not 0.
stop_mtad() {
    [ -n "$MTAD_PID" ] || return 0
    local rc=0
    kill -TERM "$MTAD_PID" 2>/dev/null || true
    wait "$MTAD_PID" || rc=$?
    MTAD_PID=""
    [ "$rc" = 0 ] || log "mtad exited with status $rc (see its log in $T)"
}
