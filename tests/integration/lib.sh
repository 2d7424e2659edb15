# lib.sh - what every integration scenario shares: a private queue and
# config in a temp dir, starting and stopping the programs it needs (by
# PID), checks that print both values, and cleanup of everything on exit.
#
# A scenario reads as a short story:
#   . "$(dirname "$0")/lib.sh"
#   setup
#   start_mtad
#   send_msg ... ; check_eq "$(queue_count)" 1 "queued"
#   pass
#
# Environment from meson (tests/meson.build): MTAD SENDMAIL MTAQ
# MTA_POSTDROP MTA_SOURCE MTA_BUILD. Run by hand:
#   meson test -C build --suite integration -v NAME
set -u

T=""                # the scenario's temp dir
# Debian's python3 (python3-dkim lives there; a pyenv shim may shadow it
# and costs most of a second per start).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
MTAD_PID=""
declare -a BG_PIDS=()
TEST_NAME=$(basename "$0" .sh)

log() { printf '[%s] %s\n' "$TEST_NAME" "$*" >&2; }
fail() {
    log "FAIL: $*"
    if [ -n "$T" ] && [ -f "$T/mtad.log" ]; then
        log "--- last lines of mtad.log"
        tail -n 30 "$T/mtad.log" >&2
    fi
    # mtad's own stderr: what an abort or a sanitizer printed.
    if [ -n "$T" ] && [ -s "$T/mtad.out" ]; then
        log "--- last lines of mtad.out"
        tail -n 40 "$T/mtad.out" >&2
    fi
    exit 1
}
skip() { log "SKIP: $*"; exit 77; }
pass() { log "PASS"; exit 0; }

# check_eq GOT WANT WHAT
check_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; }
# check_contains HAYSTACK NEEDLE WHAT
check_contains() {
    case "$1" in *"$2"*) ;; *) fail "$3: '$2' not found in: $1" ;; esac
}
check_not_contains() {
    case "$1" in *"$2"*) fail "$3: '$2' found in: $1" ;; *) ;; esac
}

cleanup() {
    local rc=$?
    set +e
    if [ -n "$MTAD_PID" ] && kill -0 "$MTAD_PID" 2>/dev/null; then
        kill -9 "$MTAD_PID" 2>/dev/null
        wait "$MTAD_PID" 2>/dev/null
    fi
    local p
    for p in "${BG_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if [ -n "$T" ] && [ -d "$T" ]; then
        if [ "${KEEP:-0}" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# mta_user: the unprivileged user mtad becomes (the user key's default),
# created as scripts/install-system.sh does when this machine lacks it.
mta_user() {
    getent passwd mta >/dev/null ||
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin mta || fail "cannot create user mta"
    if getent group mtadrop >/dev/null; then usermod -a -G mtadrop mta || fail "usermod mta"; fi
}

# setup [extra config lines...]: temp dir on a real disk (fsync must mean
# something), a config, and MTA_CONF pointing at it.
setup() {
    [ -x "$MTAD" ] || fail "MTAD not set or not built"
    [ "$(id -u)" = 0 ] || skip "integration tests run as root (private spool, tmpfs, other users)"
    mta_user
    T=$(mktemp -d "${TMPBASE:-/var/tmp}/mtatest.XXXXXX")
    chmod 755 "$T"
    cat >"$T/aliases" <<'EOF'
# test aliases
postmaster: root
root: admin@example.com
team: alice, bob@example.org
EOF
    {
        echo "hostname = mta.test.example"
        echo "local_domain = test.example"
        echo "queue_dir = $T/spool"
        echo "aliases = $T/aliases"
        echo "log = $T/mtad.log"
        # The queue alone: scenarios about delivery turn it on.
        echo "delivery = off"
        # No submission service unless a scenario asks for one (port 587
        # is not ours to take on a test machine).
        echo "submission_listen ="
        local line
        for line in "$@"; do echo "$line"; done
    } >"$T/mta.conf"
    export MTA_CONF="$T/mta.conf"
    export MTA_POSTDROP
}

# start_mtad: runs mtad in the background and waits until it serves: its
# socket answers and it runs as its unprivileged user (a socket left by a
# killed mtad may exist before the new one is ready).
start_mtad() {
    "$MTAD" run >>"$T/mtad.out" 2>&1 &
    MTAD_PID=$!
    local i qdir want uids=""
    qdir=$(sed -n 's/^queue_dir = //p' "$MTA_CONF" | tail -1)
    want=$(sed -n 's/^user = //p' "$MTA_CONF" | tail -1)
    want=$(id -u "${want:-mta}")
    for i in $(seq 100); do
        uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$MTAD_PID/status" 2>/dev/null)
        if [ "$uids" = "$want $want $want $want" ] && [ -S "$qdir/public/mtad.sock" ] &&
            "$MTAQ" stats >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$MTAD_PID" 2>/dev/null || fail "mtad exited at start: $(cat "$T/mtad.out")"
        sleep 0.1
    done
    fail "mtad did not start (its uids, real effective saved fs: '$uids', want $want for each)"
}

# stop_mtad: SIGTERM and wait for a clean exit (status 0).
stop_mtad() {
    [ -n "$MTAD_PID" ] || return 0
    kill -TERM "$MTAD_PID" 2>/dev/null
    local rc=0
    wait "$MTAD_PID" || rc=$?
    MTAD_PID=""
    check_eq "$rc" 0 "mtad exit status after SIGTERM"
}

# kill_mtad: SIGKILL, as a crash.
kill_mtad() {
    [ -n "$MTAD_PID" ] || return 0
    kill -9 "$MTAD_PID" 2>/dev/null
    wait "$MTAD_PID" 2>/dev/null
    MTAD_PID=""
}

# bg CMD...: starts a background command and remembers its PID in BG_PID.
bg() {
    "$@" &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# queue_count: number of messages in the queue.
queue_count() {
    "$MTAQ" list --json | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

# queue_empty: true when the queue holds no message (for wait_until, which
# must evaluate it anew each time).
queue_empty() { [ "$(queue_count)" = 0 ]; }

# queue_ids: the queue ids, one per line.
queue_ids() {
    "$MTAQ" list --json | "$PY" -c 'import json,sys; [print(m["id"]) for m in json.load(sys.stdin)]'
}

# msg_json ID EXPR: evaluates a Python expression over `mtaq show --json`
# (bound to m), e.g. msg_json "$id" 'm["sender"]'.
msg_json() {
    "$MTAQ" show "$1" --json | "$PY" -c "import json,sys; m=json.load(sys.stdin); print($2)"
}

# wait_until SECONDS CMD...: polls CMD until it succeeds.
wait_until() {
    local end=$((SECONDS + $1))
    shift
    while ! "$@"; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.1
    done
}
