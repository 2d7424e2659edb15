#!/usr/bin/python3
"""dkim_check.py - verifies every DKIM-Signature of signed messages with
dkimpy (Debian python3-dkim), the first of the two independent verifiers
that tests/integration/dkim_verify.sh runs over dkim_tool's output.

No DNS is asked: the key records come from files named on the command line
(--key NAME=FILE, FILE holding the TXT value "v=DKIM1; k=...; p=..."); a
name with no --key is NXDOMAIN. dkimpy calls dnsfunc(name, timeout=...)
with name as bytes ending in a dot, "sel._domainkey.example.com.", and
wants the TXT value as bytes, or None.

  dkim_check.py [--key NAME=FILE]... [--expect-fail] FILE...
      One line per signature: "PASS FILE#I a=.. c=.. d=.. s=.. t=.." (FAIL
      with dkimpy's reason). Exit 0 when every signature of every FILE
      verifies (with --expect-fail: when every one fails), 1 otherwise;
      also 1 when a FILE has no signature at all. Without --expect-fail a
      signature that verifies but breaks the signer's contract (a line of
      the field longer than 78 octets, an l= tag) is reported BAD and
      counts as a failure.
  dkim_check.py --split DIR FILE...
      Writes, for each signature I of FILE, DIR/BASENAME.I holding FILE
      with the other DKIM-Signature fields removed (byte for byte
      otherwise), and prints the paths: OpenDKIM reports one verdict per
      message, so it is given one signature at a time.
  dkim_check.py --wrapped LIST
      LIST has lines "SIGNED ORIGINAL N": checks that each SIGNED is N
      DKIM-Signature fields followed by exactly the bytes of ORIGINAL,
      i.e. that the signer added its fields and changed nothing else.
      Prints what is wrong; exit 0 when nothing is.

Exit 77 when dkimpy or PyNaCl (dkimpy needs it for ed25519-sha256) is
missing. Input files are the test's own; they are trusted.
"""
import argparse
import logging
import os
import sys

try:
    import dkim
    import dkim.util
    import nacl.signing  # noqa: F401  (dkimpy imports it lazily; fail early)
except ImportError as e:
    print("dkim_check.py: %s (packages python3-dkim, python3-nacl)" % e, file=sys.stderr)
    sys.exit(77)

MAX_LINE = 78  # dkim.h: the DKIM-Signature field is folded to this


def split_fields(msg):
    """Splits a wire-form message into its header fields (each with its
    continuation lines and line ends, exactly as in msg) and the rest (the
    empty line and the body; empty when the message is all header)."""
    fields = []
    pos = 0
    while pos < len(msg):
        nl = msg.find(b"\n", pos)
        end = len(msg) if nl < 0 else nl + 1
        line = msg[pos:end]
        if line in (b"\r\n", b"\n"):
            return fields, msg[pos:]
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
        pos = end
    return fields, b""


def is_signature(field):
    return field.split(b":", 1)[0].strip().lower() == b"dkim-signature"


class Reasons(logging.Handler):
    """Keeps the messages dkimpy logs, to print next to a failure."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def make_dnsfunc(records):
    def dnsfunc(name, timeout=5):
        key = name.decode("ascii", "replace").rstrip(".").lower()
        return records.get(key)

    return dnsfunc


def verify_file(path, dnsfunc, expect_fail):
    """Verifies each signature of path; returns the number of outcomes
    that are not the expected one."""
    with open(path, "rb") as f:
        msg = f.read()
    fields, _ = split_fields(msg)
    sigs = [x for x in fields if is_signature(x)]
    if not sigs:
        print("FAIL %s: no DKIM-Signature field" % path)
        return 1
    bad = 0
    for i, field in enumerate(sigs):
        tags = {}
        try:
            value = field.split(b":", 1)[1]
            tags = dkim.util.parse_tag_value(value)
        except Exception:  # dkimpy reports the syntax error below
            tags = {}
        shown = {t: tags.get(t.encode(), b"-").decode("ascii", "replace") for t in "acdst"}
        # RFC 6376 3.5: c= absent is simple/simple, one word is HEADER/simple
        c = shown["c"] if b"c" in tags else "simple/simple"
        shown["c"] = c if "/" in c else c + "/simple"
        desc = " ".join("%s=%s" % (t, shown[t]) for t in "acdst")
        # dkimpy logs why it could not verify (no key, a bad key) and
        # raises for a malformed message or a body hash mismatch; a plain
        # False is a signature that does not match.
        reasons = Reasons()
        log = logging.getLogger("dkim_check")
        log.propagate = False
        log.handlers = [reasons]
        log.setLevel(logging.ERROR)
        try:
            ok = dkim.DKIM(msg, logger=log).verify(idx=i, dnsfunc=dnsfunc)
        except dkim.DKIMException as e:
            ok = False
            reasons.lines.append("%s: %s" % (type(e).__name__, e))
        why = "; ".join(reasons.lines) if reasons.lines else "signature does not verify"
        problems = []
        if ok and not expect_fail:
            for line in field.split(b"\r\n"):
                if len(line) > MAX_LINE:
                    problems.append("a line of %d octets in the field (at most %d)" % (len(line), MAX_LINE))
            if b"l" in tags:
                problems.append("l= tag present")
        if problems:
            print("BAD %s#%d %s: verifies, but %s" % (path, i, desc, "; ".join(problems)))
            bad += 1
        elif ok:
            print("PASS %s#%d %s" % (path, i, desc))
            bad += 1 if expect_fail else 0
        else:
            print("FAIL %s#%d %s: %s" % (path, i, desc, why))
            bad += 0 if expect_fail else 1
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--key", action="append", default=[], metavar="NAME=FILE")
    ap.add_argument("--expect-fail", action="store_true")
    ap.add_argument("--split", metavar="DIR")
    ap.add_argument("--wrapped", metavar="LIST")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()

    if a.wrapped:
        bad = 0
        with open(a.wrapped) as f:
            for line in f:
                signed_path, orig_path, n = line.split()
                with open(signed_path, "rb") as g:
                    signed = g.read()
                with open(orig_path, "rb") as g:
                    orig = g.read()
                fields, _ = split_fields(signed)
                k = 0
                while k < len(fields) and is_signature(fields[k]):
                    k += 1
                prefix = len(b"".join(fields[:k]))
                if k != int(n):
                    print("%s: %d DKIM-Signature fields on top, want %s" % (signed_path, k, n))
                    bad += 1
                elif signed[prefix:] != orig:
                    print("%s: after the DKIM-Signature fields, not the bytes of %s" % (signed_path, orig_path))
                    bad += 1
        return 1 if bad else 0

    if a.split:
        for path in a.files:
            with open(path, "rb") as f:
                fields, rest = split_fields(f.read())
            sigs = [j for j, x in enumerate(fields) if is_signature(x)]
            for i, keep in enumerate(sigs):
                out = os.path.join(a.split, "%s.%d" % (os.path.basename(path), i))
                with open(out, "wb") as f:
                    f.write(
                        b"".join(x for j, x in enumerate(fields) if j == keep or not is_signature(x))
                        + rest
                    )
                print(out)
        return 0

    records = {}
    for kv in a.key:
        name, _, path = kv.partition("=")
        with open(path, "rb") as f:
            records[name.rstrip(".").lower()] = f.read().strip()
    dnsfunc = make_dnsfunc(records)
    bad = 0
    for path in a.files:
        bad += verify_file(path, dnsfunc, a.expect_fail)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
