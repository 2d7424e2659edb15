# lib_mx.sh - real peers for delivery scenarios: a dnsmasq serving the
# test zones, and private Postfix instances as receiving MX hosts that
# store what they get in maildirs. Source after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/lib_mx.sh"
#   setup_delivery                      # config: delivery on, our DNS, port 2525
#   start_dns --mx-host=a.test,mx1.a.test,10 --host-record=mx1.a.test,127.0.0.2
#   start_postfix mx1 127.0.0.2 a.test  # accepts any user@a.test into $T/mx1/mail
#   start_mtad; echo ... | "$SENDMAIL" x@a.test
#   wait_delivered mx1 1                # one message in mx1's maildirs
#
# Every process started here is stopped by PID (Postfix by its master's
# PID and its MAIL_CONFIG) in lib.sh's cleanup, which calls mx_cleanup.
. "$(dirname "${BASH_SOURCE[0]}")/lib_postfix.sh"
DNS_PORT=${DNS_PORT:-5399}
MX_PORT=2525
declare -a MX_NAMES=()
DNS_PID=""

command -v postfix >/dev/null || skip "postfix is not installed (scripts/deps.sh --test)"
[ -x /usr/sbin/dnsmasq ] || skip "dnsmasq is not installed (package dnsmasq-base)"

# setup_delivery [extra config lines]: setup with delivery towards our peers.
setup_delivery() {
    setup "delivery = on" "dns_servers = 127.0.0.1:$DNS_PORT" "smtp_port = $MX_PORT" \
        "smtp_connect_timeout = 5s" "$@"
}

# start_dns DNSMASQ_OPTIONS...: an authoritative-looking dnsmasq on
# 127.0.0.1:$DNS_PORT; every name under .test that it does not know is
# NXDOMAIN.
start_dns() {
    /usr/sbin/dnsmasq -k --port="$DNS_PORT" --listen-address=127.0.0.1 --bind-interfaces \
        --no-resolv --no-hosts --pid-file= --local=/test/ --log-facility="$T/dnsmasq.log" \
        "$@" &
    DNS_PID=$!
    local i
    for i in $(seq 50); do
        ss -Hlun "sport = :$DNS_PORT" | grep -q "127.0.0.1:$DNS_PORT" && return 0
        kill -0 "$DNS_PID" 2>/dev/null || fail "dnsmasq exited: $(cat "$T/dnsmasq.log" 2>/dev/null)"
        sleep 0.1
    done
    fail "dnsmasq did not start"
}

# restart_dns OPTIONS...: new records.
restart_dns() {
    [ -n "$DNS_PID" ] && kill "$DNS_PID" 2>/dev/null && wait "$DNS_PID" 2>/dev/null
    start_dns "$@"
}

# start_postfix NAME IP DOMAINS [main.cf lines...]: a private Postfix on
# IP:2525 that accepts mail for DOMAINS (space-separated) into
# $T/NAME/mail/DOMAIN/ (maildir, one file per message) and logs to
# $T/NAME/maillog.
start_postfix() {
    local name=$1 ip=$2 domains=$3 dir="$T/$1"
    shift 3
    mkdir -p "$dir/etc" "$dir/spool" "$dir/data" "$dir/mail"
    chown postfix "$dir/data"
    chown nobody:nogroup "$dir/mail"
    local d
    : >"$dir/etc/vmailbox"
    for d in $domains; do
        echo "@$d $d/" >>"$dir/etc/vmailbox"
    done
    {
        pf_main_base "$dir/spool" "$dir/data" "$name" "$dir/maillog"
        cat <<EOF
myhostname = $name.mx.test
virtual_mailbox_domains = $domains
virtual_mailbox_base = $dir/mail
virtual_mailbox_maps = texthash:$dir/etc/vmailbox
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_mailbox_limit = 0
message_size_limit = 52428800
smtpd_recipient_restrictions = check_recipient_access texthash:$dir/etc/rcpt_access, permit
EOF
    } >"$dir/etc/main.cf"
    : >"$dir/etc/rcpt_access"
    local line
    for line in "$@"; do echo "$line" >>"$dir/etc/main.cf"; done
    pf_master "$ip:$MX_PORT" >"$dir/etc/master.cf"
    # someone else's listener on the same address would take our mail
    if ss -Hltn "sport = :$MX_PORT" | grep -qF " $ip:$MX_PORT "; then
        fail "$ip:$MX_PORT is already in use"
    fi
    script -eqc "postfix -c $dir/etc check" /dev/null >>"$dir/start.log" 2>&1 || fail "postfix check $name: $(cat "$dir/start.log")"
    MX_NAMES+=("$name") # stopped at exit even if the start fails half-way
    postfix -c "$dir/etc" start >>"$dir/start.log" 2>&1 || fail "postfix start $name: $(cat "$dir/start.log")"
    local i
    for i in $(seq 100); do
        ss -Hltn "sport = :$MX_PORT" | grep -qF " $ip:$MX_PORT " && return 0
        sleep 0.1
    done
    fail "postfix $name did not listen on $ip:$MX_PORT"
}

# postfix_access NAME "address-or-domain ACTION" ...: sets the receiver's
# check_recipient_access table (e.g. "slow@a.test 450 4.2.1 try later")
# and reloads it.
postfix_access() {
    local name=$1 dir="$T/$1"
    shift
    printf '%s\n' "$@" >"$dir/etc/rcpt_access"
    postfix -c "$dir/etc" reload >>"$dir/start.log" 2>&1 || fail "postfix reload $name"
    sleep 1 # smtpd processes pick the new table up as they restart
}

stop_postfix() { pf_stop "$T/$1/etc" "$T/$1/spool"; }

# received NAME: the message files NAME has stored, one path per line.
received() {
    find "$T/$1/mail" -type f -path '*/new/*' 2>/dev/null | sort
}

# wait_delivered NAME COUNT [SECONDS]: until NAME has stored COUNT messages.
wait_delivered() {
    local end=$((SECONDS + ${3:-30}))
    while [ "$(received "$1" | wc -l)" -lt "$2" ]; do
        [ $SECONDS -lt $end ] || fail "$1 has $(received "$1" | wc -l) messages, want $2"
        sleep 0.2
    done
}

# connections NAME: how many SMTP connections NAME's smtpd accepted.
connections() {
    local n
    n=$(grep -c "postfix-$1/smtpd\[[0-9]*\]: connect from" "$T/$1/maillog" 2>/dev/null)
    echo "${n:-0}"
}

mx_cleanup() {
    local n
    for n in "${MX_NAMES[@]}"; do stop_postfix "$n"; done
    [ -n "$DNS_PID" ] && kill "$DNS_PID" 2>/dev/null && wait "$DNS_PID" 2>/dev/null
    return 0
}
trap 'rc=$?; mx_cleanup; (exit $rc); cleanup' EXIT
