"""A node cut off from the rest of the cluster (DESIGN 11): it refuses queries with error 1047,
so its instance answers 503 and is not ready, while the others serve; once the node is back,
its instance recovers without a restart.

The node is cut off with Galera's `gmcast.isolate`, which drops its group traffic: it stays up
and answers, outside the primary component. Its wsrep_sync_wait is 0 meanwhile, as on a
cluster that does not ask for causal reads, where a query on no table still answers there.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest

from tests.system.cluster.conftest import (
    PROBE_INTERVAL_SECONDS,
    Cluster,
    eventually,
    node_state,
    not_ready,
    ready,
    run_on_node,
    unique_email,
)
from tests.system.processes import bearer, login, register, tokens

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio(loop_scope="session")]

CUT_OFF_WITHIN_SECONDS = 20.0
"""Galera evicts a silent member after a few seconds (evs.suspect_timeout, 5 s by default)."""
REJOIN_WITHIN_SECONDS = 60.0
STILL_NOT_READY_PROBES = 5


async def synced(port: int) -> bool:
    return await asyncio.to_thread(node_state, port) == "Synced"


@asynccontextmanager
async def cut_off(port: int) -> AsyncIterator[None]:
    """The node on `port` out of the cluster; back in it, synced, on leaving."""
    await run_on_node(port, "SET GLOBAL wsrep_sync_wait = 0")
    await run_on_node(port, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'")
    try:
        yield
    finally:
        await run_on_node(port, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=0'")
        await run_on_node(port, "SET GLOBAL wsrep_sync_wait = 1")
        await eventually(lambda: synced(port), REJOIN_WITHIN_SECONDS, f"node {port} rejoins")


async def test_an_instance_on_a_node_cut_off_from_the_cluster_is_not_ready_until_it_rejoins(
    deployment: Cluster,
) -> None:
    async with AsyncExitStack() as stack:
        a, b, c = [
            await stack.enter_async_context(instance.client()) for instance in deployment.instances
        ]
        email = unique_email()
        assert (await register(a, email)).status_code == 201
        auth = bearer(tokens(await login(a, email))[0])
        assert await ready(c)

        async with cut_off(deployment.instances[2].node_port):
            await eventually(lambda: not_ready(c), CUT_OFF_WITHIN_SECONDS, "C not ready")
            for _ in range(STILL_NOT_READY_PROBES):
                await asyncio.sleep(PROBE_INTERVAL_SECONDS)
                assert not await ready(c)
            profile = await c.get("/users/profile", headers=auth)
            assert profile.status_code == 503, profile.text
            assert profile.json()["success"] is False
            for other in (a, b):
                assert await ready(other)
                assert (await other.get("/users/profile", headers=auth)).status_code == 200
            assert (await register(b, unique_email())).status_code == 201

        await eventually(lambda: ready(c), REJOIN_WITHIN_SECONDS, "C ready again")
        assert (await c.get("/users/profile", headers=auth)).status_code == 200
        assert (await register(c, unique_email())).status_code == 201
