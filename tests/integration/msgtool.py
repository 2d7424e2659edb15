#!/usr/bin/env python3
"""msgtool.py - test messages that can be recognised and checked byte for byte.

  msgtool.py gen MARKER [BODY_BYTES]   print the message for MARKER (LF lines)
  msgtool.py gendir DIR BODY_BYTES MARKER...  write DIR/MARKER for each marker
  msgtool.py verify MARKERS_FILE [--exact] [--body-bytes N]
        every marker listed must be in the queue exactly as generated (after
        the Received header mtad adds); with --exact, nothing else may be in
        the queue and no marker twice. Uses $MTAQ (list --json, cat ID).

A message carries its marker in Message-ID and X-Marker and has Date, From
and Message-ID already, so the only thing mtad adds is its Received header.
"""
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor


def gen(marker, body_bytes=4096):
    head = (
        "From: Test Sender <sender@test.example>\n"
        "To: rcpt@example.com\n"
        f"Subject: test message {marker}\n"
        "Date: Tue, 24 Nov 2026 12:00:00 +0000\n"
        f"Message-ID: <{marker}@test.example>\n"
        f"X-Marker: {marker}\n"
        "\n"
    )
    lines = []
    n = 0
    i = 0
    while n < body_bytes:
        # lines starting with dots, long-ish lines, the marker everywhere
        line = f"{'.' if i % 7 == 0 else ''}{marker} line {i} " + "x" * (i % 60)
        lines.append(line)
        n += len(line) + 1
        i += 1
    return head + "\n".join(lines) + "\n"


def as_queued(text):
    return text.replace("\n", "\r\n").encode()


def mtaq(*args):
    return subprocess.run([os.environ["MTAQ"], *args], check=True, capture_output=True).stdout


def verify(markers_file, exact, body_bytes):
    want = [m for m in open(markers_file).read().split() if m]
    ids = [m["id"] for m in json.loads(mtaq("list", "--json"))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        contents = list(pool.map(lambda i: mtaq("cat", i), ids))
    seen = {}
    bad = 0
    for qid, data in zip(ids, contents):
        m = re.search(rb"\r\nX-Marker: (\S+)\r\n", data)
        if not m:
            print(f"{qid}: no X-Marker header", file=sys.stderr)
            bad += 1
            continue
        marker = m.group(1).decode()
        seen[marker] = seen.get(marker, 0) + 1
        # strip mtad's Received header: "Received: ...\r\n\t...\r\n"
        if not data.startswith(b"Received: by "):
            print(f"{qid}: does not start with mtad's Received header", file=sys.stderr)
            bad += 1
            continue
        body = data.split(b"\r\n", 2)[2]
        if body != as_queued(gen(marker, body_bytes)):
            print(f"{qid}: content of {marker} differs from what was sent", file=sys.stderr)
            bad += 1
    missing = [m for m in want if m not in seen]
    for m in missing[:20]:
        print(f"missing: {m}", file=sys.stderr)
    dups = sum(c - 1 for c in seen.values())
    extra = [m for m in seen if m not in set(want)]
    print(f"queued={len(ids)} wanted={len(want)} missing={len(missing)} "
          f"damaged={bad} duplicates={dups} unexpected={len(extra)}")
    if missing or bad:
        return 1
    if exact and (dups or extra or len(ids) != len(want)):
        return 1
    return 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "gen":
        size = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
        sys.stdout.write(gen(sys.argv[2], size))
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "gendir":
        os.makedirs(sys.argv[2], exist_ok=True)
        for marker in sys.argv[4:]:
            with open(os.path.join(sys.argv[2], marker), "w") as f:
                f.write(gen(marker, int(sys.argv[3])))
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "verify":
        exact = "--exact" in sys.argv
        size = 4096
        if "--body-bytes" in sys.argv:
            size = int(sys.argv[sys.argv.index("--body-bytes") + 1])
        return verify(sys.argv[2], exact, size)
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main())
