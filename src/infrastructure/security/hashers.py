"""Password hashing with bcrypt or argon2id, in worker threads so a login never stalls the loop."""

import asyncio
import os
import re
import secrets
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Literal, TypeVar

import argon2
import bcrypt
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from application.ports import PasswordHasher
from domain.errors import Overloaded
from domain.users import Password, PasswordHash

_BCRYPT_PREFIXES: Final = ("$2a$", "$2b$", "$2y$")
"""`$2a$` and `$2y$` come from other implementations (Node's bcryptjs, PHP); all three verify."""
_BCRYPT_PATTERN: Final = re.compile(r"\$2[aby]\$(?P<cost>\d\d)\$[./A-Za-z0-9]{53}")
_ARGON2ID_PREFIX: Final = "$argon2id$"
QUEUE_LIMIT_PER_THREAD: Final = 4
"""The default `queue_limit`: four hashes per thread, so a full queue is waited out in about
four hashes' time (a second at bcrypt cost 12) rather than piling up without end."""
RETRY_AFTER_SECONDS: Final = 1
"""A full queue frees a place within one hash's time (a quarter second at bcrypt cost 12)."""
HASHING_NICENESS: Final = 10
"""Added to a hashing thread's niceness (up to MAX_NICENESS): lowering one's own priority
needs no privilege."""
MAX_NICENESS: Final = 19
VERIFICATION_SAMPLES: Final = 31
"""How many recent verifications of the current settings give their usual time."""

_T = TypeVar("_T")


class ThreadedPasswordHasher(PasswordHasher):
    """Hashes with the configured algorithm and verifies both, so a database of the Node
    service keeps working and its hashes are upgraded on login.

    - Every hash and verification runs in a dedicated pool of `max_concurrency` threads
      (bcrypt and argon2 release the GIL). A pool rather than an asyncio.Semaphore: it caps
      the whole process, whatever event loop calls it (a test client runs its own loop).
    - At most `queue_limit` of them run or wait at once; one more is refused at once with
      Overloaded, so a flood of logins is shed instead of queued for ever, and the event loop
      stays free for the rest of the API.
    - Argon2id defaults are OWASP's minimum (m=19 MiB, t=2, p=1, about 25 ms).
    - A hash is due for rehashing whenever it was not made with the current algorithm and
      parameters, in either direction: lowering a cost on purpose takes effect too.
    - A failed verification against such a hash, when it was quicker than one of the current
      settings (an adopted `$2a$10$` hash under cost 12, bcrypt under argon2id), is padded up
      to the usual time of a current one: the median of the last VERIFICATION_SAMPLES, the
      dummy's included. So a wrong password for such an account takes as long as one for an
      unknown email. The padding waits on the event loop, holding no thread. A stored hash
      slower than the current settings cannot be padded down: it stands out until its owner
      logs in and it is upgraded.
    """

    def __init__(
        self,
        *,
        algorithm: Literal["bcrypt", "argon2id"],
        bcrypt_rounds: int = 12,
        argon2_time_cost: int = 2,
        argon2_memory_cost: int = 19456,
        argon2_parallelism: int = 1,
        max_concurrency: int | None = None,
        queue_limit: int | None = None,
        pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`argon2_memory_cost` is in KiB; `max_concurrency` defaults to the number of CPUs,
        `queue_limit` to QUEUE_LIMIT_PER_THREAD times that. `pause` waits out the padding."""
        if algorithm not in ("bcrypt", "argon2id"):
            raise ValueError(f"unknown password hashing algorithm: {algorithm!r}")
        self._algorithm = algorithm
        self._bcrypt_rounds = bcrypt_rounds
        self._argon2 = argon2.PasswordHasher(
            time_cost=argon2_time_cost,
            memory_cost=argon2_memory_cost,
            parallelism=argon2_parallelism,
        )
        threads = max_concurrency or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(
            max_workers=threads,
            thread_name_prefix="password-hasher",
            initializer=_yield_to_the_event_loop,
        )
        self._places = threading.BoundedSemaphore(queue_limit or QUEUE_LIMIT_PER_THREAD * threads)
        self._pause = pause
        started = time.perf_counter()
        self._dummy_hash = self._hash(secrets.token_urlsafe(16))
        # Hashing and verifying cost the same: the dummy's making is the first sample.
        self._current_verifications = deque(
            [time.perf_counter() - started], maxlen=VERIFICATION_SAMPLES
        )

    async def hash(self, password: Password) -> PasswordHash:
        return PasswordHash(await self._run(self._hash, password.value))

    async def verify(self, password: str, password_hash: PasswordHash) -> bool:
        matches, seconds = await self._run(self._verify, password, password_hash.value)
        if not self.needs_rehash(password_hash):
            self._remember(seconds)
        elif not matches:
            shortfall = self._usual_verification_seconds() - (seconds or 0.0)
            if shortfall > 0:
                await self._pause(shortfall)
        return matches

    async def verify_dummy(self, password: str) -> None:
        """The same path as `verify` on a hash of the current settings: an input refused early
        (over 72 bytes for bcrypt) is refused early for known and unknown emails alike."""
        _, seconds = await self._run(self._verify, password, self._dummy_hash)
        self._remember(seconds)

    def check_room(self) -> None:
        self._take_a_place()
        self._places.release()

    def _usual_verification_seconds(self) -> float:
        """How long a verification of the current settings takes these days."""
        return statistics.median(self._current_verifications)

    def _remember(self, seconds: float | None) -> None:
        if seconds is not None:
            self._current_verifications.append(seconds)

    async def _run(self, work: Callable[..., _T], *arguments: str) -> _T:
        """`work` in the pool once it has a place in the queue; Overloaded when it has none.
        The place is given back when the work ends, or when it is cancelled before it starts."""
        self._take_a_place()
        try:
            future = self._pool.submit(work, *arguments)
        except BaseException:
            self._places.release()
            raise
        future.add_done_callback(lambda _: self._places.release())
        return await asyncio.wrap_future(future)

    def _take_a_place(self) -> None:
        if not self._places.acquire(blocking=False):
            raise Overloaded(RETRY_AFTER_SECONDS)

    def needs_rehash(self, password_hash: PasswordHash) -> bool:
        encoded = password_hash.value
        if self._algorithm == "bcrypt":
            match = _BCRYPT_PATTERN.fullmatch(encoded)
            return match is None or int(match["cost"]) != self._bcrypt_rounds
        if not encoded.startswith(_ARGON2ID_PREFIX):
            return True
        try:
            return self._argon2.check_needs_rehash(encoded)
        except InvalidHashError:
            return True

    def _hash(self, password: str) -> str:
        if self._algorithm == "bcrypt":
            salt = bcrypt.gensalt(rounds=self._bcrypt_rounds)
            return bcrypt.hashpw(password.encode(), salt).decode()
        return self._argon2.hash(password)

    def _verify(self, password: str, encoded: str) -> tuple[bool, float | None]:
        """Whether the password matches, and how many seconds the algorithm took; None when
        the input was refused before any hashing (not encodable, over bcrypt's 72 bytes, a
        damaged or unknown hash), so that no such time skews the usual one."""
        try:
            secret = password.encode()
        except UnicodeEncodeError:
            return False, None
        started = time.perf_counter()
        if encoded.startswith(_BCRYPT_PREFIXES):
            try:
                matches = bcrypt.checkpw(secret, encoded.encode())
            except ValueError:
                return False, None
            return matches, time.perf_counter() - started
        if encoded.startswith(_ARGON2ID_PREFIX):
            try:
                matches = self._argon2.verify(encoded, secret)
            except VerifyMismatchError:
                matches = False
            except (VerificationError, InvalidHashError):
                return False, None
            return matches, time.perf_counter() - started
        return False, None


def _yield_to_the_event_loop() -> None:
    """Lowers the calling thread's scheduling priority, on Linux where it can be set per
    thread: when hashing keeps every core busy, the event loop still gets a core at once.
    Under a login flood on a loaded 2-core machine, profile reads kept 22-25% of their rate
    with it and 11-12% without (`bench/login_flood.py`); with idle cores it changes nothing."""
    if sys.platform == "linux":
        thread = threading.get_native_id()
        niceness = os.getpriority(os.PRIO_PROCESS, thread) + HASHING_NICENESS
        os.setpriority(os.PRIO_PROCESS, thread, min(niceness, MAX_NICENESS))
