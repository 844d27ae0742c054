"""A TCP relay: `python -m tests.hardening.tcp_relay TARGET_HOST:PORT LISTEN_HOST:PORT [LISTEN_HOST:PORT ...]`.

The two-node drill's nodes live in network namespaces that cannot reach the machine's PostgreSQL,
which listens on 127.0.0.1 only (and is shared, so it is not ours to reconfigure). This process,
in the root namespace, accepts on the namespaces' gateway addresses and pipes each connection to
the real server. When either side closes or resets, the other side is closed at once: a node that
is SIGKILLed must release its server sessions (and their locks) as it would over a real network.
It runs as its own process so the drill's load generator never shares an interpreter with it.
Prints `READY` once every address listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _serve(target: tuple[str, int], client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter):
    try:
        server_reader, server_writer = await asyncio.open_connection(*target)
    except OSError:
        client_writer.close()
        return
    up = asyncio.ensure_future(_pipe(client_reader, server_writer))
    down = asyncio.ensure_future(_pipe(server_reader, client_writer))
    # The first direction to end ends both: no half-open session lingers on the server.
    await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
    for writer in (server_writer, client_writer):
        with contextlib.suppress(Exception):
            writer.transport.abort()
    await asyncio.gather(up, down, return_exceptions=True)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def main(argv: list[str]) -> None:
    target = _address(argv[0])
    servers = [
        await asyncio.start_server(lambda r, w: _serve(target, r, w), *_address(listen), reuse_address=True)
        for listen in argv[1:]
    ]
    print("READY", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(sys.argv[1:]))
