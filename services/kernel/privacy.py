"""Masking of personal data (ID numbers, phones, bank/union card numbers).

Lists, logs and SMS show only the masked forms; full numbers go only to roles that need
them (DESIGN.md, "Data"). ``MaskingFilter`` scrubs anything shaped like one from log records
so a careless log line cannot leak it.
"""

from __future__ import annotations

import logging
import re

_ID_IN_TEXT = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?!\d)")
_CARD_IN_TEXT = re.compile(r"(?<!\d)(\d{4})\d{8,11}(\d{4})(?!\d)")
# A country prefix glued to the number (+8613812345678, 0086…) must not hide it from the mask.
_MOBILE_IN_TEXT = re.compile(r"(?:(?<=\+86)|(?<=0086)|(?<!\d))(1\d{2})\d{4}(\d{4})(?!\d)")


def mask_id(number: str) -> str:
    """110105********002X: region kept, birth date and sequence hidden."""
    if len(number) < 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_phone(number: str) -> str:
    """138****5678."""
    if len(number) < 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def mask_card(number: str) -> str:
    """6222 **** 1234 style: the first and last four digits only."""
    digits = number.replace(" ", "")
    if len(digits) < 8:
        return "*" * len(digits)
    return digits[:4] + "*" * (len(digits) - 8) + digits[-4:]


def mask_text(text: str) -> str:
    """Mask every ID, card or mobile number inside free text."""
    text = _ID_IN_TEXT.sub(lambda m: mask_id(m.group(0)), text)
    text = _CARD_IN_TEXT.sub(lambda m: mask_card(m.group(0)), text)
    return _MOBILE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)


class MaskingFilter(logging.Filter):
    """A logging filter that masks personal numbers in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True
