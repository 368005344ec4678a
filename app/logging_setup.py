"""Logs as one JSON object per line (``log_format: json``), for log shippers; plain text otherwise.

Only the ``stepgate`` logger tree is configured; the host (gunicorn, pytest)
keeps its own handlers for everything else.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_MARK = "_stepgate_json"
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
    """Install (or remove) the JSON handler on the ``stepgate`` logger; safe to call once per app."""
    logger = logging.getLogger("stepgate")
    ours = [h for h in logger.handlers if getattr(h, _MARK, False)]
    for handler in ours:
        logger.removeHandler(handler)
    if log_format != "json":
        if ours:  # back to how the host set things up
            logger.propagate = True
            logger.setLevel(logging.NOTSET)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    setattr(handler, _MARK, True)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
