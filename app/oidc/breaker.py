"""A circuit breaker per OpenID Provider: stop waiting on a provider that keeps timing out.

A provider whose token endpoint hangs holds every thread that calls it for
the whole read timeout. After ``failures`` consecutive timeouts or connection
failures the breaker *opens*: calls are refused at once (the person reads
"this provider is unavailable, try again shortly") for ``cooldown`` seconds.
Then it is *half open*: one call goes through as a probe while the others are
still refused; if the probe gets an answer the breaker *closes* again, if it
fails the breaker opens for another cool-down. A probe that never reports
(it cannot: the transport reports in ``finally``) is replaced after a cool-down.

Only failures to get an answer count: an HTTP error or a refused token is an
answer, and comes back quickly, so it never holds a thread. The state lives
in the process (each gunicorn worker has its own breakers): it is a
protection of this process's threads, not a shared view of the provider.

Framework-free: a clock can be given for tests; listeners registered with
``on_transition`` hear every state change (``app.metrics`` counts them).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("stepgate.oidc.breaker")


class State(enum.Enum):
    CLOSED = "closed"
    """Calls go through; consecutive failures are counted."""
    OPEN = "open"
    """Calls are refused at once until the cool-down has passed."""
    HALF_OPEN = "half_open"
    """One probe call goes through; its result closes or re-opens the breaker."""


Listener = Callable[[str, State], None]
_listeners: list[Listener] = []


def on_transition(listener: Listener) -> Listener:
    """Call ``listener(name, new_state)`` on every state change of every breaker."""
    _listeners.append(listener)
    return listener


class CircuitBreaker:
    """Thread-safe; ``allow()`` before a call, then exactly one of ``succeeded``, ``failed`` or ``abandoned``."""

    def __init__(
        self, name: str, failures: int = 3, cooldown: float = 5.0, clock: Callable[[], float] = time.monotonic
    ):
        self.name = name
        self.threshold = failures
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self.state = State.CLOSED
        self.consecutive_failures = 0
        self._opened_at = 0.0
        self._probe_started: float | None = None

    def allow(self) -> bool:
        """May a call go out now? In the half-open state, True for the probe only."""
        with self._lock:
            if self.state is State.CLOSED:
                return True
            now = self._clock()
            if self.state is State.OPEN:
                if now - self._opened_at < self.cooldown:
                    return False
                self._move(State.HALF_OPEN)
            if self._probe_started is not None and now - self._probe_started < self.cooldown:
                return False  # a probe is out; the others wait for its answer
            self._probe_started = now
            return True

    def refusing(self) -> bool:
        """Open and still cooling down: calls would be refused now. Unlike ``allow``, it takes no probe slot."""
        with self._lock:
            return self.state is State.OPEN and self._clock() - self._opened_at < self.cooldown

    def retry_after(self) -> float:
        """Seconds until a probe may go out (0 when calls go through)."""
        with self._lock:
            if self.state is State.OPEN:
                return max(0.0, self.cooldown - (self._clock() - self._opened_at))
            return 0.0 if self.state is State.CLOSED else self.cooldown

    def succeeded(self) -> None:
        """The provider answered (whatever it said)."""
        with self._lock:
            self.consecutive_failures = 0
            self._probe_started = None
            if self.state is not State.CLOSED:
                self._move(State.CLOSED)

    def failed(self, detail: str = "") -> None:
        """A timeout or a connection failure."""
        with self._lock:
            self.consecutive_failures += 1
            if self.state is State.HALF_OPEN or (
                self.state is State.CLOSED and self.consecutive_failures >= self.threshold
            ):
                self._opened_at = self._clock()
                self._probe_started = None
                self._move(State.OPEN, detail)

    def abandoned(self) -> None:
        """The call ended without telling anything about the provider (a bug, a cancelled call)."""
        with self._lock:
            self._probe_started = None

    def _move(self, state: State, detail: str = "") -> None:
        self.state = state
        if state is State.OPEN:
            log.warning(
                "identity provider %s unavailable after %d consecutive failures (last: %s);"
                " sign-ins through it are refused for %g s, then one is let through as a probe",
                self.name,
                self.consecutive_failures,
                detail or "?",
                self.cooldown,
            )
        elif state is State.CLOSED:
            log.warning("identity provider %s answers again; sign-ins through it resume", self.name)
        for listener in _listeners:
            listener(self.name, state)
