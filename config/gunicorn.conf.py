"""Gunicorn settings for ``make serve`` (and the tests and benchmarks that start real servers).

gthread workers: a sign-in through an OpenID Provider waits on the token
endpoint; a sync worker would be blocked for that whole round trip, while a
gthread worker keeps serving other requests on its other threads. gthread also
keeps HTTP connections alive, which a reverse proxy's upstream pool relies on.
Nothing a login needs is kept in a worker: flows and sessions are rows, and the
per-process session cache is invalidated across processes (app/session_cache.py).

SIGHUP (``kill -HUP <master pid>``) reloads like nginx: the settings and schemes
are checked first, and only files a worker can start on replace the workers;
otherwise the problems are logged as file:line and the running workers keep
serving what they loaded (see ``when_ready``).
"""

import importlib.util
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile

bind = os.environ.get("STEPGATE_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("STEPGATE_WORKERS", os.cpu_count() or 2))
worker_class = "gthread"
threads = int(os.environ.get("STEPGATE_THREADS", 4))
keepalive = 5
timeout = 30
graceful_timeout = 10
accesslog = os.environ.get("STEPGATE_ACCESS_LOG") or None
# gunicorn >= 27 opens a control socket at one path in $HOME; several servers on one machine
# (nodes, tests, benchmarks) would fight over it, and nothing here uses it.
control_socket_disable = True


def _trusted_proxies() -> str:
    """``forwarded_allow_ips`` from the settings' ``trusted_proxies``: "" (nobody) unless proxies are listed.

    gunicorn's default ("127.0.0.1,::1") would let anything on this machine claim
    https through ``X-Forwarded-Proto`` whatever the settings say. The master must
    not import the application (see ``when_ready``), so the settings file is read
    here with ``app/yamlsource.py`` alone; the workers validate it fully, with
    file and line, and refuse to start on a bad value.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.environ.get("STEPGATE_SETTINGS") or os.path.join(root, "config", "settings.yaml")
    source = os.path.join(root, "app", "yamlsource.py")
    if not os.path.exists(source):  # installed from the wheel, this file is app/shipped/config/ (app/home.py)
        source = os.path.join(os.path.dirname(root), "yamlsource.py")
    spec = importlib.util.spec_from_file_location("_stepgate_yamlsource", source)
    yamlsource = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = yamlsource  # dataclasses look their module up
    try:
        spec.loader.exec_module(yamlsource)
        listed = yamlsource.load_yaml(path).get("trusted_proxies") or []
        return ",".join(str(ipaddress.ip_network(str(item), strict=False)) for item in listed)
    except Exception:  # noqa: BLE001 - the workers report what is wrong; meanwhile trust nobody
        return ""
    finally:
        sys.modules.pop(spec.name, None)


forwarded_allow_ips = _trusted_proxies()

# Metrics from every worker are aggregated through files in one directory
# (prometheus_client's multiprocess mode); it must be set before the workers start.
# gunicorn reads this file again on SIGHUP: whether the directory is ours is kept in
# the environment, so that the reread file still removes it on exit.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="stepgate-metrics-")
    os.environ["STEPGATE_OWN_METRICS_DIR"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def on_starting(server):
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)  # counters of a previous run are not this run's
    os.makedirs(directory, exist_ok=True)


def post_worker_init(worker):
    """Keep what the worker loaded at start out of the garbage collector's full collections.

    Modules, settings, schemes and templates live as long as the worker; a full
    collection would otherwise walk all of them (about 120,000 objects, some
    70 ms) every few hundred sign-ins. ``gc.freeze`` moves them to a permanent
    generation; what requests allocate is collected as before.

    The "ready" line tells an operator (and the tests) that this worker has
    loaded the application and now takes requests: "Booting worker" is logged
    when it is forked, seconds before.
    """
    import gc

    gc.freeze()
    worker.log.info("Worker ready (pid: %s)", worker.pid)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def when_ready(server):
    """Check the files before a SIGHUP replaces the workers; keep the running ones when they are invalid.

    gunicorn answers SIGHUP with ``Arbiter.reload``: it starts new workers, which
    load the settings and schemes, and stops the old ones. A worker that cannot
    start makes the arbiter halt the whole server ("Worker failed to boot"), so a
    typo in a scheme followed by ``kill -HUP`` would stop the access server. No
    gunicorn hook can veto a reload (``on_reload`` runs once it is under way, and
    an exception there ends the master), so the arbiter's own ``reload`` is
    wrapped here: it runs only when a fresh process starts on the files as they
    are now. That check runs in a child process, not in the master, because the
    workers are forked from the master and would inherit whatever it imported:
    a SIGHUP must keep bringing in new code as well as new files.
    """
    reload_workers = server.reload

    def checked_reload():
        if _files_start(server.log):
            reload_workers()

    server.reload = checked_reload


def _files_start(log) -> bool:
    """Start the application once in a child process, as a new worker would; log why it would not start."""
    refused = "reload refused, the running workers keep serving the previous files: %s"
    command = [sys.executable, "-c", "from app.reload import check_startup; check_startup()"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # the workers' import path
    env.pop("PROMETHEUS_MULTIPROC_DIR")  # the check serves nothing: no metrics files of its own among the workers'
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603 - fixed argv
    except subprocess.TimeoutExpired:
        log.error(refused, "checking the files took more than 60 s")
        return False
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        log.error(refused, "the application does not start:\n" + done.stderr.strip()[-3000:])
        return False
    problems = json.loads(lines[-1])["problems"]
    for file, line, message in problems:
        log.error(refused, f"{file}:{line}: {message}")
    if not problems:
        log.info("reload: the settings and schemes are valid; replacing the workers")
    return not problems


def on_exit(server):
    if os.environ.get("STEPGATE_OWN_METRICS_DIR") == os.environ["PROMETHEUS_MULTIPROC_DIR"]:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
