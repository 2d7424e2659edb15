#!/bin/bash
# maildrop.sh - mail submitted while mtad is down, and the maildrop as
# hostile input.
#
# sendmail with the daemon stopped leaves a file in queue_dir/maildrop
# (through mta-postdrop); mtad imports it at start. With mtad running, a
# file that appears in the maildrop is imported at once (inotify); an
# invalid one is moved to corrupt/ with a warning and the daemon carries
# on; an incomplete one (mode 0) is left alone until complete. Last, the
# unprivileged path: nobody's sendmail through a setgid copy of the
# helper, imported with nobody's uid; and the helper refusing a directory
# that is not a maildrop.
. "$(dirname "$0")/lib.sh"

# The group is created only if missing, and then removed at the end.
CREATED_GROUP=""
remove_group() {
    local rc=$?
    if [ -n "$CREATED_GROUP" ]; then
        groupdel "$CREATED_GROUP" || log "cannot remove group $CREATED_GROUP"
    fi
    return $rc
}
trap 'remove_group; cleanup' EXIT

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
md_files() { ls -A "$T/spool/maildrop"; }
md_count() { md_files | wc -l; }
maildrop_empty() { [ "$(md_count)" = 0 ]; }
maildrop_is() { [ "$(md_files)" = "$1" ]; }
queue_has() { [ "$(queue_count)" = "$1" ]; }
in_corrupt() { [ -f "$T/spool/corrupt/$1" ]; }

# drop NAME ENVELOPE CONTENT [SIZE]: puts a complete maildrop file (mode
# 0440, as mta-postdrop leaves it) into the maildrop in one rename, so the
# daemon never sees it half written. SIZE defaults to CONTENT's length.
drop() {
    local name=$1 envelope=$2 content=$3 size=${4:-}
    printf '%s' "$content" >"$T/$name.content"
    [ -n "$size" ] || size=$(wc -c <"$T/$name.content")
    { printf '%ssize %s\n\n' "$envelope" "$size"; cat "$T/$name.content"; } >"$T/$name.tmp"
    chmod 0440 "$T/$name.tmp"
    # as mta-postdrop's files are: of the directory's group, which mtad's user holds
    chgrp "$(stat -c %g "$T/spool/maildrop")" "$T/$name.tmp"
    cp -p "$T/$name.tmp" "$T/$name.file"
    mv "$T/$name.tmp" "$T/spool/maildrop/$name"
}

# id_for_rcpt RCPT: the id of the one message sent to RCPT.
id_for_rcpt() {
    "$MTAQ" list --json | "$PY" -c '
import json, sys
ids = [m["id"] for m in json.load(sys.stdin) if [r["address"] for r in m["recipients"]] == [sys.argv[1]]]
print(ids[0] if len(ids) == 1 else "found %d" % len(ids))' "$1"
}

setup
# mtad creates queue_dir and the maildrop; then it is down.
start_mtad
stop_mtad

# --- 1. root's sendmail with the daemon down: a file in the maildrop
out=$(printf 'Subject: while down\n\nqueued while mtad was down\n' |
    "$SENDMAIL" -f root@test.example bob@example.org 2>&1)
check_eq "$?/$out" "0/" "sendmail with mtad down"
check_eq "$(md_count)" 1 "files in the maildrop"
f=$T/spool/maildrop/$(md_files)
check_eq "$(stat -c '%a %U' "$f")" "440 root" "maildrop file: complete, root's"
check_eq "$(head -n 2 "$f")" "sender root@test.example
rcpt bob@example.org - -" "maildrop file: envelope"

start_mtad
wait_until 10 maildrop_empty || fail "maildrop not emptied at start: $(md_files)"
check_eq "$(queue_count)" 1 "imported at start"
id=$(id_for_rcpt bob@example.org)
check_eq "$(msg_json "$id" 'm["origin"], m["uid"], m["sender"], m["recipients"][0]["state"]')" \
    "maildrop uid=0 0 root@test.example ready" "imported message"
cat=$("$MTAQ" cat "$id")
check_eq "$(head -n 1 <<<"$cat")" $'Received: by mta.test.example (mtad, from userid 0);\r' \
    "imported message: Received header"
check_contains "$cat" $'Subject: while down\r\n' "imported message: header"
check_contains "$cat" $'\r\n\r\nqueued while mtad was down\r' "imported message: body"
check_contains "$(cat "$T/mtad.log")" "$id: from=<root@test.example>," "import logged"
check_contains "$(cat "$T/mtad.log")" "(queue active, maildrop uid=0)" "import logged with uid"

# --- 2. mtad running: a file dropped by hand is picked up at once
content=$'From: a@example.org\r\nSubject: by hand\r\n\r\nhello\r\n.dot line\r\n'
drop by-hand $'sender a@example.org\nrcpt c@example.net - -\n' "$content"
wait_until 10 maildrop_empty || fail "dropped file not picked up: $(md_files)"
check_eq "$(queue_count)" 2 "dropped file imported"
id=$(id_for_rcpt c@example.net)
check_eq "$(msg_json "$id" 'm["origin"], m["sender"], m["recipients"][0]["state"]')" \
    "maildrop uid=0 a@example.org ready" "dropped message"
"$MTAQ" cat "$id" | tail -n +3 | cmp - "$T/by-hand.content" ||
    fail "dropped message: content is not the file's"

# --- 3. invalid files go to corrupt/, with a warning; the daemon carries on
env_ok=$'sender a@example.org\nrcpt c@example.net - -\n'
drop bad-envelope $'sender a@example.org\nfrobnicate now\nrcpt c@example.net - -\n' $'Subject: x\r\n\r\nx\r\n'
drop no-rcpt $'sender a@example.org\n' $'Subject: x\r\n\r\nx\r\n'
drop bare-lf "$env_ok" $'Subject: x\r\n\r\nbare\nLF\r\n'
drop too-short "$env_ok" $'Subject: x\r\n\r\nx\r\n' 40
drop too-long "$env_ok" $'Subject: x\r\n\r\nx\r\n' 3
for f in bad-envelope no-rcpt bare-lf too-short too-long; do
    wait_until 10 in_corrupt "$f" || fail "$f not moved to corrupt/: maildrop has: $(md_files)"
    cmp "$T/spool/corrupt/$f" "$T/$f.file" || fail "$f changed on its way to corrupt/"
done
check_eq "$(md_count)" 0 "maildrop after the invalid files"
check_eq "$(queue_count)" 2 "nothing queued from invalid files"
mtadlog=$(cat "$T/mtad.log")
for w in \
    "bad-envelope rejected (unknown envelope line 'frobnicate')" \
    "no-rcpt rejected (no recipients)" \
    "bare-lf rejected (bare LF in line 3)" \
    "too-short rejected (content is 17 octets, envelope says 40)" \
    "too-long rejected (content is 17 octets, envelope says 3)"; do
    check_contains "$mtadlog" "warning: maildrop file $w: moved to $T/spool/corrupt/${w%% *}" \
        "warning for ${w%% *}"
done
kill -0 "$MTAD_PID" 2>/dev/null || fail "mtad died on invalid maildrop files"
out=$(printf 'Subject: after\n\nstill working\n' | "$SENDMAIL" dave@example.net 2>&1)
check_eq "$?/$out" "0/" "sendmail after the invalid files"
check_eq "$(msg_json "$(id_for_rcpt dave@example.net)" 'm["origin"]')" "local uid=0" \
    "submitted through the socket"

# --- 4. an incomplete file (mode 0) is left alone until it is complete
(umask 0777 && printf '%ssize 17\n\nSubject: x\r\n\r\nx\r\n' "$env_ok" \
    >"$T/spool/maildrop/incomplete")
check_eq "$(stat -c %a "$T/spool/maildrop/incomplete")" 0 "incomplete file mode"
# A file that arrives after it makes the daemon read the whole directory.
drop after-incomplete $'sender a@example.org\nrcpt erin@example.net - -\n' $'Subject: y\r\n\r\ny\r\n'
wait_until 10 queue_has 4 || fail "after-incomplete not imported"
wait_until 10 maildrop_is incomplete || fail "maildrop: want only the incomplete file, got: $(md_files)"
check_not_contains "$(cat "$T/mtad.log")" "maildrop file incomplete" "incomplete file: no warning"
# An incomplete file older than a day is given up on.
(umask 0777 && printf 'sender a@example.org\n' >"$T/spool/maildrop/stale")
touch -d '2 days ago' "$T/spool/maildrop/stale"
drop poke $'sender a@example.org\nrcpt frank@example.net - -\n' $'Subject: z\r\n\r\nz\r\n'
wait_until 10 in_corrupt stale || fail "stale incomplete file not moved to corrupt/"
check_contains "$(cat "$T/mtad.log")" "maildrop file stale rejected (incomplete for over a day)" \
    "stale file warning"
# Completing the file (as mta-postdrop does last) gets it imported.
chmod 0440 "$T/spool/maildrop/incomplete"
wait_until 10 maildrop_empty || fail "completed file not imported: $(md_files)"
check_eq "$(queue_count)" 6 "completed file imported"

# --- 5. the unprivileged path: nobody's sendmail through a setgid helper
if ! getent group mtadrop >/dev/null; then
    groupadd --system mtadrop || fail "cannot create group mtadrop"
    CREATED_GROUP=mtadrop
fi
mta_user # mtad's user joins the group, to read the files mta-postdrop leaves
stop_mtad
start_mtad
check_eq "$(stat -c '%a %U %G' "$T/spool/maildrop")" "3770 mta mtadrop" "maildrop mode, owner and group"
cp "$MTA_POSTDROP" "$T/mta-postdrop"
chgrp mtadrop "$T/mta-postdrop"
chmod 2755 "$T/mta-postdrop"
cp "$(command -v id)" "$T/id-probe"
chgrp mtadrop "$T/id-probe"
chmod 2755 "$T/id-probe"
chmod 0644 "$T/mta.conf" "$T/aliases"
as_nobody /bin/sh -c 'cd "$1"' _ "$T/spool" 2>/dev/null ||
    skip "user nobody cannot reach $T (set TMPBASE to a directory it may traverse)"
case $(as_nobody "$T/id-probe") in
*egid=*) ;;
*) skip "setgid programs do not work here (nosuid mount or no_new_privs)" ;;
esac
nobody_uid=$(id -u nobody)
stop_mtad

out=$(printf 'Subject: from nobody\n\nunprivileged\n' |
    MTA_POSTDROP=$T/mta-postdrop as_nobody "$SENDMAIL" gina@example.com 2>&1)
check_eq "$?/$out" "0/" "nobody's sendmail with mtad down"
check_eq "$(md_count)" 1 "nobody's file in the maildrop"
check_eq "$(stat -c '%a %U %G' "$T/spool/maildrop/$(md_files)")" "440 nobody mtadrop" \
    "nobody's maildrop file"
start_mtad
wait_until 10 maildrop_empty || fail "nobody's file not imported: $(md_files)"
id=$(id_for_rcpt gina@example.com)
check_eq "$(msg_json "$id" 'm["origin"], m["uid"], m["sender"]')" \
    "maildrop uid=$nobody_uid $nobody_uid nobody@test.example" "nobody's message"
check_eq "$("$MTAQ" cat "$id" | head -n 1)" \
    $'Received: by mta.test.example (mtad, from userid '"$nobody_uid"$');\r' \
    "nobody's message: Received header"
stop_mtad

# --- 6. the helper refuses any directory that is not a maildrop: one of
# another group (where nobody could write anyway), one of its group but
# without the sticky bit, one of its group but world-writable.
mkdir "$T/public-tmp" "$T/no-sticky" "$T/world-writable"
chmod 1777 "$T/public-tmp"
chgrp mtadrop "$T/no-sticky" "$T/world-writable"
chmod 0770 "$T/no-sticky"
chmod 1777 "$T/world-writable"
for d in public-tmp no-sticky world-writable; do
    out=$(printf 'sender \nrcpt x@example.com - -\nsize 0\n\n' | as_nobody "$T/mta-postdrop" "$T/$d" 2>&1)
    check_eq "$?" 73 "mta-postdrop into $d: exit status (EX_CANTCREAT)"
    check_eq "$out" "mta-postdrop: $T/$d is not a maildrop directory of this group" \
        "mta-postdrop refuses $d"
    check_eq "$(ls -A "$T/$d")" "" "nothing written in $d"
done
# The same input is accepted by the real maildrop.
out=$(printf 'sender \nrcpt x@example.com - -\nsize 0\n\n' |
    as_nobody "$T/mta-postdrop" "$T/spool/maildrop" 2>&1)
check_eq "$?/$out" "0/" "mta-postdrop into the maildrop"
check_eq "$(md_count)" 1 "the helper's file"

pass
