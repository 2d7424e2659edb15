#!/bin/bash
# sendmail_basic - the sendmail command as programs call it: recipients
# from arguments and from headers (-t), envelope options, the content as
# queued byte for byte (line endings, dots, long lines, added headers),
# aliases, refusals with their exit codes and nothing queued, -bs, -bp and
# mailq, -q and -v.
. "$(dirname "$0")/lib.sh"

# ---- helpers for this story ----

ID=""   # the message the last `send` queued

# send WHAT ARG...: runs sendmail on our stdin; it must exit 0 and add
# exactly one message to the queue, whose id goes to ID.
send() {
    local what=$1 before rc=0
    shift
    before=$(queue_ids | sort)
    "$SENDMAIL" "$@" >"$T/out" 2>"$T/err" || rc=$?
    check_eq "$rc" 0 "$what: sendmail exit status (stderr: $(cat "$T/err"))"
    ID=$(comm -13 <(printf '%s\n' "$before") <(queue_ids | sort) | grep .)
    check_eq "$(printf '%s\n' "$ID" | grep -c .)" 1 "$what: new messages in the queue"
}

# refuse WANT_STATUS WHAT ARG...: sendmail must exit with WANT_STATUS and
# leave the queue and the maildrop as they were.
refuse() {
    local want=$1 what=$2 before rc=0
    shift 2
    before=$(queue_ids | sort)
    "$SENDMAIL" "$@" >"$T/out" 2>"$T/err" || rc=$?
    check_eq "$rc" "$want" "$what: sendmail exit status (stderr: $(cat "$T/err"))"
    check_eq "$(queue_ids | sort)" "$before" "$what: queue after the refusal"
    check_eq "$(ls -A "$T/spool/maildrop" 2>/dev/null)" "" "$what: maildrop after the refusal"
}

# rcpts ID: the envelope recipients, sorted, space separated.
rcpts() { msg_json "$1" '" ".join(sorted(r["address"] for r in m["recipients"]))'; }

# expect_queued ID WHAT < EXPECTED: the queued content must be the
# daemon's Received header, then EXPECTED with every LF read as CRLF.
# @DATE@, @MSGID@ and @FROM@ in EXPECTED stand for a generated Date
# value, a Message-ID naming our hostname and a From naming our login.
expect_queued() {
    "$MTAQ" cat "$1" >"$T/got" || fail "$2: mtaq cat $1 failed"
    cat >"$T/want"
    "$PY" - "$T/got" "$T/want" "$(id -u)" "$(id -un)" <<'EOF' || fail "$2: queued content differs"
import re, sys
got = open(sys.argv[1], "rb").read()
want = open(sys.argv[2], "rb").read().replace(b"\n", b"\r\n")
date = rb"[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}"
received = (rb"Received: by mta\.test\.example \(mtad, from userid "
            + sys.argv[3].encode() + rb"\);\r\n\t" + date + rb"\r\n")
pattern = received + re.escape(want).replace(re.escape(b"@DATE@"), date).replace(
    re.escape(b"@MSGID@"), rb"<[^<>@\s]+@mta\.test\.example>").replace(
    re.escape(b"@FROM@"), rb"(?:[^\r\n]* )?<?" + re.escape(sys.argv[4].encode()) + rb"@test\.example>?")
if not re.fullmatch(pattern, got):
    sys.stderr.write("got:  %r\nwant: Received: ...\\r\\n\\t...\\r\\n%r\n" % (got, want))
    sys.exit(1)
EOF
}

setup
start_mtad

# ---- recipients from the arguments ----

send "argument recipients" -f sender@example.com alice@example.org \
    'a@x.example, Name <b@y.example>' <<'EOF'
From: Sender <sender@example.com>
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <args@example.com>
Subject: arguments

hello
EOF
check_eq "$(rcpts "$ID")" "a@x.example alice@example.org b@y.example" "argument recipients"
check_eq "$(msg_json "$ID" 'm["sender"]')" "sender@example.com" "-f sender"
expect_queued "$ID" "argument recipients" <<'EOF'
From: Sender <sender@example.com>
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <args@example.com>
Subject: arguments

hello
EOF

# The same recipient twice, in any case, is queued once.
send "duplicate recipient" carol@example.net Carol@Example.NET <<<'Subject: dup'
check_eq "$(rcpts "$ID")" "carol@example.net" "duplicate recipient"

# ---- -t: recipients from the header ----

# To, Cc and a folded Bcc, plus one command-line recipient (added to the
# header's, as Postfix does) and a bare name that goes through the aliases.
send "-t" -t extra@example.com <<'EOF'
From: Sender <sender@example.com>
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <t@example.com>
To: Alice <alice@example.org>, team
Cc: carol@example.net
Bcc: hidden@example.net,
	"Secret Person" <secret@example.net>
Subject: extract

body
EOF
check_eq "$(rcpts "$ID")" \
    "alice@example.org alice@test.example bob@example.org carol@example.net extra@example.com hidden@example.net secret@example.net" \
    "-t recipients"
expect_queued "$ID" "-t: Bcc removed, the rest untouched" <<'EOF'
From: Sender <sender@example.com>
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <t@example.com>
To: Alice <alice@example.org>, team
Cc: carol@example.net
Subject: extract

body
EOF

# With Resent-* fields the recipients are the Resent-To/Cc/Bcc ones only.
send "-t with Resent-*" -t <<'EOF'
From: orig@example.com
To: first@example.com
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <resent@example.com>
Resent-From: fwd@example.com
Resent-Date: Tue, 2 Jan 2024 10:00:00 +0000
Resent-To: new@example.org
Resent-Cc: copy@example.org
Resent-Bcc: blind@example.org
Subject: forwarded

body
EOF
check_eq "$(rcpts "$ID")" "blind@example.org copy@example.org new@example.org" "Resent-* recipients"
expect_queued "$ID" "-t with Resent-*: Resent-Bcc removed" <<'EOF'
From: orig@example.com
To: first@example.com
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <resent@example.com>
Resent-From: fwd@example.com
Resent-Date: Tue, 2 Jan 2024 10:00:00 +0000
Resent-To: new@example.org
Resent-Cc: copy@example.org
Subject: forwarded

body
EOF

# Header forms mail programs write: an empty group, a quoted name with a
# comma, a comment, a named group.
send "-t address forms" -t <<'EOF'
To: undisclosed-recipients:;
Cc: "Doe, John" <john@example.com>, alice@example.org (Alice A.),
 Friends: f1@example.com, F Two <f2@example.com>;
Bcc: x@example.com
Subject: forms

body
EOF
check_eq "$(rcpts "$ID")" \
    "alice@example.org f1@example.com f2@example.com john@example.com x@example.com" \
    "-t address forms"

refuse 65 "-t with a malformed To" -t <<<$'To: alice@example.org, <broken\nSubject: bad\n\nx'
refuse 65 "-t without recipient headers" -t <<<$'Subject: nobody\n\nx'

# ---- the sender ----

send "-f <>" -f '<>' alice@example.org <<<'Subject: null sender'
check_eq "$(msg_json "$ID" 'repr(m["sender"])')" "''" "-f '<>' is the null sender"
send "-f bare name" -f jdoe alice@example.org <<<'Subject: bare sender'
check_eq "$(msg_json "$ID" 'm["sender"]')" "jdoe@test.example" "-f bare name qualified"
send "-r <address>" -r '<list-bounces@example.com>' alice@example.org <<<'Subject: -r'
check_eq "$(msg_json "$ID" 'm["sender"]')" "list-bounces@example.com" "-r sender, brackets removed"
send "no -f" alice@example.org <<<'Subject: login sender'
check_eq "$(msg_json "$ID" 'm["sender"]')" "$(id -un)@test.example" "sender from the login name"
refuse 64 "-f with a space" -f 'bad sender@example.com' alice@example.org <<<'Subject: x'

# -F names the From the sendmail adds; a name with specials is quoted.
send "-F plain" -F 'Jane Roe' alice@example.org <<'EOF'
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <f1@example.com>
Subject: full name

x
EOF
expect_queued "$ID" "-F plain name" <<EOF
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <f1@example.com>
Subject: full name
From: Jane Roe <$(id -un)@test.example>

x
EOF
send "-F with a comma" -F 'Doe, John' alice@example.org <<'EOF'
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <f2@example.com>
Subject: quoted name

x
EOF
expect_queued "$ID" "-F 'Doe, John' quoted" <<EOF
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <f2@example.com>
Subject: quoted name
From: "Doe, John" <$(id -un)@test.example>

x
EOF
# More names: quotes and backslashes escaped, 8-bit encoded (RFC 2047).
while IFS='|' read -r name want; do
    send "-F $name" -F "$name" alice@example.org <<<'Subject: name'
    check_eq "$("$MTAQ" cat "$ID" | grep '^From:' | tr -d '\r')" \
        "From: $want <$(id -un)@test.example>" "From for -F '$name'"
done <<'EOF'
Joe "J" Doe|"Joe \"J\" Doe"
back\slash|"back\\slash"
Dr. Who|"Dr. Who"
José|=?UTF-8?B?Sm9zw6k=?=
EOF

# ---- DSN and body options go into the envelope ----

send "-N -R -V -B" -N success,failure,delay -R hdrs -V env-42.x -B 8BITMIME -L mylabel \
    alice@example.org <<<'Subject: dsn'
check_eq "$(msg_json "$ID" 'm.get("envid")')" "env-42.x" "-V envid"
check_eq "$(msg_json "$ID" 'm["ret"]')" "hdrs" "-R hdrs"
check_eq "$(msg_json "$ID" 'm["body"]')" "8bitmime" "-B 8BITMIME"
send "-N never -R full" -N never -R full -B 7BIT alice@example.org <<<'Subject: dsn2'
check_eq "$(msg_json "$ID" 'm["ret"]')" "full" "-R full"
check_eq "$(msg_json "$ID" 'm["body"]')" "7bit" "-B 7BIT"
check_eq "$(msg_json "$ID" 'm.get("envid")')" "None" "no -V, no envid"
send "defaults" alice@example.org <<<'Subject: defaults'
check_eq "$(msg_json "$ID" 'm["ret"]')" "default" "no -R"
check_eq "$(msg_json "$ID" 'm["body"]')" "7bit" "no -B, 7-bit content"
send "8-bit content" alice@example.org <<<$'Subject: caf\xc3\xa9\n\n8-bit'
check_eq "$(msg_json "$ID" 'm["body"]')" "8bitmime" "8-bit content without -B"
refuse 64 "-N bogus" -N sometimes alice@example.org <<<'Subject: x'
refuse 64 "-R bogus" -R some alice@example.org <<<'Subject: x'
refuse 64 "-B bogus" -B BINARYMIME alice@example.org <<<'Subject: x'

# Delivery and error modes programs pass are accepted and change nothing.
send "-bm -odq -oem -oep -odb -odi -oi" -bm -odq -oem -oep -odb -odi -oi alice@example.org <<<'Subject: modes'

# ---- dots ----

# Without -i a line holding only "." ends the message (whatever its line
# ending); what follows is not queued. Other dots are content.
send "dot ends input" alice@example.org < <(printf 'Subject: dots\n\n.x\n..y\nbefore\r\n.\r\nafter\n.\nmore\n')
expect_queued "$ID" "dot ends input" <<'EOF'
Subject: dots
Date: @DATE@
Message-ID: @MSGID@
From: @FROM@

.x
..y
before
EOF
# With -i (and -oi) a "." line is content.
send "-i keeps dots" -i alice@example.org <<'EOF'
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <dots-i@example.com>
From: a@example.com
Subject: dots

before
.
after
EOF
expect_queued "$ID" "-i keeps the dot line" <<'EOF'
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <dots-i@example.com>
From: a@example.com
Subject: dots

before
.
after
EOF

# ---- line endings ----

send "line endings" alice@example.org < <(printf 'From: a@example.com\rDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <eol@example.com>\nSubject: eol\n\r\nlf\ncr\rcrlf\r\ncr-crlf\r\r\nlf-cr\n\rno final newline')
expect_queued "$ID" "bare LF, bare CR and mixed endings become CRLF" <<'EOF'
From: a@example.com
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <eol@example.com>
Subject: eol

lf
cr
crlf
cr-crlf

lf-cr

no final newline
EOF

# ---- long lines are folded, never cut ----

"$PY" - "$T" <<'EOF'
import string, sys
t = sys.argv[1]
alnum = (string.ascii_letters + string.digits) * 40
long_body = alnum[:2000]                      # no blank: folded at 998
# 998 octets stay one line; a 999th that is a dot is folded onto a line of
# its own, and that line must not end the input (no -i here).
short = "b" * 998
dotted = "c" * 998 + "."
words = " ".join("w%03d" % i for i in range(400))  # 1999 octets of words
hdr = ("Subject: " + words)
head = "From: a@example.com\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <long@example.com>\n"
open(t + "/long.in", "w").write(head + hdr + "\n\n" + long_body + "\n" + short + "\n" + dotted + "\nend\n")
open(t + "/long.subject", "w").write(words)
open(t + "/long.body", "w").write(long_body[:998] + "\n" + long_body[998:1996] + "\n" + long_body[1996:]
                                  + "\n" + short + "\n" + dotted[:998] + "\n.\nend\n")
EOF
send "2000-octet lines" alice@example.org <"$T/long.in"
check_contains "$(cat "$T/err")" "folded" "warning about folded lines"
"$MTAQ" cat "$ID" >"$T/long.got"
"$PY" - "$T" <<'EOF' || fail "long lines: folding lost or changed characters"
import sys
t = sys.argv[1]
got = open(t + "/long.got", "rb").read()
head, body = got.split(b"\r\n\r\n", 1)
want_body = open(t + "/long.body", "rb").read().replace(b"\n", b"\r\n")
if body != want_body:
    sys.exit("body: got %r\nwant %r" % (body, want_body))
lines = head.split(b"\r\n")
if any(len(l) > 998 for l in lines):
    sys.exit("a header line is still longer than 998 octets")
start = [i for i, l in enumerate(lines) if l.startswith(b"Subject:")][0]
end = start + 1
while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
    end += 1
if end - start < 3:
    sys.exit("Subject not folded into 3 lines: %r" % lines[start:end])
subject = b"".join(lines[start:end])[len(b"Subject: "):]
if subject != open(t + "/long.subject", "rb").read():
    sys.exit("Subject changed by folding: %r" % subject)
EOF

# ---- Date, Message-ID and From: added when missing, never changed ----

login=$(id -un)
gecos=$(getent passwd "$login" | cut -d: -f5 | cut -d, -f1)
send "missing headers" alice@example.org <<<$'Subject: bare\n\nbody'
from="$gecos <$login@test.example>"
[[ $gecos =~ ^[A-Za-z0-9\ ]+$ ]] || from="@FROM@" # an unusual GECOS: check the address only
expect_queued "$ID" "Date, Message-ID and From added" <<EOF
Subject: bare
Date: @DATE@
Message-ID: @MSGID@
From: $from

body
EOF
send "no header at all" alice@example.org <<<'just a body line'
expect_queued "$ID" "headers added before a body-only message" <<'EOF'
Date: @DATE@
Message-ID: @MSGID@
From: @FROM@

just a body line
EOF
send "existing headers" alice@example.org <<'EOF'
FROM: Someone Else <someone@example.com>
date: Sat, 1 Jan 2000 00:00:00 -0500
Message-Id:   <keep.me@example.com>
Subject: keep

body
EOF
expect_queued "$ID" "existing Date/Message-ID/From kept as they are" <<'EOF'
FROM: Someone Else <someone@example.com>
date: Sat, 1 Jan 2000 00:00:00 -0500
Message-Id:   <keep.me@example.com>
Subject: keep

body
EOF

# ---- aliases ----

send "alias team" team <<<'Subject: team'
check_eq "$(rcpts "$ID")" "alice@test.example bob@example.org" "team alias"
send "alias chain" postmaster <<<'Subject: postmaster'
check_eq "$(rcpts "$ID")" "admin@example.com" "postmaster -> root -> admin@example.com"
send "no alias" carol <<<'Subject: carol'
check_eq "$(rcpts "$ID")" "carol@test.example" "bare name without alias"
echo 'pipeonly: "|/bin/cat"' >>"$T/aliases"
refuse 67 "alias to a command only" pipeonly <<<'Subject: pipe'

# ---- refusals ----

refuse 64 "control character in a recipient" $'bad\x01name@example.com' <<<'Subject: x'
local65=$(printf 'a%.0s' {1..65})
refuse 64 "65-octet local part" "$local65@example.com" <<<'Subject: x'
send "64-octet local part" "${local65:1}@example.com" <<<'Subject: x'
refuse 64 "-X" -X "$T/traffic.log" alice@example.org <<<'Subject: x'
[ ! -e "$T/traffic.log" ] || fail "-X wrote $T/traffic.log"
refuse 64 "unknown option" -Z alice@example.org <<<'Subject: x'
refuse 64 "no recipient" <<<'Subject: x'
refuse 65 "NUL byte" alice@example.org < <(printf 'Subject: nul\n\na\0b\n')
sed 's/^max_message_size.*//' "$MTA_CONF" >"$T/small.conf"
echo "max_message_size = 10k" >>"$T/small.conf"
"$PY" -c 'print("Subject: big\n"); print(("x" * 99 + "\n") * 110, end="")' >"$T/big.in"
refuse 65 "bigger than max_message_size" -C "$T/small.conf" alice@example.org <"$T/big.in"
# The limit counts the content as sendmail queues it (CRLF line endings;
# this message needs no added header): 10240 octets pass, 10241 do not.
"$PY" - "$T" <<'EOF'
import sys
head = ("From: a@example.com\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
        "Message-ID: <size@example.com>\r\nSubject: size\r\n\r\n")
body = 10240 - len(head)
text = head + ("y" * 78 + "\r\n") * (body // 80)
text += "z" * (body % 80 - 2) + "\r\n"
assert len(text) == 10240
open(sys.argv[1] + "/fits.in", "w", newline="").write(text)
open(sys.argv[1] + "/over.in", "w", newline="").write(text[:-2] + "z\r\n")
EOF
send "exactly max_message_size" -C "$T/small.conf" alice@example.org <"$T/fits.in"
"$MTAQ" cat "$ID" | sed 1,2d >"$T/fits.got"
cmp -s "$T/fits.got" "$T/fits.in" || fail "10240-octet message not queued as sent"
refuse 65 "max_message_size + 1" -C "$T/small.conf" alice@example.org <"$T/over.in"

# ---- -v, -bp, mailq ----

send "-v" -v alice@example.org <<<'Subject: verbose'
check_contains "$(cat "$T/err")" "queued as $ID" "sendmail -v"

n=$(queue_count)
"$SENDMAIL" -bp >"$T/bp.out" 2>&1 || fail "sendmail -bp failed: $(cat "$T/bp.out")"
for id in $(queue_ids); do
    grep -q "^$id " "$T/bp.out" || fail "-bp does not list $id: $(cat "$T/bp.out")"
done
check_contains "$(cat "$T/bp.out")" "-Queue ID-" "-bp heading"
check_contains "$(tail -n 1 "$T/bp.out")" " in $n Requests." "-bp summary"
ln -s "$SENDMAIL" "$T/mailq"
"$T/mailq" >"$T/mailq.out" 2>&1 || fail "mailq failed: $(cat "$T/mailq.out")"
check_eq "$(cat "$T/mailq.out")" "$(cat "$T/bp.out")" "mailq lists the queue as -bp does"

# shellcheck disable=SC2046 # one argument per id
"$MTAQ" delete $(queue_ids) >/dev/null || fail "mtaq delete failed"
check_eq "$("$T/mailq" 2>&1)" "Mail queue is empty" "mailq on an empty queue"

# ---- -q ----

"$SENDMAIL" -q 2>"$T/err" || fail "sendmail -q with mtad running: $(cat "$T/err")"
stop_mtad
rc=0
"$SENDMAIL" -q 2>"$T/err" || rc=$?
[ "$rc" -ne 0 ] || fail "sendmail -q without mtad exited 0"
check_contains "$(cat "$T/err")" "not running" "-q without mtad says why"
start_mtad

# ---- -bs: an SMTP session on stdin ----

# Commands out of order and refused parameters; a session that ends
# inside DATA queues nothing.
rc=0
sed 's/$/\r/' <<'EOF' | "$SENDMAIL" -bs >"$T/smtp.out" 2>"$T/smtp.err" || rc=$?
HELO client.example
RCPT TO:<alice@example.org>
DATA
MAIL FROM:<a@example.org> SIZE=99999999999
MAIL FROM:<a@example.org> FOO=bar
MAIL FROM:<a@example.org>
MAIL FROM:<b@example.org>
RCPT TO:<pipeonly>
RCPT TO:<alice@example.org>
DATA
Subject: cut short

no end
EOF
check_eq "$(tr -d '\r' <"$T/smtp.out" | cut -c1-3 | tr '\n' ' ')" \
    "220 250 503 503 552 555 250 503 550 250 354 " "-bs error replies"
[ "$rc" -ne 0 ] || fail "-bs ending inside DATA exited 0"
check_eq "$(queue_count)" 0 "-bs ending inside DATA queued something"

# A full dialogue: DSN parameters, a refused recipient, an alias, and
# dot-stuffed lines that must lose one dot.
sed 's/$/\r/' <<'EOF' | "$SENDMAIL" -bs >"$T/smtp.out" 2>"$T/smtp.err"
EHLO client.example
MAIL FROM:<smtp-sender@example.com> BODY=8BITMIME RET=HDRS ENVID=bs+2B1
RCPT TO:<alice@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Alice@Example.org
RCPT TO:<bad address@example.org>
RCPT TO:<team>
DATA
From: smtp-sender@example.com
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <bs@example.com>
Subject: via -bs

..x
..
body
.
QUIT
EOF
check_eq "$?" 0 "sendmail -bs exit status ($(cat "$T/smtp.err"))"
check_eq "$(queue_count)" 1 "-bs: messages queued"
ID=$(queue_ids)
check_eq "$(tr -d '\r' <"$T/smtp.out" | cut -c1-4 | tr -d '\n')" \
    "220 250-250-250-250-250-250 250 250 501 250 354 250 221 " "-bs reply codes"
check_contains "$(cat "$T/smtp.out")" $'250 2.0.0 Ok: queued as '"$ID"$'\r\n' "-bs DATA reply names the queue id"
check_eq "$(msg_json "$ID" 'm["sender"]')" "smtp-sender@example.com" "-bs sender"
check_eq "$(rcpts "$ID")" "alice@example.org alice@test.example bob@example.org" "-bs recipients"
expect_queued "$ID" "-bs content, dots unstuffed" <<'EOF'
From: smtp-sender@example.com
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <bs@example.com>
Subject: via -bs

.x
.
body
EOF
check_eq "$(msg_json "$ID" 'm.get("envid")')" "bs+1" "-bs ENVID (kept decoded from xtext)"
check_eq "$(msg_json "$ID" 'm["ret"]')" "hdrs" "-bs RET=HDRS"
check_eq "$(msg_json "$ID" 'm["body"]')" "8bitmime" "-bs BODY=8BITMIME"
check_eq "$(msg_json "$ID" '[r.get("orcpt") for r in m["recipients"] if r["address"] == "alice@example.org"][0]')" \
    "rfc822;Alice@Example.org" "-bs ORCPT kept for the DSN"

# MAIL parameters with values RFC 3461 and RFC 1652 do not allow are
# refused, not queued with a guessed meaning.
bad=""
for param in RET=BOGUS ENVID=bad+zz BODY=BINARYMIME; do
    reply=$(printf 'EHLO client.example\r\nMAIL FROM:<a@example.org> %s\r\nQUIT\r\n' "$param" |
        "$SENDMAIL" -bs | tr -d '\r' | sed -n '/^250 ENHANCEDSTATUSCODES/{n;p}')
    case $reply in 5*) ;; *) bad="$bad $param -> '$reply';" ;; esac
done
check_eq "$bad" "" "-bs MAIL FROM with invalid parameters"

pass
