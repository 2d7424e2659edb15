# lib.sh - what the Postfix-comparing benchmarks (deliver.sh, tls.sh,
# submit.sh) share: logging, stopping their private Postfix instance and
# their background children, and the start of a private main.cf. Sourced;
# the caller sets T (its temp dir) before it stops anything.

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
    log "FATAL: $*"
    exit 1
}

# pf_main_base QDIR DATADIR NAME LOGFILE: the lines every private instance
# needs (its own queue, data dir, syslog name and log file; no local
# delivery, no aliases), for a main.cf.
pf_main_base() {
    cat <<EOB
compatibility_level = 3.6
queue_directory = $1
data_directory = $2
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-$3
maillog_file = $4
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
# the smtpd address is in master.cf
inet_interfaces = all
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
EOB
}

# pf_stop CONF QDIR: stops that instance, then kills its stragglers (and
# only its own: master exports MAIL_CONFIG to its children).
pf_stop() {
    local conf=$1 q=$2 mp p
    [ -f "$q/pid/master.pid" ] || return 0
    mp=$(tr -dc 0-9 <"$q/pid/master.pid")
    [ -n "$mp" ] && kill -0 "$mp" 2>/dev/null || return 0
    postfix -c "$conf" stop >/dev/null 2>&1 || true
    for _ in $(seq 100); do kill -0 "$mp" 2>/dev/null || break; sleep 0.1; done
    for p in /proc/[0-9]*; do
        grep -qzx "MAIL_CONFIG=$conf" "$p/environ" 2>/dev/null && kill -9 "${p#/proc/}" 2>/dev/null
    done
    return 0
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

# pf_master LISTEN: a master.cf with smtpd on LISTEN (ip:port) and the
# services a private instance may use (tlsmgr for STARTTLS, smtp for
# relaying; those nobody calls never start).
pf_master() {
    cat <<EOB
$1 inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOB
}
