"""SMS_GATEWAY is checked before the service starts; the outbox gateway writes a row."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.messaging.database import session_scope
from services.messaging.errors import ConfigError
from services.notify.gateways import (
    ACCEPTED,
    AliyunGateway,
    SmsRequest,
    gateway_settings,
    make_gateway,
)
from services.notify.models import OutboxSms


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"kind": "aliyun"}, "access_key_id, access_key_secret"),
        (
            {"kind": "aliyun", "access_key_id": "a", "access_key_secret": "s", "region": "x"},
            "region",
        ),
        ({"kind": "tencent"}, "must be"),
    ],
)
def test_a_bad_gateway_config_is_one_line(config, words):
    with pytest.raises(ConfigError, match=words):
        gateway_settings(config)


def test_the_gateways_are_made_as_configured(sqlite_factory):
    aliyun = {"kind": "aliyun", "access_key_id": "a", "access_key_secret": "s"}
    assert isinstance(make_gateway(aliyun, sqlite_factory), AliyunGateway)
    outbox = make_gateway(None, sqlite_factory)
    request = SmsRequest(
        "m1", "13800000000", "张家口市总工会", "SMS_1", {"name": "王芳"}, "【x】王芳"
    )
    assert outbox.send(request).outcome == ACCEPTED
    with session_scope(sqlite_factory) as session:
        (row,) = session.scalars(select(OutboxSms)).all()
    assert (row.message_id, row.phone, row.text) == ("m1", "13800000000", "【x】王芳")
