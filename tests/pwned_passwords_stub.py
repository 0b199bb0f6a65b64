"""A stand-in for Pwned Passwords' k-anonymity range API on a loopback port: it answers as the
real service does (with padding), fails with a status, or never answers."""

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from domain.users import Password

BREACHED = Password("Tr0ub4dor&3 was leaked")
UNKNOWN = Password("a passphrase nobody has leaked yet")


def sha1_hex(password: Password) -> str:
    return hashlib.sha1(password.value.encode(), usedforsecurity=False).hexdigest().upper()


@dataclass
class RangeService:
    """What the stub answers: `status`, a range holding `breached` (and padding), or nothing
    at all when `hang` is set. It records each request's path and headers."""

    breached: list[Password] = field(default_factory=list)
    status: int = 200
    hang: bool = False
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def range_body(self, prefix: str) -> str:
        hashes = [sha1_hex(password) for password in self.breached]
        lines = [f"{hash_[5:]}:1234" for hash_ in hashes if hash_.startswith(prefix)]
        # Padding, as the real service adds with Add-Padding: suffixes it does not know, count 0.
        padding = [f"{sha1_hex(UNKNOWN)[5:]}:0", f"{'0' * 35}:0"]
        return "\r\n".join([*padding, *lines])

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode()
        headers = {}
        while (line := (await reader.readline()).decode().strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        path = request_line.split()[1]
        self.requests.append((path, headers))
        if self.hang:
            await self.released.wait()
        else:
            body = self.range_body(path.rsplit("/", 1)[-1]) if self.status == 200 else "oops"
            writer.write(
                f"HTTP/1.1 {self.status} X\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode()
            )
            await writer.drain()
        writer.close()


@asynccontextmanager
async def serving_range_service() -> AsyncIterator[tuple[RangeService, str]]:
    """The stub, and the base URL to configure as PWNED_PASSWORDS_URL."""
    service = RangeService()
    server = await asyncio.start_server(service.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield service, f"http://127.0.0.1:{port}/range"
    finally:
        service.released.set()
        server.close()
        await server.wait_closed()
