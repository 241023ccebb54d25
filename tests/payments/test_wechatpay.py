"""WeChat Pay API v3 notifications, with keys generated here: the RSA-SHA256 signature by the
platform key of the serial, AES-256-GCM decryption, and the SIGNTEST probe refused."""

from __future__ import annotations

import base64

import pytest

from services.payments import wechatpay
from services.payments.exceptions import CallbackRefused
from tests.payments import wechat_keys

NOW = 1_717_000_000


@pytest.fixture(scope="module")
def platform():
    return wechat_keys.platform_key()


def test_a_signed_notification_is_verified_and_decrypted(platform):
    key, cert = platform
    headers, body = wechat_keys.notification(
        key, wechat_keys.transaction("ABCDEFG7"), timestamp=NOW
    )

    found = wechatpay.verify(headers, body, wechat_keys.keys(cert), NOW)
    event = wechatpay.premium_event(found)

    assert found.transaction["out_trade_no"] == "ABCDEFG7"
    assert event["type"] == "premium.received" and event["amount"] == "20.00"
    assert event["reference"] == "ABCDEFG7" and event["event_id"] == found.id


def test_the_public_key_alone_works_as_well_as_the_certificate(platform):
    key, _ = platform
    public_pem = key.public_key().public_bytes(
        wechatpay.serialization.Encoding.PEM,
        wechatpay.serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    headers, body = wechat_keys.notification(key, wechat_keys.transaction("X"), timestamp=NOW)
    assert wechatpay.verify(headers, body, wechat_keys.keys(public_pem), NOW).nonce == "n-wx-1"


def test_a_signtest_probe_is_refused(platform):
    key, cert = platform
    headers, body = wechat_keys.notification(key, wechat_keys.transaction("X"), timestamp=NOW)
    headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + base64.b64encode(b"x" * 64).decode()

    with pytest.raises(CallbackRefused) as refused:
        wechatpay.verify(headers, body, wechat_keys.keys(cert), NOW)
    assert refused.value.reason == "signtest"


def _refusal(platform, **changes) -> str:
    key, cert = platform
    other_key = changes.pop("signing_key", key)
    headers, body = wechat_keys.notification(
        other_key, wechat_keys.transaction("X"), timestamp=changes.pop("timestamp", NOW), **changes
    )
    with pytest.raises(CallbackRefused) as refused:
        wechatpay.verify(headers, body, wechat_keys.keys(cert), NOW)
    return refused.value.reason


def test_a_notification_signed_by_another_key_is_refused(platform):
    stranger, _ = wechat_keys.platform_key()
    assert _refusal(platform, signing_key=stranger) == "bad_signature"


def test_a_changed_body_is_refused(platform):
    key, cert = platform
    headers, body = wechat_keys.notification(key, wechat_keys.transaction("X"), timestamp=NOW)
    with pytest.raises(CallbackRefused) as refused:
        wechatpay.verify(
            headers, body.replace(b"TRANSACTION", b"TRANSACTIOM"), wechat_keys.keys(cert), NOW
        )
    assert refused.value.reason == "bad_signature"


def test_an_unknown_serial_a_stale_timestamp_and_another_apiv3_key_are_refused(platform):
    assert _refusal(platform, serial="0000") == "unknown_serial"
    assert _refusal(platform, timestamp=NOW - 301) == "stale"
    assert _refusal(platform, apiv3_key="v" * 32) == "undecryptable"
    assert _refusal(platform, nonce="n" * 101) == "bad_nonce"
