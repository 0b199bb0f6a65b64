"""The PasswordHasher contract, for each algorithm the service can be configured with. The tests
of `any_hasher` hold for the unit tests' fake hasher too."""

import asyncio
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Literal

import argon2
import bcrypt
import pytest

from application.ports import PasswordHasher
from domain.errors import Overloaded
from domain.users import Password, PasswordHash
from infrastructure.security.hashers import ThreadedPasswordHasher
from tests.fakes import FakeHasher

Algorithm = Literal["bcrypt", "argon2id"]
ALGORITHMS: tuple[Algorithm, ...] = ("bcrypt", "argon2id")
PASSWORD = "correct horse battery staple"

PHP_2Y_HASH = "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"
"""From the PHP manual's password_verify example, for the password "rasmuslerdorf"."""
OPENBSD_2A_HASH = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
"""A classic bcrypt test vector, for the password "U*U"."""


def make_hasher(
    algorithm: Algorithm,
    *,
    bcrypt_rounds: int = 4,
    argon2_time_cost: int = 1,
    argon2_memory_cost: int = 1024,
    max_concurrency: int | None = None,
    queue_limit: int | None = None,
    pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> ThreadedPasswordHasher:
    """Low costs: these tests are about behaviour, not strength."""
    return ThreadedPasswordHasher(
        algorithm=algorithm,
        bcrypt_rounds=bcrypt_rounds,
        argon2_time_cost=argon2_time_cost,
        argon2_memory_cost=argon2_memory_cost,
        argon2_parallelism=1,
        max_concurrency=max_concurrency,
        queue_limit=queue_limit,
        pause=pause,
    )


def bcrypt_hash(password: str, *, rounds: int = 4, prefix: bytes = b"2b") -> PasswordHash:
    salt = bcrypt.gensalt(rounds=rounds, prefix=prefix)
    return PasswordHash(bcrypt.hashpw(password.encode(), salt).decode())


@pytest.fixture(params=ALGORITHMS)
def algorithm(request: pytest.FixtureRequest) -> Algorithm:
    return request.param


@pytest.fixture
def hasher(algorithm: Algorithm) -> ThreadedPasswordHasher:
    return make_hasher(algorithm)


@pytest.fixture(params=[*ALGORITHMS, "fake"])
def any_hasher(request: pytest.FixtureRequest) -> PasswordHasher:
    return FakeHasher() if request.param == "fake" else make_hasher(request.param)


def other_algorithm(algorithm: Algorithm) -> Algorithm:
    return "argon2id" if algorithm == "bcrypt" else "bcrypt"


async def test_a_hash_verifies_with_its_password(any_hasher: PasswordHasher) -> None:
    password_hash = await any_hasher.hash(Password(PASSWORD))

    assert await any_hasher.verify(PASSWORD, password_hash)


async def test_hashes_are_made_with_the_configured_algorithm(
    hasher: ThreadedPasswordHasher, algorithm: Algorithm
) -> None:
    password_hash = await hasher.hash(Password(PASSWORD))

    assert password_hash.value.startswith("$2b$" if algorithm == "bcrypt" else "$argon2id$")


async def test_a_wrong_password_does_not_verify(any_hasher: PasswordHasher) -> None:
    password_hash = await any_hasher.hash(Password(PASSWORD))

    assert not await any_hasher.verify(PASSWORD + "!", password_hash)
    assert not await any_hasher.verify("", password_hash)


@pytest.mark.parametrize("made_by", ALGORITHMS)
async def test_hashes_of_either_algorithm_verify(
    hasher: ThreadedPasswordHasher, made_by: Algorithm
) -> None:
    password_hash = await make_hasher(made_by).hash(Password(PASSWORD))

    assert await hasher.verify(PASSWORD, password_hash)
    assert not await hasher.verify("not the password", password_hash)


@pytest.mark.parametrize(
    ("password", "password_hash"),
    [
        pytest.param(PASSWORD, bcrypt_hash(PASSWORD, rounds=10, prefix=b"2a"), id="2a-cost-10"),
        pytest.param(
            PASSWORD, PasswordHash(bcrypt_hash(PASSWORD).value.replace("$2b$", "$2y$")), id="2y"
        ),
        pytest.param("rasmuslerdorf", PasswordHash(PHP_2Y_HASH), id="php-2y"),
        pytest.param("U*U", PasswordHash(OPENBSD_2A_HASH), id="openbsd-2a"),
    ],
)
async def test_bcrypt_hashes_of_other_implementations_verify(
    hasher: ThreadedPasswordHasher, password: str, password_hash: PasswordHash
) -> None:
    assert await hasher.verify(password, password_hash)
    assert not await hasher.verify(password + "x", password_hash)


@pytest.mark.parametrize("password", ["a" * 73, "é" * 37], ids=["73-ascii", "74-bytes-in-37-chars"])
async def test_a_password_over_72_bytes_does_not_verify_against_bcrypt(
    hasher: ThreadedPasswordHasher, password: str
) -> None:
    truncated = password.encode()[:72].decode(errors="ignore")

    assert not await hasher.verify(password, bcrypt_hash(truncated))


def damaged_hashes() -> list[object]:
    bcrypt_value = bcrypt_hash(PASSWORD).value
    argon2_value = argon2.PasswordHasher(time_cost=1, memory_cost=1024).hash(PASSWORD)
    return [
        pytest.param("", id="empty"),
        pytest.param("garbage", id="garbage"),
        pytest.param(bcrypt_value[:-10], id="truncated-bcrypt"),
        pytest.param(bcrypt_value[:7] + "!" * 53, id="bcrypt-bad-alphabet"),
        pytest.param(argon2_value[:-10], id="truncated-argon2"),
        pytest.param("$argon2id$v=19$m=1,t=1,p=1$xx$yy", id="argon2-nonsense-parameters"),
        pytest.param(argon2_value.replace("$argon2id$", "$argon2i$"), id="argon2i"),
        pytest.param("$1$saltsalt$hashhashhashhashhash", id="md5-crypt"),
        pytest.param(
            "$2b$04$ééééééééééééééééééééééééééééééééééééééééééééééééééééé", id="non-ascii"
        ),
    ]


@pytest.mark.parametrize("damaged", damaged_hashes())
async def test_a_damaged_or_unknown_hash_verifies_nothing(
    any_hasher: PasswordHasher, damaged: str
) -> None:
    assert not await any_hasher.verify(PASSWORD, PasswordHash(damaged))


async def test_a_password_that_is_not_valid_unicode_verifies_nothing(
    any_hasher: PasswordHasher,
) -> None:
    password_hash = await any_hasher.hash(Password(PASSWORD))

    assert not await any_hasher.verify("\ud800", password_hash)


async def test_a_current_hash_needs_no_rehash(any_hasher: PasswordHasher) -> None:
    password_hash = await any_hasher.hash(Password(PASSWORD))

    assert not any_hasher.needs_rehash(password_hash)


async def test_a_hash_of_the_other_algorithm_needs_rehash(
    hasher: ThreadedPasswordHasher, algorithm: Algorithm
) -> None:
    password_hash = await make_hasher(other_algorithm(algorithm)).hash(Password(PASSWORD))

    assert hasher.needs_rehash(password_hash)


@pytest.mark.parametrize("damaged", damaged_hashes())
def test_an_unparseable_hash_needs_rehash(any_hasher: PasswordHasher, damaged: str) -> None:
    assert any_hasher.needs_rehash(PasswordHash(damaged))


def test_a_lower_bcrypt_cost_needs_rehash() -> None:
    hasher = make_hasher("bcrypt", bcrypt_rounds=5)

    assert hasher.needs_rehash(bcrypt_hash(PASSWORD, rounds=4))
    assert not hasher.needs_rehash(bcrypt_hash(PASSWORD, rounds=5))


@pytest.mark.parametrize("prefix", [b"2a", b"2y"])
def test_other_bcrypt_variants_at_the_current_cost_need_no_rehash(prefix: bytes) -> None:
    variant = bcrypt_hash(PASSWORD, rounds=4).value.replace("$2b$", f"${prefix.decode()}$")

    assert not make_hasher("bcrypt", bcrypt_rounds=4).needs_rehash(PasswordHash(variant))


@pytest.mark.parametrize(
    ("time_cost", "memory_cost"), [(1, 2048), (2, 1024)], ids=["lower-time", "lower-memory"]
)
async def test_weaker_argon2_parameters_need_rehash(time_cost: int, memory_cost: int) -> None:
    hasher = make_hasher("argon2id", argon2_time_cost=2, argon2_memory_cost=2048)
    weaker = make_hasher("argon2id", argon2_time_cost=time_cost, argon2_memory_cost=memory_cost)

    assert hasher.needs_rehash(await weaker.hash(Password(PASSWORD)))


@pytest.mark.parametrize(
    "password",
    ["correct horse", "", "x" * 100, "a" * 73, "é" * 37, "\ud800"],
    ids=["normal", "empty", "100-chars", "73-bytes", "74-bytes-in-37-chars", "lone-surrogate"],
)
async def test_verify_dummy_never_raises(any_hasher: PasswordHasher, password: str) -> None:
    await any_hasher.verify_dummy(password)


LIBRARY_CALLS = {
    ("bcrypt", "hash"): (bcrypt, "hashpw"),
    ("bcrypt", "verify"): (bcrypt, "checkpw"),
    ("argon2id", "hash"): (argon2.PasswordHasher, "hash"),
    ("argon2id", "verify"): (argon2.PasswordHasher, "verify"),
}


@pytest.mark.parametrize("operation", ["hash", "verify"])
async def test_the_event_loop_keeps_running_while_a_password_is_hashed(
    hasher: ThreadedPasswordHasher,
    algorithm: Algorithm,
    operation: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The library call waits until the loop has run other coroutines: on the loop, it would
    wait in vain and fail; in a thread, it goes on as soon as the loop has ticked."""
    stored = await hasher.hash(Password(PASSWORD))
    loop_ticked = threading.Event()
    owner, name = LIBRARY_CALLS[(algorithm, operation)]
    library_call = getattr(owner, name)

    def held_until_the_loop_ticks(*args: object, **kwargs: object) -> object:
        assert loop_ticked.wait(timeout=5), "the event loop was blocked"
        return library_call(*args, **kwargs)

    monkeypatch.setattr(owner, name, held_until_the_loop_ticks)
    task = asyncio.create_task(
        hasher.hash(Password(PASSWORD)) if operation == "hash" else hasher.verify(PASSWORD, stored)
    )
    ticks = 0
    while not task.done():
        ticks += 1
        if ticks == 3:
            loop_ticked.set()
        await asyncio.sleep(0)

    assert await task


async def test_no_more_threads_hash_at_once_than_max_concurrency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hashes are held until two run; a third would enter during the pause if it could."""
    hasher = make_hasher("bcrypt", max_concurrency=2)
    two_running = threading.Event()
    release = threading.Event()
    lock = threading.Lock()
    running = peak = 0

    def held_hashpw(password: bytes, salt: bytes) -> bytes:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            if running == 2:
                two_running.set()
        release.wait(timeout=5)
        with lock:
            running -= 1
        return b"$2b$04$" + b"." * 53

    monkeypatch.setattr(bcrypt, "hashpw", held_hashpw)
    hashing = asyncio.gather(*(hasher.hash(Password(PASSWORD)) for _ in range(4)))
    assert await asyncio.to_thread(two_running.wait, 5)
    await asyncio.sleep(0.05)
    release.set()
    await hashing

    assert peak == 2


class HeldVerifications:
    """Holds the library's verify calls until released."""

    def __init__(self, algorithm: Algorithm, monkeypatch: pytest.MonkeyPatch) -> None:
        self.released = threading.Event()
        owner, name = LIBRARY_CALLS[(algorithm, "verify")]
        library_call = getattr(owner, name)

        def held(*args: object, **kwargs: object) -> object:
            self.released.wait(timeout=10)
            return library_call(*args, **kwargs)

        monkeypatch.setattr(owner, name, held)


async def test_work_beyond_the_queue_limit_is_refused_at_once(
    algorithm: Algorithm, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = make_hasher(algorithm, max_concurrency=1, queue_limit=2)
    stored = await hasher.hash(Password(PASSWORD))
    held = HeldVerifications(algorithm, monkeypatch)
    running_and_waiting = [asyncio.create_task(hasher.verify(PASSWORD, stored)) for _ in range(2)]
    await asyncio.sleep(0)  # both take their places in the queue

    refusals = []
    for one_more in (
        hasher.verify(PASSWORD, stored),
        hasher.verify_dummy(PASSWORD),
        hasher.hash(Password(PASSWORD)),
    ):
        with pytest.raises(Overloaded) as refused:
            await one_more
        refusals.append(refused.value.retry_after_seconds)

    assert refusals == [1, 1, 1]
    with pytest.raises(Overloaded):
        hasher.check_room()
    held.released.set()
    assert await asyncio.gather(*running_and_waiting) == [True, True]
    hasher.check_room()
    assert await hasher.verify(PASSWORD, stored)


async def test_work_cancelled_while_waiting_gives_its_place_back(
    algorithm: Algorithm, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = make_hasher(algorithm, max_concurrency=1, queue_limit=2)
    stored = await hasher.hash(Password(PASSWORD))
    held = HeldVerifications(algorithm, monkeypatch)
    running = asyncio.create_task(hasher.verify(PASSWORD, stored))
    waiting = asyncio.create_task(hasher.verify(PASSWORD, stored))
    await asyncio.sleep(0)

    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    next_one = asyncio.create_task(hasher.verify(PASSWORD, stored))
    await asyncio.sleep(0)
    held.released.set()

    assert await running
    assert await next_one


class RecordedPauses(list[float]):
    """Stands in for asyncio.sleep: the padding asked for, not waited."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


COSTLY_SETTINGS: dict[Algorithm, dict[str, int]] = {
    "bcrypt": {"bcrypt_rounds": 12},
    "argon2id": {"argon2_time_cost": 3, "argon2_memory_cost": 65536},
}
"""Settings a hundred times costlier than a cost-4 bcrypt hash (about 250 and 150 ms), so that
even a busy machine cannot make the quick check take as long."""


@pytest.mark.parametrize("stored", ["cheaper-bcrypt", "damaged"])
async def test_a_failed_verification_of_a_quicker_hash_is_padded(
    algorithm: Algorithm, stored: str
) -> None:
    pauses = RecordedPauses()
    hasher = make_hasher(algorithm, pause=pauses, **COSTLY_SETTINGS[algorithm])
    quick_hash = bcrypt_hash(PASSWORD, rounds=4) if stored != "damaged" else PasswordHash("x")

    assert not await hasher.verify("not the password", quick_hash)

    [padding] = pauses
    assert padding > 0


async def test_nothing_else_is_padded(algorithm: Algorithm) -> None:
    pauses = RecordedPauses()
    hasher = make_hasher(algorithm, bcrypt_rounds=5, pause=pauses)
    current_hash = await hasher.hash(Password(PASSWORD))

    assert await hasher.verify(PASSWORD, bcrypt_hash(PASSWORD, rounds=4))
    assert not await hasher.verify("not the password", current_hash)
    assert await hasher.verify(PASSWORD, current_hash)
    await hasher.verify_dummy("not the password")

    assert pauses == []


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own priority is Linux's")
async def test_hashing_threads_run_below_the_event_loops_priority(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasher = make_hasher("bcrypt")
    niceness_seen = []
    hashpw = bcrypt.hashpw

    def recording_hashpw(password: bytes, salt: bytes) -> bytes:
        niceness_seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return hashpw(password, salt)

    monkeypatch.setattr(bcrypt, "hashpw", recording_hashpw)
    await hasher.hash(Password(PASSWORD))

    assert niceness_seen[0] > os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
