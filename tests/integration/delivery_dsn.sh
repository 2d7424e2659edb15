#!/bin/bash
# delivery_dsn.sh - delivery status notifications (RFC 3464 reports) reach
# the sender through the same queue and delivery path.
#
# The senders live at s.test, which has its own Postfix MX, so every report
# is a real message in a real mailbox, read back with Python's email
# package. a.test's receiver refuses nobody@a.test (550) and keeps
# refusing late@a.test (450). Stories, all in one daemon:
#   - 550 for one of two recipients: a failure report for that one only
#     (multipart/report, delivery-status fields, the original returned);
#     the other recipient gets the message;
#   - a null MX domain (which also has an address, with a receiver for it
#     there) and a domain that does not exist: failure reports at once, 5.1.10
#     and 5.1.2, and no connection;
#   - late@a.test: one "Delayed Mail" report after delay_warning_time,
#     then, at max_queue_lifetime (1m, the minimum), a failure report;
#     with -N failure, only the failure report;
#   - -N success,failure and a delivered recipient: a "relayed" report
#     (a.test's receiver does not offer DSN);
#   - d.test's receiver offers DSN: NOTIFY, RET, ENVID and ORCPT (given
#     through sendmail -bs, xtext) are passed on, so the "delivered"
#     report comes from that Postfix (it relays its reports to s.test's
#     receiver), with the original ENVID and ORCPT, and none from mtad;
#   - -N never, the null sender, and a report that cannot be delivered
#     itself: no report, and the message leaves the queue.
export DNS_PORT=${DNS_PORT:-5412}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_mx.sh"

setup_delivery "retry_schedule = 5s" "max_queue_lifetime = 1m" "delay_warning_time = 10s"
start_dns --mx-host=a.test,mx1.a.test,10 --host-record=mx1.a.test,127.0.2.11 \
    --mx-host=s.test,mx1.s.test,10 --host-record=mx1.s.test,127.0.2.12 \
    --dns-rr=nullmx.test,15,000000 --host-record=nullmx.test,127.0.2.12 \
    --mx-host=d.test,mx1.d.test,10 --host-record=mx1.d.test,127.0.2.13
start_postfix mxa 127.0.2.11 a.test "smtpd_discard_ehlo_keywords = dsn"
start_postfix mxd 127.0.2.13 d.test "relayhost = [127.0.2.12]:$MX_PORT"
# s.test's receiver also takes nullmx.test mail, at nullmx.test's address:
# nothing may be sent there (RFC 7505: no fallback to the address record).
start_postfix mxs 127.0.2.12 "s.test nullmx.test"
postfix_access mxa "nobody@a.test 550 5.1.1 no such user" "late@a.test 450 4.2.1 try later"
start_mtad

# send SENDER SUBJECT SENDMAIL_ARGS...
send() {
    local from=$1 subject=$2
    shift 2
    printf 'From: <%s>\nSubject: %s\n\nbody of %s\n' "$from" "$subject" "$subject" |
        "$SENDMAIL" -f "$from" "$@" || fail "sendmail -f $from $*: exit status $?"
}
# msg_id SENDER: the queue id of the message SENDER submitted (from the log).
msg_id() {
    grep -F "from=<$1>, size=" "$T/mtad.log" | sed 's/^.*\]: \([^:]*\): from=.*/\1/'
}
# report_lines: one line per recipient block of every report at s.test:
# "mailbox action final-recipient status", sorted.
report_lines() {
    received mxs | xargs -r "$PY" -c '
import email, sys
for f in sys.argv[1:]:
    m = email.message_from_binary_file(open(f, "rb"))
    parts = m.get_payload() if m.is_multipart() else []
    ds = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    if not ds:
        print(m["Delivered-To"], "NOT-A-REPORT", m.get_content_type())
        continue
    for b in ds[0].get_payload()[1:]:
        print(m["Delivered-To"], b["Action"], b["Final-Recipient"].split(";")[1].strip(), b["Status"])
' | sort
}
# report_of MAILBOX ACTION: the report file for MAILBOX with ACTION.
report_of() {
    local f
    for f in $(received mxs); do
        grep -q "^Delivered-To: $1\$" "$f" && grep -q "^Action: $2" "$f" && echo "$f"
    done
}
# have_report MAILBOX ACTION: that report has arrived.
have_report() { [ -n "$(report_of "$1" "$2")" ]; }
# describe FILE: what a report says, one "name: value" per line.
describe() {
    "$PY" - "$1" <<'EOF'
import email, re, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
unfold = lambda v: re.sub(r"\r?\n", "", v)  # RFC 5322 2.2.3
print("return-path:", m["Return-Path"])
for h in ("From", "To", "Subject", "Auto-Submitted"):
    print(h.lower() + ":", m[h])
print("type:", m.get_content_type(), "report-type=" + str(m.get_param("report-type")))
parts = m.get_payload()
print("parts:", " ".join(p.get_content_type() for p in parts))
ds = parts[1].get_payload()
print("per-message:", ", ".join("%s=%s" % (k, v) for k, v in ds[0].items() if k != "Arrival-Date"))
print("arrival-date present:", ds[0]["Arrival-Date"] is not None)
print("recipient blocks:", len(ds) - 1)
for k, v in ds[1].items():
    if k != "Last-Attempt-Date" and k != "Will-Retry-Until":
        print(k + ":", unfold(v))
print("will-retry-until present:", ds[1]["Will-Retry-Until"] is not None)
orig = parts[2]
if orig.get_content_type() == "message/rfc822":
    o = orig.get_payload(0)
    print("original:", "subject=" + str(o["Subject"]), "body=" + repr(o.get_payload()))
else:
    h = email.message_from_string(orig.get_payload())
    print("original headers:", "subject=" + str(h["Subject"]), "body=" + repr(h.get_payload()))
text = parts[0].get_payload()
print("text names the recipient:", ("<" + ds[1]["Final-Recipient"].split(";")[1].strip() + ">:") in text)
EOF
}


# The messages. late@a.test first: its clock (max_queue_lifetime) is the
# longest wait of the scenario.
send late@s.test "late one" late@a.test
send late2@s.test "late two" -N failure late@a.test
send alice@s.test "hello nobody" nobody@a.test bob@a.test
send nm@s.test "to null mx" u@nullmx.test
send nx@s.test "to nowhere" u@gone.test
send ok@s.test "tell me" -N success,failure bob@a.test
send never@s.test "never tell" -N never nobody@a.test
send '<>' "null sender" nobody@a.test
send lost@gone.test "lost sender" nobody@a.test
# DSN parameters as an SMTP client gives them (sendmail -bs): xtext.
printf '%s\r\n' "EHLO client.example" \
    "MAIL FROM:<pass@s.test> RET=HDRS ENVID=env+2B42+20x" \
    "RCPT TO:<carol@d.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;team+2Bcarol@d.test" "DATA" \
    "From: <pass@s.test>" "Subject: passed on" "" "body of passed on" "." "QUIT" |
    "$SENDMAIL" -bs >"$T/bs.out" 2>&1 || fail "sendmail -bs: $(cat "$T/bs.out")"
check_contains "$(cat "$T/bs.out")" "250 2.0.0" "sendmail -bs with DSN parameters: accepted"

# The immediate reports.
# (each waited for by name: a report relayed through mx1.d.test may come
# between them)
for r in "alice@s.test failed" "nm@s.test failed" "nx@s.test failed" "ok@s.test relayed"; do
    # shellcheck disable=SC2086 # mailbox and action
    wait_until 20 have_report $r || fail "no report for $r: $(report_lines)"
done
wait_delivered mxa 2
check_eq "$(received mxa | xargs grep -h '^Delivered-To:' | tr '\n' ' ')" \
    "Delivered-To: bob@a.test Delivered-To: bob@a.test " "a.test mailboxes (bob twice: alice's and ok's)"
check_eq "$(grep -c "]: $(msg_id alice@s.test): to=<bob@a.test>, .*status=sent (250 " "$T/mtad.log")" 1 \
    "bob@a.test, alice's other recipient, delivered"

# 550: the report, field by field.
f=$(report_of alice@s.test failed)
[ -n "$f" ] || fail "no failure report for alice@s.test: $(report_lines)"
check_eq "$(describe "$f")" "return-path: <>
from: Mail Delivery System <MAILER-DAEMON@mta.test.example>
to: <alice@s.test>
subject: Undelivered Mail Returned to Sender
auto-submitted: auto-replied
type: multipart/report report-type=delivery-status
parts: text/plain message/delivery-status message/rfc822
per-message: Reporting-MTA=dns; mta.test.example
arrival-date present: True
recipient blocks: 1
Final-Recipient: rfc822; nobody@a.test
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx1.a.test
Diagnostic-Code: smtp; 550 5.1.1 <nobody@a.test>: Recipient address rejected: no such user
will-retry-until present: False
original: subject=hello nobody body='body of hello nobody\n'
text names the recipient: True" "failure report for nobody@a.test (550)"

# Null MX and NXDOMAIN: bounced without a relay, at once.
# result_line RCPT: its log line without the time, id and delay.
result_line() { grep -F "to=<$1>" "$T/mtad.log" | sed 's/^.*\]: [^:]*: //; s/delay=[0-9]*, //'; }
check_eq "$(result_line u@nullmx.test)" \
    "to=<u@nullmx.test>, relay=none, dsn=5.1.10, status=bounced (nullmx.test: null MX (RFC 7505): the domain accepts no mail)" \
    "log line for the null MX domain"
check_eq "$(result_line u@gone.test)" \
    "to=<u@gone.test>, relay=none, dsn=5.1.2, status=bounced (gone.test: the domain does not exist (NXDOMAIN))" \
    "log line for the domain that does not exist"
for rcpt in u@nullmx.test u@gone.test; do
    # at once: at the first attempt, well before the first retry (5 s)
    d=$(grep -F "to=<$rcpt>" "$T/mtad.log" | sed 's/.*delay=\([0-9]*\),.*/\1/')
    [ "$d" -le 3 ] || fail "bounce of $rcpt after ${d}s, want at once (0-3s)"
done
f=$(report_of nm@s.test failed)
[ -n "$f" ] || fail "no failure report for nm@s.test: $(report_lines)"
d=$(describe "$f")
check_contains "$d" "Final-Recipient: rfc822; u@nullmx.test
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp; nullmx.test: null MX (RFC 7505): the domain accepts no mail" "null MX report"
check_not_contains "$d" "Remote-MTA" "null MX report (no remote MTA was asked)"
f=$(report_of nx@s.test failed)
[ -n "$f" ] || fail "no failure report for nx@s.test: $(report_lines)"
check_contains "$(describe "$f")" "Final-Recipient: rfc822; u@gone.test
Action: failed
Status: 5.1.2" "NXDOMAIN report"

# -N success,failure, delivered: a "relayed" report (the receiver does not
# offer DSN, so it is not told about NOTIFY: this MTA reports the delivery
# itself).
f=$(report_of ok@s.test relayed)
[ -n "$f" ] || fail "no success report for ok@s.test: $(report_lines)"
check_contains "$(describe "$f")" "subject: Successful Mail Delivery Report" "success report"
check_contains "$(describe "$f")" "Final-Recipient: rfc822; bob@a.test
Action: relayed
Status: 2.0.0
Remote-MTA: dns; mx1.a.test" "success report"

# The receiver that offers DSN got the parameters: it reports the delivery
# itself, with the ENVID and ORCPT as given, the headers only (RET=HDRS);
# mtad sends no report of its own.
pass_id=$(msg_id pass@s.test)
wait_until 30 have_report pass@s.test delivered || fail "no report from mx1.d.test: $(report_lines)"
grep -q "]: $pass_id: to=<carol@d.test>, relay=mx1.d.test.*status=sent" "$T/mtad.log" ||
    fail "carol@d.test not sent"
check_eq "$(grep -c "]: $pass_id: sender .* notification" "$T/mtad.log")" 0 \
    "mtad's own reports for a message whose receiver took the DSN parameters"
f=$(report_of pass@s.test delivered)
d=$("$PY" - "$f" <<'EOF'
import email, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
parts = m.get_payload()
ds = parts[1].get_payload()
print("parts:", " ".join(p.get_content_type() for p in parts))
print("envid:", ds[0]["Original-Envelope-Id"])
print("orcpt:", ds[1]["Original-Recipient"])
print("action:", ds[1]["Action"])
EOF
)
check_eq "$d" "parts: text/plain message/delivery-status text/rfc822-headers
envid: env+42 x
orcpt: rfc822;team+carol@d.test
action: delivered" "the receiver's report"

# -N never, the null sender, a report to a sender that does not exist:
# bounced, no report, gone from the queue.
never=$(msg_id never@s.test) null=$(msg_id "") lost=$(msg_id lost@gone.test)
for id in "$never" "$null" "$lost"; do
    wait_until 10 grep -q "]: $id: removed" "$T/mtad.log" || fail "$id not removed"
    check_eq "$(grep -c "]: $id: to=<nobody@a.test>, .* status=bounced (550 5.1.1 " "$T/mtad.log")" 1 "$id bounced"
    check_eq "$(grep -c "]: $id: removed" "$T/mtad.log")" 1 "$id removed"
done
check_eq "$(grep -c "]: \($never\|$null\): sender .* notification" "$T/mtad.log")" 0 \
    "reports for -N never and the null sender"
bounce=$(grep "]: $lost: sender non-delivery notification: " "$T/mtad.log" | sed 's/.*: //')
[ -n "$bounce" ] || fail "no report queued for lost@gone.test"
wait_until 10 grep -q "]: $bounce: removed" "$T/mtad.log" || fail "$bounce not removed"
check_eq "$(grep "]: $bounce: " "$T/mtad.log" | sed 's/^.*\]: //; s/delay=[0-9]*, //')" \
    "$bounce: to=<lost@gone.test>, relay=none, dsn=5.1.2, status=bounced (gone.test: the domain does not exist (NXDOMAIN))
$bounce: removed" "the undeliverable report: bounced, no report of it, removed"

# The delay warning: once, after delay_warning_time, only where wanted.
wait_until 30 have_report late@s.test delayed || fail "no delay report: $(report_lines)"
check_eq "$(describe "$(report_of late@s.test delayed)")" "return-path: <>
from: Mail Delivery System <MAILER-DAEMON@mta.test.example>
to: <late@s.test>
subject: Delayed Mail (still being retried)
auto-submitted: auto-replied
type: multipart/report report-type=delivery-status
parts: text/plain message/delivery-status text/rfc822-headers
per-message: Reporting-MTA=dns; mta.test.example
arrival-date present: True
recipient blocks: 1
Final-Recipient: rfc822; late@a.test
Action: delayed
Status: 4.2.1
Remote-MTA: dns; mx1.a.test
Diagnostic-Code: smtp; 450 4.2.1 <late@a.test>: Recipient address rejected: try later
will-retry-until present: True
original headers: subject=late one body=''
text names the recipient: True" "delay report for late@a.test"

# Expiry: at max_queue_lifetime, a failure report for the recipient that
# was never delivered (for both late messages).
late=$(msg_id late@s.test)
wait_until 90 grep -q "]: $late: removed" "$T/mtad.log" || fail "$late not expired after 90 s"
for r in late@s.test late2@s.test; do
    wait_until 20 have_report $r failed || fail "no expiry report for $r: $(report_lines)"
done
expired="message expired after 60s in the queue: 450 4.2.1 <late@a.test>: Recipient address rejected: try later"
check_eq "$(grep "]: $late: to=<late@a.test>.*status=bounced" "$T/mtad.log" | sed 's/^.*\]: [^:]*: //; s/delay=[0-9]*, //')" \
    "to=<late@a.test>, relay=mx1.a.test[127.0.2.11]:2525, tls=none, dsn=4.4.7, status=bounced ($expired)" "expiry log line"
d=$(grep "]: $late: to=<late@a.test>.*status=bounced" "$T/mtad.log" | sed 's/.*delay=\([0-9]*\),.*/\1/')
[ "$d" -ge 60 ] && [ "$d" -le 70 ] || fail "expired after ${d}s, want 60-70s (max_queue_lifetime = 1m, retry 5s)"
check_contains "$(describe "$(report_of late@s.test failed)")" "Final-Recipient: rfc822; late@a.test
Action: failed
Status: 4.4.7
Remote-MTA: dns; mx1.a.test
Diagnostic-Code: smtp; $expired" "expiry report"

# Every report, and nothing else, arrived at s.test.
check_eq "$(report_lines)" "alice@s.test failed nobody@a.test 5.1.1
late2@s.test failed late@a.test 4.4.7
late@s.test delayed late@a.test 4.2.1
late@s.test failed late@a.test 4.4.7
nm@s.test failed u@nullmx.test 5.1.10
nx@s.test failed u@gone.test 5.1.2
ok@s.test relayed bob@a.test 2.0.0
pass@s.test delivered carol@d.test 2.0.0" "all reports at s.test"
check_eq "$(received mxs | grep -c /nullmx.test/)" 0 "messages stored for nullmx.test at its address"
check_eq "$(grep -c "u@nullmx.test" "$T/mxs/maillog")" 0 "RCPT TO:<u@nullmx.test> seen at nullmx.test's address"
wait_until 10 queue_empty || fail "queue not empty: $("$MTAQ" list)"
stop_mtad
pass
