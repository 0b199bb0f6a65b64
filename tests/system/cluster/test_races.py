"""The exact race outcomes of DESIGN 3 and 4 across the nodes of a Galera cluster (DESIGN 11).

Requests are spread over three instances, each on its own node, so that the racing writes
meet in Galera's certification rather than in one server's row locks. No request ever gets
a 5xx: a lost race is a 401 or a 409, never an outage.
"""

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import httpx
import pytest
import pytest_asyncio

from tests.system.cluster.conftest import Cluster, unique_email, users_on_each_node
from tests.system.processes import PASSWORD, bearer, login, register, tokens

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio(loop_scope="session")]

Clients = tuple[httpx.AsyncClient, httpx.AsyncClient, httpx.AsyncClient]

REGISTRATIONS = 30
REFRESHES = 10
PATCH_ROUNDS = 5
STORM_SESSIONS = 6
STORM_ROUNDS = 8
STORM_TIMEOUT_SECONDS = 90
NEW_PASSWORD = "a new horse battery staple"


@pytest_asyncio.fixture(loop_scope="session")
async def clients(deployment: Cluster) -> AsyncIterator[Clients]:
    """A client of each instance, A on node 1, B on node 2, C on node 3."""
    async with AsyncExitStack() as stack:
        a, b, c = [
            await stack.enter_async_context(instance.client()) for instance in deployment.instances
        ]
        yield a, b, c


def no_server_errors(responses: list[httpx.Response]) -> None:
    errors = [
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        for response in responses
        if response.status_code >= 500
    ]
    assert not errors, f"{len(errors)} of {len(responses)} answered 5xx:\n" + "\n".join(errors[:10])


async def test_concurrent_registrations_of_one_email_on_three_nodes_make_one_account(
    deployment: Cluster, clients: Clients
) -> None:
    email = unique_email()
    spread = itertools.cycle(clients)

    responses = await asyncio.gather(
        *(register(next(spread), email, name=f"Ada {n}") for n in range(REGISTRATIONS))
    )

    no_server_errors(responses)
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (REGISTRATIONS - 1), statuses
    assert [counts[email] for counts in await users_on_each_node(deployment, [email])] == [1] * 3


async def test_concurrent_refreshes_of_one_token_on_three_nodes_have_one_winner(
    clients: Clients,
) -> None:
    a, b, c = clients
    email = unique_email()
    assert (await register(a, email)).status_code == 201
    _, refresh_token = tokens(await login(a, email))
    spread = itertools.cycle(clients)

    responses = await asyncio.gather(
        *(
            next(spread).post("/users/refresh-token", json={"refreshToken": refresh_token})
            for _ in range(REFRESHES)
        )
    )

    no_server_errors(responses)
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [401] * (REFRESHES - 1), statuses
    access_token, new_refresh_token = tokens(next(r for r in responses if r.status_code == 200))
    assert (await b.get("/users/profile", headers=bearer(access_token))).status_code == 200
    again = await c.post("/users/refresh-token", json={"refreshToken": new_refresh_token})
    assert again.status_code == 200, again.text


async def test_a_logout_on_one_node_holds_on_the_others_at_once(clients: Clients) -> None:
    a, b, c = clients
    email = unique_email()
    assert (await register(a, email)).status_code == 201
    access_token, _ = tokens(await login(a, email))

    assert (await a.post("/users/logout", headers=bearer(access_token))).status_code == 200

    for other in (b, c):
        assert (await other.get("/users/profile", headers=bearer(access_token))).status_code == 401


async def test_reuse_on_one_node_of_a_token_rotated_on_another_revokes_the_session_everywhere(
    clients: Clients,
) -> None:
    a, b, c = clients
    email = unique_email()
    assert (await register(a, email)).status_code == 201
    _, old_refresh_token = tokens(await login(a, email))
    # Two rotations, so that the old token is not the one the grace window forgives.
    _, next_refresh_token = tokens(
        await a.post("/users/refresh-token", json={"refreshToken": old_refresh_token})
    )
    new_access_token, new_refresh_token = tokens(
        await a.post("/users/refresh-token", json={"refreshToken": next_refresh_token})
    )

    reuse = await b.post("/users/refresh-token", json={"refreshToken": old_refresh_token})

    assert reuse.status_code == 401
    after = await c.post("/users/refresh-token", json={"refreshToken": new_refresh_token})
    assert after.status_code == 401
    for client in clients:
        profile = await client.get("/users/profile", headers=bearer(new_access_token))
        assert profile.status_code == 401


async def test_concurrent_updates_of_different_fields_on_two_nodes_both_survive(
    clients: Clients,
) -> None:
    a, b, c = clients
    email = unique_email()
    assert (await register(a, email)).status_code == 201
    auth = bearer(tokens(await login(a, email))[0])

    for round_ in range(PATCH_ROUNDS):
        name, bio = f"Ada {round_}", f"Analyst, round {round_}"
        responses = await asyncio.gather(
            a.patch("/users/update-profile", json={"name": name}, headers=auth),
            b.patch("/users/update-profile", json={"bio": bio}, headers=auth),
        )
        no_server_errors(list(responses))
        assert [response.status_code for response in responses] == [200, 200]
        profile = (await c.get("/users/profile", headers=auth)).json()["data"]
        assert (profile["name"], profile["bio"]) == (name, bio)


async def test_a_storm_of_conflicting_writes_on_one_user_through_three_nodes_never_fails(
    clients: Clients,
) -> None:
    """Profile updates, refreshes and logins of one user on every node at once, and a password
    change in the middle of them, all writing the same user and session rows. Each may lose a
    race (401 once the password change has ended its session) but none may be an outage."""
    a, b, _ = clients
    email = unique_email()
    assert (await register(a, email)).status_code == 201
    sessions = [tokens(await login(clients[n % 3], email)) for n in range(STORM_SESSIONS)]
    responses: list[httpx.Response] = []
    storm_under_way = asyncio.Event()

    async def send(request: Awaitable[httpx.Response]) -> httpx.Response:
        response = await request
        responses.append(response)
        if len(responses) >= STORM_SESSIONS * 3:
            storm_under_way.set()
        return response

    async def refresh_chain(n: int) -> None:
        refresh_token = sessions[n][1]
        for round_ in range(STORM_ROUNDS):
            client = clients[(n + round_) % 3]
            response = await send(
                client.post("/users/refresh-token", json={"refreshToken": refresh_token})
            )
            if response.status_code != 200:
                return
            refresh_token = tokens(response)[1]

    async def updates(n: int) -> None:
        auth = bearer(sessions[n][0])
        for round_ in range(STORM_ROUNDS):
            client = clients[(n + round_ + 1) % 3]
            field = ("name", "bio", "contact")[round_ % 3]
            value = f"{round_}{n}" if field == "contact" else f"Ada {n}.{round_}"
            await send(client.patch("/users/update-profile", json={field: value}, headers=auth))

    async def logins(n: int) -> None:
        for round_ in range(STORM_ROUNDS):
            await send(login(clients[(n + round_ + 2) % 3], email))

    async def change_password() -> None:
        await storm_under_way.wait()
        await send(
            b.patch(
                "/users/change-password",
                json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
                headers=bearer(sessions[0][0]),
            )
        )

    tasks: list[Callable[[], Awaitable[None]]] = [change_password]
    for n in range(1, STORM_SESSIONS):
        tasks += [
            lambda n=n: refresh_chain(n),
            lambda n=n: updates(n),
            lambda n=n: logins(n),
        ]
    async with asyncio.timeout(STORM_TIMEOUT_SECONDS):
        await asyncio.gather(*(task() for task in tasks))

    no_server_errors(responses)
    changed = next(r for r in responses if r.request.url.path == "/users/change-password")
    assert changed.status_code == 200, changed.text
    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {200, 401}, statuses
    assert statuses[200] > 0, statuses
    for client in clients:
        assert (await login(client, email, NEW_PASSWORD)).status_code == 200
        assert (await login(client, email)).status_code == 401
