#!/bin/bash
# delivery_split.sh - one message for 250 recipients at one domain goes
# out in transactions of at most max_recipients_per_transaction (100):
# the receiver queues exactly 3 messages (Postfix's qmgr logs nrcpt= for
# each), of at most 100 recipients and 250 together, and all 250 get
# their copy. Then 50 messages sent one after another while delivery
# runs share connections: the receiver sees far fewer connections than
# messages.
export DNS_PORT=5403
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_mx.sh"

MX_IP=127.0.1.7

# conns NAME: like lib_mx.sh's connections, which prints "0" twice when
# there were none (grep -c prints 0 and fails, then "|| echo 0").
conns() { grep -c "postfix-$1/smtpd\[[0-9]*\]: connect from" "$T/$1/maillog"; true; }
# free IP: nothing listens on IP:2525 yet (start_postfix would take a
# stray listener there for the new receiver).
free() { ! ss -Hltn "sport = :$MX_PORT" | grep -qF " $1:$MX_PORT " || fail "something already listens on $1:$MX_PORT"; }

setup_delivery
start_dns --mx-host=c.test,mx.c.test,10 --host-record=mx.c.test,$MX_IP
free $MX_IP
start_postfix mxc $MX_IP c.test
start_mtad

# 250 recipients, one message.
rcpts=$(seq -f 'r%03g@c.test' 1 250)
printf 'From: s@test.example\nSubject: many\nMessage-ID: <many@test.example>\n\nto 250 people\n' |
    "$SENDMAIL" -i -f s@test.example $rcpts || fail "sendmail to 250 recipients"
wait_delivered mxc 250 60
wait_until 20 queue_empty || fail "queue not empty: $("$MTAQ" list)"

# Postfix queued one message per transaction; qmgr logs each with nrcpt=.
grep 'postfix-mxc/qmgr\[[0-9]*\]: [0-9A-F]*: from=<s@test.example>, size=[0-9]*, nrcpt=' "$T/mxc/maillog" |
    sed 's/.*nrcpt=\([0-9]*\).*/\1/' >"$T/nrcpt"
log "recipients per transaction: $(tr '\n' ' ' <"$T/nrcpt")"
check_eq "$(wc -l <"$T/nrcpt")" 3 "transactions for 250 recipients (at most 100 each)"
check_eq "$(awk '$1 > 100' "$T/nrcpt" | wc -l)" 0 "transactions of more than 100 recipients"
check_eq "$(awk '{ s += $1 } END { print s }' "$T/nrcpt")" 250 "recipients in all transactions"
# Every recipient got exactly one copy.
check_eq "$(received mxc | xargs cat | sed -n 's/^Delivered-To: //p' | sort | uniq | wc -l)" 250 "distinct recipients delivered"
check_eq "$(received mxc | xargs cat | sed -n 's/^Delivered-To: //p' | sort | cmp - <(echo "$rcpts") && echo same)" \
    same "delivered recipients = r001..r250, once each"
check_eq "$(grep -c 'to=<r[0-9]*@c.test>, relay=mx.c.test\['"$MX_IP"'\]:2525, tls=none, delay=[0-9]*, dsn=2.0.0, status=sent (250 ' "$T/mtad.log")" \
    250 "status=sent lines for the 250 recipients"

# 50 messages, submitted as fast as sendmail goes, while mtad delivers;
# first the connections of the big message close (connection_idle_timeout
# is 5 s), so that the 50 open their own.
closed() { [ "$(grep -c 'postfix-mxc/smtpd\[[0-9]*\]: disconnect from' "$T/mxc/maillog")" = "$(conns mxc)" ]; }
wait_until 20 closed || fail "connections still open 20 s after delivery"
before=$(conns mxc)
for i in $(seq 50); do
    printf 'From: s@test.example\nSubject: one of 50\nMessage-ID: <m%s@test.example>\n\nmessage %s\n' "$i" "$i" |
        "$SENDMAIL" -i -f s@test.example "one@c.test" || fail "sendmail message $i"
done
wait_delivered mxc 300 60
wait_until 20 queue_empty || fail "queue not empty: $("$MTAQ" list)"
check_eq "$(received mxc | xargs cat | sed -n 's/^Message-ID: <\(m[0-9]*\)@test.example>$/\1/p' | sort -u | wc -l)" 50 \
    "distinct messages of the 50 delivered"
used=$(($(conns mxc) - before))
log "50 messages over $used connections"
[ "$used" -ge 1 ] && [ "$used" -lt 25 ] || fail "50 messages over $used connections, want fewer than 25"
check_eq "$(grep -cE 'status=(deferred|bounced)' "$T/mtad.log")" 0 "deferred or bounced lines"
stop_mtad
pass
