"""A TCP relay to MySQL that records, as runnable SQL, every statement its clients send.

Whatever the persistence adapter does, its statements pass here as text queries (COM_QUERY)
or as prepared statements (COM_STMT_PREPARE once per connection, then COM_STMT_EXECUTE with
binary parameters). Both are recorded while `path` is set, the second with its parameters put
back in place of the placeholders, so that each can be EXPLAINed as it ran.

Only the MySQL protocol's framing is relied on: every packet is a 3-byte length and a sequence
id, and a command is the first packet of a sequence. TLS and compression must be off (asyncmy's
defaults). One thread per direction of each connection, all ending with the connection or with
the recorder.
"""

import socket
import struct
import threading
from contextlib import suppress
from dataclasses import dataclass, field

COM_QUERY, COM_STMT_PREPARE, COM_STMT_EXECUTE = 0x03, 0x16, 0x17
INTEGER_SIZES = {0x01: 1, 0x02: 2, 0x03: 4, 0x09: 4, 0x08: 8, 0x0D: 2}  # TINY..LONGLONG, YEAR
FLOATS = {0x04: "<f", 0x05: "<d"}
DATES = {0x07, 0x0A, 0x0C}  # TIMESTAMP, DATE, DATETIME
TIME = 0x0B
LAST_PREPARED = 0xFFFFFFFF
"""MariaDB's statement id for "the one prepared last on this connection"."""


@dataclass
class Statement:
    text: str
    parameters: int
    types: list[int] = field(default_factory=list)


@dataclass
class Connection:
    pending: str | None = None  # the text of a prepare awaiting its reply
    statements: dict[int, Statement] = field(default_factory=dict)
    last: int = LAST_PREPARED


class StatementRecorder:
    def __init__(self, mysql_host: str, mysql_port: int) -> None:
        self.upstream = (mysql_host, mysql_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.path: str | None = None
        self.statements: list[tuple[str, str]] = []  # (path, SQL with its values)
        self.errors: list[str] = []  # packets that could not be read: the record is incomplete
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            state = Connection()
            for source, sink, parse in (
                (client, server, self._from_client),
                (server, client, self._from_server),
            ):
                threading.Thread(
                    target=self._pump, args=(source, sink, state, parse), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, state: Connection, parse) -> None:
        buffer = bytearray()
        with suppress(OSError):
            while data := source.recv(65536):
                # Parsed before it is passed on: a prepare's reply must be known before the
                # client can answer it with an execute.
                buffer += data
                while len(buffer) >= 4 and len(buffer) >= 4 + (size := _length(buffer)):
                    try:
                        parse(state, buffer[3], bytes(buffer[4 : 4 + size]))
                    except (KeyError, IndexError, ValueError, struct.error) as error:
                        self.errors.append(f"{self.path}: {error!r}")
                    del buffer[: 4 + size]
                sink.sendall(data)
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def _from_client(self, state: Connection, sequence: int, payload: bytes) -> None:
        if sequence != 0 or not payload:
            return
        command = payload[0]
        if command == COM_QUERY and self.path:
            self.statements.append((self.path, payload[1:].decode("utf-8", "replace")))
        elif command == COM_STMT_PREPARE:
            state.pending = payload[1:].decode("utf-8", "replace")
        elif command == COM_STMT_EXECUTE and self.path:
            statement_id = int.from_bytes(payload[1:5], "little")
            statement = state.statements[
                state.last if statement_id == LAST_PREPARED else statement_id
            ]
            values = _parameters(payload, statement)
            self.statements.append((self.path, _bind(statement.text, values)))

    def _from_server(self, state: Connection, sequence: int, payload: bytes) -> None:
        # The first reply packet to a prepare: 0x00, statement id, columns, parameters.
        if state.pending is not None and sequence == 1:
            if payload[:1] == b"\x00":
                statement_id = int.from_bytes(payload[1:5], "little")
                parameters = int.from_bytes(payload[7:9], "little")
                state.statements[statement_id] = Statement(state.pending, parameters)
                state.last = statement_id
            state.pending = None


def _length(buffer: bytearray) -> int:
    return int.from_bytes(buffer[:3], "little")


def _parameters(payload: bytes, statement: Statement) -> list[str]:
    """The values of a COM_STMT_EXECUTE as SQL literals, in placeholder order."""
    count = statement.parameters
    position = 10  # command, statement id (4), flags, iteration count (4)
    nulls = payload[position : position + (count + 7) // 8]
    position += (count + 7) // 8
    if count and payload[position] == 1:  # types sent (else those of the previous execute)
        statement.types = [payload[position + 1 + 2 * i] for i in range(count)]
        position += 2 * count
    position += 1 if count else 0
    values = []
    for index, kind in enumerate(statement.types[:count]):
        if nulls[index // 8] >> (index % 8) & 1:
            values.append("NULL")
        elif kind in INTEGER_SIZES:
            size = INTEGER_SIZES[kind]
            values.append(str(int.from_bytes(payload[position : position + size], "little")))
            position += size
        elif kind in FLOATS:
            (number,) = struct.unpack_from(FLOATS[kind], payload, position)
            values.append(repr(number))
            position += struct.calcsize(FLOATS[kind])
        elif kind in DATES or kind == TIME:
            size = payload[position]
            values.append(_temporal(kind, payload[position + 1 : position + 1 + size]))
            position += 1 + size
        else:  # every other type travels as a length-encoded string
            size, position = _length_encoded(payload, position)
            values.append(_quoted(payload[position : position + size].decode("utf-8", "replace")))
            position += size
    return values


def _temporal(kind: int, part: bytes) -> str:
    """A binary DATE, DATETIME, TIMESTAMP or TIME, whose trailing zero fields may be left out."""
    if kind == TIME:
        part = part.ljust(12, b"\0")
        sign = "-" if part[0] else ""
        hours = int.from_bytes(part[1:5], "little") * 24 + part[5]
        micro = int.from_bytes(part[8:12], "little")
        return f"'{sign}{hours:02d}:{part[6]:02d}:{part[7]:02d}.{micro:06d}'"
    part = part.ljust(11, b"\0")
    year, micro = int.from_bytes(part[0:2], "little"), int.from_bytes(part[7:11], "little")
    month, day, hour, minute, second = part[2:7]
    return f"'{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}.{micro:06d}'"


def _length_encoded(payload: bytes, position: int) -> tuple[int, int]:
    first = payload[position]
    if first < 0xFB:
        return first, position + 1
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}[first]
    return int.from_bytes(
        payload[position + 1 : position + 1 + size], "little"
    ), position + 1 + size


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _bind(text: str, values: list[str]) -> str:
    """The statement with each `?` outside quotes replaced by its value."""
    out, quote, remaining = [], None, iter(values)
    for character in text:
        if quote:
            quote = None if character == quote else quote
        elif character in "'\"`":
            quote = character
        elif character == "?":
            character = next(remaining, "?")
        out.append(character)
    return "".join(out)
