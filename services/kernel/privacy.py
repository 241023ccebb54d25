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


_TRACEBACKS = logging.Formatter()


class MaskingFilter(logging.Filter):
    """A logging filter that masks personal numbers in everything a record carries out: the
    formatted message, the exception's text and traceback, the stack, and string values
    added with `extra=`.

    The traceback is formatted here, masked, and kept as `exc_text` in place of `exc_info`:
    a formatter (logging's or python-json-logger's) would otherwise format it again, unmasked
    (an SQL error's text holds the row's values)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = _TRACEBACKS.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        for key, value in vars(record).items():
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, mask_text(value))
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
