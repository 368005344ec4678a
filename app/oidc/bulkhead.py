"""A bulkhead: at most N calls to identity providers at once in this process, the rest refused at once.

A gunicorn gthread worker has a few threads (4 shipped) for every request:
sign-ins, session checks (``/forward-auth``), protected pages. A call to a
provider that hangs holds its thread for the whole deadline, and gthread keeps
accepting connections while every thread is busy, so session checks queue
behind stuck sign-ins (docs/provider-isolation.md has the figures). Capping
the provider calls below the thread count keeps threads free for everything
else, whatever the provider does. A call that finds the bulkhead full waits
only while the calls out are young (``patience``, 50 ms: a healthy provider
answers in milliseconds, so a burst of sign-ins queues briefly and goes
through); when the oldest call out has waited longer, the provider is slow and
waiting would hold a thread, the very thing being protected: the call is
refused at once and the person asked to try again in a moment (503 with
``Retry-After``).

One bulkhead per process and limit (``max_concurrent_provider_calls``, shared
by every provider); framework-free. Listeners registered with ``on_rejection``
hear every refusal (``app.metrics`` counts them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_LIMIT = 2
"""With the shipped 4 threads per worker, 2 stay free for session checks and pages whatever providers do."""

_listeners: list[Callable[[str], None]] = []


def on_rejection(listener: Callable[[str], None]) -> Callable[[str], None]:
    """Call ``listener(provider_name)`` whenever a call is refused because the bulkhead is full."""
    _listeners.append(listener)
    return listener


class Bulkhead:
    def __init__(self, limit: int, patience: float = 0.05, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.patience = patience
        self._clock = clock
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._entered: dict[int, float] = {}  # thread id -> when its call went out

    def try_enter(self, name: str = "") -> bool:
        """Take a slot; wait for one only while the calls out are younger than ``patience``.

        False (and listeners told) when none is free in time.
        """
        if not self._slots.acquire(blocking=False):
            with self._lock:
                oldest = min(self._entered.values(), default=self._clock())
            wait = self.patience - (self._clock() - oldest)
            if wait <= 0 or not self._slots.acquire(timeout=wait):
                for listener in _listeners:
                    listener(name)
                return False
        with self._lock:
            self._entered[threading.get_ident()] = self._clock()
        return True

    def leave(self) -> None:
        with self._lock:
            self._entered.pop(threading.get_ident(), None)
        self._slots.release()

    def out(self) -> int:
        """Calls out now."""
        with self._lock:
            return len(self._entered)


_shared: dict[int, Bulkhead] = {}
_shared_lock = threading.Lock()


def shared(limit: int) -> Bulkhead:
    """The process's bulkhead for ``limit``: every provider with the same setting shares its slots."""
    with _shared_lock:
        bulkhead = _shared.get(limit)
        if bulkhead is None:
            bulkhead = _shared[limit] = Bulkhead(limit)
        return bulkhead
