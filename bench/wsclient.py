"""A minimal asyncio WebSocket client (RFC 6455: handshake, masked text frames out, unfragmented
frames in) — enough for thousands of dashboard subscribers in one bench process."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from typing import Any


class WsSubscriber:
    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.updates: list[tuple[float, dict[str, Any]]] = []

    async def connect(self, host: str, port: int, path: str = "/ws") -> None:
        self.reader, self.writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.writer.write(request.encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0] + b" ":
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))

    async def send_json(self, message: dict[str, Any]) -> None:
        await self._send(0x1, json.dumps(message).encode())

    async def _send(self, opcode: int, payload: bytes) -> None:
        assert self.writer is not None
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def read_json(self) -> dict[str, Any] | None:
        """The next text message; None when the server closed the connection."""
        assert self.reader is not None
        while True:
            first, second = await self.reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(length)
            opcode = first & 0x0F
            if opcode == 0x8:
                return None
            if opcode == 0x9:  # daphne pings every 20 s and drops clients that never pong
                await self._send(0xA, payload)
                continue
            if opcode == 0x1:
                return dict(json.loads(payload))

    async def listen(self) -> None:
        """Record every stats_update with its arrival time until the connection ends."""
        while True:
            try:
                message = await self.read_json()
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if message is None:
                return
            if message.get("type") == "stats_update":
                self.updates.append((time.perf_counter(), message))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
