"""Run a blocking generator (a model call, an agent turn) in a thread, read it from asyncio.

Model backends and the agent loop are synchronous generators that yield an event per
token. ``Job`` runs one in its own thread and hands its events to the event loop. Setting
``cancel`` (the client went away) closes the generator at the next event, so a llama.cpp
generation stops within one token and releases the model; ``on_done`` runs on the loop
when the thread has finished, which is when the model is free again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any


@dataclass
class Finished:
    """The generator returned ``value``."""

    value: Any


@dataclass
class Failed:
    """The generator raised ``error``."""

    error: BaseException


class Cancelled(Exception):
    """The job was cancelled before it finished."""


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    # RuntimeError: the loop has closed (server shutdown), and nobody is listening.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)


class Job:
    """One generator running in a worker thread."""

    def __init__(self, factory: Callable[[], Generator[Any, None, Any]], on_done: Callable[[], None]) -> None:
        self.cancel = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._factory = factory
        self._on_done = on_done
        self.result: Any = None
        self._thread = threading.Thread(target=self._run, name="kapibara-serve-job", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> None:
        _on_loop(self._loop, self._queue.put_nowait, item)

    def _run(self) -> None:
        gen: Generator[Any, None, Any] | None = None
        try:
            gen = self._factory()
            while True:
                if self.cancel.is_set():
                    gen.close()  # GeneratorExit inside the model stops its generation
                    self._put(Failed(Cancelled()))
                    return
                try:
                    event = next(gen)
                except StopIteration as stop:
                    self._put(Finished(stop.value))
                    return
                self._put(event)
        except BaseException as exc:  # noqa: BLE001 - handed to the request, which reports it
            self._put(Failed(exc))
        finally:
            _on_loop(self._loop, self._on_done)

    async def events(self, disconnected: Callable[[], Awaitable[bool]] | None = None,
                     poll_s: float = 0.25) -> AsyncIterator[Any]:
        """The generator's events; then ``self.result`` holds its return value.

        Raises what the generator raised, or ``Cancelled``. While no event comes for
        ``poll_s``, ``disconnected()`` is asked whether the client is gone; if so the job
        is cancelled. Leaving the iteration early cancels the job too.
        """
        try:
            while True:
                try:
                    item = await asyncio.wait_for(self._queue.get(), poll_s)
                except TimeoutError:
                    if disconnected is not None and await disconnected():
                        self.cancel.set()
                    continue
                if isinstance(item, Finished):
                    self.result = item.value
                    return
                if isinstance(item, Failed):
                    raise item.error
                yield item
                if disconnected is not None and await disconnected():
                    self.cancel.set()
        finally:
            if self.result is None:
                self.cancel.set()
