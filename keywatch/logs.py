"""How Keywatch processes log: plain text (default) or, with ``KEYWATCH_LOG_FORMAT=json``,
one JSON object a line for a log pipeline (Loki, Elasticsearch, …).

A JSON line has ``ts`` (RFC 3339, UTC), ``level``, ``logger``, ``message`` and every
``extra`` the call passed — by convention ``vehicle_id``, ``incident_id``, ``plate``,
``rule``, ``delivery_id``, ``channel`` — so one incident's or one vehicle's story can be
pulled out of the logs by id. Exceptions come as ``exc`` (the formatted traceback).
``setup_logging`` is the one entry point; a process calls it once, first.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import IO, Any

from keywatch.settings import LogSettings

_HANDLER = "keywatch"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# what every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((k, v) for k, v in vars(record).items()
                    if k not in _STANDARD and not k.startswith("_"))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(*, verbose: bool = False, log_format: str | None = None,
                  stream: IO[str] | None = None) -> None:
    """The root logger's handler (stderr), in ``KEYWATCH_LOG_FORMAT`` unless given. Like
    ``logging.basicConfig`` it leaves a root logger that someone else (a test runner) has
    already given handlers alone."""
    root = logging.getLogger()
    if any(h.get_name() != _HANDLER for h in root.handlers):
        return
    chosen = log_format or LogSettings().log_format
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    handler.set_name(_HANDLER)
    for old in [h for h in root.handlers if h.get_name() == _HANDLER]:  # ours, not others'
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def uvicorn_log_config(log_format: str | None = None) -> dict[str, Any] | None:
    """For ``uvicorn.run(log_config=…)``: None in JSON mode, so uvicorn installs no handlers
    of its own and its records reach the root logger's JSON handler."""
    if (log_format or LogSettings().log_format) == "json":
        return None
    from uvicorn.config import LOGGING_CONFIG

    return LOGGING_CONFIG
