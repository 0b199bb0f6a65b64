"""Fixed-window counters in process memory, for a single instance and for tests."""

import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from application.ports import RateLimiter


@dataclass(slots=True)
class _Window:
    count: int
    ends_at: float


class InMemoryRateLimiter(RateLimiter):
    """Counts per key in this process only; each instance of the service keeps its own counts.

    Memory stays bounded: every call first drops the windows that have ended (a heap ordered by
    end time finds them in O(log n) each), so the limiter holds only the keys first seen within
    the longest window in use, and the heap at most one entry per window started in that time.
    A client spraying random emails therefore adds at most as many keys as the per-IP limit
    lets it send in that window. Keys are kept as given: they never leave the process, and
    callers build them from length-limited values (an email is at most 100 characters).

    Nothing awaits inside a call, so each call is atomic on the event loop."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._windows: dict[str, _Window] = {}
        self._endings: list[tuple[float, str]] = []
        """(end time, key) of every window started and not yet dropped, earliest first."""

    def __len__(self) -> int:
        """How many keys have a window open (as of the last call)."""
        return len(self._windows)

    async def consume(self, key: str, *, limit: int, window: timedelta) -> int | None:
        now = self._now()
        self._drop_ended(now)
        current = self._windows.get(key)
        if current is None:
            current = _Window(count=0, ends_at=now + window.total_seconds())
            self._windows[key] = current
            heapq.heappush(self._endings, (current.ends_at, key))
        current.count += 1
        if current.count <= limit:
            return None
        return _whole_seconds(current.ends_at - now)

    async def blocked_for(self, key: str, *, limit: int, window: timedelta) -> int | None:
        now = self._now()
        self._drop_ended(now)
        current = self._windows.get(key)
        if current is None or current.count < limit:
            return None
        return _whole_seconds(current.ends_at - now)

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)

    def _drop_ended(self, now: float) -> None:
        while self._endings and self._endings[0][0] <= now:
            _, key = heapq.heappop(self._endings)
            current = self._windows.get(key)
            # After a reset the key may have started a newer window that is still open.
            if current is not None and current.ends_at <= now:
                del self._windows[key]


def _whole_seconds(remaining: float) -> int:
    return max(1, math.ceil(remaining))
