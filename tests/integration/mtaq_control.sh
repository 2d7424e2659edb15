#!/bin/bash
# mtaq_control.sh - the operator's view and control of the queue.
#
# With mtad running: list, show and stats (text and --json), cat (exact
# bytes), hold / release / flush / delete of one and of several ids, and
# the errors for an unknown and a malformed id. With mtad stopped: mtaq
# changes the queue itself, and the daemon started afterwards works on
# what mtaq left. Last, an unprivileged user: the daemon refuses it hold,
# release and delete on its socket, and lets it flush.
. "$(dirname "$0")/lib.sh"

SOCK_PY='
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile("rb").readline().decode().rstrip("\n"))
'
# request LINE: one control line on the daemon socket (as root); prints
# the answer line.
request() { "$PY" -c "$SOCK_PY" "$T/spool/public/mtad.sock" "$1"; }
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
# request_as_nobody LINE: the same as user nobody.
request_as_nobody() { as_nobody "$NOBODY_PY" -c "$SOCK_PY" "$T/spool/public/mtad.sock" "$1"; }

# send FROM RCPT...: message on stdin; prints the queue id.
send() {
    local from=$1 out
    shift
    out=$("$SENDMAIL" -v -f "$from" "$@" 2>&1 >/dev/null) || fail "sendmail $*: $out"
    out=${out##*queued as }
    [ ${#out} = 12 ] || fail "sendmail $*: no queue id in: $out"
    printf '%s\n' "$out"
}

# rcpt_states ID...: "ID SENDER addr=state..." for each id, from list --json.
rcpt_states() {
    "$MTAQ" list --json | "$PY" -c '
import json, sys
ms = {m["id"]: m for m in json.load(sys.stdin)}
for i in sys.argv[1:]:
    m = ms.get(i)
    print(i, "absent" if m is None else
          m["sender"] + " " + " ".join(r["address"] + "=" + r["state"] for r in m["recipients"]))
' "$@"
}

# stats_json: "MESSAGES SET_ASIDE ready/deferred/held/sending | DOMAIN=r/d/h/s ..."
stats_json() {
    "$MTAQ" stats --json | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
st = lambda o: "/".join(str(o[k]) for k in ("ready", "deferred", "held", "sending"))
print(s["messages"], s["set_aside"], st(s["recipients"]), "|",
      " ".join(d["domain"] + "=" + st(d) for d in s["domains"]))'
}

for py in /usr/bin/python3 /usr/local/bin/python3 "$(command -v python3)"; do
    NOBODY_PY=$py
    as_nobody "$py" -c '' 2>/dev/null && break
    NOBODY_PY=""
done
[ -n "$NOBODY_PY" ] || skip "no python3 that user nobody may run"

setup
start_mtad

# --- two messages; the first has all the headers sendmail would add, so
# that the queued content is known to the byte.
cat >"$T/msg1" <<'EOF'
From: Alice <alice@example.org>
To: bob@example.org
Subject: mtaq control
Date: Tue, 24 Nov 2026 10:00:00 +0000
Message-ID: <mtaq-control-1@example.org>

first line
  indented, with a trailing space 
	tab

last line
EOF
id1=$(send alice@example.org bob@example.org carol@example.net dave@example.net <"$T/msg1")
id2=$(printf 'Subject: second\n\nhello\n' | send ops@example.com erin@example.net)
check_eq "$(queue_count)" 2 "messages queued"

# --- list, text and JSON
list=$("$MTAQ" list)
check_contains "$list" "$id1 " "list: first message"
check_contains "$list" "<alice@example.org>" "list: first sender"
check_contains "$list" "$id2 " "list: second message"
check_contains "$list" "    <carol@example.net> ready" "list: recipient state"
check_eq "$(rcpt_states "$id1" "$id2")" \
    "$id1 alice@example.org bob@example.org=ready carol@example.net=ready dave@example.net=ready
$id2 ops@example.com erin@example.net=ready" "list --json"

# --- show, text and JSON
show=$("$MTAQ" show "$id1")
check_contains "$show" "id:       $id1" "show: id"
check_contains "$show" "sender:   <alice@example.org>" "show: sender"
check_contains "$show" "origin:   local uid=0" "show: origin"
check_contains "$show" "  <dave@example.net> ready, 0 attempts" "show: recipient"
check_contains "$show" "  Subject: mtaq control" "show: headers"
check_eq "$(msg_json "$id1" 'm["id"], m["sender"], m["origin"], m["uid"]')" \
    "$id1 alice@example.org local uid=0 0" "show --json: envelope"
check_eq "$(msg_json "$id1" '[(r["address"], r["state"], r["attempts"]) for r in m["recipients"]]')" \
    "[('bob@example.org', 'ready', 0), ('carol@example.net', 'ready', 0), ('dave@example.net', 'ready', 0)]" \
    "show --json: recipients"
check_eq "$(msg_json "$id1" '[h["text"] for h in m["recipients"][0]["history"]]')" "['queued']" \
    "show --json: history"
check_eq "$(msg_json "$id1" 'm["headers"].split("\r\n")[0]')" \
    "Received: by mta.test.example (mtad, from userid 0);" "show --json: first header"

# --- cat: the Received header mtad added, then the message as sent, in CRLF
"$MTAQ" cat "$id1" >"$T/cat1" || fail "mtaq cat $id1"
check_eq "$(head -n 1 "$T/cat1")" $'Received: by mta.test.example (mtad, from userid 0);\r' \
    "cat: Received line"
date_re=$'^\t[A-Z][a-z]{2}, [0-9]{1,2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [-+][0-9]{4}\r$'
[[ "$(sed -n 2p "$T/cat1")" =~ $date_re ]] || fail "cat: Received date line: $(sed -n 2p "$T/cat1" | od -c)"
sed 's/$/\r/' "$T/msg1" >"$T/msg1.crlf"
tail -n +3 "$T/cat1" | cmp - "$T/msg1.crlf" || fail "cat: content differs from what was sent"
check_eq "$(msg_json "$id1" 'm["size"]')" "$(wc -c <"$T/cat1")" "size is the queued octets"

# --- stats, text and JSON
bytes=$(( $(msg_json "$id1" 'm["size"]') + $(msg_json "$id2" 'm["size"]') ))
stats=$("$MTAQ" stats)
check_contains "$stats" "messages:   2 ($bytes bytes)" "stats: messages"
check_contains "$stats" "recipients: ready 4 deferred 0 held 0 sending 0" "stats: recipients"
check_eq "$(grep '^example' <<<"$stats" | tr -s ' ')" \
    "example.net 3 0 0 0
example.org 1 0 0 0" "stats: domains"
check_eq "$(stats_json)" "2 0 4/0/0/0 | example.net=3/0/0/0 example.org=1/0/0/0" "stats --json"
check_eq "$("$MTAQ" stats --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["bytes"])')" \
    "$bytes" "stats --json: bytes"

# --- hold, release, flush through the daemon
check_eq "$("$MTAQ" hold "$id1")" "$id1: ok" "hold"
check_eq "$(rcpt_states "$id1")" \
    "$id1 alice@example.org bob@example.org=held carol@example.net=held dave@example.net=held" \
    "states after hold"
check_contains "$("$MTAQ" list)" "    <bob@example.org> held" "list shows held"
check_eq "$(msg_json "$id1" 'm["recipients"][2]["history"][-1]["text"]')" "held by the operator" \
    "history after hold"
check_eq "$(stats_json)" "2 0 1/0/3/0 | example.net=1/0/2/0 example.org=0/0/1/0" "stats after hold"
mailq=$("$SENDMAIL" -bp) || fail "sendmail -bp"
check_contains "$mailq" "$id1! " "mailq marks the held message"
check_contains "$mailq" "$id2  " "mailq: the other message is not marked"
check_contains "$mailq" "-- $(( (bytes + 1023) / 1024 )) Kbytes in 2 Requests." "mailq summary"

check_eq "$("$MTAQ" release "$id1")" "$id1: ok" "release"
check_eq "$(rcpt_states "$id1")" \
    "$id1 alice@example.org bob@example.org=ready carol@example.net=ready dave@example.net=ready" \
    "states after release"
check_eq "$(msg_json "$id1" 'm["recipients"][0]["history"][-1]["text"]')" \
    "released by the operator" "history after release"
check_not_contains "$("$SENDMAIL" -bp)" "$id1!" "mailq after release"

check_eq "$("$MTAQ" flush)" "0 recipient(s) due now" "flush all"
check_eq "$("$MTAQ" flush "$id2")" "$id2: ok" "flush one"
check_contains "$(cat "$T/mtad.log")" "queue flush requested by uid 0 for $id2" "flush logged"

# --- several ids at once
check_eq "$("$MTAQ" hold "$id1" "$id2")" "$id1: ok
$id2: ok" "hold two"
check_eq "$(stats_json)" "2 0 0/0/4/0 | example.net=0/0/3/0 example.org=0/0/1/0" "stats after hold two"
check_eq "$("$MTAQ" release "$id1" "$id2")" "$id1: ok
$id2: ok" "release two"
check_eq "$(stats_json)" "2 0 4/0/0/0 | example.net=3/0/0/0 example.org=1/0/0/0" \
    "stats after release two"

# --- an unknown id and a malformed one
unknown=ZZZZZZZZZZZZ
for cmd in hold release delete flush show cat; do
    out=$("$MTAQ" "$cmd" "$unknown" 2>&1)
    check_eq "$?" 1 "mtaq $cmd unknown id: exit status"
    check_eq "$out" "mtaq: $unknown: no such message" "mtaq $cmd unknown id: message"
done
for bad in abc 01k11tkqqe4p 'ILOUILOUILOU' "${id1}0"; do
    out=$("$MTAQ" hold "$bad" 2>&1)
    check_eq "$?" 1 "mtaq hold $bad: exit status"
    check_eq "$out" "mtaq: $bad: not a queue id" "mtaq hold $bad: message"
    out=$("$MTAQ" show "$bad" 2>&1)
    check_eq "$?" 1 "mtaq show $bad: exit status"
done
# A malformed id among good ones: nothing is changed.
"$MTAQ" hold "$id1" bad-id >/dev/null 2>&1
check_eq "$?" 1 "hold good+malformed: exit status"
check_eq "$(stats_json)" "2 0 4/0/0/0 | example.net=3/0/0/0 example.org=1/0/0/0" \
    "hold good+malformed changes nothing"

# --- delete
check_eq "$("$MTAQ" delete "$id2")" "$id2: deleted" "delete"
check_eq "$(rcpt_states "$id1" "$id2")" \
    "$id1 alice@example.org bob@example.org=ready carol@example.net=ready dave@example.net=ready
$id2 absent" "list after delete"
out=$("$MTAQ" show "$id2" 2>&1)
check_eq "$?/$out" "1/mtaq: $id2: no such message" "show after delete"
check_eq "$(stats_json)" "1 0 3/0/0/0 | example.net=2/0/0/0 example.org=1/0/0/0" "stats after delete"

# --- the daemon stopped: mtaq changes the queue itself
id3=$(printf 'Subject: third\n\nx\n' | send ops@example.com gina@example.com)
id4=$(printf 'Subject: fourth\n\nx\n' | send ops@example.com hank@example.com)
stop_mtad
[ -S "$T/spool/public/mtad.sock" ] && fail "socket left after stop"
check_eq "$("$MTAQ" hold "$id1" "$id3")" "$id1: ok
$id3: ok" "direct hold"
check_eq "$(rcpt_states "$id1" "$id3")" \
    "$id1 alice@example.org bob@example.org=held carol@example.net=held dave@example.net=held
$id3 ops@example.com gina@example.com=held" "states after direct hold"
check_eq "$("$MTAQ" release "$id3")" "$id3: ok" "direct release"
check_eq "$("$MTAQ" delete "$id4")" "$id4: deleted" "direct delete"
out=$("$MTAQ" hold "$unknown" 2>&1)
check_eq "$?/$out" "1/mtaq: $unknown: no such message" "direct hold of an unknown id"
out=$("$MTAQ" delete "$id4" 2>&1)
check_eq "$?/$out" "1/mtaq: $id4: no such message" "direct delete twice"
out=$("$MTAQ" release nonsense 2>&1)
check_eq "$?/$out" "1/mtaq: nonsense: not a queue id" "direct release of a malformed id"
check_eq "$("$MTAQ" flush)" "0 recipient(s) due now" "direct flush"

start_mtad
check_eq "$(rcpt_states "$id1" "$id3" "$id4")" \
    "$id1 alice@example.org bob@example.org=held carol@example.net=held dave@example.net=held
$id3 ops@example.com gina@example.com=ready
$id4 absent" "states seen after the restart"
check_eq "$(stats_json)" \
    "2 0 1/0/3/0 | example.net=0/0/2/0 example.com=1/0/0/0 example.org=0/0/1/0" \
    "stats after the restart"
# The daemon's own writer works on what mtaq left: it releases the three
# recipients mtaq held, and no longer finds the message mtaq deleted.
check_eq "$(request "release $id1")" "ok 3" "daemon releases what mtaq held"
check_eq "$(request "hold $id4")" "fail no such message" "daemon does not find what mtaq deleted"
check_eq "$(request "hold $id3")" "ok 1" "daemon holds what mtaq released"

# --- an unprivileged user: no hold/release/delete on the socket, flush is fine
chmod 0644 "$T/mta.conf" "$T/aliases"
as_nobody /bin/sh -c 'cd "$1"' _ "$T/spool/public" 2>/dev/null ||
    skip "user nobody cannot reach $T (set TMPBASE to a directory it may traverse)"
for req in "hold $id1" "release $id3" "delete $id1" "delete $id3"; do
    ans=$(request_as_nobody "$req")
    check_eq "$ans" "fail permission denied: only root may change the queue" "nobody: $req"
done
check_eq "$(rcpt_states "$id1" "$id3")" \
    "$id1 alice@example.org bob@example.org=ready carol@example.net=ready dave@example.net=ready
$id3 ops@example.com gina@example.com=held" "nobody changed nothing"
check_eq "$(request_as_nobody "flush")" "ok 0" "nobody: flush"
check_eq "$(request_as_nobody "flush $id1")" "ok 0" "nobody: flush one"
check_contains "$(cat "$T/mtad.log")" "queue flush requested by uid $(id -u nobody) for $id1" \
    "nobody's flush logged with its uid"
out=$(as_nobody "$SENDMAIL" -q 2>&1)
check_eq "$?/$out" "0/" "nobody: sendmail -q"
out=$(as_nobody "$MTAQ" hold "$id1" 2>&1) && fail "nobody: mtaq hold succeeded: $out"
check_eq "$(rcpt_states "$id1")" \
    "$id1 alice@example.org bob@example.org=ready carol@example.net=ready dave@example.net=ready" \
    "nobody: mtaq hold changed nothing"
out=$(as_nobody "$MTAQ" flush 2>&1)
check_eq "$?/$out" "0/0 recipient(s) due now" "nobody: mtaq flush"

stop_mtad
pass
