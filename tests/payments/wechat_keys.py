"""A WeChat Pay platform key, certificate and APIv3 key made in the test, and notifications
signed and encrypted the way WeChat Pay makes them (its API v3 documentation)."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from services.payments.wechatpay import WechatPayKeys

APIV3_KEY = "0123456789abcdefghijklmnopqrstuv"  # 32 characters, as WeChat Pay's are
SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
MCHID = "1900000109"


def platform_key() -> tuple[rsa.RSAPrivateKey, bytes]:
    """A fresh RSA key and its self-signed certificate (PEM), as the platform's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int(SERIAL, 16))
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def keys(cert_pem: bytes) -> WechatPayKeys:
    return WechatPayKeys.load(APIV3_KEY, {SERIAL: cert_pem})


def notification(
    private_key: rsa.RSAPrivateKey,
    transaction: dict,
    *,
    timestamp: int,
    nonce: str = "n-wx-1",
    notification_id: str = "EV-2018022511223320873",
    apiv3_key: str = APIV3_KEY,
    serial: str = SERIAL,
) -> tuple[dict[str, str], bytes]:
    resource_nonce = base64.b64encode(os.urandom(9)).decode()[:12]
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(
        resource_nonce.encode(), json.dumps(transaction).encode(), b"transaction"
    )
    body = json.dumps(
        {
            "id": notification_id,
            "create_time": "2024-01-05T13:29:35+08:00",
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS",
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": "transaction",
                "nonce": resource_nonce,
            },
        }
    ).encode()
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    headers = {
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": base64.b64encode(signature).decode(),
        "Wechatpay-Serial": serial,
    }
    return headers, body


def transaction(code: str, fen: int = 2000, currency: str = "CNY") -> dict:
    return {
        "mchid": MCHID,
        "appid": "wxd678efh567hg6787",
        "out_trade_no": code,
        "transaction_id": "4200000001202401050000000001",
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "success_time": "2023-11-05T13:29:35+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": fen, "payer_total": fen, "currency": currency},
    }
