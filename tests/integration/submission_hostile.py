#!/usr/bin/python3
"""submission_hostile.py - a raw-socket SMTP client for the hostile cases
of submission.sh: it sends exactly the bytes a scenario names (bare CR and
LF, commands glued to STARTTLS, one byte a second, wrong passwords, a
hang-up inside DATA) and prints what came back, one "NAME: ..." line per
check, for the shell to judge. It never decides pass or fail itself
("error:" lines mean the dialogue could not even be held).

Usage: submission_hostile.py MODE SERVER:PORT SOURCE_IP [ARGS...]
  refusals  S SRC CA USER PASS BADPASS_SRC OTHER_SENDER
  smuggle   S SRC TAG            (trusted source: no AUTH needed)
  inject    S SRC CA
  slow      S SRC
  authlock  S SRC CA USER BADPASS N   (N wrong passwords, timed; reconnect)
  trickle   S SRC RCPT   (message data at two bytes a second)
  hangup    S SRC RCPT
  limit     S SRC N              (opens N+1 connections at once)
  durable   S SRC RCPT MARKER    (prints "queued: ID" after the 250)
  submit    S SRC RCPT MARKER    (one plain submission, for timing checks)

Every connection is bound to SOURCE_IP, so that the service sees the
client as a trusted or an outside address.
"""
import base64
import socket
import ssl
import sys
import time

TIMEOUT = 10


class Session:
    """One SMTP connection; replies are read whole (multi-line aware)."""

    def __init__(self, server, src, implicit_ca=None):
        host, port = server.rsplit(":", 1)
        self.host = host
        self.sock = socket.create_connection((host, int(port)), TIMEOUT, (src, 0))
        self.buf = b""
        if implicit_ca:
            self.tls(implicit_ca)

    def tls(self, ca):
        ctx = ssl.create_default_context(cafile=ca)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=self.host)
        # bytes read before the handshake belong to the plaintext session
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self, timeout=TIMEOUT):
        """The next reply, lines joined by " | ", or "EOF"/"TIMEOUT"."""
        self.sock.settimeout(timeout)
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                try:
                    chunk = self.sock.recv(4096)
                except socket.timeout:
                    return "TIMEOUT" if not lines else " | ".join(lines) + " | TIMEOUT"
                except (ConnectionResetError, ssl.SSLError):
                    chunk = b""
                if not chunk:
                    return "EOF" if not lines else " | ".join(lines) + " | EOF"
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode("utf-8", "replace")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                return " | ".join(lines)

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()


def out(name, text):
    print("%s: %s" % (name, text), flush=True)


def starttls_login(server, src, ca, user, password):
    s = Session(server, src)
    s.reply()
    s.cmd("EHLO client.example")
    r = s.cmd("STARTTLS")
    if not r.startswith("220"):
        raise RuntimeError("STARTTLS: " + r)
    s.tls(ca)
    s.cmd("EHLO client.example")
    r = s.cmd("AUTH PLAIN " + plain(user, password))
    return s, r


def refusals(server, src, ca, user, password, badsrc, other):
    # AUTH before TLS (RFC 4954 4: plaintext AUTH is refused).
    s = Session(server, src)
    s.reply()
    out("ehlo-plain", s.cmd("EHLO client.example"))
    out("auth-before-tls", s.cmd("AUTH PLAIN " + plain(user, password)))
    # Relay attempt without AUTH from an untrusted address.
    out("relay-mail", s.cmd("MAIL FROM:<%s>" % user))
    out("relay-rcpt", s.cmd("RCPT TO:<victim@dest.test>"))
    # Overlong command line (> 512 octets with CRLF).
    out("overlong", s.cmd("NOOP " + "x" * 600))
    out("after-overlong", s.cmd("NOOP"))
    s.cmd("QUIT")
    s.close()

    # Wrong password, from its own address (failures are counted per
    # address and slow down later ones).
    s, r = starttls_login(server, badsrc, ca, user, password + "x")
    out("wrong-password", r)
    s.close()

    # Authenticated: sender not allowed, recipients past max_recipients,
    # a message over max_message_size (declared, then actually sent).
    s, r = starttls_login(server, src, ca, user, password)
    out("auth-ok", r)
    out("bad-sender", s.cmd("MAIL FROM:<%s>" % other))
    out("good-sender", s.cmd("MAIL FROM:<%s>" % user))
    for i in range(1, 6):
        out("rcpt-%d" % i, s.cmd("RCPT TO:<many%d@hold.test>" % i))
    out("rset", s.cmd("RSET"))
    out("size-declared", s.cmd("MAIL FROM:<%s> SIZE=100000000" % user))
    s.cmd("RSET")
    s.cmd("MAIL FROM:<%s>" % user)
    s.cmd("RCPT TO:<big@hold.test>")
    out("big-data", s.cmd("DATA"))
    s.send(b"Subject: big\r\n\r\n" + (b"y" * 70 + b"\r\n") * 2000 + b".\r\n")
    out("big-dot", s.reply())
    out("after-big", s.cmd("NOOP"))
    s.cmd("QUIT")
    s.close()


VARIANTS = ["\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n", "\r\n.\r", "\r.\r\n"]


def smuggle(server, src, tag):
    """Each variant in its own session: the first transaction's data holds
    the fake end of data and a whole second transaction to smug-TAG-N."""
    for n, end in enumerate(VARIANTS):
        s = Session(server, src)
        s.reply()
        s.cmd("EHLO client.example")
        got = [s.cmd("MAIL FROM:<sender@test.example>"),
               s.cmd("RCPT TO:<victim-%s-%d@hold.test>" % (tag, n)),
               s.cmd("DATA")]
        body = ("From: sender@test.example\r\nTo: victim@hold.test\r\n"
                "Subject: smuggle %s %d\r\nX-Marker: smuggle-%s-%d\r\n\r\nfirst part" % (tag, n, tag, n)
                + end
                + "MAIL FROM:<sender@test.example>\r\nRCPT TO:<smug-%s-%d@hold.test>\r\nDATA\r\n"
                  "From: sender@test.example\r\nSubject: smuggled %s %d\r\n\r\nsmuggled part\r\n"
                % (tag, n, tag, n)
                + "\r\n.\r\n")
        s.send(body.encode())
        got.append(s.reply())
        got.append(s.cmd("QUIT"))
        # Anything more is a reply to a command the server found inside the data.
        got.append(s.reply(timeout=1))
        s.close()
        out("smuggle-%d %r" % (n, end), " || ".join(got))


def inject(server, src, ca):
    s = Session(server, src)
    s.reply()
    s.cmd("EHLO client.example")
    s.send(b"STARTTLS\r\nRSET\r\n")
    r = s.reply()
    out("inject-starttls", r)
    if not r.startswith("220"):
        # refused as improper pipelining: the connection must be gone
        out("inject-after", s.reply(timeout=3))
        return
    try:
        s.tls(ca)
    except (ssl.SSLError, OSError) as e:
        out("inject-after", "handshake failed: %s" % e)
        return
    # Anything arriving unprompted over TLS answers the injected RSET.
    out("inject-unprompted", s.reply(timeout=2))
    out("inject-ehlo", s.cmd("EHLO client.example"))
    s.cmd("QUIT")
    s.close()


def drain(s, seconds):
    """What the server sends within seconds: (bytes, closed)."""
    got = b""
    end = time.monotonic() + seconds
    s.sock.settimeout(0.05)
    while time.monotonic() < end:
        try:
            chunk = s.sock.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            chunk = b""
        if not chunk:
            return got, True
        got += chunk
    return got, False


def trickle_out(s, pieces, gap, name, start):
    """Sends each piece, gap seconds apart, until the server closes; prints
    what it said and when."""
    got = b""
    for piece in pieces:
        try:
            s.send(piece)
        except OSError:
            break
        chunk, closed = drain(s, gap)
        got += chunk
        if closed:
            break
    out(name, "%s after %.1fs" % (got.decode("utf-8", "replace").strip() or "nothing",
                                   time.monotonic() - start))


def slow(server, src):
    s = Session(server, src)
    s.reply()
    line = b"EHLO a-slow-client.example\r\n"
    trickle_out(s, [line[i:i + 1] for i in range(len(line))], 1, "slow", time.monotonic())


def begin_data(server, src, rcpt):
    """A trusted client's transaction up to DATA: the session and DATA's reply."""
    s = Session(server, src)
    s.reply()
    s.cmd("EHLO client.example")
    s.cmd("MAIL FROM:<sender@test.example>")
    s.cmd("RCPT TO:<%s>" % rcpt)
    return s, s.cmd("DATA")


def authlock(server, src, ca, user, badpass, n):
    """n wrong passwords in one session, each reply timed; then a new
    connection from the same address."""
    s, r = None, None
    for i in range(1, n + 1):
        if s is None:
            s, r = starttls_login(server, src, ca, user, badpass)
            start = None
        else:
            start = time.monotonic()
            r = s.cmd("AUTH PLAIN " + plain(user, badpass))
        # the first attempt's time includes the handshake: not timed
        took = "-" if start is None else "%.1f" % (time.monotonic() - start)
        out("authfail-%d" % i, "%s after %ss" % (r, took))
        if not r.startswith("535"):
            out("authfail-after", s.reply(3))
            break
    s.close()
    s = Session(server, src)
    out("authfail-reconnect", s.reply())
    s.close()


def trickle(server, src, rcpt):
    """Message data at two bytes a second: each read comes well within the
    timeout, the average rate stays far below any sane minimum."""
    s, r = begin_data(server, src, rcpt)
    out("trickle-data", r)
    s.send(b"Subject: trickle\r\n\r\n")
    trickle_out(s, [b"x"] * 60, 0.5, "trickle", time.monotonic())


def hangup(server, src, rcpt):
    s, r = begin_data(server, src, rcpt)
    out("hangup-data", r)
    s.send(b"Subject: hangup\r\n\r\nno final dot follows\r\n.\r")
    time.sleep(0.3)
    # RST instead of FIN: an abortive close
    s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    s.close()
    out("hangup", "closed")


def limit(server, src, n):
    conns = []
    for i in range(n + 1):
        s = Session(server, src)
        out("limit-%d" % (i + 1), s.reply())
        conns.append(s)
    for s in conns:
        s.close()
    # once mtad has seen them close, the address may connect again
    deadline = time.monotonic() + 5
    while True:
        s = Session(server, src)
        r = s.reply()
        if r.startswith("220") or time.monotonic() > deadline:
            break
        s.close()
        time.sleep(0.2)
    out("limit-again", r)
    s.cmd("QUIT")
    s.close()


def submit(server, src, rcpt, marker, mode):
    s, _ = begin_data(server, src, rcpt)
    s.send(("From: sender@test.example\r\nTo: %s\r\nSubject: %s\r\nX-Marker: %s\r\n\r\n"
            "body of %s\r\n.\r\n" % (rcpt, marker, marker, marker)).encode())
    r = s.reply()
    if mode == "durable":
        # the shell kills mtad at once: nothing more is said
        out("queued", r)
        return
    out("submit", r)
    s.cmd("QUIT")
    s.close()


def main():
    mode, server, src = sys.argv[1:4]
    a = sys.argv[4:]
    try:
        if mode == "refusals":
            refusals(server, src, *a)
        elif mode == "smuggle":
            smuggle(server, src, a[0])
        elif mode == "inject":
            inject(server, src, a[0])
        elif mode == "slow":
            slow(server, src)
        elif mode == "authlock":
            authlock(server, src, a[0], a[1], a[2], int(a[3]))
        elif mode == "trickle":
            trickle(server, src, a[0])
        elif mode == "hangup":
            hangup(server, src, a[0])
        elif mode == "limit":
            limit(server, src, int(a[0]))
        elif mode in ("durable", "submit"):
            submit(server, src, a[0], a[1], mode)
        else:
            sys.exit("unknown mode " + mode)
    except (OSError, RuntimeError) as e:
        out("error", "%s: %s" % (type(e).__name__, e))
        sys.exit(1)


if __name__ == "__main__":
    main()
