#!/bin/bash
# delivery_retry.sh - a temporary refusal is retried on retry_schedule.
#
# One message for two recipients at a.test, whose receiver answers 450 for
# slow@a.test: fast@a.test is delivered at once, slow@a.test is deferred.
# While it waits, mtaq show --json has one attempt, the 450 as last_reply
# and the next attempt 9 s (retry_schedule) after the deferral. The
# receiver's table is cleared, and the retry delivers the message to
# slow@a.test only: fast@a.test does not get it twice, nobody gets a
# report, and the message leaves the queue.
export DNS_PORT=${DNS_PORT:-5411}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_mx.sh"

# An idle connection is closed before the retry, so the retry opens a new
# one and meets a Postfix smtpd that has read the cleared table.
# retry_schedule leaves room for the checks between the deferral and the
# clearing of the table, even on a loaded machine; below 10 s it has no
# jitter (+-10% in whole seconds), so the due time is exact.
setup_delivery "retry_schedule = 9s" "connection_idle_timeout = 1s"
start_dns --mx-host=a.test,mx1.a.test,10 --host-record=mx1.a.test,127.0.2.1
start_postfix mx1 127.0.2.1 a.test
postfix_access mx1 "slow@a.test 450 4.2.1 try later"
start_mtad

printf 'Subject: retry me\n\nsecond time lucky\n' |
    "$SENDMAIL" -f alice@s.test fast@a.test slow@a.test || fail "sendmail exit status $?"
id=$(queue_ids)
check_eq "$(wc -l <<<"$id")" 1 "messages queued"

# First attempt: fast@a.test delivered, slow@a.test deferred.
wait_until 15 grep -q "to=<slow@a.test>.*status=deferred" "$T/mtad.log" ||
    fail "no deferral of slow@a.test"
wait_delivered mx1 1
reply='450 4.2.1 <slow@a.test>: Recipient address rejected: try later'
check_eq "$(grep -F "to=<slow@a.test>" "$T/mtad.log" | sed 's/^.*\]: //; s/delay=[0-9]*/delay=D/')" \
    "$id: to=<slow@a.test>, relay=mx1.a.test[127.0.2.1]:2525, tls=none, delay=D, dsn=4.2.1, status=deferred ($reply)" \
    "log line of the deferral"
check_eq "$(grep -c "to=<fast@a.test>.*status=sent" "$T/mtad.log")" 1 "fast@a.test sent at the first attempt"

# In between, the queue shows it.
show=$("$MTAQ" show "$id" --json) || fail "mtaq show $id --json"
check_eq "$("$PY" -c '
import json, sys
from datetime import datetime
m = json.loads(sys.argv[1])
for r in m["recipients"]:
    line = [r["address"], r["state"], str(r["attempts"])]
    if r["state"] == "deferred":
        line.append(r["last_reply"])
        t = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").timestamp()
        # the retry is due retry_schedule after the attempt that deferred it
        line.append("retry after %ds" % (t(r["next_attempt"]) - t(r["history"][-1]["time"])))
        line.append("history " + ",".join(e["state"] for e in r["history"]))
    print(" | ".join(line))
' "$show")" "fast@a.test | delivered | 1
slow@a.test | deferred | 1 | $reply (TLS: none) | retry after 9s | history ready,deferred" "mtaq show --json while waiting"
check_eq "$(queue_count)" 1 "message still queued"

# The receiver changes its mind; the retry delivers.
postfix_access mx1
wait_until 20 grep -q "to=<slow@a.test>.*status=sent" "$T/mtad.log" ||
    fail "slow@a.test not delivered after the retry"
wait_delivered mx1 2
sent=$(grep -F "to=<slow@a.test>" "$T/mtad.log" | tail -1 | sed 's/^.*\]: //')
check_contains "$sent" "$id: to=<slow@a.test>, relay=mx1.a.test[127.0.2.1]:2525, tls=none, delay=" "retry log line"
check_contains "$sent" ", dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as " "retry log line"
# the retry came retry_schedule after the deferral (log times are whole
# seconds, and a delivery takes a moment: up to 2 s more)
d1=$(grep -F "to=<slow@a.test>" "$T/mtad.log" | head -1 | sed 's/.*delay=\([0-9]*\),.*/\1/')
d2=$(sed 's/.*delay=\([0-9]*\),.*/\1/' <<<"$sent")
[ $((d2 - d1)) -ge 9 ] && [ $((d2 - d1)) -le 11 ] ||
    fail "retry came $((d2 - d1))s after the deferral, want 9-11s (retry_schedule = 9s)"
check_eq "$(grep -c "to=<slow@a.test>" "$T/mtad.log")" 2 "attempts logged for slow@a.test (deferred, sent)"
check_eq "$(connections mx1)" 2 "connections to mx1 (first attempt, retry)"

# Each recipient got the message exactly once, with its content.
check_eq "$(received mx1 | xargs grep -h '^Delivered-To:' | sort | tr '\n' ' ')" \
    "Delivered-To: fast@a.test Delivered-To: slow@a.test " "mailboxes that got the message"
for f in $(received mx1); do
    check_eq "$(sed -n '/^$/,$p' "$f" | sed 1d)" "second time lucky" "body in $f"
done
wait_until 5 grep -q "^.*\]: $id: removed" "$T/mtad.log" || fail "$id not removed after delivery"
check_eq "$(queue_count)" 0 "queue after delivery"
check_eq "$(grep -c "notification" "$T/mtad.log")" 0 "reports queued (none wanted)"
stop_mtad
pass
