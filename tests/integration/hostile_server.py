#!/usr/bin/env python3
"""hostile_server.py - SMTP receivers that misbehave, for hostile.sh.

  hostile_server.py IP:PORT=MODE [IP:PORT=MODE ...]

One asyncio process listens on every address given; each address plays
one MODE for every connection it accepts. One line per event goes to
stdout ("MODE: what happened"), flushed, so the test can check that the
client really met the misbehaviour and not some other failure. Prints
"ready" once every address listens.

Modes (ESMTP without PIPELINING, so that replies come one per command):
  multiline    EHLO gets "250-ok" then "251 x": continuation code differs
  bigline      EHLO gets "250 " and then 1 MB without a line end
  greet554     the greeting is "554 5.3.2 no service here"
  hangdot      all normal, but the final dot gets no reply, ever
  garbage      binary garbage (a NUL, a TLS record header, bytes > 127),
               then the 220 greeting
  early        "250 early bird" before the 220 greeting, in one write
  unsolicited  MAIL FROM gets "250 ok" twice, in one write; then every
               command its normal reply
  data250      DATA gets "250 ok" instead of 354; the session goes on in
               command mode
  closedata    all normal up to 354; after the first 16 KB of content the
               connection is closed (no reply to the message)
"""
import asyncio
import sys

MB = 1024 * 1024


def say(mode, what):
    print(f"{mode}: {what}", flush=True)


async def readline(reader):
    line = await reader.readline()
    if not line:
        raise EOFError
    return line


async def ehlo_ok(writer):
    writer.write(b"250-hostile.test\r\n250-SIZE 52428800\r\n250 8BITMIME\r\n")
    await writer.drain()


async def commands(mode, reader, writer, ehlo=ehlo_ok):
    """A plain (non-pipelining) SMTP server loop, with hooks by mode."""
    in_data = False
    got = 0
    while True:
        line = await readline(reader)
        if in_data:
            got += len(line)
            if mode == "closedata" and got >= 16384:
                say(mode, f"closing after {got} bytes of content")
                writer.transport.abort()
                return
            if line == b".\r\n":
                in_data = False
                if mode == "hangdot":
                    say(mode, f"final dot after {got} bytes: not answering")
                    await reader.read()  # until the client gives up
                    say(mode, "client closed")
                    return
                say(mode, f"message of {got} bytes complete: 250")
                writer.write(b"250 2.0.0 queued\r\n")
                await writer.drain()
            continue
        cmd = line.strip().decode("latin-1")
        verb = cmd.split(" ", 1)[0].split(":", 1)[0].upper()
        say(mode, f"got {cmd[:60]}")
        if verb == "EHLO":
            await ehlo(writer)
        elif verb == "HELO":
            writer.write(b"250 hostile.test\r\n")
        elif verb == "MAIL":
            if mode == "unsolicited":
                say(mode, "two replies to MAIL")
                writer.write(b"250 ok\r\n250 ok\r\n")
            else:
                writer.write(b"250 2.1.0 ok\r\n")
        elif verb == "RCPT":
            writer.write(b"250 2.1.5 ok\r\n")
        elif verb == "DATA":
            if mode == "data250":
                say(mode, "250 to DATA")
                writer.write(b"250 ok\r\n")
            else:
                writer.write(b"354 go ahead\r\n")
                in_data = True
                got = 0
        elif verb == "RSET" or verb == "NOOP":
            writer.write(b"250 2.0.0 ok\r\n")
        elif verb == "QUIT":
            writer.write(b"221 2.0.0 bye\r\n")
            await writer.drain()
            return
        else:
            writer.write(b"502 5.5.2 what\r\n")
        await writer.drain()


async def session(mode, reader, writer):
    if mode == "greet554":
        writer.write(b"554 5.3.2 no service here\r\n")
    elif mode == "garbage":
        writer.write(b"\x16\x03\x01\x00\xa5\x00garbage\xff\xfe\r\n220 hostile.test ESMTP\r\n")
    elif mode == "early":
        writer.write(b"250 early bird\r\n220 hostile.test ESMTP\r\n")
    else:
        writer.write(b"220 hostile.test ESMTP\r\n")
    await writer.drain()

    async def ehlo(w):
        if mode == "multiline":
            say(mode, "mismatched multi-line EHLO reply")
            w.write(b"250-ok\r\n251 x\r\n")
            await w.drain()
        elif mode == "bigline":
            say(mode, "1 MB EHLO reply line")
            w.write(b"250 ")
            chunk = b"x" * 65536
            for _ in range(MB // len(chunk)):
                w.write(chunk)
                await w.drain()
            w.write(b"\r\n")
            await w.drain()
            say(mode, "1 MB line written")
        else:
            await ehlo_ok(w)

    await commands(mode, reader, writer, ehlo)


async def serve(addr, mode):
    ip, port = addr.rsplit(":", 1)

    async def handler(reader, writer):
        say(mode, "connection")
        try:
            await session(mode, reader, writer)
        except (EOFError, ConnectionError, asyncio.IncompleteReadError):
            say(mode, "connection lost")
        except Exception as e:  # keep serving whatever one client did
            say(mode, f"error {e!r}")
        finally:
            writer.transport.abort()

    return await asyncio.start_server(handler, ip, int(port), reuse_address=True,
                                      limit=4 * MB)


async def main(specs):
    servers = []
    for spec in specs:
        addr, mode = spec.split("=", 1)
        servers.append(await serve(addr, mode))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    try:
        asyncio.run(main(sys.argv[1:]))
    except KeyboardInterrupt:
        pass
