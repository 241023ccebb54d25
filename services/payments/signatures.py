"""Our bank gateway contract's signature (README.md, "Payments"): what a bank computes and we
check on every callback.

    X-Bank-Timestamp: Unix seconds when the bank sent the request
    X-Bank-Nonce:     a string the bank never uses twice (a UUID)
    X-Bank-Signature: lowercase hex HMAC-SHA256(secret, f"{timestamp}.{nonce}." + raw body)

Each bank has its own secret; during a rotation two are valid (the new and the old) and a
signature made with either passes. A timestamp more than ``TOLERANCE`` seconds from our
clock is stale; a nonce seen before with a good signature is a replay (callbacks.py keeps
them). Signatures are compared in constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.payments.exceptions import CallbackRefused

TIMESTAMP, NONCE, SIGNATURE = "X-Bank-Timestamp", "X-Bank-Nonce", "X-Bank-Signature"
TOLERANCE = 300  # seconds either side of our clock
MAX_NONCE = 100
UNIX_SECONDS = re.compile(r"[0-9]{1,12}")  # ASCII digits only: str.isdigit admits "²"


def sign(secret: str | bytes, timestamp: int | str, nonce: str, body: bytes) -> str:
    """The X-Bank-Signature of ``body`` sent at ``timestamp`` with ``nonce``."""
    key = secret.encode() if isinstance(secret, str) else secret
    message = f"{timestamp}.{nonce}.".encode() + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_headers(secret: str | bytes, timestamp: int, nonce: str, body: bytes) -> dict[str, str]:
    """The three headers a bank sends with ``body`` (the simulator and tests use this)."""
    return {
        TIMESTAMP: str(timestamp),
        NONCE: nonce,
        SIGNATURE: sign(secret, timestamp, nonce, body),
        "Content-Type": "application/json",
    }


@dataclass(frozen=True)
class Verified:
    """What a good signature vouches for: the nonce to record (replays are refused by it)."""

    nonce: str
    timestamp: int


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (HTTP header names are case-insensitive)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str | bytes], now: float
) -> Verified:
    """Check a bank callback's signature and timestamp; CallbackRefused with the reason
    (missing_signature, bad_timestamp, stale, bad_signature) otherwise."""
    timestamp = header(headers, TIMESTAMP)
    nonce = header(headers, NONCE)
    signature = header(headers, SIGNATURE)
    if not timestamp or not nonce or not signature:
        missing = [
            n for n, v in ((TIMESTAMP, timestamp), (NONCE, nonce), (SIGNATURE, signature)) if not v
        ]
        raise CallbackRefused("missing_signature", f"缺少签名头 {', '.join(missing)}")
    if not UNIX_SECONDS.fullmatch(timestamp):
        raise CallbackRefused("bad_timestamp", f"{TIMESTAMP} 不是 Unix 秒数")
    if len(nonce) > MAX_NONCE:
        raise CallbackRefused("bad_nonce", f"{NONCE} 超过 {MAX_NONCE} 个字符")
    if abs(now - int(timestamp)) > TOLERANCE:
        raise CallbackRefused("stale", f"{TIMESTAMP} 与服务器时间相差超过 {TOLERANCE} 秒")
    if not secrets:
        raise CallbackRefused("unknown_provider", "没有为该银行配置签名密钥")
    given = signature.strip().encode()
    good = False
    for secret in secrets:  # every secret is tried, so timing says nothing about which
        good |= hmac.compare_digest(given, sign(secret, timestamp, nonce, body).encode())
    if not good:
        raise CallbackRefused("bad_signature", "签名不符")
    return Verified(nonce=nonce, timestamp=int(timestamp))
