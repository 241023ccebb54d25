"""``mutual-aid city check``: what an operator runs before switching a city on.

One finding per problem, each naming the city, the year and the file and key (or the case):
the data loads under the kernel's schema; every benefit, exclusion, fee and account cites its
source in the notice; every benefit has a seed case and every case passes; the cover period,
the enrolment window and the claim deadline hang together; accounts are well formed; the
roster template renders; SMS templates (a hook, once notify provides them) render within
their limits; and no value copied by ``new-year`` is still ``!unconfirmed``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.kernel.errors import PolicyError
from services.kernel.parameters import UNCONFIRMED, YearLoader, read_yaml
from services.kernel.policy import CityPolicy
from services.onboarding.cases import read_cases, run_case

ACCOUNT_DIGITS = (10, 30)  # 银行卡 16–19 digits, 对公账号 up to 24 (Quzhou's); nothing shorter
SMS_LIMIT = 500  # characters a long SMS may carry (gateways split at 67/70 and join up to ~500)


@dataclass(frozen=True)
class Finding:
    city: str
    year: int | None
    where: str  # file and key, or the case
    message: str
    kind: str = "error"  # error | unconfirmed

    def line(self) -> str:
        year = f" {self.year}" if self.year is not None else ""
        return f"{self.city}{year} {self.where}: {self.message}"


def check_city(policy: CityPolicy) -> list[Finding]:
    """Every finding for the installed city; empty when it may be switched on."""
    findings: list[Finding] = []
    years = []
    for year in policy.years():
        try:
            policy.period(year)
            policy.benefits(year)
        except PolicyError as exc:
            findings.append(Finding(policy.code, year, "data", str(exc)))
            continue
        years.append(year)
    if not policy.years():
        findings.append(Finding(policy.code, None, "data", "没有任何年度数据文件"))
    findings += _cases(policy, years)
    for year in years:
        for check in (_citations, _coherence, _accounts, _roster, _sms_templates, _unconfirmed):
            findings += check(policy, year)
    return findings


# ---- sources -------------------------------------------------------------------------------


def year_file(policy: CityPolicy, year: int) -> Path | None:
    """The year's data file, for a city whose numbers are year files (DataPolicy)."""
    data_dir = getattr(policy, "data_dir", None)
    if data_dir is None:
        return None
    path = Path(data_dir) / f"{year}.yaml"
    return path if path.exists() else None


def _label(policy: CityPolicy, path: Path) -> str:
    return f"{policy.code}/data/{path.name}"


def _raw_files(policy: CityPolicy, year: int) -> Iterator[tuple[str, dict]]:
    path = year_file(policy, year)
    if path is None:
        return
    raw = read_yaml(path)
    yield _label(policy, path), raw
    schedule = raw.get("benefit_schedule")
    if schedule and (path.parent / schedule).exists():
        yield _label(policy, path.parent / schedule), read_yaml(path.parent / schedule)


def _citations(policy: CityPolicy, year: int) -> list[Finding]:
    found = []

    def need(label: str, key: str, entry: Any, what: str) -> None:
        if isinstance(entry, dict) and not str(entry.get("source") or "").strip():
            found.append(Finding(policy.code, year, f"{label} {key}", f"{what}没有注明通知出处"))

    files = list(_raw_files(policy, year))
    for label, raw in files:
        for b in raw.get("benefits") or []:
            need(label, f"benefits.{b.get('code')}.source", b, f"待遇 {b.get('name')} ")
        for e in raw.get("exclusions") or []:
            need(label, f"exclusions.{e.get('code')}.source", e, f"除外责任 {e.get('label')} ")
        if "fee" in raw:
            need(label, "fee.source", raw["fee"], "缴费标准")
        if raw.get("account"):
            need(label, "account.source", raw["account"], "收款账户")
        for d in raw.get("districts") or []:
            if d.get("account"):
                need(label, f"districts.{d.get('code')}.account.source", d["account"], "收款账户")
    if not files:  # a city written from scratch: what its value types carry
        for b in policy.benefits(year):
            if not b.source.strip():
                found.append(
                    Finding(policy.code, year, f"benefit {b.code}", "待遇没有注明通知出处")
                )
    return found


# ---- cases ---------------------------------------------------------------------------------


def _cases(policy: CityPolicy, years: list[int]) -> list[Finding]:
    found = []
    covered: dict[int, set[str]] = {}
    for case in read_cases(policy):
        covered.setdefault(case.year, set()).update(case.benefits())
        if case.year not in years:
            continue
        where = f"{policy.code}/cases/{case.file.name} 「{case.name}」"
        for problem in run_case(policy, case.year, case.data):
            found.append(Finding(policy.code, case.year, where, f"案例不通过: {problem}"))
    for year in years:
        for benefit in policy.benefits(year):
            if benefit.code not in covered.get(year, set()):
                found.append(
                    Finding(
                        policy.code,
                        year,
                        f"{policy.code}/cases/{year}.yaml",
                        f"待遇 {benefit.code}（{benefit.name}）没有任何案例",
                    )
                )
    return found


# ---- periods, windows, deadlines -----------------------------------------------------------


def _coherence(policy: CityPolicy, year: int) -> list[Finding]:
    found = []

    def bad(where: str, message: str) -> None:
        found.append(Finding(policy.code, year, where, message))

    p = policy.period(year)
    if p.cover_start > p.cover_end:
        bad("period.cover", "保障期开始晚于结束")
    if p.cover_start.year != year and p.cover_end.year != year:
        bad("period.cover", f"保障期 {p.cover_start}～{p.cover_end} 与 {year} 年度不符")
    if p.window_start is not None and p.window_start > p.window_end:
        bad("period.window", "参保窗口开始晚于结束")
    if p.window_end > p.cover_end:
        bad("period.window", f"参保截止 {p.window_end} 晚于保障期结束 {p.cover_end}")
    deadline = policy.claim_deadline(year, None)  # type: ignore[arg-type]
    if deadline is not None and deadline < p.cover_end:
        bad("claims.deadline", f"受理期限 {deadline} 早于保障期结束 {p.cover_end}")
    for b in policy.benefits(year):
        if (
            b.pay_within_days is not None
            and b.pay_within_days_max is not None
            and b.pay_within_days > b.pay_within_days_max
        ):
            bad(f"benefits.{b.code}", "支付时限超过通知规定的最长时限")
    return found


# ---- accounts ------------------------------------------------------------------------------


def _accounts(policy: CityPolicy, year: int) -> list[Finding]:
    found = []
    seen = set()
    districts = list(policy.districts(year)) or [None]
    for district in districts:
        code = district.code if district else None
        try:
            account = policy.account(year, code, "某单位")
        except PolicyError as exc:
            found.append(Finding(policy.code, year, f"districts.{code}.account", str(exc)))
            continue
        if account is None or account in seen:
            continue
        seen.add(account)
        where = f"districts.{code}.account" if code else "account"
        if not account.payee.strip():
            found.append(Finding(policy.code, year, where, "收款账户没有户名"))
        if not account.bank.strip():
            found.append(Finding(policy.code, year, where, "收款账户没有开户行"))
        low, high = ACCOUNT_DIGITS
        if not (account.number.isdigit() and low <= len(account.number) <= high):
            found.append(
                Finding(
                    policy.code,
                    year,
                    where,
                    f"账号应为 {low}–{high} 位数字，是 {len(account.number)} 位",
                )
            )
    return found


# ---- templates -----------------------------------------------------------------------------


def _roster(policy: CityPolicy, year: int) -> list[Finding]:
    from services.enrollment.template import write_template  # openpyxl: only when checking

    fmt = policy.roster_format(year)
    found = []
    if not any(c.required for c in fmt.columns):
        found.append(Finding(policy.code, year, "roster.columns", "名册没有任何必填列"))
    titles = [t for c in fmt.columns for t in c.titles]
    twice = sorted({t for t in titles if titles.count(t) > 1})
    if twice:
        found.append(Finding(policy.code, year, "roster.columns", f"列名重复: {'、'.join(twice)}"))
    with tempfile.TemporaryDirectory() as folder:
        try:
            write_template(policy, year, Path(folder) / "template.xlsx")
        except Exception as exc:  # whatever stops the template is the finding
            found.append(
                Finding(
                    policy.code, year, "roster", f"名册模板无法生成: {type(exc).__name__}: {exc}"
                )
            )
    return found


def _sms_templates(policy: CityPolicy, year: int) -> list[Finding]:
    """SMS templates rendered with sample values, within their limits: a no-op for a city
    that has none (notify adds the hook; until then no city has templates)."""
    templates = getattr(policy, "sms_templates", None)
    if templates is None:
        return []
    found = []
    texts = templates(year)
    # the hook answers kernel.policy.SmsTemplates (its raw entries under .templates, each
    # {text, code, …}); notify checks segments and parameters itself when it loads them
    for name, template in dict(getattr(texts, "templates", texts) or {}).items():
        text = template.get("text", "") if isinstance(template, dict) else template
        text = getattr(text, "text", text)
        limit = getattr(template, "limit", SMS_LIMIT)
        try:
            rendered = str(text).format_map(_Sample())
        except (KeyError, ValueError, IndexError) as exc:
            found.append(Finding(policy.code, year, f"sms.{name}", f"短信模板无法渲染: {exc}"))
            continue
        if len(rendered) > limit:
            found.append(
                Finding(
                    policy.code,
                    year,
                    f"sms.{name}",
                    f"短信渲染后 {len(rendered)} 字，超过 {limit} 字",
                )
            )
    return found


class _Sample(dict):
    """Sample values for any placeholder: long enough to catch a template near its limit."""

    def __missing__(self, key: str) -> str:
        return "某某某某某某某某某某"


# ---- values copied by new-year -------------------------------------------------------------


def unconfirmed(path: Path) -> list[tuple[str, str]]:
    """(key, value) of every ``!unconfirmed`` value in a year file, in file order."""
    node = yaml.compose(path.read_text(encoding="utf-8"), Loader=YearLoader)  # noqa: S506
    found: list[tuple[str, str]] = []
    _walk(node, "", found, set())
    return found


def _walk(node: yaml.Node | None, path: str, found: list[tuple[str, str]], seen: set) -> None:
    if node is None or id(node) in seen:  # an alias (*x) is its anchor's node: listed once
        return
    seen.add(id(node))
    if node.tag == UNCONFIRMED:
        found.append((path, str(node.value)))
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _walk(value, f"{path}.{key.value}" if path else str(key.value), found, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            name = _item_name(item) or str(i)
            _walk(item, f"{path}.{name}", found, seen)


def _item_name(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value in ("code", "organisation", "reason") and isinstance(
                value, yaml.ScalarNode
            ):
                return str(value.value)
    return None


def _unconfirmed(policy: CityPolicy, year: int) -> list[Finding]:
    path = year_file(policy, year)
    if path is None:
        return []
    label = _label(policy, path)
    return [
        Finding(
            policy.code,
            year,
            f"{label} {key}",
            f"未确认（{value}，沿用上一年度），请对照新通知核对后删去 {UNCONFIRMED}",
            kind="unconfirmed",
        )
        for key, value in unconfirmed(path)
    ]
