"""One logging setup for `mutual-aid serve` and `mutual-aid run`: JSON lines, masked.

Each line carries time, level, logger, service, request id, actor and message (and the
traceback, if any). Inside a worker the service, request id and actor come from the worker's
context data (the HTTP edge puts them there, and nameko carries them on through RPC calls and
events), through the `LogContext` dependency each service declares; a record may also bring
them itself (`extra=`, as the edge's access log does). Every handler carries the one
masking filter, services.kernel.privacy.MaskingFilter, which also masks exception text and
tracebacks. deploy/config.yaml and deploy/embedded.yaml name these classes in their LOGGING.

An exception an entrypoint lists in `expected_exceptions` (a clerk's bad input, an access
refusal) is an ordinary answer, not a fault: nameko logs it at WARNING with its traceback
(nameko/containers.py, `ServiceContainer._run_worker`); `ExpectedExceptionFilter` makes that
one line without it, and `LogContext` puts the filter on nameko's logger. Unexpected
exceptions keep nameko's ERROR line with the traceback.
"""

from __future__ import annotations

import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

CONTEXT_FIELDS = ("service", "request_id", "actor")
# Each eventlet greenthread is a greenlet with its own context: a worker sees only its own.
_context: ContextVar[dict[str, Any] | None] = ContextVar("mutual_aid_log_context", default=None)
_process: dict[str, Any] = {}  # what is true of the whole process (`run` of one service)
NAMEKO_WORKERS = "nameko.containers"  # the logger of a worker's failure


class ExpectedExceptionFilter(logging.Filter):
    """nameko's WARNING for an expected exception, as one line: the entrypoint, the exception's
    class and its message, without the traceback.

    nameko logs `'(expected) error handling worker %s: %s', worker_ctx, exc` with the
    traceback; that record is recognised by what it carries (a WorkerContext and an exception
    of the entrypoint's `expected_exceptions`), not by its wording. Set on the logger, so it
    runs before every handler's MaskingFilter, which masks the line like any other."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (
            record.levelno == logging.WARNING
            and isinstance(args, tuple)
            and len(args) == 2
            and isinstance(args[0], WorkerContext)
            and isinstance(args[1], args[0].entrypoint.expected_exceptions)
        ):
            worker_ctx, exc = args
            entrypoint = f"{worker_ctx.service_name}.{worker_ctx.entrypoint.method_name}"
            record.msg = "(expected) %s: %s: %s"
            record.args = (entrypoint, type(exc).__name__, str(exc))
            record.exc_info = record.exc_text = None
        return True


def log_expected_exceptions_in_one_line() -> None:
    """Put ExpectedExceptionFilter on nameko's worker logger, once per process."""
    workers = logging.getLogger(NAMEKO_WORKERS)
    if not any(isinstance(f, ExpectedExceptionFilter) for f in workers.filters):
        workers.addFilter(ExpectedExceptionFilter())


class LogContext(DependencyProvider):
    """Puts the worker's service, request id and actor on every record logged while it runs,
    and has the service's expected exceptions logged in one line (ExpectedExceptionFilter)."""

    def setup(self) -> None:
        log_expected_exceptions_in_one_line()

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
