#!/bin/bash
# real_clients - programs that people really send mail with, pointed at our
# sendmail: `mail` from bsd-mailx (which runs "sendmail -i -t [-f FROM]")
# and `git send-email` (which runs "sendmail -i [-f SENDER] RCPT..."). The
# queued message must be what they meant: envelope, headers, and a body
# intact to the byte (a patch that still applies with git am).
. "$(dirname "$0")/lib.sh"

command -v bsd-mailx >/dev/null || skip "bsd-mailx is not installed (package bsd-mailx)"
command -v git >/dev/null || skip "git is not installed (package git)"
[ -x "$(git --exec-path)/git-send-email" ] || skip "git send-email is not installed (package git-email)"
perl -MMail::Address -e 1 2>/dev/null ||
    skip "git send-email needs Mail::Address (package libmailtools-perl)"

ID=""
# new_message WHAT BEFORE: the one message queued since the id list BEFORE.
new_message() {
    ID=$(comm -13 <(printf '%s\n' "$2") <(queue_ids | sort) | grep .)
    check_eq "$(printf '%s\n' "$ID" | grep -c .)" 1 "$1: new messages in the queue"
}
rcpts() { msg_json "$1" '" ".join(sorted(r["address"] for r in m["recipients"]))'; }

# split_queued ID: writes the queued header section (after the daemon's
# Received field) to $T/head, unfolded with LF line ends, and the body,
# byte for byte, to $T/body.
split_queued() {
    "$MTAQ" cat "$1" >"$T/queued" || fail "mtaq cat $1 failed"
    "$PY" - "$T" <<'EOF' || fail "queued message $1 is malformed"
import re, sys
t = sys.argv[1]
raw = open(t + "/queued", "rb").read()
head, sep, body = raw.partition(b"\r\n\r\n")
if not sep or re.search(rb"(?<!\r)\n|\r(?!\n)", raw):
    sys.exit("no header/body separator or a bare CR/LF: %r" % raw[:300])
fields = re.sub(rb"\r\n(?=[ \t])", b"", head).split(b"\r\n")
if not fields[0].startswith(b"Received: by mta.test.example (mtad, from userid "):
    sys.exit("first field is not the daemon's Received: %r" % fields[0])
open(t + "/head", "wb").write(b"\n".join(fields[1:]) + b"\n")
open(t + "/body", "wb").write(body)
EOF
}
# field NAME: the values of the header fields NAME (case-insensitive) in
# $T/head, one per line.
field() { sed -n "s/^$1: *//Ip" "$T/head"; }

setup
start_mtad

# ---- bsd-mailx ----

# mail(1) runs the program named by its "sendmail" variable; -n skips
# /etc/mail.rc, MAILRC replaces ~/.mailrc.
echo "set sendmail=$SENDMAIL" >"$T/mailrc"
export MAILRC="$T/mailrc"

before=$(queue_ids | sort)
printf 'Hello from mailx.\n.\nThe line above is a lone dot.\n\ttabbed line \n' |
    bsd-mailx -n -s 'mailx: a subject' -c carol@example.net -b dave@example.net \
        -r 'Mail Sender <msender@example.com>' alice@example.org team \
        >"$T/mailx.out" 2>&1 || fail "bsd-mailx failed: $(cat "$T/mailx.out")"
new_message "bsd-mailx" "$before"
check_eq "$(msg_json "$ID" 'm["sender"]')" "msender@example.com" "mailx -r: envelope sender"
check_eq "$(rcpts "$ID")" \
    "alice@example.org alice@test.example bob@example.org carol@example.net dave@example.net" \
    "mailx recipients (To with the team alias, Cc, Bcc)"
split_queued "$ID"
check_eq "$(field From)" "Mail Sender <msender@example.com>" "mailx From"
check_eq "$(field To)" "alice@example.org, team" "mailx To"
check_eq "$(field Cc)" "carol@example.net" "mailx Cc"
check_eq "$(field Subject)" "mailx: a subject" "mailx Subject"
check_eq "$(field Bcc)" "" "mailx Bcc removed"
check_eq "$(field Date | wc -l)" 1 "one Date (added by sendmail)"
check_eq "$(field Message-ID | grep -c '@mta\.test\.example>$')" 1 "one Message-ID (added by sendmail)"
printf 'Hello from mailx.\r\n.\r\nThe line above is a lone dot.\r\n\ttabbed line \r\n' >"$T/want"
cmp -s "$T/body" "$T/want" || fail "mailx body: got $(od -c "$T/body" | head), want $(od -c "$T/want")"
"$MTAQ" show "$ID" >"$T/show" || fail "mtaq show $ID failed"
check_eq "$(sed -n 's/^sender: *//p' "$T/show")" "<msender@example.com>" "mtaq show: sender"
check_contains "$(cat "$T/show")" $'\n  <dave@example.net> ' "mtaq show: Bcc recipient"
check_contains "$(cat "$T/show")" $'\n  Subject: mailx: a subject\n' "mtaq show: Subject"

# Without -r the sender is the login, and sendmail writes the From.
before=$(queue_ids | sort)
echo "short" | bsd-mailx -n -s 'no from' alice@example.org >"$T/mailx.out" 2>&1 ||
    fail "bsd-mailx failed: $(cat "$T/mailx.out")"
new_message "bsd-mailx without -r" "$before"
login=$(id -un)
check_eq "$(msg_json "$ID" 'm["sender"]')" "$login@test.example" "mailx: sender from the login"
split_queued "$ID"
check_contains "$(field From)" "$login@test.example" "mailx: From added"
printf 'short\r\n' >"$T/want"
cmp -s "$T/body" "$T/want" || fail "mailx: short body: got $(od -c "$T/body")"

# ---- git send-email ----

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL="$T/gitconfig"
git config --global user.name "Ann Author"
git config --global user.email ann@example.com
git config --global init.defaultBranch main
repo="$T/repo"
git init -q "$repo"
printf 'one\n\ntwo\n' >"$repo/f.txt"
git -C "$repo" add f.txt
git -C "$repo" commit -qm "first"
git clone -q "$repo" "$T/clone"
printf 'one\n\n\t2 tabbed\nthree \n.\n' >"$repo/f.txt"
printf 'new file\n' >"$repo/g.txt"
git -C "$repo" add f.txt g.txt
git -C "$repo" commit -q -F - <<'EOF'
Change f.txt, add g.txt

A body line.
.
The line above is a lone dot, and mail must keep it.
EOF
git -C "$repo" format-patch -q -1 -o "$T/patches"
patch=$(ls "$T"/patches/*.patch)

before=$(queue_ids | sort)
git -C "$repo" send-email --smtp-server="$SENDMAIL" --envelope-sender=ann@example.com \
    --from='Ann Author <ann@example.com>' --to=alice@example.org \
    --cc='Carol <carol@example.net>' --suppress-cc=all --confirm=never --quiet \
    "$patch" </dev/null >"$T/git.out" 2>&1 || fail "git send-email failed: $(cat "$T/git.out")"
new_message "git send-email" "$before"
check_eq "$(msg_json "$ID" 'm["sender"]')" "ann@example.com" "git: envelope sender"
check_eq "$(rcpts "$ID")" "alice@example.org carol@example.net" "git: recipients"
split_queued "$ID"
check_eq "$(field From)" "Ann Author <ann@example.com>" "git: From"
check_eq "$(field To)" "alice@example.org" "git: To"
check_eq "$(field Cc)" "Carol <carol@example.net>" "git: Cc"
check_eq "$(field Subject)" "[PATCH] Change f.txt, add g.txt" "git: Subject"
check_eq "$(field Message-ID | wc -l)" 1 "git: one Message-ID"
check_eq "$(field Message-ID | grep -c -- '-1-ann@example\.com>$')" 1 "git: its own Message-Id kept"
check_eq "$(field Date | wc -l)" 1 "git: no second Date"

# The body is the patch file's body, line ends aside, byte for byte.
sed '1,/^$/d' "$patch" | sed 's/$/\r/' >"$T/want"
cmp -s "$T/body" "$T/want" || fail "git: body differs from the patch: $(diff <(tr -d '\r' <"$T/body") "$patch")"
git -C "$repo" diff HEAD~1 HEAD >"$T/diff"
check_contains "$(tr -d '\r' <"$T/body")" "$(cat "$T/diff")" "git: the diff text in the body"

"$MTAQ" show "$ID" >"$T/show" || fail "mtaq show $ID failed"
check_eq "$(sed -n 's/^sender: *//p' "$T/show")" "<ann@example.com>" "mtaq show: sender"
check_contains "$(cat "$T/show")" $'\n  <carol@example.net> ' "mtaq show: Cc recipient"
check_contains "$(cat "$T/show")" $'\n  Subject: [PATCH] Change f.txt, add g.txt\n' "mtaq show: Subject"

# And the queued mail still is the commit: git am rebuilds the same tree.
"$MTAQ" cat "$ID" | tr -d '\r' >"$T/queued.eml"
git -C "$T/clone" am -q "$T/queued.eml" >"$T/am.out" 2>&1 || fail "git am: $(cat "$T/am.out")"
check_eq "$(git -C "$T/clone" rev-parse 'HEAD^{tree}')" "$(git -C "$repo" rev-parse 'HEAD^{tree}')" \
    "git am of the queued mail: tree"
check_eq "$(git -C "$T/clone" log -1 --format='%an <%ae>%n%B')" \
    "$(git -C "$repo" log -1 --format='%an <%ae>%n%B')" "git am of the queued mail: author and message"

pass
