#!/usr/bin/env python3
"""sts_server.py - a small HTTPS server that serves an MTA-STS policy for
integration tests (RFC 8461 3.3: GET /.well-known/mta-sts.txt).

Usage:
  sts_server.py --listen IP:PORT --cert CERT --key KEY --policy FILE
                [--redirect URL] [--status N] [--content-type T]
                [--framing length|chunked|close] [--delay SECONDS]
                [--pidfile F] [--log F]

  --listen        address to listen on: 127.0.7.1:8443 or [::1]:8443
  --cert, --key   PEM certificate chain and key (e.g. for mta-sts.example.test)
  --policy        the file served as the policy body (read at each request,
                  so a test may change it between fetches)
  --redirect URL  answer 301 with Location: URL instead of the policy
  --status N      answer status N (with a short text/plain body) instead
  --content-type  the Content-Type of the policy (default text/plain);
                  an empty string sends none
  --framing       length: Content-Length (default); chunked: chunked
                  transfer coding; close: neither, the body ends with the
                  connection (and TLS close_notify); cut: as close, but
                  the TCP connection ends without close_notify (a client
                  must refuse the body: it may have been truncated)
  --delay S       wait S seconds (fractions allowed) before answering
  --pidfile F     write the pid to F once listening (removed at exit)
  --log F         append one line per request to F:
                  "<unix time> <client ip> <method> <path> <host> <status>"
                  and one per failed TLS handshake: "<time> <ip> TLS <error>"

Every other path answers 404. Exits 0 on SIGTERM or SIGINT.
"""

import argparse
import http.server
import os
import signal
import socket
import ssl
import sys
import threading
import time

WELL_KNOWN = "/.well-known/mta-sts.txt"


def parse_listen(text):
    """Returns (family, host, port) from "IP:PORT" or "[IPv6]:PORT"."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise argparse.ArgumentTypeError("bad --listen " + text)
        return socket.AF_INET6, host, int(port)
    host, sep, port = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError("bad --listen " + text)
    return socket.AF_INET, host, int(port)


class Log:
    """Appends lines to the --log file (or nowhere), one writer at a time."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def line(self, text):
        if not self.path:
            return
        with self.lock, open(self.path, "a", encoding="utf-8") as f:
            f.write("%.3f %s\n" % (time.time(), text))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sts_server"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass  # requests are logged by do_GET, in a fixed format

    def send_body(self, status, ctype, body, framing="length", location=None):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        if location:
            self.send_header("Location", location)
        if framing == "length":
            self.send_header("Content-Length", str(len(body)))
        elif framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        if framing == "chunked":
            # Small chunks, so that the client's chunk reader is exercised.
            for i in range(0, len(body), 1000):
                part = body[i:i + 1000]
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        else:
            self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True
        if framing == "close":
            # The body ends with the connection: end TLS properly, so that
            # the client can tell the end from a cut.
            self.server.unwrap_after.add(self.connection)

    def do_GET(self):
        opts = self.server.opts
        if opts.delay:
            time.sleep(opts.delay)
        host = self.headers.get("Host", "-")
        if self.path != WELL_KNOWN:
            status = 404
            self.send_body(404, "text/plain", b"not found\n")
        elif opts.redirect:
            status = 301
            self.send_body(301, "text/plain", b"moved\n", location=opts.redirect)
        elif opts.status != 200:
            status = opts.status
            self.send_body(status, "text/plain", b"status %d\n" % status)
        else:
            status = 200
            with open(opts.policy, "rb") as f:
                body = f.read()
            self.send_body(200, opts.content_type, body, framing=opts.framing)
        self.server.log.line("%s GET %s %s %d" % (self.client_address[0], self.path, host,
                                                  status))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, opts, family, addr):
        self.address_family = family
        self.opts = opts
        self.log = Log(opts.log)
        self.unwrap_after = set()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(opts.cert, opts.key)
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        # The handshake runs here, in the request's thread, so that a client
        # that never sends its hello cannot stall the accept loop.
        request.settimeout(30)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.log.line("%s TLS %s" % (client_address[0], e))
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
            if tls in self.unwrap_after:
                self.unwrap_after.discard(tls)
                tls.unwrap()
        except (ssl.SSLError, OSError):
            pass
        finally:
            tls.close()


def main():
    ap = argparse.ArgumentParser(description="HTTPS server of an MTA-STS policy, for tests")
    ap.add_argument("--listen", required=True, type=parse_listen)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--policy", required=True)
    ap.add_argument("--redirect")
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--content-type", default="text/plain")
    ap.add_argument("--framing", choices=["length", "chunked", "close", "cut"], default="length")
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--pidfile")
    ap.add_argument("--log")
    opts = ap.parse_args()

    family, host, port = opts.listen
    server = Server(opts, family, (host, port))

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if opts.pidfile:
        tmp = opts.pidfile + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, opts.pidfile)  # whole, so a test polling for it never reads half
    try:
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        server.server_close()
        if opts.pidfile:
            try:
                os.unlink(opts.pidfile)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
