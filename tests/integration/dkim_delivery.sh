#!/bin/bash
# dkim_delivery.sh - DKIM end to end: `mtad dkim-keygen` makes an RSA and
# an Ed25519 key and prints their DNS records and config lines; mail sent
# through sendmail is signed once as it enters the queue, with both keys,
# and arrives at a real Postfix with signatures that dkimpy verifies
# against the printed records. Mail from a subdomain is signed by the
# parent's keys; mail with two From fields, or from a domain without a
# key, goes out unsigned and the log says why. A reload picks up new keys.
export DNS_PORT=5423
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_mx.sh"

MX_IP=127.0.1.40
"$PY" -c 'import dkim, nacl' 2>/dev/null || skip "python3-dkim and python3-nacl are needed"

setup_delivery "connection_idle_timeout = 1s"
echo "dkim_key_dir = $T/keys" >>"$T/mta.conf"

# ---- key generation ----
"$MTAD" dkim-keygen example.test rsa1 >"$T/rsa1.out" 2>&1 || fail "keygen rsa: $(cat "$T/rsa1.out")"
"$MTAD" dkim-keygen --type ed25519 example.test ed1 >"$T/ed1.out" 2>&1 ||
    fail "keygen ed25519: $(cat "$T/ed1.out")"
for k in rsa1 ed1; do
    f="$T/keys/example.test.$k.key"
    check_eq "$(stat -c %a "$f")" 600 "mode of $f"
    check_eq "$(stat -c %a "$T/keys")" 700 "mode of the key directory"
    grep -q "^$k._domainkey.example.test. IN TXT \"v=DKIM1; k=" "$T/$k.out" ||
        fail "no TXT record line in: $(cat "$T/$k.out")"
    grep -q "^dkim_key = example.test $k $f\$" "$T/$k.out" || fail "no dkim_key line in: $(cat "$T/$k.out")"
done
grep -q 'k=rsa; p=MII' "$T/rsa1.out" || fail "RSA record: $(cat "$T/rsa1.out")"
grep -q 'k=ed25519; p=' "$T/ed1.out" || fail "Ed25519 record: $(cat "$T/ed1.out")"
openssl pkey -in "$T/keys/example.test.rsa1.key" -noout -text 2>/dev/null | grep -q "Private-Key: (2048 bit" ||
    fail "the RSA key is not a 2048-bit key OpenSSL reads"
# Every TXT string is at most 255 characters; the RSA-2048 record needs two.
"$PY" - "$T/rsa1.out" <<'EOF' || fail "TXT strings"
import re, sys
line = [l for l in open(sys.argv[1]) if " IN TXT " in l][0]
strings = re.findall(r'"([^"]*)"', line)
assert len(strings) >= 2, strings
assert all(len(s) <= 255 for s in strings), [len(s) for s in strings]
EOF
# An existing key is never overwritten without --force.
sum=$(md5sum <"$T/keys/example.test.rsa1.key")
"$MTAD" dkim-keygen example.test rsa1 >"$T/again.out" 2>&1 && fail "keygen overwrote a key"
check_contains "$(cat "$T/again.out")" "exists" "refusal to overwrite"
check_eq "$(md5sum <"$T/keys/example.test.rsa1.key")" "$sum" "key unchanged"
"$MTAD" dkim-keygen --bits 512 example.test small >/dev/null 2>&1 && fail "512-bit key accepted"
"$MTAD" dkim-keygen 'bad domain' s1 >/dev/null 2>&1 && fail "bad domain accepted"

grep -h '^dkim_key = ' "$T/rsa1.out" "$T/ed1.out" >>"$T/mta.conf"
out=$("$MTAD" check 2>&1) || fail "mtad check: $out"
check_contains "$out" "signed with selector rsa1" "check names the keys"
check_contains "$out" "signed with selector ed1" "check names the keys"

# ---- signing on the way in, delivery to Postfix ----
start_dns --mx-host=a.test,mx.a.test,10 --host-record=mx.a.test,$MX_IP
start_postfix mxa $MX_IP a.test
start_mtad
msg() { # FROM-LINES MARKER
    printf '%b' "$1"
    printf 'To: alice@a.test\nSubject: dkim %s\nDate: Wed, 25 Nov 2026 10:00:00 +0000\n' "$2"
    printf 'Message-ID: <%s@example.test>\nX-Marker: %s\n\nHello,\n  spaced   text\t\n.dot line\n\n\n' "$2" "$2"
}
msg 'From: Sender <sender@example.test>\n' dual | "$SENDMAIL" -i -f sender@example.test alice@a.test bob@a.test ||
    fail "sendmail dual"
msg 'From: news@lists.example.test\n' sub | "$SENDMAIL" -i -f news@lists.example.test alice@a.test || fail "sendmail sub"
msg 'From: a@example.test\nFrom: b@example.test\n' twofrom | "$SENDMAIL" -i -f a@example.test alice@a.test ||
    fail "sendmail twofrom"
msg 'From: x@other.test\n' nokey | "$SENDMAIL" -i -f x@other.test alice@a.test || fail "sendmail nokey"
wait_delivered mxa 5
wait_until 20 queue_empty || fail "queue not empty: $("$MTAQ" list)"

txt() { sed -n 's/^[^ ]* IN TXT //p' "$T/$1.out" | "$PY" -c 'import re,sys; print("".join(re.findall(r"\"([^\"]*)\"", sys.stdin.read())))'; }
txt rsa1 >"$T/rsa1.txt"
txt ed1 >"$T/ed1.txt"

# Verifies every stored message with dkimpy; prints MARKER RECIPIENT
# then one "d=... s=... a=... pass|FAIL" per signature, sorted.
verify_all() {
    "$PY" - "$T" <<'EOF'
import dkim, glob, re, sys
T = sys.argv[1]
keys = {b"rsa1._domainkey.example.test.": open(f"{T}/rsa1.txt", "rb").read().strip(),
        b"ed1._domainkey.example.test.": open(f"{T}/ed1.txt", "rb").read().strip()}
def dnsfunc(name, timeout=5):
    if not name.endswith(b"."):
        name += b"."
    return keys.get(name, b"")
for path in sorted(glob.glob(f"{T}/mxa/mail/*/new/*")):
    data = open(path, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    marker = re.search(rb"X-Marker: (\S+)", data).group(1).decode()
    rcpt = re.search(rb"Delivered-To: (\S+)", data).group(1).decode()
    d = dkim.DKIM(data)
    sigs = [v for k, v in d.headers if k.lower() == b"dkim-signature"]
    res = []
    for i, s in enumerate(sigs):
        tags = dict(t.strip().split(b"=", 1) for t in re.sub(rb"\s+", b"", s).split(b";") if b"=" in t)
        try:
            ok = dkim.DKIM(data).verify(idx=i, dnsfunc=dnsfunc)
        except dkim.DKIMException as e:  # a broken signature may raise rather than return False
            ok = False
        res.append(f"d={tags[b'd'].decode()} s={tags[b's'].decode()} a={tags[b'a'].decode()} "
                   f"b={tags[b'b'][:12].decode()} {'pass' if ok else 'FAIL'}")
    print(marker, rcpt, len(sigs), " | ".join(sorted(res)))
EOF
}
verify_all >"$T/verify.out" || fail "dkimpy crashed"
log "verification:"
cat "$T/verify.out" >&2
for m in "dual alice@a.test" "dual bob@a.test" "sub alice@a.test"; do
    line=$(grep "^$m " "$T/verify.out") || fail "no $m delivered"
    check_contains "$line" " 2 " "$m: two signatures"
    check_contains "$line" "d=example.test s=ed1 a=ed25519-sha256" "$m: Ed25519 signature"
    check_contains "$line" "d=example.test s=rsa1 a=rsa-sha256" "$m: RSA signature"
    check_not_contains "$line" "FAIL" "$m: every signature verifies"
done
# Signed once at entry: both recipients got the very same signatures.
check_eq "$(grep '^dual alice' "$T/verify.out" | sed 's/^dual alice@a.test //')" \
    "$(grep '^dual bob' "$T/verify.out" | sed 's/^dual bob@a.test //')" "same signatures for both recipients"
check_contains "$(grep '^twofrom ' "$T/verify.out")" "twofrom alice@a.test 0 " "two From: unsigned"
check_contains "$(grep '^nokey ' "$T/verify.out")" "nokey alice@a.test 0 " "no key: unsigned"
check_contains "$(cat "$T/mtad.log")" "dkim: unsigned: more than one From header" "log says why (two From)"
check_contains "$(cat "$T/mtad.log")" "dkim: unsigned: no dkim_key for other.test" "log says why (no key)"
check_contains "$(cat "$T/mtad.log")" "dkim: d=example.test s=rsa1,ed1" "log names the signature"

# A signature broken in transit would be caught: flip a body byte of a
# stored copy and dkimpy must refuse it (the check above can fail).
f=$(grep -l "X-Marker: dual" $(received mxa) | head -1)
sed -i 's/spaced/spaceD/' "$f"
verify_all >"$T/verify2.out" || fail "dkimpy crashed"
check_contains "$(grep '^dual ' "$T/verify2.out")" "FAIL" "a changed body fails"

# ---- reload: a key for other.test, added by SIGHUP ----
"$MTAD" dkim-keygen --type ed25519 other.test ed2 >"$T/ed2.out" || fail "keygen other.test"
grep -h '^dkim_key = ' "$T/ed2.out" >>"$T/mta.conf"
kill -HUP "$MTAD_PID"
wait_until 10 grep -q "DKIM: 3 key(s) loaded" "$T/mtad.log" || fail "reload did not load the new key"
msg 'From: x@other.test\n' reloaded | "$SENDMAIL" -i -f x@other.test alice@a.test || fail "sendmail reloaded"
wait_delivered mxa 6
check_contains "$(cat "$T/mtad.log")" "dkim: d=other.test s=ed2" "signed with the reloaded key"
# A reload with a broken key keeps the running keys.
echo "dkim_key = broken.test s1 $T/keys/missing.key" >>"$T/mta.conf"
kill -HUP "$MTAD_PID"
wait_until 10 grep -q "reload failed, keeping the running configuration: dkim_key broken.test" "$T/mtad.log" ||
    fail "a missing key file was not reported"
stop_mtad
pass
