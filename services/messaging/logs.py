"""One logging setup for `mutual-aid serve` and `mutual-aid run`: JSON lines, masked.

Each line carries time, level, logger, service, request id, actor and message (and the
traceback, if any). Inside a worker the service, request id and actor come from the worker's
context data (the HTTP edge puts them there, and nameko carries them on through RPC calls and
events), through the `LogContext` dependency each service declares; a record may also bring
them itself (`extra=`, as the edge's access log does). Every handler carries the one
masking filter, services.kernel.privacy.MaskingFilter, which also masks exception text and
tracebacks. deploy/config.yaml and deploy/embedded.yaml name these classes in their LOGGING.
"""

from __future__ import annotations

import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from nameko.extensions import DependencyProvider
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

CONTEXT_FIELDS = ("service", "request_id", "actor")
# Each eventlet greenthread is a greenlet with its own context: a worker sees only its own.
_context: ContextVar[dict[str, Any] | None] = ContextVar("mutual_aid_log_context", default=None)
_process: dict[str, Any] = {}  # what is true of the whole process (`run` of one service)


class LogContext(DependencyProvider):
    """Puts the worker's service, request id and actor on every record logged while it runs."""

    def worker_setup(self, worker_ctx) -> None:
        data = worker_ctx.data
        _context.set(
            {
                "service": self.container.service_name,
                "request_id": data.get("request_id"),
                "actor": data.get("actor"),
            }
        )

    def worker_teardown(self, worker_ctx) -> None:
        _context.set(None)


class JsonFormatter(_JsonFormatter):
    """python-json-logger, with our fields in a fixed order and Chinese left readable."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("fmt", ["asctime", "levelname", "name", *CONTEXT_FIELDS, "message"])
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_data, record, message_dict)
        context = _context.get() or _process
        for field in CONTEXT_FIELDS:
            if log_data.get(field) is None:
                log_data[field] = context.get(field)


def logging_config(level: str = "INFO", stream: str = "ext://sys.stderr") -> dict[str, Any]:
    """The LOGGING dict (logging.config.dictConfig) of both modes: JSON lines on `stream`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"mask_personal_data": {"()": "services.kernel.privacy.MaskingFilter"}},
        "formatters": {"json": {"()": "services.messaging.logs.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": stream,
                "formatter": "json",
                "filters": ["mask_personal_data"],
            }
        },
        "loggers": {"kombu": {"level": "WARNING"}, "amqp": {"level": "WARNING"}},
        "root": {"level": level, "handlers": ["console"]},
    }


def setup_logging(config: dict[str, Any], service: str | None = None) -> None:
    """Configure logging from the config's LOGGING (or `logging_config()`); `service` names
    the process's one service for lines logged outside a worker."""
    logging.config.dictConfig(config.get("LOGGING") or logging_config())
    _process.clear()
    if service:
        _process["service"] = service
