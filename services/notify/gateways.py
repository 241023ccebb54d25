"""SMS gateways behind one Protocol: the embedded outbox and Aliyun's dysmsapi.

A gateway answers each request with an outcome the sender acts on: ``accepted`` (with the
gateway's id), ``retry`` (throttled, timed out, the gateway's own error: tried again after a
backoff) or ``failed`` (the gateway refused it: a bad number, a template it does not know —
sending again cannot help).

Configuration (nameko config ``SMS_GATEWAY``):
    {kind: outbox}                                         the embedded default
    {kind: aliyun, endpoint: dysmsapi.aliyuncs.com, protocol: https,
     access_key_id: …, access_key_secret: …, timeout_ms: 5000}
Tencent Cloud SMS is not written: its SDK (tencentcloud-sdk-python) is another large
dependency for a second vendor nobody asked for yet; a class with this ``send`` is all it needs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from services.kernel.privacy import mask_phone
from services.messaging.database import session_scope
from services.messaging.errors import ConfigError
from services.notify.models import OutboxSms

_log = logging.getLogger(__name__)

ACCEPTED, RETRY, FAILED = "accepted", "retry", "failed"

# Aliyun's answers worth another try: flow control on the number or the account, and its own
# faults (https://help.aliyun.com/document_detail/101346.html, SendSms error codes).
ALIYUN_RETRY = {
    "isv.BUSINESS_LIMIT_CONTROL",
    "isp.SYSTEM_ERROR",
    "isp.GATEWAY_ERROR",
    "Throttling",
    "Throttling.User",
    "Throttling.Api",
    "ServiceUnavailable",
    "InternalError",
    "SignatureNonceUsed",
}


@dataclass(frozen=True)
class SmsRequest:
    message_id: str  # our id: Aliyun's OutId, how its receipt finds the message again
    phone: str
    sign_name: str  # the signature without its brackets, as registered
    template_code: str
    params: dict[str, str]
    text: str  # what the member reads (the outbox keeps it)


@dataclass(frozen=True)
class SendResult:
    outcome: str  # accepted | retry | failed
    gateway_id: str | None = None
    code: str | None = None
    detail: str | None = None


class SmsGateway(Protocol):
    name: str

    def send(self, request: SmsRequest) -> SendResult: ...


class OutboxGateway:
    """The embedded default: each SMS is a row in sms_outbox and a readable log line."""

    name = "outbox"

    def __init__(self, session_factory: sessionmaker[Session]):
        self.session_factory = session_factory

    def send(self, request: SmsRequest) -> SendResult:
        with session_scope(self.session_factory) as session:
            row = OutboxSms(
                message_id=request.message_id,
                phone=request.phone,
                sign_name=request.sign_name,
                template_code=request.template_code,
                params=request.params,
                text=request.text,
            )
            session.add(row)
        _log.info("SMS to %s: %s", mask_phone(request.phone), request.text)
        return SendResult(ACCEPTED, gateway_id=f"outbox-{request.message_id}")


class AliyunGateway:
    """Aliyun SMS (dysmsapi 2017-05-25 SendSms) on its maintained SDK."""

    name = "aliyun"

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        endpoint: str = "dysmsapi.aliyuncs.com",
        protocol: str = "https",
        timeout_ms: int = 5000,
    ):
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi import models as openapi
        from alibabacloud_tea_util import models as util

        self.client = Client(
            openapi.Config(
                access_key_id=access_key_id,
                access_key_secret=access_key_secret,
                endpoint=endpoint,
                protocol=protocol,
            )
        )
        # the SDK's own retries stay off: the sender's backoff is the only one
        self.runtime = util.RuntimeOptions(
            read_timeout=timeout_ms, connect_timeout=timeout_ms, autoretry=False
        )

    def send(self, request: SmsRequest) -> SendResult:
        from alibabacloud_dysmsapi20170525 import models

        sms = models.SendSmsRequest(
            phone_numbers=request.phone,
            sign_name=request.sign_name,
            template_code=request.template_code,
            template_param=json.dumps(request.params, ensure_ascii=False),
            out_id=request.message_id,
        )
        try:
            body = self.client.send_sms_with_options(sms, self.runtime).body
        except Exception as exc:  # the SDK raises its own types for HTTP errors and timeouts
            code = getattr(exc, "code", None) or type(exc).__name__
            detail = str(getattr(exc, "message", None) or exc)[:200]
            # an HTTP error with a code is the gateway's answer; anything else (a timeout, a
            # refused connection) never reached a verdict, so it is tried again
            if getattr(exc, "code", None) and code not in ALIYUN_RETRY:
                status = getattr(exc, "status_code", None) or getattr(exc, "statusCode", None)
                if status is None or int(status) < 500:
                    return SendResult(FAILED, code=code, detail=detail)
            return SendResult(RETRY, code=code, detail=detail)
        if body.code == "OK":
            return SendResult(ACCEPTED, gateway_id=body.biz_id, code="OK")
        outcome = RETRY if body.code in ALIYUN_RETRY else FAILED
        return SendResult(outcome, code=body.code, detail=(body.message or "")[:200])


def gateway_settings(config: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """SMS_GATEWAY checked (the outbox when unset): its kind and the adapter's arguments."""
    settings = dict(config or {"kind": "outbox"})
    kind = settings.pop("kind", "outbox")
    if kind == "aliyun":
        missing = [k for k in ("access_key_id", "access_key_secret") if not settings.get(k)]
        if missing:
            raise ConfigError(f"SMS_GATEWAY (aliyun) needs {', '.join(missing)}")
        unknown = sorted(set(settings) - set(_ALIYUN_KEYS))
        if unknown:
            raise ConfigError(f"SMS_GATEWAY (aliyun): unknown key {unknown[0]}")
    elif kind != "outbox" or settings:
        raise ConfigError(
            f"SMS_GATEWAY must be {{kind: outbox}} or {{kind: aliyun, …}}, not {config!r}"
        )
    return kind, settings


_ALIYUN_KEYS = ("access_key_id", "access_key_secret", "endpoint", "protocol", "timeout_ms")


def make_gateway(config: dict[str, Any] | None, session_factory: sessionmaker[Session]):
    """The gateway SMS_GATEWAY names."""
    kind, settings = gateway_settings(config)
    if kind == "aliyun":
        return AliyunGateway(**settings)
    return OutboxGateway(session_factory)
