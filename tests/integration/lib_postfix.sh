# lib_postfix.sh - a private Postfix instance: the main.cf lines every one
# needs, its master.cf, and stopping it with its stragglers. Sourced by
# lib_mx.sh (the receiving MX hosts of the delivery tests) and by
# bench/lib.sh (the peers of the benchmarks); needs nothing else.

# pf_main_base QDIR DATADIR NAME LOGFILE: the lines every private instance
# needs (its own queue, data dir, syslog name and log file; no local
# delivery, no aliases; loopback clients may relay), for a main.cf.
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
# the smtpd address is in master.cf; Postfix looks for it on an interface otherwise
inet_interfaces = all
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
EOB
}

# pf_master LISTEN: a master.cf with smtpd on LISTEN (ip:port) and the
# services a private instance may use (tlsmgr for STARTTLS, smtp for
# relaying, virtual for maildirs; those nobody calls never start).
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
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOB
}

# pf_stop CONF QDIR: stops that instance, then kills its stragglers, and
# only its own (master exports MAIL_CONFIG to its children), also when its
# pid file is gone (a start that failed half-way).
pf_stop() {
    local conf=$1 q=$2 mp="" p
    [ -f "$q/pid/master.pid" ] && mp=$(tr -dc 0-9 <"$q/pid/master.pid")
    if [ -n "$mp" ] && kill -0 "$mp" 2>/dev/null; then
        postfix -c "$conf" stop >/dev/null 2>&1 || true
        for _ in $(seq 100); do kill -0 "$mp" 2>/dev/null || break; sleep 0.1; done
    fi
    for p in /proc/[0-9]*; do
        grep -qzx "MAIL_CONFIG=$conf" "$p/environ" 2>/dev/null && kill -9 "${p#/proc/}" 2>/dev/null
    done
    return 0
}
