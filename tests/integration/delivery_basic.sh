#!/bin/bash
# delivery_basic.sh - mtad delivers to two domains on two real Postfix
# receivers, byte for byte: what a receiver stores, once its own lines
# (Return-Path, X-Original-To, Delivered-To, its Received header) are
# taken off, is exactly what `mtaq cat` showed in the queue. The messages
# carry what SMTP transparency and 8BITMIME must get right: lines starting
# with '.', a lone '.', a line of exactly 998 octets, UTF-8 body text; and
# one message has an empty body. Every recipient is delivered once, logged
# as sent, and the queue is empty afterwards.
export DNS_PORT=5401
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_mx.sh"

MXA_IP=127.0.1.2 MXB_IP=127.0.1.3

# conns NAME: like lib_mx.sh's connections, which prints "0" twice when
# there were none (grep -c prints 0 and fails, then "|| echo 0").
conns() { grep -c "postfix-$1/smtpd\[[0-9]*\]: connect from" "$T/$1/maillog"; true; }
# free IP: nothing listens on IP:2525 yet (start_postfix would take a
# stray listener there for the new receiver).
free() { ! ss -Hltn "sport = :$MX_PORT" | grep -qF " $1:$MX_PORT " || fail "something already listens on $1:$MX_PORT"; }

# The queue first, with delivery off (the last value in mta.conf wins).
setup_delivery "delivery = off"
start_dns --mx-host=a.test,mx.a.test,10 --host-record=mx.a.test,$MXA_IP \
    --mx-host=b.test,mx.b.test,10 --host-record=mx.b.test,$MXB_IP
free $MXA_IP
free $MXB_IP
start_postfix mxa $MXA_IP a.test
start_postfix mxb $MXB_IP b.test
start_mtad

long=$(printf 'L%.0s' $(seq 997))
check_eq "${#long}" 997 "length of the long line's tail"
mkdir "$T/in"
{
    printf 'From: Sender <sender@test.example>\n'
    printf 'To: alice@a.test, bob@a.test, carol@b.test\n'
    printf 'Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= and dots\n'
    printf 'Date: Tue, 24 Nov 2026 12:00:00 +0000\n'
    printf 'Message-ID: <basic-dots@test.example>\n'
    printf 'X-Marker: basic-dots\n'
    printf 'MIME-Version: 1.0\n'
    printf 'Content-Type: text/plain; charset=utf-8\n'
    printf 'Content-Transfer-Encoding: 8bit\n'
    printf '\n'
    printf '.leading dot\n'
    printf '.\n'
    printf '..two dots\n'
    printf ' .not at the start\n'
    printf 'Grüße aus Köln, naïve café, 日本語のテキスト, emoji 📬\n'
    printf 'x%s\n' "$long"
    printf '.%s\n' "$long"
    printf '\n'
    printf '.\n'
} >"$T/in/basic-dots"
{
    printf 'From: Sender <sender@test.example>\n'
    printf 'To: dave@a.test, erin@b.test\n'
    printf 'Subject: empty body\n'
    printf 'Date: Tue, 24 Nov 2026 12:00:01 +0000\n'
    printf 'Message-ID: <basic-empty@test.example>\n'
    printf 'X-Marker: basic-empty\n'
    printf '\n'
} >"$T/in/basic-empty"
"$SENDMAIL" -i -f sender@test.example alice@a.test bob@a.test carol@b.test <"$T/in/basic-dots" ||
    fail "sendmail basic-dots"
"$SENDMAIL" -i -f sender@test.example dave@a.test erin@b.test <"$T/in/basic-empty" ||
    fail "sendmail basic-empty"
check_eq "$(queue_count)" 2 "messages queued"

# What the queue holds is what must arrive (with LF line endings, as
# Postfix's maildir stores it).
mkdir "$T/want"
for id in $(queue_ids); do
    "$MTAQ" cat "$id" >"$T/want.tmp" || fail "mtaq cat $id"
    marker=$(sed -n 's/^X-Marker: \([^\r]*\)\r$/\1/p' "$T/want.tmp")
    [ -n "$marker" ] || fail "no X-Marker in queued $id"
    "$PY" -c 'import sys; sys.stdout.buffer.write(open(sys.argv[1],"rb").read().replace(b"\r\n", b"\n"))' \
        "$T/want.tmp" >"$T/want/$marker"
    echo "$id $marker" >>"$T/ids"
done
# The queue copy is the input plus mtad's Received header, nothing else.
for m in basic-dots basic-empty; do
    check_eq "$(tail -n +3 "$T/want/$m" | cmp - "$T/in/$m" && echo same)" same "queued $m = input + Received"
done
check_eq "$(conns mxa)+$(conns mxb)" "0+0" "connections while delivery is off"

# Delivery on: everything arrives.
stop_mtad
printf '%s\n' "delivery = on" "connection_idle_timeout = 1s" >>"$T/mta.conf"
start_mtad
wait_delivered mxa 3
wait_delivered mxb 2
wait_until 20 queue_empty || fail "queue not empty: $("$MTAQ" list)"

# Each stored file: the receiver's lines, then exactly the queued message.
"$PY" - "$T" <<'EOF' || fail "stored messages differ from the queued ones"
import glob, os, re, sys
T = sys.argv[1]
want = {m: open(os.path.join(T, "want", m), "rb").read() for m in ("basic-dots", "basic-empty")}
expect = {("basic-dots", "alice@a.test"), ("basic-dots", "bob@a.test"), ("basic-dots", "carol@b.test"),
          ("basic-empty", "dave@a.test"), ("basic-empty", "erin@b.test")}
got, bad = [], 0
for rx, dom in (("mxa", "a.test"), ("mxb", "b.test")):
    for path in sorted(glob.glob(f"{T}/{rx}/mail/*/new/*")):
        data = open(path, "rb").read()
        lines = data.split(b"\n")
        added = []
        # Postfix's virtual(8) prepends these three, after its cleanup put
        # its Received header (with continuation lines) first.
        while lines and re.match(rb"(Return-Path|X-Original-To|Delivered-To): ", lines[0]):
            added.append(lines.pop(0))
        if lines and lines[0].startswith(b"Received: from "):
            added.append(lines.pop(0))
            while lines and lines[0][:1] in (b"\t", b" "):
                added.append(lines.pop(0))
        rest = b"\n".join(lines)
        hdr = {l.split(b": ", 1)[0]: l.split(b": ", 1)[1] for l in added if b": " in l and l[:1] not in (b"\t", b" ")}
        m = re.search(rb"\nX-Marker: (\S+)\n", rest)
        marker = m.group(1).decode() if m else "?"
        rcpt = hdr.get(b"Delivered-To", b"?").decode()
        got.append((marker, rcpt))
        if not rcpt.endswith("@" + dom):
            print(f"{path}: {rcpt} stored by the receiver of {dom}"); bad += 1
        if hdr.get(b"Return-Path") != b"<sender@test.example>":
            print(f"{path}: Return-Path {hdr.get(b'Return-Path')!r}, want <sender@test.example>"); bad += 1
        if not any(l.startswith(b"Received: from mta.test.example") for l in added):
            print(f"{path}: no Received header of the receiver"); bad += 1
        if marker not in want:
            print(f"{path}: unknown message"); bad += 1
        elif rest != want[marker]:
            print(f"{path}: {marker} for {rcpt} differs from the queued message")
            w = want[marker].split(b"\n"); r = rest.split(b"\n")
            for i, (a, b) in enumerate(zip(w, r)):
                if a != b:
                    print(f"  line {i+1}: want {a[:80]!r}... ({len(a)} octets), got {b[:80]!r}... ({len(b)} octets)")
                    break
            else:
                print(f"  want {len(w)} lines, got {len(r)}")
            bad += 1
if sorted(got) != sorted(expect):
    print(f"delivered {sorted(got)}, want {sorted(expect)}"); bad += 1
sys.exit(1 if bad else 0)
EOF

# The log: one status=sent line for each recipient, through the right MX.
while read -r id marker; do
    case $marker in
    basic-dots) rcpts="alice@a.test bob@a.test carol@b.test" ;;
    basic-empty) rcpts="dave@a.test erin@b.test" ;;
    esac
    for r in $rcpts; do
        case $r in *@a.test) relay="mx.a.test\[$MXA_IP\]:2525" ;; *) relay="mx.b.test\[$MXB_IP\]:2525" ;; esac
        check_eq "$(grep -c "$id: to=<$r>, relay=$relay, tls=none, delay=[0-9]*, dsn=2\.0\.0, status=sent (250 " "$T/mtad.log")" \
            1 "status=sent lines for $r of $marker ($id)"
    done
done <"$T/ids"
check_eq "$(grep -c 'status=sent' "$T/mtad.log")" 5 "status=sent lines in all"
check_eq "$(grep -cE 'status=(deferred|bounced)' "$T/mtad.log")" 0 "deferred or bounced lines"

# Idle connections are closed after connection_idle_timeout, politely:
# Postfix counts a QUIT in its disconnect line.
closed() {
    [ "$(grep -c 'smtpd\[[0-9]*\]: disconnect from' "$T/mxa/maillog" "$T/mxb/maillog" | awk -F: '{ s += $2 } END { print s }')" \
        = $(($(conns mxa) + $(conns mxb))) ]
}
wait_until 10 closed || fail "connections still open 10 s after delivery (connection_idle_timeout = 1s)"
check_eq "$(grep -h 'smtpd\[[0-9]*\]: disconnect from' "$T/mxa/maillog" "$T/mxb/maillog" | grep -vc ' quit=1 ')" 0 \
    "connections closed without QUIT"
stop_mtad
pass
