"""The syslog receiver: UDP datagrams and TCP streams in, batches to the intake.

Messages are queued as they arrive and written by one worker thread in batches (at most
BATCH_MESSAGES, or what arrived within FLUSH_SECONDS of the first): one transaction per
machine per batch, and the order of arrival is the order of the seqs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from django.db import close_old_connections

from tinkerbell.syslog.intake import IntakeResult, Received, SyslogIntake
from tinkerbell.syslog.parse import TcpFramer, parse_message

logger = logging.getLogger(__name__)
BATCH_MESSAGES = 2000
FLUSH_SECONDS = 0.05
QUEUE_LIMIT = 100_000


def source_address(peer: Any) -> str:
    """The sender's address, IPv4 written as IPv4 even when it arrived on an IPv6 socket."""
    address = ipaddress.ip_address(str(peer[0]).split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: SyslogServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.server.enqueue(source_address(addr), data)


class SyslogServer:
    def __init__(self, intake: SyslogIntake | None = None) -> None:
        self.intake = intake or SyslogIntake()
        self.queue: asyncio.Queue[Received] = asyncio.Queue(QUEUE_LIMIT)
        self.dropped = 0  # only when the queue is full: counted and logged, never silent
        self.totals = IntakeResult()
        self._closers: list[Any] = []
        self._writer: asyncio.Task[None] | None = None

    def enqueue(self, source: str, data: bytes) -> None:
        try:
            self.queue.put_nowait(Received(source, parse_message(data)))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 10_000 == 0:
                logger.error("syslog: queue full, %d message(s) dropped so far", self.dropped)

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        source = source_address(writer.get_extra_info("peername"))
        framer = TcpFramer()
        try:
            while data := await reader.read(65536):
                for message in framer.feed(data):
                    self.enqueue(source, message)
        except (ConnectionError, OSError):
            pass
        finally:
            for message in framer.close():
                self.enqueue(source, message)
            writer.close()

    async def start(self, host: str, port: int) -> tuple[int, int]:
        """Listen on ``host:port`` over UDP and TCP (port 0: one free port for both is picked
        by the TCP side); returns (udp port, tcp port)."""
        loop = asyncio.get_running_loop()
        tcp = await asyncio.start_server(self._stream, host, port)
        tcp_port = tcp.sockets[0].getsockname()[1]
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self), local_addr=(host, port or tcp_port)
        )
        udp_port = transport.get_extra_info("sockname")[1]
        self._closers += [tcp, transport]
        self._writer = asyncio.create_task(self._write_batches())
        return udp_port, tcp_port

    async def _write_batches(self) -> None:
        while True:
            batch = [await self.queue.get()]
            deadline = asyncio.get_running_loop().time() + FLUSH_SECONDS
            while len(batch) < BATCH_MESSAGES:
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0 and self.queue.empty():
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), max(timeout, 0)))
                except TimeoutError:
                    break
            try:
                result = await asyncio.to_thread(self._store, batch)
            except Exception:
                logger.exception("syslog: a batch of %d message(s) could not be stored", len(batch))
                continue
            self.totals.stored += result.stored
            self.totals.unattributed += result.unattributed
            self.totals.unknown_source += result.unknown_source

    def _store(self, batch: list[Received]) -> IntakeResult:
        close_old_connections()
        try:
            return self.intake.store(batch)
        finally:
            close_old_connections()

    async def drain(self) -> None:
        """Wait until every message received so far is stored."""
        while not self.queue.empty():
            await asyncio.sleep(FLUSH_SECONDS)
        await asyncio.sleep(FLUSH_SECONDS * 2)

    async def close(self) -> None:
        for closer in self._closers:
            closer.close()
        await self.drain()
        if self._writer is not None:
            self._writer.cancel()
