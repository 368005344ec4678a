"""Logs as one JSON object per line (``log_format: json``), for log shippers; plain text otherwise.

Only the ``stepgate`` logger tree is configured; the host (gunicorn, pytest)
keeps its own handlers for everything else.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_MARK = "_stepgate_handler"
TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"  # gunicorn's, with the logger
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(log_format: str) -> None:
    """Set the ``stepgate`` logger to INFO and give it a handler; safe to call once per app.

    INFO, in both formats: an outage's warning and the line saying it is over
    (app/outage.py, the Redis listener) must be seen, and a logger left at NOTSET
    inherits the root's WARNING, which hides every "back" line. In text format
    records go on to the host's handlers (pytest's, an application's); a host
    that set none (gunicorn configures only its own loggers) gets a plain text
    handler on stderr, beside gunicorn's lines.
    """
    logger = logging.getLogger("stepgate")
    for handler in [h for h in logger.handlers if getattr(h, _MARK, False)]:
        logger.removeHandler(handler)
    logger.setLevel(logging.INFO)
    if log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.propagate = False
    else:
        logger.propagate = True
        if logging.getLogger().handlers:
            return
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, "%Y-%m-%d %H:%M:%S %z"))
    setattr(handler, _MARK, True)
    logger.addHandler(handler)
