"""Losing a node (DESIGN 7 and 11): its instance answers 503 at once and is not ready while the
other two serve; the node rejoins with an incremental state transfer, its instance recovers
without a restart, and every registration acknowledged with a 201 before, during and after is
on every node.
"""

import asyncio
import time
from contextlib import AsyncExitStack

import httpx
import pytest

from tests.system.cluster.conftest import (
    Cluster,
    cluster_script,
    eventually,
    not_ready,
    ready,
    unique_email,
    users_on_each_node,
)
from tests.system.processes import register

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio(loop_scope="session")]

REGISTRATIONS_PER_INSTANCE = 5
OUTAGE_ANSWER_SECONDS = 5.0
"""How long a request to the instance of a stopped node may take to get its 503: the outage
bound of the README (about 2 s), with room for a loaded machine."""
STOPPED_WITHIN_SECONDS = 30.0
RECOVERED_WITHIN_SECONDS = 30.0


async def register_on(clients: list[httpx.AsyncClient]) -> dict[int, list[tuple[str, int]]]:
    """REGISTRATIONS_PER_INSTANCE new emails through each client, all at once: for each
    client's index, (email, status) of its registrations."""

    async def one(index: int) -> tuple[int, str, int]:
        email = unique_email()
        return index, email, (await register(clients[index], email)).status_code

    results = await asyncio.gather(
        *(one(index) for index in range(len(clients)) for _ in range(REGISTRATIONS_PER_INSTANCE))
    )
    by_client: dict[int, list[tuple[str, int]]] = {index: [] for index in range(len(clients))}
    for index, email, status in results:
        by_client[index].append((email, status))
    return by_client


async def test_a_stopped_node_loses_no_acknowledged_registration_and_its_instance_recovers(
    deployment: Cluster,
) -> None:
    acknowledged: list[str] = []

    def acknowledge(by_client: dict[int, list[tuple[str, int]]], clients: range) -> None:
        for index in clients:
            statuses = [status for _, status in by_client[index]]
            assert statuses == [201] * REGISTRATIONS_PER_INSTANCE, (index, statuses)
            acknowledged.extend(email for email, _ in by_client[index])

    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(instance.client()) for instance in deployment.instances
        ]
        c = clients[2]
        acknowledge(await register_on(clients), range(3))

        await asyncio.to_thread(cluster_script, "stop-node", "3")
        await eventually(lambda: not_ready(c), STOPPED_WITHIN_SECONDS, "C not ready")
        started = time.monotonic()
        during = await register_on(clients)
        assert time.monotonic() - started < OUTAGE_ANSWER_SECONDS
        assert {status for _, status in during[2]} == {503}, during[2]
        acknowledge(during, range(2))

        await asyncio.to_thread(cluster_script, "up")
        await eventually(lambda: ready(c), RECOVERED_WITHIN_SECONDS, "C ready again")
        acknowledge(await register_on(clients), range(3))

    counts = await users_on_each_node(deployment, acknowledged)
    assert len(acknowledged) == REGISTRATIONS_PER_INSTANCE * 8
    for node_counts in counts:
        assert node_counts == dict.fromkeys(acknowledged, 1)
