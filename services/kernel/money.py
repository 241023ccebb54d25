"""Money: Decimal yuan, rounded half-up to the fen only when a result is final.

Amounts in Chinese capitals (大写) follow the banking rule as cn2an's ``rmb`` mode writes
it, without importing cn2an for them (e.g. 273.09 -> 贰佰柒拾叁元零玖分).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN = Decimal("0.01")
ZERO = Decimal("0")
# The largest amount one form field may carry: far above any premium, cost or benefit of a
# notice (Zhangjiakou's highest cap is 120 000 yuan), far below what the MONEY columns
# (Numeric(14, 2)) hold once amounts are added up.
MAX_AMOUNT = Decimal("99999999.99")
_PLAIN = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")  # no exponent, no NaN or Infinity


class MoneyError(ValueError):
    """A value that is not an amount of money."""


def parse_money(value: object, *, name: str = "amount") -> Decimal:
    """Read an amount from a decimal string, an int or a Decimal; never from a float.

    A float has already lost the exact fen a clerk typed, so it is refused rather than
    guessed (the same reason a numeric ID cell is refused).
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise MoneyError(f'{name} 必须是小数字符串（如 "7000.00"），不能是 {value!r}')
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", "").replace("，", "")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise MoneyError(f"{name} 不是金额: {value!r}") from None
    else:
        raise MoneyError(f"{name} 不是金额: {value!r}")
    if not amount.is_finite():
        raise MoneyError(f"{name} 不是金额: {value!r}")
    return amount


def parse_amount(
    value: object, *, name: str = "amount", places: int = 2, maximum: Decimal = MAX_AMOUNT
) -> Decimal:
    """An amount a caller sent: a plain decimal string (thousands separators allowed), an int
    or a Decimal, with at most ``places`` decimals and at most ``maximum`` either way.

    ``parse_money`` reads the plugins' own data; this reads what arrives from outside, where
    "1e400" or 9 999 999 999 999.99 is a mistake (or worse) that would fail only when stored.
    """
    if isinstance(value, str) and not _PLAIN.fullmatch(
        value.strip().replace(",", "").replace("，", "")
    ):
        raise MoneyError(f'{name} 应为普通的小数写法（如 "7000.50"），不能是 {value!r}')
    amount = parse_money(value, name=name)
    if amount.as_tuple().exponent < -places:
        raise MoneyError(f"{name} 最多 {places} 位小数，填写的是 {value!r}")
    if abs(amount) > maximum:
        raise MoneyError(f"{name} 不能超过 {maximum}，填写的是 {value!r}")
    return amount


def round_money(amount: Decimal) -> Decimal:
    """Half-up to 0.01 yuan: the one rounding the notices' forms use."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal) -> str:
    """Two decimals, no separators: what forms, JSON and bank files carry."""
    return f"{round_money(amount):.2f}"


def capitals(amount: Decimal) -> str:
    """The amount in Chinese capitals (大写) by the banking rule, as cn2an's ``rmb`` mode
    writes it (tests/kernel/test_money.py compares the two over half a million amounts).

    Written here because importing cn2an takes 0.1-0.25 s (it compiles its parsers' regular
    expressions), which every `mutual-aid quote` and `assess` paid for one call (issue 14);
    cn2an still writes amounts of 亿 and above, which no form carries.
    """
    text = format_money(amount)
    sign, digits = ("负", text[1:]) if text.startswith("-") else ("", text)
    whole, cents = digits.split(".")
    yuan, jiao, fen = int(whole), int(cents[0]), int(cents[1])
    if yuan >= 100_000_000:
        import cn2an

        return cn2an.an2cn(text, "rmb")
    high, low = divmod(yuan, 10_000)
    words = ""
    if high:
        words = _group(high) + "万"
        if low:
            words += ("零" if low < 1000 else "") + _group(low)
    elif low:
        words = _group(low)
    if words:
        words += "元"
    if jiao:
        words += _CAPITAL_DIGITS[jiao] + "角"
    if fen:
        words += ("零" if words and not jiao else "") + _CAPITAL_DIGITS[fen] + "分"
    if not jiao and not fen:
        words = (words or "零元") + "整"
    return sign + words


_CAPITAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_PLACES = ("仟", "佰", "拾", "")


def _group(n: int) -> str:
    """0 < n < 10 000 in capitals: a run of zeros between digits is read once (零), trailing
    zeros not at all."""
    out: list[str] = []
    zero = False
    for digit, place in zip(f"{n:04d}", _PLACES, strict=True):
        if digit == "0":
            zero = bool(out)
        else:
            if zero:
                out.append("零")
                zero = False
            out.append(_CAPITAL_DIGITS[int(digit)] + place)
    return "".join(out)
