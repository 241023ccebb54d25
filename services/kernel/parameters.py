"""A plugin's numbers: one YAML file per scheme year, validated on load.

The layout of a year file (see plugins/*/mutual_aid_*/data/<year>.yaml) is checked with
marshmallow (year_schemas.py); a well-formed file is loaded by its fastload record instead
(year_fastload.py: the same answer without importing marshmallow, issue 14, CLI start) and
anything the record is not sure of goes to the schema; every error names the file and the
key (STYLE.md, on openIMIS). Python never holds a rate, a band, an account or a list: they
are all here, each beside its source in the notice (OpenFisca's parameters, one file per
period).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from services.kernel import year_fastload
from services.kernel.errors import PolicyDataError
from services.kernel.fastload import Slow
from services.kernel.hooks import PayoutAdvice
from services.kernel.periods import SchemePeriod
from services.kernel.policy import (
    NATURES,
    Account,
    Benefit,
    District,
    Exclusion,
    RosterColumn,
    RosterFormat,
    Target,
)

YEAR_FILE = re.compile(r"^(\d{4})\.yaml$")


@dataclass(frozen=True)
class BenefitRule:
    """A catalogue entry plus the parameters its formula reads."""

    benefit: Benefit
    kind: str
    params: dict[str, Any]
    excluded_causes: tuple[str, ...] = ()
    excluded_places: tuple[str, ...] = ()


@dataclass(frozen=True)
class YearData:
    file: str
    year: int
    source: str
    period: SchemePeriod
    districts: tuple[District, ...]
    district_accounts: dict[str, Account]
    preferential_units: dict[str, tuple[str, ...]]  # district code -> unit names
    non_public_subsidy: dict[str, tuple[dict, ...]]  # district code -> bands
    account: Account | None
    price: Decimal
    preferential_price: Decimal | None
    preferential_rule: dict[str, Any]
    union_subsidy_per_person: Decimal
    participation: dict[str, Any] | None
    roster: RosterFormat
    deadline: dict[str, int] | None
    rules: dict[str, BenefitRule]
    benefit_schedule: str | None
    exclusions: tuple[Exclusion, ...]
    targets: tuple[Target, ...]
    extra: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    payout_advice: dict[str, PayoutAdvice] = field(default_factory=dict)


UNCONFIRMED = "!unconfirmed"


class YearLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (the C one where present) that understands ``!unconfirmed``.

    ``mutual-aid city new-year`` copies last year's numbers into the next year's file, each
    tagged ``!unconfirmed`` until an operator checks it against the new notice and deletes
    the tag. Loading reads the value under the tag as if it were untagged (the year works
    for rehearsals and what-ifs); ``city check`` lists every tag still there.
    """


def _unconfirmed(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        plain = not node.style  # quoted stays a string: "5000" is text, as everywhere
        tag = loader.resolve(yaml.ScalarNode, node.value, (plain, not plain))
        return loader.construct_object(yaml.ScalarNode(tag, node.value, style=node.style))
    raise yaml.constructor.ConstructorError(
        None, None, f"{UNCONFIRMED} 只能标在单个值上", node.start_mark
    )


YearLoader.add_constructor(UNCONFIRMED, _unconfirmed)


def read_yaml(path: Path) -> Any:
    label = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyDataError(str(path), None, "文件不存在") from None
    try:
        return yaml.load(text, Loader=YearLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise PolicyDataError(label, None, f"不是有效的 YAML: {exc}") from None


def load_year(path: Path, label: str) -> YearData:
    """Read and validate one year file; ``label`` names it in errors (plugin/data/2024.yaml)."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise PolicyDataError(label, None, "应为一个映射（key: value）")
    try:
        data = year_fastload.YEAR(raw)  # the common case, no marshmallow
    except Slow:
        from marshmallow import ValidationError

        from services.kernel.year_schemas import YearSchema

        try:
            data = YearSchema().load(raw)
        except ValidationError as exc:
            key, message = first_error(exc.messages)
            raise PolicyDataError(label, key, message) from None
    expected = YEAR_FILE.match(path.name)
    if expected and int(expected.group(1)) != data["year"]:
        raise PolicyDataError(label, "year", f"文件名是 {path.name}，但 year 写的是 {data['year']}")
    return _build(label, data)


def load_schedule(path: Path, label: str) -> tuple[dict[str, BenefitRule], tuple[Exclusion, ...]]:
    """A separate benefit schedule file: its rules and exclusions, validated like a year's."""
    raw = read_yaml(path)
    try:
        loaded = year_fastload.SCHEDULE(raw)
    except Slow:
        from marshmallow import ValidationError

        from services.kernel.year_schemas import ScheduleSchema

        try:
            loaded = ScheduleSchema().load(raw if isinstance(raw, dict) else {})
        except ValidationError as exc:
            key, message = first_error(exc.messages)
            raise PolicyDataError(label, key, message) from None
    rules = build_rules(label, loaded["benefits"])
    return rules, build_exclusions(label, loaded["exclusions"], rules)


def first_error(messages, path: str = "") -> tuple[str, str]:
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        return first_error(value, f"{path}.{key}" if path else str(key))
    if isinstance(messages, list) and messages and isinstance(messages[0], str):
        text = " ".join(messages)
        return path, "不认识的键（拼写错误？）" if text == "Unknown field." else text
    if isinstance(messages, list) and messages:
        return first_error(messages[0], path)
    return path, str(messages)


def _build(label: str, d: dict) -> YearData:
    p = d["period"]
    period = SchemePeriod(
        year=d["year"],
        number=p["number"],
        cover_start=p["cover"][0],
        cover_end=p["cover"][1],
        window_start=p["window"][0],
        window_end=p["window"][1],
    )
    if period.cover_start > period.cover_end:
        raise PolicyDataError(label, "period.cover", "保障期开始晚于结束")
    districts, accounts, preferential, subsidies = [], {}, {}, {}
    for entry in d["districts"]:
        districts.append(District(entry["code"], entry["name"], tuple(entry["aliases"])))
        if "account" in entry:
            accounts[entry["code"]] = entry["account"]
        preferential[entry["code"]] = tuple(entry["preferential_units"])
        subsidies[entry["code"]] = tuple(entry["non_public_subsidy"])
    if d["account"] is None and len(accounts) != len(districts):
        missing = [x.code for x in districts if x.code not in accounts]
        # a city may genuinely have no account in its notice (Keqiao): then none is quoted
        if districts and missing and len(missing) != len(districts):
            raise PolicyDataError(label, "districts", f"这些区块没有账户: {', '.join(missing)}")
    fee = d["fee"]
    if "preferential_price" not in fee and any(preferential.values()):
        raise PolicyDataError(label, "fee.preferential_price", "有优惠单位名单但没有优惠价")
    roster = d["roster"]
    roster_format = RosterFormat(
        sheet=roster["sheet"],
        title=roster["title"],
        application_sheet=roster["application_sheet"],
        unit_key=roster["unit_key"],
        columns=tuple(
            RosterColumn(c["field"], tuple(c["titles"]), c["required"]) for c in roster["columns"]
        ),
    )
    claims = d["claims"] or {}
    rules = build_rules(label, d["benefits"])
    exclusions = build_exclusions(label, d["exclusions"], rules)
    targets = tuple(
        Target(
            t["organisation"],
            t["kind"],
            t["figure"],
            t["base"],
            t["group"],
            d.get("targets_source", ""),
        )
        for t in d["targets"]
    )
    return YearData(
        file=label,
        year=d["year"],
        source=d["source"],
        period=period,
        districts=tuple(districts),
        district_accounts=accounts,
        preferential_units=preferential,
        non_public_subsidy=subsidies,
        account=d["account"],
        price=fee["price"],
        preferential_price=fee.get("preferential_price"),
        preferential_rule=fee.get("preferential_rule") or {},
        union_subsidy_per_person=fee["union_subsidy_per_person"],
        participation=d["participation"],
        roster=roster_format,
        deadline=claims.get("deadline"),
        rules=rules,
        benefit_schedule=d["benefit_schedule"],
        exclusions=exclusions,
        targets=targets,
        extra=d["extra"],
        payout_advice={a.reason: a for a in d["payout_advice"]},
        sources={
            "fee": fee.get("source", ""),
            "participation": (d["participation"] or {}).get("source", ""),
            "period": p.get("source", ""),
            "claims": claims.get("source", ""),
            "roster": roster.get("source", ""),
        },
    )


def build_rules(label: str, entries: list[dict]) -> dict[str, BenefitRule]:
    from services.kernel.facts import FACT_NAMES

    rules = {}
    for b in entries:
        for fact in [*b["needs"], *([b["counts_by"]] if b["counts_by"] else [])]:
            if fact not in FACT_NAMES:
                raise PolicyDataError(label, f"benefits.{b['code']}", f"不认识的事实 {fact}")
        if b["code"] in rules:
            raise PolicyDataError(label, f"benefits.{b['code']}", "重复的待遇代码")
        benefit = Benefit(
            code=b["code"],
            name=b["name"],
            needs=tuple(b["needs"]),
            counts_by=b["counts_by"],
            attachments=tuple(b["attachments"]),
            review=b["review"],
            pay_within_days=b["pay_within_days"],
            pay_within_days_max=b["pay_within_days_max"],
            pay_days_kind=b["pay_days_kind"],
            summary=b["summary"],
            source=b["source"],
        )
        rules[b["code"]] = BenefitRule(
            benefit,
            b["kind"],
            b["params"],
            tuple(b["excluded_causes"]),
            tuple(b["excluded_places"]),
        )
    return rules


def build_exclusions(label: str, entries: list[dict], rules: dict) -> tuple[Exclusion, ...]:
    exclusions = tuple(
        Exclusion(
            e["code"],
            e["label"],
            tuple(e["benefits"]),
            e["recover"],
            tuple(e["unless_causes"]),
            e["source"],
        )
        for e in entries
    )
    for e in exclusions:
        unknown = [b for b in e.benefits if b not in rules]
        if unknown and rules:
            raise PolicyDataError(
                label, f"exclusions.{e.code}", f"不认识的待遇代码 {', '.join(unknown)}"
            )
    return exclusions


__all__ = ["YearData", "BenefitRule", "load_year", "read_yaml", "YEAR_FILE", "NATURES", "date"]


def __getattr__(name: str):
    # the schemas' old home: `parameters.YearSchema`, `parameters.DecimalText` still answer,
    # importing marshmallow only when asked (year_schemas.py)
    if name in ("DecimalText", "YearSchema", "ScheduleSchema", "REVIEW_CADENCES"):
        from services.kernel import year_schemas

        return getattr(year_schemas, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
