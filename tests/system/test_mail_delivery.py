"""Mail out of real processes: two `authsvc serve` instances on one MySQL database delivering
to one SMTP sink (aiosmtpd in the test's event loop), and `authsvc mail deliver` as cron runs it.
"""

import asyncio
import collections
import email.message
import re
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from application.ports import EmailMessage
from infrastructure.persistence.database import open_database
from tests.databases import sqlite_url
from tests.smtp_sink import smtp_sink
from tests.system.processes import (
    AUTHSVC,
    ServerProcess,
    environment,
    free_port,
    migrated_mysql_database,
    register,
    run_authsvc,
    run_command,
    serving,
)
from tests.system.tcp_proxy import TcpProxy

RESETS = 50
DELIVERY_TIMEOUT_SECONDS = 60.0
RESET_LINK = re.compile(r"/reset-password\?token=([A-Za-z0-9_-]+)")


def smtp_environment(database_url: str, smtp_port: int, **variables: str) -> dict[str, str]:
    return environment(
        DATABASE_URL=database_url,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_TLS="none",
        MAIL_FROM="authsvc <no-reply@example.com>",
        **variables,
    )


def text_of(message: email.message.EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, email.message.EmailMessage)
    return str(body.get_content())


async def arrived(
    mails: Callable[[], list[email.message.EmailMessage]],
    count: int,
    servers: list[ServerProcess],
) -> None:
    """Waits, within a bound, until `mails()` holds `count` messages."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while len(mails()) < count:
        assert time.monotonic() < deadline, f"{len(mails())} of {count} mails arrived\n" + (
            "\n".join(server.log_tail() for server in servers)
        )
        await asyncio.sleep(0.05)


@pytest.mark.mysql
async def test_two_servers_on_one_database_send_each_of_50_reset_mails_once(
    tmp_path: Path,
) -> None:
    """50 users, registered one by one, ask for a reset at once, half through each server;
    both servers' loops race for the outbox every 200 ms."""
    emails = [f"user{number}@example.com" for number in range(RESETS)]
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(migrated_mysql_database(tmp_path))
        sink = await stack.enter_async_context(smtp_sink())
        env = smtp_environment(
            url, sink.port, MAIL_POLL_INTERVAL="200ms", AUTH_RATE_LIMIT="10000/minute"
        )
        servers = [
            await stack.enter_async_context(serving(env, tmp_path, name=name))
            for name in ("a", "b")
        ]
        clients = [await stack.enter_async_context(server.client()) for server in servers]

        for number, address in enumerate(emails):
            assert (await register(clients[number % 2], address)).status_code == 201

        async def forgot(number: int, address: str) -> None:
            response = await clients[number % 2].post(
                "/users/forgot-password", json={"email": address}
            )
            assert response.status_code == 202, response.text

        await asyncio.gather(*(forgot(*pair) for pair in enumerate(emails)))

        def resets() -> list[email.message.EmailMessage]:
            return [message for message in sink.received if RESET_LINK.search(text_of(message))]

        await arrived(resets, RESETS, servers)
        # Both servers stopped, each finishing the send it had begun: a message sent twice
        # would have arrived by now.
        for server in servers:
            assert await server.stop() == 0, server.log_tail()

    reset_mails = resets()
    assert sorted(str(message["To"]) for message in reset_mails) == sorted(emails)
    tokens = [RESET_LINK.findall(text_of(message)) for message in reset_mails]
    assert len({token for found in tokens for token in found}) == RESETS
    bodies = collections.Counter(text_of(message) for message in sink.received)
    assert max(bodies.values()) == 1, "a message arrived twice"


async def queue(database_url: str, *addresses: str) -> None:
    database = open_database(database_url)
    try:
        for address in addresses:
            message = EmailMessage(to=address, subject="Your password was changed", text="Hi.\n")
            async with database.unit_of_work() as uow:
                await uow.outbox.add(message, now=datetime.now(UTC))
    finally:
        await database.close()


async def still_queued(database_url: str, *, after: timedelta) -> int:
    database = open_database(database_url)
    try:
        async with database.unit_of_work() as uow:
            queued = await uow.outbox.claim(
                now=datetime.now(UTC) + after, limit=100, lease=timedelta(0)
            )
    finally:
        await database.close()
    return len(queued)


async def test_mail_deliver_sends_what_is_due_and_exits_0(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    async with smtp_sink() as sink:
        env = smtp_environment(url, sink.port)
        await run_authsvc("db", "upgrade", env=env, cwd=tmp_path)
        await queue(url, "ada@example.com", "grace@example.com")

        result = await run_command(*AUTHSVC, "mail", "deliver", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "authsvc: mail sent: 2, to retry: 0, given up: 0\n"
    assert sorted(str(message["To"]) for message in sink.received) == [
        "ada@example.com",
        "grace@example.com",
    ]
    assert await still_queued(url, after=timedelta(days=2)) == 0


async def test_mail_deliver_while_smtp_is_down_exits_1_and_keeps_the_mail(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path)
    env = smtp_environment(url, free_port())
    await run_authsvc("db", "upgrade", env=env, cwd=tmp_path)
    await queue(url, "ada@example.com", "grace@example.com")

    result = await run_command(*AUTHSVC, "mail", "deliver", env=env, cwd=tmp_path)

    assert result.returncode == 1
    assert result.stdout == "authsvc: mail sent: 0, to retry: 2, given up: 0\n"
    assert await still_queued(url, after=timedelta(0)) == 0
    assert await still_queued(url, after=timedelta(hours=1)) == 2


async def test_a_server_delivers_what_was_queued_before_it_started(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    async with smtp_sink() as sink:
        env = smtp_environment(url, sink.port, MAIL_POLL_INTERVAL="200ms")
        await run_authsvc("db", "upgrade", env=env, cwd=tmp_path)
        await queue(url, "ada@example.com")
        async with serving(env, tmp_path) as server:
            await arrived(lambda: sink.received, 1, [server])
            assert await server.stop() == 0, server.log_tail()

    assert [str(message["To"]) for message in sink.received] == ["ada@example.com"]
    assert await still_queued(url, after=timedelta(days=2)) == 0


async def until(condition: Callable[[], bool], failure: Callable[[], str]) -> None:
    """Waits, within a bound, for `condition()` to hold."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, failure()
        await asyncio.sleep(0.05)


@pytest.mark.mysql
async def test_the_loop_outlives_a_database_outage_logging_it_once(tmp_path: Path) -> None:
    """The database becomes a black hole (connections accepted, nothing answered): every poll
    fails after the database timeout, each on a new connection the proxy counts. One warning
    for all of them; once the database is back, the mail queued meanwhile goes out."""
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(migrated_mysql_database(tmp_path))
        direct = make_url(url)
        proxy = await stack.enter_async_context(
            TcpProxy(direct.host or "127.0.0.1", direct.port or 3306)
        )
        sink = await stack.enter_async_context(smtp_sink())
        through_proxy = direct.set(host="127.0.0.1", port=proxy.port)
        env = smtp_environment(
            through_proxy.render_as_string(hide_password=False),
            sink.port,
            MAIL_POLL_INTERVAL="200ms",
            LOG_LEVEL="INFO",
        )
        server = await stack.enter_async_context(serving(env, tmp_path))

        def log() -> str:
            return server.log_path.read_text(errors="replace")

        await proxy.black_hole()
        await until(lambda: "mail delivery failed" in log(), server.log_tail)
        connections = proxy.open_connections
        await until(lambda: proxy.open_connections >= connections + 3, server.log_tail)
        await queue(url, "ada@example.com")
        await proxy.restore()
        await until(lambda: len(sink.received) == 1, server.log_tail)
        await until(lambda: "mail delivery works again" in log(), server.log_tail)
        assert await server.stop() == 0, server.log_tail()

    assert log().count("mail delivery failed") == 1, server.log_tail()
    assert [str(message["To"]) for message in sink.received] == ["ada@example.com"]
