#!/bin/bash
# dkim_verify.sh - dkim_tool's signatures checked by two verifiers that
# share no code with it or with each other: dkimpy (python3-dkim, through
# dkim_check.py) and OpenDKIM's libopendkim (through opendkim-testmsg).
#
# Story: make keys (RSA-2048 and Ed25519 with `dkim_tool genkey`, an RSA
# key in PKCS#1 form with `openssl genrsa -traditional`) and check their
# records against OpenSSL's view of the same keys; sign a set of awkward
# messages in all four canonicalizations with RSA, Ed25519, both, and the
# PKCS#1 key; check that dkim_tool changed nothing but prepending its
# fields; have both verifiers pass every signature; check from h= that
# From, To, Cc, Subject, Date and Reply-To are over-signed; then tamper
# with signed messages (a body byte, the Subject, a second From or
# Subject, a Cc where there was none) and have both verifiers fail every
# signature, for the right reason; and have dkimpy fail a signature
# checked against another key.
#
# Keys reach the verifiers without real DNS. dkimpy gets them from files
# (dkim_check.py --key). OpenDKIM asks DNS through the C library's
# resolver, which only reads /etc/resolv.conf and only talks to port 53
# (no other port can be named there): a dnsmasq on 127.0.5.1:53 (this
# scenario's own address) serves the TXT records, and each
# opendkim-testmsg runs in a private mount namespace (unshare --mount)
# where a bind mount puts our resolv.conf over /etc/resolv.conf; the
# system's file is never touched. (opendkim's own test mode, `opendkim -t`
# with TestPublicKeys, needs no DNS but goes through the milter interface,
# which drops and re-adds the space after a header's colon: it fails good
# simple-canonicalized signatures over "Subject:x" or "Subject:\tx", so
# it cannot judge simple header canonicalization.)
#
# OpenDKIM 2.11 verifies ed25519-sha256 (`opendkim -V` lists it), so both
# verifiers check every signature, Ed25519 included. opendkim-testmsg
# says nothing about which of several signatures passed and succeeds when
# any one does (exit 0 for two signatures of which one is broken), so it
# is given each signature alone (dkim_check.py --split). libopendkim also
# refuses a message without a Date field ("Date: header field absent"),
# so every test message has one, and misreads a message with no empty
# line after the header (see headeronly below).
#
# Needs root (the private mount), dnsmasq, opendkim-tools, python3-dkim,
# python3-nacl, openssl. Run by hand:
#   meson test -C BUILD --suite integration -v dkim_verify
#   KEEP=1 DKIM_TOOL=/path/to/dkim_tool MTA_SOURCE=. bash tests/integration/dkim_verify.sh
set -eE
. "$(dirname "$0")/lib.sh"
# Any command that fails unexpectedly fails the test (status 1, not its
# own), said once: by the main shell, not by the $(...) it failed in.
trap '[ "$BASHPID" != "$$" ] || fail "unexpected status $? at line $LINENO: $BASH_COMMAND"' ERR
# lib.sh's cleanup ignores the status of what it stops: no ERR there.
trap 'rc=$?; trap - ERR; set +e; (exit $rc); cleanup' EXIT

HERE=$(cd "$(dirname "$0")" && pwd)
DKIM_TOOL=${DKIM_TOOL:-${MTA_BUILD:-}/dkim/dkim_tool}
CHECK="$HERE/dkim_check.py"
TESTMSG=/usr/sbin/opendkim-testmsg
DNSMASQ=/usr/sbin/dnsmasq
DNS_IP=127.0.5.1

[ -x "$DKIM_TOOL" ] || fail "dkim_tool ($DKIM_TOOL) is not built"
[ "$(id -u)" = 0 ] || skip "needs root: OpenDKIM is pointed at the test DNS server through a private mount of /etc/resolv.conf"
[ -x "$TESTMSG" ] || skip "no $TESTMSG (package opendkim-tools)"
[ -x "$DNSMASQ" ] || skip "no $DNSMASQ (package dnsmasq-base)"
command -v openssl >/dev/null || skip "no openssl"
command -v unshare >/dev/null || skip "no unshare (package util-linux)"
command -v perl >/dev/null || skip "no perl"
"$PY" -c 'import dkim, nacl.signing' 2>/dev/null ||
    skip "dkimpy or PyNaCl missing for $PY (packages python3-dkim, python3-nacl)"

T=$(mktemp -d "${TMPBASE:-/var/tmp}/mtatest.XXXXXX")
mkdir "$T/msgs" "$T/signed" "$T/single" "$T/bad" "$T/bad-single" "$T/tmp"

DOMAIN=example.com
TS=1700000000 # t= of every signature: in the past, so no verifier balks
CANONS="relaxed/relaxed simple/simple relaxed/simple simple/relaxed"
declare -A SEL=([rsa]=brisbane [ed]=perth [pkcs1]=sydney)
declare -A ALG=([rsa]=rsa-sha256 [ed]=ed25519-sha256 [pkcs1]=rsa-sha256)
# The keys each signing mode uses, in -k order.
declare -A MODE_KEYS=([rsa]="rsa" [ed]="ed" [dual]="rsa ed" [pkcs1]="pkcs1" [triple]="rsa ed pkcs1")

# ---- keys ----
log "keys"
"$DKIM_TOOL" genkey rsa 2048 "$T/rsa.pem" || fail "dkim_tool genkey rsa 2048"
"$DKIM_TOOL" genkey ed25519 "$T/ed.pem" || fail "dkim_tool genkey ed25519"
openssl genrsa -traditional -out "$T/pkcs1.pem" 2048 2>"$T/openssl.err" ||
    fail "openssl genrsa: $(cat "$T/openssl.err")"
check_eq "$(head -n 1 "$T/pkcs1.pem")" "-----BEGIN RSA PRIVATE KEY-----" "openssl -traditional writes PKCS#1"
check_eq "$(head -n 1 "$T/rsa.pem")" "-----BEGIN PRIVATE KEY-----" "genkey rsa writes PKCS#8"
check_eq "$(head -n 1 "$T/ed.pem")" "-----BEGIN PRIVATE KEY-----" "genkey ed25519 writes PKCS#8"
check_contains "$(openssl pkey -in "$T/rsa.pem" -noout -text 2>&1 | head -n 1)" "2048 bit" "OpenSSL reads genkey's RSA key"

# The public key as OpenSSL derives it from the private key: DER
# SubjectPublicKeyInfo for RSA, the raw 32 octets (the end of the SPKI)
# for Ed25519.
openssl_p() {
    if [ "$2" = ed25519 ]; then
        openssl pkey -in "$1" -pubout -outform DER | tail -c 32 | base64 -w 0
    else
        openssl pkey -in "$1" -pubout -outform DER | base64 -w 0
    fi
}
for k in rsa ed pkcs1; do
    kt=rsa
    [ $k = ed ] && kt=ed25519
    "$DKIM_TOOL" record "$T/$k.pem" >"$T/$k.txt" 2>"$T/record.err" ||
        fail "dkim_tool record $k.pem: $(cat "$T/record.err")"
    check_eq "$(wc -l <"$T/$k.txt")" 1 "dkim_tool record $k.pem prints one line"
    check_eq "$(cat "$T/$k.txt")" "v=DKIM1; k=$kt; p=$(openssl_p "$T/$k.pem" $kt)" "record of $k.pem against OpenSSL"
done

KEYARGS=()
for k in rsa ed pkcs1; do KEYARGS+=(--key "${SEL[$k]}._domainkey.$DOMAIN=$T/$k.txt"); done

# ---- the DNS server OpenDKIM asks ----
# TXT character-strings hold at most 255 octets: a 2048-bit key's record
# is cut into several, which resolvers join.
txt_strings() { fold -w 250 "$1" | paste -sd, -; }
if ss -Hlun 'sport = :53' | grep -qE "(0\.0\.0\.0|\*|$DNS_IP|\[::\]):53 "; then
    fail "something already listens on $DNS_IP:53: $(ss -Hlunp 'sport = :53')"
fi
bg "$DNSMASQ" -k --conf-file=/dev/null --pid-file= --no-resolv --no-hosts --user=root \
    --listen-address=$DNS_IP --bind-interfaces --port=53 --local=/$DOMAIN/ \
    --log-queries --log-facility="$T/dnsmasq.log" \
    "--txt-record=${SEL[rsa]}._domainkey.$DOMAIN,$(txt_strings "$T/rsa.txt")" \
    "--txt-record=${SEL[ed]}._domainkey.$DOMAIN,$(txt_strings "$T/ed.txt")" \
    "--txt-record=${SEL[pkcs1]}._domainkey.$DOMAIN,$(txt_strings "$T/pkcs1.txt")" \
    2>"$T/dnsmasq.err"
DNS_PID=$BG_PID
for i in $(seq 50); do
    ss -Hlun 'sport = :53' | grep -qF "$DNS_IP:53 " && break
    kill -0 "$DNS_PID" 2>/dev/null || fail "dnsmasq exited: $(cat "$T/dnsmasq.err" "$T/dnsmasq.log" 2>/dev/null)"
    [ "$i" -lt 50 ] || fail "dnsmasq does not listen on $DNS_IP:53"
    sleep 0.1
done
printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$DNS_IP" >"$T/resolv.conf"

# opendkim_check WANT FILE...: runs opendkim-testmsg (libopendkim's
# dkim_verify over the raw bytes) on each FILE, which holds one
# signature, inside a mount namespace whose /etc/resolv.conf names our
# dnsmasq. Prints "pass FILE" or "fail FILE: why" per file; returns 1
# when a verdict is not WANT (pass or fail).
opendkim_check() {
    local want=$1
    shift
    # shellcheck disable=SC2016 # the script's own variables
    unshare --mount -- /bin/bash -c '
        want=$1 testmsg=$2 tmp=$3 resolv=$4
        shift 4
        mount --bind "$resolv" /etc/resolv.conf || { echo "mount --bind $resolv failed"; exit 1; }
        bad=0
        for f in "$@"; do
            if out=$("$testmsg" -t "$tmp" <"$f" 2>&1); then got=pass; else got=fail; fi
            echo "$got $f${out:+: $out}"
            [ "$got" = "$want" ] || bad=1
        done
        exit $bad' opendkim_check "$want" "$TESTMSG" "$T/tmp" "$T/resolv.conf" "$@"
}

# ---- the messages ----
# Written with printf, in wire form unless the case is about line ends.
# Every one has a Date (libopendkim insists) and a From.
m() {
    local name=$1
    shift
    # shellcheck disable=SC2059
    printf "$@" >"$T/msgs/$name"
}
DATE='Date: Fri, 17 Nov 2023 10:00:00 +0000\r\n'
X998=$(printf '%0998d' 0 | tr 0 x)
# 998 octets with runs of spaces and tabs inside
W998=$(printf 'word  \t %.0s' $(seq 125) | head -c 998)

m plain 'From: Alice Example <alice@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: Lunch on Friday\r\n'"$DATE"'Message-ID: <plain.1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob,\r\n\r\nlunch on Friday?\r\n\r\nAlice\r\n'
m folded 'From: "Alice Example"\r\n <alice@example.com>\r\nTo: bob@example.org\r\nSubject: a subject that is\r\n\tfolded over\r\n   three lines\r\nDate: Fri, 17 Nov 2023\r\n 10:00:00 +0000\r\nMessage-ID:\r\n <folded.1@example.com>\r\nContent-Type: text/plain;\r\n\tcharset="utf-8";\r\n\tformat=flowed\r\n\r\nBody.\r\n'
m spaces 'From:\tAlice   Example\t <alice@example.com>  \r\nTo:   bob@example.org \t \r\nSubject:  runs \t of\t\tspaces  and\ttabs \t\r\nDate:  Fri, 17 Nov 2023   10:00:00 +0000\r\nX-Spaces: \t  \t\r\n\r\nwords  separated \t by\t\truns\r\n   leading spaces\r\n\tleading tab\r\ntrailing spaces   \r\ntrailing tab\t\r\n \t \r\n\r\nlast  \t\r\n'
m oddcase 'fROM: Alice <alice@example.com>\r\nto: bob@example.org\r\nSUBJECT: shouting\r\ndAtE: Fri, 17 Nov 2023 10:00:00 +0000\r\nmessage-id: <oddcase.1@example.com>\r\nMime-Version: 1.0\r\nCONTENT-TYPE: text/plain\r\n\r\nbody\r\n'
m emptybody 'From: alice@example.com\r\nTo: bob@example.org\r\nSubject: empty body\r\n'"$DATE"'\r\n'
# no empty line at all: all header, the body is empty
m headeronly 'From: alice@example.com\r\nSubject: all header\r\n'"$DATE"
m nofinalcrlf 'From: alice@example.com\r\nSubject: no final CRLF\r\n'"$DATE"'\r\nfirst line\r\nlast line without an end'
m trailing 'From: alice@example.com\r\nSubject: trailing empty lines\r\n'"$DATE"'\r\nbody\r\n\r\n\r\n \r\n\t\r\n\r\n\r\n'
m eightbit 'From: Ren\xe9 <rene@example.com>\r\nTo: J\xc3\xbcrgen <juergen@example.org>\r\nSubject: Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\r\n'"$DATE"'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe, \xe2\x82\xac 5 \xf0\x9f\x98\x80\r\ncaf\xe9 cr\xe8me br\xfbl\xe9e\r\n\xff\xfe\x80\r\n'
m longline 'From: alice@example.com\r\nSubject: %s\r\n'"$DATE"'\r\n%s\r\n%s\r\nshort\r\n' "$(head -c 989 <<<"$W998")" "$X998" "$W998"
m dots 'From: alice@example.com\r\nSubject: dots\r\n'"$DATE"'\r\n.\r\n..\r\n.hidden\r\n. \r\n...and more\r\nend\r\n.\r\n'
m received 'Return-Path: <alice@example.com>\r\nReceived: from a.example.com (a.example.com [192.0.2.1])\r\n\tby b.example.com with ESMTP id 1\r\n\tfor <bob@example.org>; Fri, 17 Nov 2023 10:00:02 +0000\r\nReceived: from c.example.com\r\n by a.example.com; Fri, 17 Nov 2023 10:00:01 +0000\r\nReceived: by c.example.com; Fri, 17 Nov 2023 10:00:00 +0000\r\nFrom: alice@example.com\r\nTo: bob@example.org\r\nSubject: three hops\r\n'"$DATE"'\r\nbody\r\n'
m tocc 'From: alice@example.com\r\nTo: Bob <bob@example.org>,\r\n Carol <carol@example.org>,\r\n\tDave <dave@example.net>\r\nCc: Erin <erin@example.org>,\r\n  Frank <frank@example.org>,\r\n Grace\r\n\t<grace@example.org>\r\nSubject: many recipients\r\n'"$DATE"'\r\nbody\r\n'
m lfonly 'From: alice@example.com\nSubject: LF line ends\n'"${DATE%\\r\\n}"'\n\nline one\n\nline three\n'
m mixedeol 'From: alice@example.com\r\nSubject: mixed line ends\n'"${DATE%\\r\\n}"'\n\r\nCRLF\r\nLF\nCRLF\r\n'

check_eq "$(awk 'length($0) == 999' "$T/msgs/longline" | wc -l)" 3 "lines of 998 octets and CR in longline"

# The wire form dkim_tool is to sign and print: lone LFs become CRLF.
for f in "$T"/msgs/*; do
    perl -0777 -pe 's/(?<!\r)\n/\r\n/g' "$f" >"$f.crlf"
done
MSGS=()
for f in "$T"/msgs/*; do
    case $f in *.crlf) ;; *) MSGS+=("${f##*/}") ;; esac
done

# sign IN C MODE OUT: dkim_tool sign with MODE's keys; notes in
# $T/wrapped that OUT must be those signatures followed by IN's wire form
# (checked for all files at once: a process per check is slow here).
sign() {
    local in=$1 c=$2 mode=$3 out=$4 k args=()
    for k in ${MODE_KEYS[$mode]}; do args+=(-k "$DOMAIN:${SEL[$k]}:$T/$k.pem"); done
    "$DKIM_TOOL" sign -c "$c" -t "$TS" "${args[@]}" <"$in" >"$out" 2>"$T/sign.err" ||
        fail "dkim_tool sign -c $c ${args[*]} < $in: $(cat "$T/sign.err")"
    echo "$out $in.crlf $((${#args[@]} / 2))" >>"$T/wrapped"
}

# expect_lines FILE MODE C: the lines dkim_check.py prints for FILE's
# signatures when all pass (without the #index: the order of the fields
# is dkim_tool's business).
expect_lines() {
    local k
    for k in ${MODE_KEYS[$2]}; do
        echo "PASS $1 a=${ALG[$k]} c=$3 d=$DOMAIN s=${SEL[$k]} t=$TS"
    done
}

# dkimpy_check OPTIONS... FILE...: dkim_check.py; the output is in $T/dkimpy.out.
dkimpy_check() {
    local rc=0
    "$PY" "$CHECK" "${KEYARGS[@]}" "$@" >"$T/dkimpy.out" 2>&1 || rc=$?
    return $rc
}

# ---- sign ----
log "signing ${#MSGS[@]} messages x 4 canonicalizations x rsa, ed25519, both, pkcs1"
: >"$T/expected"
: >"$T/wrapped"
for name in "${MSGS[@]}"; do
    for c in $CANONS; do
        for mode in rsa ed dual pkcs1; do
            out="$T/signed/$name.${c/\//-}.$mode"
            sign "$T/msgs/$name" "$c" $mode "$out"
            expect_lines "$out" $mode "$c" >>"$T/expected"
        done
    done
done
# three signatures at once, one of them by the PKCS#1 key
for c in $CANONS; do
    out="$T/signed/plain.${c/\//-}.triple"
    sign "$T/msgs/plain" "$c" triple "$out"
    expect_lines "$out" triple "$c" >>"$T/expected"
done
SIGNED=("$T"/signed/*)
"$PY" "$CHECK" --wrapped "$T/wrapped" >"$T/wrapped.out" 2>&1 ||
    fail "dkim_tool's output is not its signatures and the message: $(cat "$T/wrapped.out")"

# ---- verify: dkimpy ----
log "dkimpy verifies $(grep -c . "$T/expected") signatures"
rc=0
dkimpy_check "${SIGNED[@]}" || rc=$?
sed 's/#[0-9]*//' "$T/dkimpy.out" | LC_ALL=C sort >"$T/dkimpy.got"
LC_ALL=C sort "$T/expected" >"$T/dkimpy.want"
if ! diff "$T/dkimpy.want" "$T/dkimpy.got" >"$T/dkimpy.diff" || [ $rc != 0 ]; then
    log "dkimpy: lines wanted (<) and got (>):"
    cat "$T/dkimpy.diff" >&2
    fail "dkimpy does not verify every signature as wanted (exit status $rc)"
fi

# ---- verify: OpenDKIM ----
"$PY" "$CHECK" --split "$T/single" "${SIGNED[@]}" >"$T/single.list"
mapfile -t SINGLE <"$T/single.list"
# libopendkim misreads a message that has no empty line after its header:
# with simple header canonicalization it fails good signatures of
# headeronly (dkimpy passes them), and passes the same signatures once an
# empty line is added. That line changes neither hash (RFC 6376 3.4: the
# body is empty either way), so OpenDKIM is given the message with it.
for f in "$T"/single/headeronly.*; do printf '\r\n' >>"$f"; done
log "OpenDKIM verifies ${#SINGLE[@]} signatures, one at a time"
rc=0
opendkim_check pass "${SINGLE[@]}" >"$T/opendkim.out" 2>"$T/opendkim.err" || rc=$?
n=$(grep -c '^pass ' "$T/opendkim.out" || true)
if [ $rc != 0 ] || [ "$n" != ${#SINGLE[@]} ]; then
    grep -hv '^pass ' "$T/opendkim.out" "$T/opendkim.err" >&2 || true
    fail "OpenDKIM passes $n of ${#SINGLE[@]} good signatures"
fi
grep -q "query\[TXT\] ${SEL[ed]}._domainkey.$DOMAIN" "$T/dnsmasq.log" ||
    fail "OpenDKIM never asked the test DNS server for the Ed25519 key"

# ---- tampering: every signature must fail ----
# tamper NAME PERL: each dual signed plain message (4 canonicalizations),
# with PERL applied to the whole of it, into $T/bad/.
tamper() {
    local name=$1 expr=$2 c src dst
    for c in $CANONS; do
        src="$T/signed/plain.${c/\//-}.dual"
        dst="$T/bad/plain.${c/\//-}.$name"
        perl -0777 -pe "$expr" "$src" >"$dst"
        cmp -s "$src" "$dst" && fail "tamper $name: $src unchanged"
    done
    return 0
}
# shellcheck disable=SC2016 # Perl's $1
# one octet of the body
tamper body 's/(\r\n\r\n.*)lunch/$1munch/s'
# the signed Subject
tamper subject 's/^Subject: Lunch on Friday\r$/Subject: Lunch on Sunday\r/m'
# a second From, above the real one (what many MUAs show) or at the end
tamper from_top 's/^From: Alice/From: Mallory <mallory\@evil.example>\r\nFrom: Alice/m'
tamper from_end 's/\r\n\r\n/\r\nFrom: Mallory <mallory\@evil.example>\r\n\r\n/'
# a second Subject above the first: only over-signing catches that
tamper subject_top 's/^From: Alice/Subject: Urgent: wire money\r\nFrom: Alice/m'
# a Cc where the message had none
tamper cc 's/\r\n\r\n/\r\nCc: eve\@evil.example\r\n\r\n/'
BAD=("$T"/bad/*)

# Over-signing, read from h= itself: dkimpy adds a From to every h= it
# checks (its fix for Debian bug 644046) and libopendkim refuses a second
# From or Subject before it looks at a signature, so their verdicts on
# from_top and from_end do not show that dkim_tool over-signs From. The
# plain message has one From, To, Subject and Date and no Cc or Reply-To.
for f in "$T"/signed/plain.*.dual; do
    got=$(perl -0777 -ne '
        while (/^DKIM-Signature:(.*?\r\n)(?![ \t])/msg) {
            (my $v = $1) =~ s/\s+//g;
            my ($h) = $v =~ /(?:^|;)h=([^;]*)/;
            my %n; $n{lc $_}++ for split /:/, $h;
            print join(" ", map { "$_=" . ($n{$_} // 0) } qw(from to cc subject date reply-to)), "\n";
        }' "$f")
    check_eq "$got" "from=2 to=2 cc=1 subject=2 date=2 reply-to=1
from=2 to=2 cc=1 subject=2 date=2 reply-to=1" "over-signed fields in the h= of $f"
done

log "dkimpy rejects ${#BAD[@]} tampered messages"
rc=0
dkimpy_check --expect-fail "${BAD[@]}" || rc=$?
if [ $rc != 0 ]; then
    grep -v '^FAIL ' "$T/dkimpy.out" >&2 || true
    fail "dkimpy passes a signature of a tampered message"
fi
check_eq "$(grep -c '^FAIL ' "$T/dkimpy.out")" $((2 * ${#BAD[@]})) "dkimpy failures over the tampered messages"
# failing for the right reason: the signature or the body hash, not the key
odd=$(grep -v -e ': signature does not verify$' -e ': ValidationError: body hash mismatch' "$T/dkimpy.out" || true)
[ -z "$odd" ] || fail "dkimpy fails tampered messages for another reason: $odd"

# the right message, the wrong key
rc=0
"$PY" "$CHECK" --expect-fail --key "${SEL[rsa]}._domainkey.$DOMAIN=$T/pkcs1.txt" \
    "$T/signed/plain.relaxed-relaxed.rsa" >"$T/dkimpy.out" 2>&1 || rc=$?
[ $rc = 0 ] || fail "dkimpy passes a signature against another key: $(cat "$T/dkimpy.out")"

"$PY" "$CHECK" --split "$T/bad-single" "${BAD[@]}" >"$T/bad-single.list"
mapfile -t BAD_SINGLE <"$T/bad-single.list"
log "OpenDKIM rejects ${#BAD_SINGLE[@]} signatures of tampered messages"
rc=0
opendkim_check fail "${BAD_SINGLE[@]}" >"$T/opendkim.out" 2>"$T/opendkim.err" || rc=$?
n=$(grep -c '^fail ' "$T/opendkim.out" || true)
if [ $rc != 0 ] || [ "$n" != ${#BAD_SINGLE[@]} ]; then
    grep -hv '^fail ' "$T/opendkim.out" "$T/opendkim.err" >&2 || true
    fail "OpenDKIM fails $n of ${#BAD_SINGLE[@]} signatures of tampered messages"
fi
# Failing for the right reason: a bad signature, not a missing key. A
# second From or Subject is refused as a syntax error (RFC 5322 allows
# one of each) before any signature is looked at.
odd=$(grep -E '\.(body|subject|cc)\.[0-9]+: ' "$T/opendkim.out" | grep -v 'dkim_eom(): Bad signature$' || true)
[ -z "$odd" ] || fail "OpenDKIM fails tampered messages for another reason than the signature: $odd"
odd=$(grep -E '\.(from_top|from_end|subject_top)\.[0-9]+: ' "$T/opendkim.out" |
    grep -v -e 'dkim_eom(): Bad signature$' -e 'dkim_chunk(): Syntax error$' || true)
[ -z "$odd" ] || fail "OpenDKIM fails messages with a second From or Subject for an unexpected reason: $odd"

pass
