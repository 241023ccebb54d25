"""One logging setup (services/messaging/logs.py): JSON lines with the service, request id
and actor, masked by the one filter (services.kernel.privacy.MaskingFilter) down to the
traceback; an entrypoint's expected exception in one line, without the traceback."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from contextlib import contextmanager

import pytest
from nameko.rpc import rpc
from nameko.testing.services import entrypoint_hook

from services.kernel.privacy import MaskingFilter
from services.messaging.embedded import MEMORY_URI, install_memory_transport
from services.messaging.logs import NAMEKO_WORKERS, JsonFormatter, LogContext, logging_config
from tests.conftest import ROOT

ID_NUMBER = "11010519491231002X"
PHONE = "13812345678"
CARD = "6222021234567890123"


@contextmanager
def buffered(name: str, level: int):
    """The logger ``name`` writing the production JSON lines, masked, into a buffer too."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(MaskingFilter())
    handler.setLevel(level)
    log = logging.getLogger(name)
    log.addHandler(handler)
    log.lines = lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    log.text = stream.getvalue
    try:
        yield log
    finally:
        log.removeHandler(handler)


@pytest.fixture
def logger():
    log = logging.getLogger("tests.logs")
    log.setLevel(logging.INFO)
    log.propagate = False
    with buffered("tests.logs", logging.INFO) as log:
        yield log


def test_a_line_is_json_with_the_fields_in_order(logger):
    logger.info("申请 %s 已提交", "c1")

    (line,) = logger.lines()
    assert list(line) == [
        "time",
        "level",
        "logger",
        "service",
        "request_id",
        "actor",
        "message",
    ]
    assert (line["level"], line["logger"], line["message"]) == (
        "INFO",
        "tests.logs",
        "申请 c1 已提交",
    )
    assert line["time"].endswith("+00:00") and "T" in line["time"]
    assert line["service"] is line["request_id"] is line["actor"] is None


def test_personal_numbers_are_masked_in_message_exception_traceback_and_extras(logger):
    def fail(id_number):
        raise ValueError(f"DataError: value too long; parameters: {{'id_number': '{id_number}'}}")

    try:
        fail(ID_NUMBER)
    except ValueError:
        logger.exception("member %s phone %s", ID_NUMBER, PHONE, extra={"card": CARD})

    text = logger.text()
    (line,) = logger.lines()
    for raw in (ID_NUMBER, PHONE, CARD):
        assert raw not in text
    assert line["message"] == "member 110105********002X phone 138****5678"
    assert "ValueError: DataError" in line["exc_info"] and "110105********002X" in line["exc_info"]
    assert "Traceback (most recent call last)" in line["exc_info"]
    assert line["card"] == "6222***********0123"


def test_the_plain_text_formatter_gets_the_masked_traceback_too():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskingFilter())
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
    try:
        raise RuntimeError(ID_NUMBER)
    except RuntimeError:
        record.exc_info = sys.exc_info()
    handler.handle(record)

    assert "RuntimeError: 110105********002X" in stream.getvalue()
    assert ID_NUMBER not in stream.getvalue()


class Worker:
    name = "worker"
    log_context = LogContext()

    @rpc
    def work(self):
        logging.getLogger("tests.logs").info("working")


def test_a_worker_logs_with_its_service_request_id_and_actor(container_factory, logger, memory_bus):
    install_memory_transport()
    container = container_factory(Worker, {"AMQP_URI": MEMORY_URI})
    container.start()

    with entrypoint_hook(
        container, "work", context_data={"request_id": "req-worker-01", "actor": "clerk"}
    ) as work:
        work()
    logger.info("outside")

    inside, outside = logger.lines()
    assert (inside["service"], inside["request_id"], inside["actor"]) == (
        "worker",
        "req-worker-01",
        "clerk",
    )
    assert outside["request_id"] is None and outside["service"] is None


class Refusing:
    name = "refusing"
    log_context = LogContext()

    @rpc(expected_exceptions=LookupError)
    def cover(self, id_number):
        raise LookupError(f"{id_number} 不在名册上")

    @rpc(expected_exceptions=LookupError)
    def broken(self, id_number):
        raise ZeroDivisionError(f"{id_number}: division by zero")


@pytest.fixture
def refusing(container_factory, memory_bus):
    install_memory_transport()
    container = container_factory(Refusing, {"AMQP_URI": MEMORY_URI})
    container.start()
    with buffered(NAMEKO_WORKERS, logging.WARNING) as log:
        yield container, log


def test_an_expected_exception_is_one_masked_line_without_its_traceback(refusing):
    container, log = refusing
    with entrypoint_hook(container, "cover", context_data={"request_id": "req-1"}) as cover:
        with pytest.raises(LookupError):
            cover(ID_NUMBER)

    (line,) = log.lines()
    assert (line["level"], line["service"], line["request_id"], line["message"]) == (
        "WARNING",
        "refusing",
        "req-1",
        "(expected) refusing.cover: LookupError: 110105********002X 不在名册上",
    )
    assert "exc_info" not in line and "Traceback" not in log.text()
    assert ID_NUMBER not in log.text()


def test_an_unexpected_exception_keeps_its_error_and_masked_traceback(refusing):
    container, log = refusing
    with entrypoint_hook(container, "broken") as broken:
        with pytest.raises(ZeroDivisionError):
            broken(ID_NUMBER)

    (line,) = log.lines()
    assert line["level"] == "ERROR" and "error handling worker" in line["message"]
    assert "Traceback (most recent call last)" in line["exc_info"]
    assert "ZeroDivisionError: 110105********002X: division by zero" in line["exc_info"]
    assert ID_NUMBER not in log.text()


def test_logging_config_is_what_the_deploy_files_name(root):
    from services.messaging.config import load_config

    ours = logging_config()
    for name in ("config.yaml", "embedded.yaml"):
        logging_section = load_config(root / "deploy" / name, {})["LOGGING"]
        assert logging_section["formatters"] == ours["formatters"], name
        assert logging_section["filters"] == ours["filters"], name


def test_the_default_setup_writes_masked_json_to_stderr():
    program = (
        "import logging\n"
        "from services.messaging.logs import setup_logging\n"
        "setup_logging({}, service='claims')\n"
        f"logging.getLogger('x').warning('card %s', '{CARD}')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60
    )

    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert (line["service"], line["level"], line["message"]) == (
        "claims",
        "WARNING",
        "card 6222***********0123",
    )
