"""Gunicorn settings for ``make serve`` (and the tests and benchmarks that start real servers).

gthread workers: a sign-in through an OpenID Provider waits on the token
endpoint; a sync worker would be blocked for that whole round trip, while a
gthread worker keeps serving other requests on its other threads. gthread also
keeps HTTP connections alive, which a reverse proxy's upstream pool relies on.
Nothing a login needs is kept in a worker: flows and sessions are rows, and the
per-process session cache is invalidated across processes (app/session_cache.py).
"""

import os
import shutil
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

# Metrics from every worker are aggregated through files in one directory
# (prometheus_client's multiprocess mode); it must be set before the workers start.
_OWN_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="stepgate-metrics-")


def on_starting(server):
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)  # counters of a previous run are not this run's
    os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)



def on_exit(server):
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
