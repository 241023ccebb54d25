"""The common case of a boundary load, without marshmallow (issue 14: CLI start).

Importing marshmallow costs a short command more than all its work (0.05–0.09 s, most of it
``marshmallow.validate`` compiling its e-mail pattern), yet nearly every claim, unit and year
file it would load is well formed. So a load first tries a *record*: a small table beside
the marshmallow schema (facts.py, year_fastload.py) naming each field, its plain type and
default. A record either answers exactly what the schema's ``load`` would answer or raises
``Slow`` — on anything it is not sure of: an unknown key, a null, a wrong type, a value a
validator could refuse — and the marshmallow schema then loads the same data, giving the
same answer or the same message as before. The fast path never words an error, so messages
have one source; ``tests/kernel/test_fastload.py`` checks each record against its schema
(same fields, required, defaults) and both on the seed files and on mutations of them.

This is also why year files are not cached in validated form: a cache under var/ would have
to be keyed by the file and by every line of code that validates it, and a stale entry would
answer wrongly and silently; a record is checked against its schema by the tests instead.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from services.kernel.money import MoneyError, parse_money


class Slow(Exception):
    """Not sure: the marshmallow schema decides (and words any error)."""


REQUIRED = object()  # the field must be given
OPTIONAL = object()  # may be left out: then absent from the answer (no load_default)

Convert = Callable[[Any], Any]


def text_problem(text: str, *, multiline: bool, blank: bool, max_length: int | None) -> str | None:
    """What is wrong with text a person typed (schemas.Text), or None: a control character
    (tab and line breaks only in ``multiline`` text), blank, or too long."""
    for char in text:
        if multiline and char in "\t\n\r":
            continue
        if unicodedata.category(char) in ("Cc", "Cs"):
            return f"含有不可见的控制字符（U+{ord(char):04X}）"
    if not blank and not text.strip():
        return "不能为空白"
    if max_length is not None and len(text) > max_length:
        return f"最多 {max_length} 个字符，填写了 {len(text)} 个"
    return None


# ---- converters: the value, or Slow ---------------------------------------------------------


def string(value: Any) -> str:
    """fields.String: a str as it is."""
    if type(value) is str:
        return value
    raise Slow


def checked_text(value: Any) -> str:
    """schemas.Text() with its defaults: not blank, no control characters, any length."""
    if (
        type(value) is str
        and text_problem(value, multiline=False, blank=False, max_length=None) is None
    ):
        return value
    raise Slow


def integer(value: Any) -> int:
    """fields.Integer (strict or not): an int as it is (a string of digits goes the slow way)."""
    if type(value) is int:
        return value
    raise Slow


def boolean(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise Slow


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def day(value: Any) -> date:
    """fields.Date: a date (YAML reads one) or YYYY-MM-DD naming a real day."""
    if type(value) is date:
        return value
    if type(value) is str and _DAY.fullmatch(value):
        try:
            return date(int(value[:4]), int(value[5:7]), int(value[8:]))
        except ValueError:
            pass
    raise Slow


def decimal_text(value: Any):
    """year_schemas.DecimalText: a string or int read as Decimal (parse_money)."""
    if value is None or isinstance(value, float):
        raise Slow
    try:
        return parse_money(value, name="value")
    except MoneyError:
        raise Slow from None


def plain_dict(value: Any) -> dict:
    """fields.Dict(): a mapping, copied."""
    if type(value) is dict:
        return dict(value)
    raise Slow


def one_of(choices: tuple, convert: Convert = string) -> Convert:
    def check(value: Any):
        value = convert(value)
        if value in choices:
            return value
        raise Slow

    return check


def between(low: int | None, high: int | None, convert: Convert = integer) -> Convert:
    def check(value: Any):
        value = convert(value)
        if (low is None or value >= low) and (high is None or value <= high):
            return value
        raise Slow

    return check


def matching(pattern: str, convert: Convert = string) -> Convert:
    """validate.Regexp(pattern): ``re.match``, as marshmallow's does."""
    regex = re.compile(pattern)

    def check(value: Any):
        value = convert(value)
        if regex.match(value):
            return value
        raise Slow

    return check


def list_of(convert: Convert, *, length: int | None = None, at_least: int = 0) -> Convert:
    def check(value: Any) -> list:
        if type(value) is not list or len(value) < at_least:
            raise Slow
        if length is not None and len(value) != length:
            raise Slow
        return [convert(item) for item in value]

    return check


def or_none(convert: Convert) -> Convert:
    """An item that may be null (fields.Date(allow_none=True) in a list)."""

    def check(value: Any):
        return None if value is None else convert(value)

    return check


class Record:
    """A schema's fields, each ``name: (convert, default)``; ``default`` is REQUIRED,
    OPTIONAL, a value, or a callable making one (list, dict). A default of None lets the
    field be null, as marshmallow's ``load_default=None`` does; any other null is Slow.
    ``make`` turns the loaded dict into the schema's post_load value."""

    def __init__(self, fields: Mapping[str, tuple[Convert, Any]], make: Callable | None = None):
        self.fields = dict(fields)
        self.make = make

    def __call__(self, value: Any) -> Any:
        if type(value) is not dict:
            raise Slow
        fields = self.fields
        out = {}
        for name, given in value.items():
            spec = fields.get(name)
            if spec is None:
                raise Slow  # unknown: the schema names it
            if given is None:
                if spec[1] is not None:
                    raise Slow
                out[name] = None
            else:
                out[name] = spec[0](given)
        for name, (_, default) in fields.items():
            if name in out or default is OPTIONAL:
                continue
            if default is REQUIRED:
                raise Slow
            out[name] = default() if callable(default) else default
        return self.make(out) if self.make is not None else out
