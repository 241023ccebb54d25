"""Mainland mobile numbers: 11 digits starting with 1 (POLICIES.md, shared rules)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_MOBILE = re.compile(r"^1\d{10}$")
# A number already in its normal form (ASCII digits, nothing to strip): valid as it stands.
# The roster's fast path tests this before asking parse_mobile for a diagnosis.
NORMAL_MOBILE = re.compile(r"1[0-9]{10}\Z")


@dataclass(frozen=True)
class PhoneCheck:
    raw: str
    number: str
    valid: bool
    reason: str | None = None
    warning: str | None = None


def parse_mobile(value: object) -> PhoneCheck:
    """Normalise (full-width digits, blanks, dashes, a +86 prefix) and check a mobile number."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a phone column stored as numbers loses nothing under 2**53
    raw = "" if value is None else str(value)
    if raw.isascii() and raw.isdigit():
        # Nearly every cell: ASCII digits are unchanged by NFKC and hold nothing to strip.
        text, warning = raw, None
    else:
        text = unicodedata.normalize("NFKC", raw)
        warning = "手机号码含全角字符，已转换为半角" if text != raw else None
        text = re.sub(r"[\s\-()]", "", text)
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    if not text:
        return PhoneCheck(raw, text, False, "手机号码为空", warning)
    if not _MOBILE.match(text):
        return PhoneCheck(
            raw, text, False, f"手机号码应为以1开头的11位数字，填写的是 {raw!s}", warning
        )
    return PhoneCheck(raw, text, True, None, warning)
