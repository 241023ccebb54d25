"""The bank callback contract's signature: HMAC-SHA256 over "{timestamp}.{nonce}." + body,
two secrets during a rotation, ±300 s, and every refusal with its reason."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.payments import signatures
from services.payments.exceptions import CallbackRefused

BODY = b'{"event_id":"e1","type":"premium.received"}'
NOW = 1_717_000_000


def test_the_signature_is_the_contracts_hmac_in_lowercase_hex():
    expected = hmac.new(b"s3cret", f"{NOW}.n-1.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signatures.sign("s3cret", NOW, "n-1", BODY) == expected == expected.lower()


@pytest.mark.parametrize("secret", ["new-secret", "old-secret"])
def test_either_secret_of_a_rotation_passes(secret):
    headers = signatures.signed_headers(secret, NOW, "n-1", BODY)
    verified = signatures.verify(headers, BODY, ["new-secret", "old-secret"], NOW)
    assert verified.nonce == "n-1" and verified.timestamp == NOW


def test_header_names_are_case_insensitive():
    headers = {k.lower(): v for k, v in signatures.signed_headers("s", NOW, "n", BODY).items()}
    assert signatures.verify(headers, BODY, ["s"], NOW).nonce == "n"


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda h, b: (h, b + b" "), "bad_signature"),  # the body changed by one byte
        (lambda h, b: ({**h, "X-Bank-Nonce": "other"}, b), "bad_signature"),
        (
            lambda h, b: ({**h, "X-Bank-Signature": h["X-Bank-Signature"].upper()}, b),
            "bad_signature",
        ),
        (
            lambda h, b: ({k: v for k, v in h.items() if k != "X-Bank-Signature"}, b),
            "missing_signature",
        ),
        (lambda h, b: ({**h, "X-Bank-Timestamp": "soon"}, b), "bad_timestamp"),
        (lambda h, b: ({**h, "X-Bank-Timestamp": "171700000²"}, b), "bad_timestamp"),
        (lambda h, b: ({**h, "X-Bank-Nonce": "n" * 101}, b), "bad_nonce"),
    ],
)
def test_a_changed_request_is_refused_with_its_reason(change, reason):
    headers, body = change(signatures.signed_headers("s", NOW, "n", BODY), BODY)
    with pytest.raises(CallbackRefused) as refused:
        signatures.verify(headers, body, ["s"], NOW)
    assert refused.value.reason == reason


def test_a_retired_secret_is_refused():
    headers = signatures.signed_headers("retired", NOW, "n", BODY)
    with pytest.raises(CallbackRefused, match="签名不符"):
        signatures.verify(headers, BODY, ["new", "old"], NOW)


@pytest.mark.parametrize("skew, good", [(300, True), (-300, True), (301, False), (-301, False)])
def test_the_timestamp_may_be_300_seconds_either_side(skew, good):
    headers = signatures.signed_headers("s", NOW + skew, "n", BODY)
    if good:
        signatures.verify(headers, BODY, ["s"], NOW)
    else:
        with pytest.raises(CallbackRefused) as refused:
            signatures.verify(headers, BODY, ["s"], NOW)
        assert refused.value.reason == "stale"
