#!/usr/bin/env python3
"""A small SOCKS5 proxy (RFC 1928, CONNECT only; RFC 1929 user/password when --user is
given), written from the RFCs for the tests of `mqtk --proxy`, so that the test does not
use mqtk's own SOCKS code on both sides. Listens on 127.0.0.1 at a free port and prints
`listening PORT`, then one `connect HOST PORT` line per tunnel it opens and `auth failed`
for refused credentials. Runs until killed.
Usage: socks5_server.py [--user USER --password PASSWORD]"""
import asyncio
import socket
import struct
import sys


def parse_args(argv):
    opts = {}
    it = iter(argv)
    for a in it:
        if a in ("--user", "--password"):
            opts[a[2:]] = next(it)
    return opts.get("user"), opts.get("password")


USER, PASSWORD = parse_args(sys.argv[1:])


def say(line):
    print(line, flush=True)


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def handle(reader, writer):
    try:
        ver, n = await reader.readexactly(2)
        methods = await reader.readexactly(n)
        if ver != 5:
            writer.close()
            return
        want = 2 if USER is not None else 0
        if want not in methods:
            writer.write(b"\x05\xff")
            await writer.drain()
            writer.close()
            return
        writer.write(bytes([5, want]))
        await writer.drain()
        if want == 2:
            _ver, ulen = await reader.readexactly(2)
            user = (await reader.readexactly(ulen)).decode()
            (plen,) = await reader.readexactly(1)
            password = (await reader.readexactly(plen)).decode()
            if (user, password) != (USER, PASSWORD):
                say("auth failed")
                writer.write(b"\x01\x01")
                await writer.drain()
                writer.close()
                return
            writer.write(b"\x01\x00")
            await writer.drain()
        ver, cmd, _rsv, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif atyp == 4:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        else:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if cmd != 1:
            writer.write(b"\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00")
            await writer.drain()
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.write(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
            await writer.drain()
            writer.close()
            return
        say(f"connect {host} {port}")
        writer.write(b"\x05\x00\x00\x01\x7f\x00\x00\x01" + struct.pack("!H", 0))
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    say(f"listening {server.sockets[0].getsockname()[1]}")
    async with server:
        await server.serve_forever()


asyncio.run(main())
