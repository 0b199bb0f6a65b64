"""Fixed-window counters in process memory, for a single instance and for tests."""

import heapq
from dataclasses import dataclass

from limits.aio.storage import Storage

from application.ports import Clock


@dataclass(slots=True)
class _Window:
    count: int
    ends_at: float


class InMemoryStorage(Storage):
    """A `limits` storage for the fixed window strategy whose time is the Clock port's.

    limits' own MemoryStorage is not used because it reads `time.time()` wherever it looks at
    a window: a test could only sleep through a window, never move a clock past it. It also
    sweeps every key in a background task; here memory stays bounded without one: every call
    first drops the windows that have ended (a heap ordered by end time finds them in
    O(log n) each), so the storage holds only the keys first seen within the longest window in
    use. A client spraying random emails therefore adds at most as many keys as the per-IP
    limit lets it send in that window.

    Nothing awaits inside a call, so each call is atomic on the event loop."""

    STORAGE_SCHEME = None

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._endings: list[tuple[float, str]] = []
        """(end time, key) of every window started and not yet dropped, earliest first."""

    def __len__(self) -> int:
        """How many keys have a window open (as of the last call)."""
        return len(self._windows)

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return ()

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self._now()
        current = self._windows.get(key)
        if current is None:
            current = _Window(count=0, ends_at=now + expiry)
            self._windows[key] = current
            heapq.heappush(self._endings, (current.ends_at, key))
        current.count += amount
        return current.count

    async def get(self, key: str) -> int:
        self._now()
        current = self._windows.get(key)
        return 0 if current is None else current.count

    async def get_expiry(self, key: str) -> float:
        now = self._now()
        current = self._windows.get(key)
        return now if current is None else current.ends_at

    async def clear(self, key: str) -> None:
        self._windows.pop(key, None)

    async def check(self) -> bool:
        return True

    async def reset(self) -> int | None:
        count = len(self._windows)
        self._windows.clear()
        self._endings.clear()
        return count

    def _now(self) -> float:
        """The clock's time in Unix seconds, as limits states window ends, once the windows
        that ended by then are dropped."""
        now = self._clock.now().timestamp()
        while self._endings and self._endings[0][0] <= now:
            _, key = heapq.heappop(self._endings)
            current = self._windows.get(key)
            # After a clear the key may have started a newer window that is still open.
            if current is not None and current.ends_at <= now:
                del self._windows[key]
        return now
