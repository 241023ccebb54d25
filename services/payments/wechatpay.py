"""WeChat Pay API v3 payment notifications (Wujin members paying their own 20 yuan).

WeChat Pay signs each notification with its platform key: ``Wechatpay-Signature`` is the
base64 RSA-SHA256 (PKCS#1 v1.5) signature of ``f"{timestamp}\\n{nonce}\\n{body}\\n"``, made with
the platform certificate (or, newer merchants, the platform public key) whose serial is in
``Wechatpay-Serial``. The payment itself is in ``resource``, encrypted with the merchant's
APIv3 key: AEAD_AES_256_GCM with the resource's ``nonce`` and ``associated_data``. WeChat Pay
also sends deliberate probes whose signature starts ``WECHATPAY/SIGNTEST/``: a merchant who
accepts one does not check signatures, so they are refused like any bad signature.

The crypto is the ``cryptography`` package's; ``wechatpayv3`` would pull in a client for the
whole API where only these two checks are needed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.payments.exceptions import CallbackRefused
from services.payments.signatures import MAX_NONCE, TOLERANCE, UNIX_SECONDS, header

TIMESTAMP, NONCE, SIGNATURE, SERIAL = (
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Signature",
    "Wechatpay-Serial",
)
SIGNTEST = "WECHATPAY/SIGNTEST/"
PAID = "TRANSACTION.SUCCESS"


def load_public_key(pem: bytes | str | rsa.RSAPublicKey) -> rsa.RSAPublicKey:
    """A platform public key from a PEM certificate or a PEM public key."""
    if isinstance(pem, rsa.RSAPublicKey):
        return pem
    data = pem.encode() if isinstance(pem, str) else pem
    if b"CERTIFICATE" in data:
        key = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("WeChat Pay platform keys are RSA keys")
    return key


@dataclass(frozen=True)
class WechatPayKeys:
    """The merchant's APIv3 key (32 bytes) and the platform keys by serial number."""

    apiv3_key: bytes
    platform_keys: Mapping[str, rsa.RSAPublicKey]

    @classmethod
    def load(cls, apiv3_key: str | bytes, platform_keys: Mapping[str, Any]) -> WechatPayKeys:
        key = apiv3_key.encode() if isinstance(apiv3_key, str) else apiv3_key
        if len(key) != 32:
            raise ValueError("the APIv3 key is 32 characters")
        return cls(key, {serial: load_public_key(pem) for serial, pem in platform_keys.items()})


@dataclass(frozen=True)
class Notification:
    """A verified, decrypted notification."""

    id: str
    event_type: str
    nonce: str
    transaction: dict[str, Any]


def verify(
    headers: Mapping[str, str], body: bytes, keys: WechatPayKeys, now: float
) -> Notification:
    """Check the signature and timestamp, then decrypt the resource. CallbackRefused with the
    reason (missing_signature, signtest, stale, unknown_serial, bad_signature, malformed,
    undecryptable) otherwise."""
    timestamp, nonce = header(headers, TIMESTAMP), header(headers, NONCE)
    signature, serial = header(headers, SIGNATURE), header(headers, SERIAL)
    if not (timestamp and nonce and signature and serial):
        raise CallbackRefused("missing_signature", "缺少微信支付签名头")
    if signature.startswith(SIGNTEST):
        raise CallbackRefused(
            "signtest", "微信支付签名探测请求（WECHATPAY/SIGNTEST/），按验签失败答复"
        )
    if len(nonce) > MAX_NONCE:
        raise CallbackRefused("bad_nonce", f"{NONCE} 超过 {MAX_NONCE} 个字符")
    if not UNIX_SECONDS.fullmatch(timestamp) or abs(now - int(timestamp)) > TOLERANCE:
        raise CallbackRefused("stale", f"{TIMESTAMP} 与服务器时间相差超过 {TOLERANCE} 秒")
    key = keys.platform_keys.get(serial)
    if key is None:
        raise CallbackRefused("unknown_serial", f"未知的微信支付平台证书序列号 {serial[:40]}")
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    try:
        key.verify(
            base64.b64decode(signature, validate=True), message, padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, binascii.Error, ValueError):
        raise CallbackRefused("bad_signature", "微信支付签名不符") from None
    try:
        document = json.loads(body)
        resource = document["resource"]
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise ValueError(resource.get("algorithm"))
        plain = AESGCM(keys.apiv3_key).decrypt(
            resource["nonce"].encode(),
            base64.b64decode(resource["ciphertext"]),
            (resource.get("associated_data") or "").encode(),
        )
        transaction = json.loads(plain)
        notification_id = str(document["id"])
        event_type = str(document["event_type"])
    except InvalidTag:
        raise CallbackRefused("undecryptable", "微信支付通知无法用 APIv3 密钥解密") from None
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise CallbackRefused("malformed", "微信支付通知格式不对") from None
    return Notification(notification_id, event_type, nonce, transaction)


def premium_event(notification: Notification) -> dict[str, Any]:
    """A paid notification as our normalised callback event (callbacks.py): the order number
    we gave WeChat Pay is the invoice code, the amount is in fen."""
    tx = notification.transaction
    amount = tx.get("amount") or {}
    total = amount.get("total")
    if not isinstance(total, int) or isinstance(total, bool):
        raise CallbackRefused("malformed", "微信支付通知缺少金额 amount.total（分）")
    success = tx.get("success_time")
    occurred = datetime.fromisoformat(success).isoformat() if success else None
    return {
        "event_id": notification.id,
        "type": "premium.received" if notification.event_type == PAID else notification.event_type,
        "occurred_at": occurred,
        "account": f"wechatpay:{tx.get('mchid', '')}",
        "amount": str((Decimal(total) / 100).quantize(Decimal("0.01"))),
        "currency": amount.get("currency") or "CNY",
        "reference": tx.get("out_trade_no"),
        "serial": tx.get("transaction_id"),
        "payer_name": None,
    }
