"""Three authsvc instances, one per node of the loopback Galera cluster of deploy/cluster
(DESIGN 11), for the whole test session.

The cluster is the one `make cluster-up` leaves: nodes on 127.0.0.1:3311-3313, the Redis that
the Sentinels on 26379-26381 name as master `authsvc`. A running cluster is used as it is.
Otherwise the tests skip, unless `REQUIRE_CLUSTER=1`: then the session starts the cluster with
deploy/cluster/cluster.sh (and stops it again at the end), and fails if it cannot.

The instances share one database made for the session (dropped at its end), so each test
registers emails of its own (`unique_email()`).
"""

import asyncio
import os
import secrets
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import redis
from sqlalchemy import bindparam, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.databases import fresh_mysql_database
from tests.system.processes import LOOPBACK, ServerProcess, environment, run_authsvc, serving

CLUSTER_SCRIPT = Path(__file__).parents[3] / "deploy" / "cluster" / "cluster.sh"
NODE_PORTS = (3311, 3312, 3313)
SENTINEL_PORTS = (26379, 26380, 26381)
SENTINEL_MASTER = "authsvc"
CLUSTER_START_TIMEOUT_SECONDS = 300
PROBE_TIMEOUT_SECONDS = 2
PROBE_INTERVAL_SECONDS = 0.5


def node_url(port: int, database: str | None = None) -> URL:
    return URL.create("mysql+asyncmy", "root", None, LOOPBACK, port, database)


def mariadb(port: int, statement: str) -> str | None:
    """What the `mariadb` client prints for `statement` on the node at `port` (tab-separated,
    no headers), or None when the node does not answer or refuses it. The client, rather than
    a driver, because it ends a session without a statement a node out of the cluster refuses."""
    command = (
        "mariadb", "--no-defaults", "--protocol=tcp", f"-h{LOOPBACK}", f"-P{port}", "-uroot",
        f"--connect-timeout={PROBE_TIMEOUT_SECONDS}", "--batch", "--skip-column-names",
        "-e", statement,
    )  # fmt: skip
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS * 5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def node_state(port: int) -> str | None:
    """The node's wsrep_local_state_comment ("Synced" when it serves), or None when its SQL
    port does not answer."""
    status = mariadb(port, "SHOW STATUS LIKE 'wsrep_local_state_comment'")
    return status.partition("\t")[2].strip() or None if status else None


def redis_master() -> tuple[str, int] | None:
    """The Redis master the Sentinels agree on, or None when none answers."""
    for port in SENTINEL_PORTS:
        sentinel = redis.Redis(LOOPBACK, port, socket_timeout=PROBE_TIMEOUT_SECONDS)
        try:
            address = sentinel.sentinel_get_master_addr_by_name(SENTINEL_MASTER)
        except redis.RedisError:
            continue
        finally:
            sentinel.close()
        if address:
            host, port_ = address
            return (host.decode() if isinstance(host, bytes) else host), int(port_)
    return None


def why_not_running() -> str | None:
    """None when every node is synced and the Sentinels name a master; else what is missing."""
    states = {port: node_state(port) for port in NODE_PORTS}
    unsynced = [f"{port}: {state or 'down'}" for port, state in states.items() if state != "Synced"]
    if unsynced:
        return f"Galera nodes not synced ({', '.join(unsynced)})"
    if redis_master() is None:
        return f"no Sentinel on {LOOPBACK}:{SENTINEL_PORTS[0]}-{SENTINEL_PORTS[-1]} names a master"
    return None


def cluster_script(*arguments: str) -> None:
    """Runs `deploy/cluster/cluster.sh arguments...` to its end; fails the test if it fails."""
    result = subprocess.run(
        [str(CLUSTER_SCRIPT), *arguments],
        capture_output=True,
        text=True,
        timeout=CLUSTER_START_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"cluster.sh {' '.join(arguments)} failed:\n{result.stdout}{result.stderr}")


@pytest.fixture(scope="session")
def cluster() -> Iterator[None]:
    """A running cluster: the one found, or under REQUIRE_CLUSTER=1 one started (and stopped)."""
    reason = why_not_running()
    if reason is None:
        yield
        return
    if os.environ.get("REQUIRE_CLUSTER") != "1":
        pytest.skip(f"no loopback cluster ({reason}): run `make cluster-up` or REQUIRE_CLUSTER=1")
    cluster_script("up")
    reason = why_not_running()
    if reason is not None:
        pytest.fail(f"cluster.sh up left the cluster unusable: {reason}")
    try:
        yield
    finally:
        cluster_script("down")


@dataclass(frozen=True)
class Instance:
    """One authsvc process and the Galera node it runs on."""

    server: ServerProcess
    node_port: int

    def client(self) -> httpx.AsyncClient:
        return self.server.client()


@dataclass(frozen=True)
class Cluster:
    instances: tuple[Instance, Instance, Instance]
    database: str

    def node_url(self, port: int) -> URL:
        return node_url(port, self.database)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def deployment(
    cluster: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    """A fresh database on the cluster, migrated through node 1, and one instance on each
    node, all with one pair of secrets and the Sentinels for throttling."""
    directory = tmp_path_factory.mktemp("cluster")
    async with fresh_mysql_database(node_url(NODE_PORTS[0])) as first_node_url:
        database = first_node_url.rsplit("/", 1)[1]
        env = environment(
            REDIS_SENTINELS=",".join(f"{LOOPBACK}:{port}" for port in SENTINEL_PORTS),
            REDIS_SENTINEL_MASTER=SENTINEL_MASTER,
            AUTH_RATE_LIMIT="100000/minute",
            LOGIN_MAX_FAILURES="1000",
        )
        await run_authsvc(
            "db", "upgrade", env={**env, "DATABASE_URL": first_node_url}, cwd=directory
        )
        async with AsyncExitStack() as stack:
            # Started side by side: each takes seconds on a busy machine. A failed start
            # cancels the others, and the stack stops those already up.
            async with asyncio.TaskGroup() as group:
                starts = [
                    group.create_task(
                        stack.enter_async_context(
                            serving(
                                {
                                    **env,
                                    "DATABASE_URL": node_url(port, database).render_as_string(),
                                },
                                directory,
                                name=f"node{port}",
                            )
                        )
                    )
                    for port in NODE_PORTS
                ]
            a, b, c = (
                Instance(start.result(), port)
                for start, port in zip(starts, NODE_PORTS, strict=True)
            )
            yield Cluster((a, b, c), database)


def unique_email() -> str:
    return f"ada.{secrets.token_hex(6)}@example.com"


async def users_on_each_node(cluster: Cluster, emails: Collection[str]) -> list[Counter[str]]:
    """For each node, how many rows it holds for each of `emails`, read on the node itself."""
    statement = text("SELECT email FROM users WHERE email IN :emails").bindparams(
        bindparam("emails", expanding=True)
    )
    counts = []
    for port in NODE_PORTS:
        engine = create_async_engine(cluster.node_url(port), poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(statement, {"emails": list(emails)})
                counts.append(Counter(email for (email,) in rows))
        finally:
            await engine.dispose()
    return counts


async def run_on_node(port: int, statement: str) -> None:
    """One administrative statement on a node, such as a change of its provider options."""
    output = await asyncio.to_thread(mariadb, port, statement)
    assert output is not None, f"{statement} failed on {LOOPBACK}:{port}"


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    """Asks `check` every PROBE_INTERVAL_SECONDS until it is true; fails after `within`."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {within:g} s"
        await asyncio.sleep(PROBE_INTERVAL_SECONDS)


async def ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/health/ready")).status_code == 200


async def not_ready(client: httpx.AsyncClient) -> bool:
    return not await ready(client)
