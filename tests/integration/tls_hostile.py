#!/usr/bin/env python3
"""tls_hostile.py - STARTTLS receivers that misbehave, for tls_client.sh.

  tls_hostile.py CERT KEY IP:PORT=MODE [IP:PORT=MODE ...]

One process listens on every address given; each address plays one MODE
for every connection it accepts (a thread per connection, blocking
sockets: the point is byte-exact control of what is sent when). One line
per event goes to stdout, flushed, as "MODE: what happened": every
command received ("MODE: got MAIL FROM:<...>"), "MODE: pipelined" when a
command arrives while an earlier one is unanswered, the TLS parameters,
"MODE: delivered N bytes". Prints "ready" once every address listens.

Before TLS, EHLO offers PIPELINING, SMTPUTF8, DSN and STARTTLS; after the
handshake it offers SIZE and 8BITMIME only, so a client that kept the
first list, or took injected lines for the second, shows it.

Modes:
  inject     "220 Ready to start TLS" and, in the same write,
             "250-PIPELINING\\r\\n250 INJECTED\\r\\n" (CVE-2011-0411): the
             client must drop them and deliver over TLS
  inject554  the same with "554 5.0.0 injected\\r\\n"
  late554    "220 Ready", then 0.3 s later, in a write of its own,
             "554 5.0.0 injected\\r\\n": that lands where the client
             expects TLS records, so the handshake fails; it must never be
             read as a reply
  refuse     STARTTLS gets "454 4.7.0 TLS not available now"
"""
import socket
import ssl
import sys
import threading
import time

EHLO_PLAIN = (b"250-tls-hostile.test\r\n250-PIPELINING\r\n250-SMTPUTF8\r\n"
              b"250-DSN\r\n250 STARTTLS\r\n")
EHLO_TLS = b"250-tls-hostile.test\r\n250-SIZE 10000000\r\n250 8BITMIME\r\n"
INJECT = {
    "inject": b"250-PIPELINING\r\n250 INJECTED\r\n",
    "inject554": b"554 5.0.0 injected\r\n",
}
lock = threading.Lock()


def say(mode, what):
    with lock:
        print(f"{mode}: {what}", flush=True)


class Lines:
    """CRLF lines from a socket (plain or TLS), with what is buffered."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def readline(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")


def session(conn, mode, ctx):
    conn.settimeout(15)
    lines = Lines(conn)
    tls = False
    conn.sendall(b"220 tls-hostile.test ESMTP\r\n")
    while True:
        line = lines.readline()
        if line is None:
            say(mode, "closed by client")
            return
        cmd = line.decode("ascii", "replace")
        say(mode, f"got {cmd}")
        if lines.buf:
            say(mode, f"pipelined: {lines.buf[:40]!r} after {cmd}")
        up = cmd.upper()
        if up.startswith("EHLO"):
            conn.sendall(EHLO_TLS if tls else EHLO_PLAIN)
        elif up == "STARTTLS" and not tls:
            if mode == "refuse":
                conn.sendall(b"454 4.7.0 TLS not available now\r\n")
                continue
            conn.sendall(b"220 2.0.0 Ready to start TLS\r\n" + INJECT.get(mode, b""))
            if mode == "late554":
                time.sleep(0.3)
                conn.sendall(b"554 5.0.0 injected\r\n")
            try:
                conn = ctx.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError) as e:
                say(mode, f"handshake failed: {e}")
                return
            tls = True
            say(mode, f"tls {conn.version()} {conn.cipher()[0]}")
            lines = Lines(conn)
        elif up.startswith("MAIL FROM:") or up.startswith("RCPT TO:"):
            conn.sendall(b"250 2.1.0 ok\r\n")
        elif up == "DATA":
            conn.sendall(b"354 go ahead\r\n")
            size = 0
            while True:
                body = lines.readline()
                if body is None:
                    say(mode, "closed during DATA")
                    return
                if body == b".":
                    break
                size += len(body) + 2
            say(mode, f"delivered {size} bytes over {'TLS' if tls else 'plaintext'}")
            conn.sendall(b"250 2.0.0 queued as HOSTILE\r\n")
        elif up == "RSET" or up == "NOOP":
            conn.sendall(b"250 2.0.0 ok\r\n")
        elif up == "QUIT":
            conn.sendall(b"221 2.0.0 bye\r\n")
            conn.close()
            return
        else:
            conn.sendall(b"502 5.5.2 not here\r\n")


def serve(sock, mode, ctx):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=guarded, args=(conn, mode, ctx), daemon=True).start()


def guarded(conn, mode, ctx):
    try:
        session(conn, mode, ctx)
    except (OSError, ssl.SSLError) as e:
        say(mode, f"error: {e}")


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: tls_hostile.py CERT KEY IP:PORT=MODE ...")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    threads = []
    for spec in sys.argv[3:]:
        addr, mode = spec.split("=")
        ip, port = addr.rsplit(":", 1)
        if mode not in ("inject", "inject554", "late554", "refuse"):
            sys.exit(f"unknown mode {mode}")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, int(port)))
        sock.listen(16)
        t = threading.Thread(target=serve, args=(sock, mode, ctx), daemon=True)
        t.start()
        threads.append(t)
    print("ready", flush=True)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
