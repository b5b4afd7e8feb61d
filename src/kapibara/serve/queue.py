"""One model shared safely: a bounded first-in-first-out queue in front of it.

A llama.cpp context decodes one request at a time (its ``thread_safe`` flag is False), so
requests wait their turn here instead of piling up on its lock: in arrival order, at
most ``max_waiting`` of them, each for at most ``timeout_s``. A full queue answers 429
and a wait that times out 503, both with ``Retry-After``. A model that declares
``thread_safe`` (an HTTP backend) gets ``concurrency`` slots instead of one.

The gate lives on the server's event loop: ``acquire`` is awaited there and ``release``
is called there (a worker thread hands it back with ``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import collections
import math

from kapibara.serve.errors import APIError


class ModelGate:
    """A FIFO semaphore with a bounded waiting line."""

    def __init__(self, concurrency: int = 1, max_waiting: int = 8, timeout_s: float = 60.0) -> None:
        self.concurrency = max(1, concurrency)
        self.max_waiting = max(0, max_waiting)
        self.timeout_s = timeout_s
        self.busy = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now (the queue-depth gauge)."""
        return sum(1 for w in self._waiters if not w.done())

    def retry_after(self) -> str:
        return str(max(1, math.ceil(self.timeout_s / 4)))

    async def acquire(self) -> None:
        """Take a slot, waiting in line; APIError 429 (line full) or 503 (waited too long)."""
        if self.busy < self.concurrency and not self.waiting:
            self.busy += 1
            return
        if self.waiting >= self.max_waiting:
            raise APIError(429, f"the server is busy: {self.waiting} requests are already waiting for the model",
                           "rate_limit_error", None, "queue_full", {"Retry-After": self.retry_after()})
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.timeout_s)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.done() and not waiter.cancelled():  # handed a slot just as we gave up
                self.release()
            else:
                waiter.cancel()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise APIError(503, f"no model slot became free within {self.timeout_s:g} s",
                           "server_error", None, "queue_timeout", {"Retry-After": self.retry_after()}) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def release(self) -> None:
        """Give the slot to the longest-waiting request, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: busy stays the same
                return
        self.busy = max(0, self.busy - 1)
