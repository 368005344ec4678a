"""Safe reloads of scheme files while the server runs.

Each process checks the schemes folder on a request at most every
``scheme_reload_seconds`` (0: every request), on demand from the admin
console, and on the request after a SIGHUP (``flask run``). A change is
validated as a whole, exactly as at start-up; only a valid set replaces the
schemes, in one reference swap. An invalid change is refused and logged with
file:line, and the previous schemes keep serving.

Under gunicorn, SIGHUP goes to the master, which replaces its workers with
new ones that load the files anew. config/gunicorn.conf.py first runs
``python -c 'from app.reload import check_startup; check_startup()'`` and
replaces the workers only when it reports no problem: an invalid set is
refused the same way, and the running workers keep serving.

A flow finishes on the version it started with: every version stays in
``Runtime.versions`` until no flow can still use it (the flow lifetime after it
stopped being current). Each gunicorn worker reloads on its own: nothing is
shared between processes but the files.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

from app.engine.scheme import Scheme, load_schemes
from app.runtime import Runtime, challenge_urls_of, production_scheme_problems
from app.yamlsource import ConfigError, Problem

log = logging.getLogger("stepgate.reload")


def _now() -> float:
    return time.monotonic()


@dataclass(frozen=True)
class ReloadResult:
    changed: bool
    problems: list[Problem] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class SchemeReloader:
    """Watches one Runtime's schemes folder and swaps in valid changes."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.interval = runtime.settings.scheme_reload_seconds
        self.signature = self._signature()
        self.last_check = _now()
        self.last_result: ReloadResult | None = None
        self.last_reload_at: float | None = None
        self.retired: dict[tuple[str, str], float] = {}
        self.forced = False
        self._lock = threading.Lock()

    def _signature(self) -> tuple[tuple[str, int, int], ...]:
        root = Path(self.runtime.settings.schemes_dir)
        if not root.is_dir():
            return ()
        return tuple(
            (str(p.relative_to(root)), stat.st_mtime_ns, stat.st_size)
            for p in sorted(root.rglob("*"))
            if p.is_file() and (stat := p.stat())
        )

    def request_reload(self, *_signal_args: object) -> None:
        """Make the next request reload, changed or not (the SIGHUP handler: it only sets a flag)."""
        self.forced = True

    def check(self) -> ReloadResult | None:
        """Reload if the files changed and the interval has passed; None when nothing was looked at."""
        if self.forced:
            self.forced = False
            return self.reload(force=True)
        if _now() - self.last_check < self.interval:
            return None
        if self.retired:
            self.prune()
        return self.reload(force=False)

    def reload(self, force: bool = True) -> ReloadResult:
        """Validate the folder and swap the schemes in if valid; ``force`` reloads unchanged files too."""
        with self._lock:
            self.last_check = _now()
            signature = self._signature()
            if signature == self.signature and not force:
                return ReloadResult(changed=False)
            self.signature = signature  # a broken state is reported once, not on every request
            try:
                schemes = self._load()
            except ConfigError as exc:
                for problem in exc.problems:
                    log.error("scheme reload refused, previous schemes keep serving: %s", problem)
                self.last_result = ReloadResult(changed=False, problems=exc.problems)
                return self.last_result
            self._swap(schemes)
            self.last_result = ReloadResult(changed=True, loaded=sorted(schemes))
            self.last_reload_at = time.time()
            return self.last_result

    def _load(self) -> dict[str, Scheme]:
        settings = self.runtime.settings
        schemes = load_schemes(settings.schemes_dir, self.runtime.registry, settings)
        problems = [
            Problem(
                policy.file,
                policy.line,
                f"authentication policy '{policy.name}' names scheme "
                f"'{policy.scheme}', which the changed files no longer define",
            )
            for policy in settings.application_domains.policies_without(schemes)
        ]
        problems += production_scheme_problems(schemes)
        if problems:
            raise ConfigError(problems)
        return schemes

    def _swap(self, schemes: dict[str, Scheme]) -> None:
        current = {(s.name, s.version) for s in schemes.values()}
        now = _now()
        for key in self.runtime.versions:
            if key not in current:
                self.retired.setdefault(key, now)
        for scheme in schemes.values():
            self.runtime.versions[(scheme.name, scheme.version)] = scheme
            self.retired.pop((scheme.name, scheme.version), None)
            if self.runtime.schemes.get(scheme.name, scheme).version != scheme.version:
                log.info("scheme %s reloaded from %s: version %s", scheme.name, scheme.file, scheme.version)
        self.runtime.challenge_urls = challenge_urls_of(schemes)
        self.runtime.schemes = schemes  # one reference swap: a request sees the old set or the new one
        self.prune(now)

    def prune(self, now: float | None = None) -> list[tuple[str, str]]:
        """Forget versions retired longer ago than a flow may live: no flow can still be on them."""
        now = _now() if now is None else now
        lifetime = self.runtime.settings.flow_lifetime_seconds
        gone = [key for key, since in self.retired.items() if now - since > lifetime]
        for key in gone:
            self.runtime.versions.pop(key, None)
            del self.retired[key]
        return gone


def init_app(app: Flask) -> SchemeReloader:
    """Attach a reloader and check for changes before anything else runs on a request."""
    reloader = SchemeReloader(app.extensions["stepgate"])
    app.extensions["stepgate_reload"] = reloader

    def check_schemes() -> None:  # a before_request function must return None to let the request go on
        reloader.check()

    app.before_request_funcs.setdefault(None, []).insert(0, check_schemes)
    if hasattr(signal, "SIGHUP") and threading.current_thread() is threading.main_thread() and not app.testing:
        signal.signal(signal.SIGHUP, reloader.request_reload)  # kill -HUP <pid>: reload on the next request
    return reloader


def reloader_of(app: Flask) -> SchemeReloader:
    return app.extensions["stepgate_reload"]


def startup_problems(settings_path: str | None = None) -> list[Problem]:
    """What would stop a new server process from starting on the files as they are now (empty: it would start)."""
    from app import create_app

    try:
        create_app(settings_path)
    except ConfigError as exc:
        return exc.problems
    return []


def check_startup() -> None:
    """Print the start-up problems as one JSON line on stdout, for gunicorn's master (config/gunicorn.conf.py).

    Run in a process of its own: the master must not import the application, or
    every worker it forks would inherit those modules and a SIGHUP could no
    longer bring in new code. An exception other than a ConfigError (code that
    does not import, say) ends this process with a traceback, which the master
    reports as it is.
    """
    problems = startup_problems()
    print(json.dumps({"problems": [[p.file, p.line, p.message] for p in problems]}))
