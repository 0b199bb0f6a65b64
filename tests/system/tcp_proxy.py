"""A TCP proxy on a free loopback port, run in the test's event loop, that can take the
database away from a server process in the two ways networks fail.

- `cut()`: every connection is reset and the port stops listening, so new connections are
  refused at once (the database host is up, the database is not).
- `black_hole()`: nothing is forwarded any more in either direction, yet every connection,
  old or new, stays open and new connections are accepted (a hung server, a partition behind
  a load balancer). Only timeouts end a wait.
- `restore()`: drops what the outage left behind and forwards again on the same port.
"""

import asyncio
import contextlib
import enum
from dataclasses import dataclass, field
from typing import Self

CHUNK_BYTES = 64 * 1024
LOOPBACK = "127.0.0.1"


class Mode(enum.Enum):
    FORWARD = "forward"
    CUT = "cut"
    BLACK_HOLE = "black hole"


@dataclass(eq=False)
class _Link:
    """One client connection and, while forwarding, its connection upstream."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    forwarding: bool = True
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                writer.transport.abort()
        self.ended.set()


class TcpProxy:
    """`async with TcpProxy(host, port) as proxy:` listens on 127.0.0.1:`proxy.port`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._pumps: set[asyncio.Task[None]] = set()
        self.port = 0
        self.mode = Mode.FORWARD

    async def __aenter__(self) -> Self:
        await self._listen()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._stop_listening()
        self._drop_links()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def cut(self) -> None:
        self.mode = Mode.CUT
        await self._stop_listening()
        self._drop_links()

    async def black_hole(self) -> None:
        self.mode = Mode.BLACK_HOLE
        for link in self._links:
            link.forwarding = False

    async def restore(self) -> None:
        """Connections from before and during the outage are reset: their streams are out of
        step with the server, as after any real outage."""
        self._drop_links()
        self.mode = Mode.FORWARD
        if self._server is None:
            await self._listen()

    @property
    def open_connections(self) -> int:
        return len(self._links)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, LOOPBACK, self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            # Closed links make wait_closed return: on 3.12+ it waits for every connection.
            self._drop_links()
            await server.wait_closed()

    def _drop_links(self) -> None:
        for link in list(self._links):
            link.abort()
        self._links.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(client=writer, forwarding=self.mode is Mode.FORWARD)
        self._links.add(link)
        try:
            if link.forwarding:
                await self._forward(link, reader)
            # Held (black hole) or forwarding: the connection lives until the link ends.
            await link.ended.wait()
        finally:
            self._links.discard(link)
            link.abort()

    async def _forward(self, link: _Link, client_reader: asyncio.StreamReader) -> None:
        try:
            upstream_reader, link.upstream = await asyncio.open_connection(*self._target)
        except OSError:
            link.ended.set()
            return
        for source, sink in ((client_reader, link.upstream), (upstream_reader, link.client)):
            pump = asyncio.create_task(self._pump(link, source, sink))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    @staticmethod
    async def _pump(link: _Link, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Copies one direction until either side ends; in a black hole, bytes are swallowed
        and the connection is kept open (a silent peer, not a closed one)."""
        with contextlib.suppress(ConnectionError, OSError):
            while data := await source.read(CHUNK_BYTES):
                if link.forwarding:
                    sink.write(data)
                    await sink.drain()
        if link.forwarding or sink is not link.client:
            link.ended.set()
