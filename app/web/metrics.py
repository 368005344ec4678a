"""``/metrics``: the Prometheus text format, added up over every worker, for configured addresses only."""

from __future__ import annotations

import os

from flask import Blueprint, Response, request
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app import outage
from app.runtime import current
from app.timeutil import utcnow
from app.web.gate import exempt

bp = exempt(Blueprint("metrics", __name__))


class ActiveFlows:
    """Flows still running (started, not finished, not expired), counted in the database."""

    def collect(self):
        from app.extensions import db
        from app.flows import Flow

        try:
            count = db.session.scalar(
                select(func.count()).select_from(Flow).where(Flow.status == "active", Flow.expires_at > utcnow())
            )
        except SQLAlchemyError as exc:
            if outage.database_fault(exc) is None:
                raise
            db.session.rollback()
            return  # during a database outage the other metrics still tell what is happening; this gauge is left out
        yield GaugeMetricFamily("stepgate_active_flows", "Sign-in flows in progress", value=count or 0)


@bp.route("/metrics")
def metrics() -> Response:
    allowed = current().settings.deployment.metrics_allow
    if not allowed.trusts(request.remote_addr):
        return Response("metrics are not served to this address\n", status=403, mimetype="text/plain")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    body += generate_latest(_database_registry())
    # the classic text format: what every Prometheus version (and most other scrapers) read
    return Response(body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def _database_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ActiveFlows())
    return registry
