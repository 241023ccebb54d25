"""The fastload records answer what their marshmallow schemas answer, or defer to them.

A record (services/kernel/fastload.py) loads a well-formed claim, unit, history or year file
without marshmallow (issue 14: CLI start). It may answer only what the schema's ``load``
would answer; anything else must be ``Slow``, so that the schema decides and words the
error. Checked three ways: each record has its schema's fields, required flags and defaults;
both load every seed file and seed case alike; and on thousands of mutations of them (a key
dropped, nulled, misspelt, given a value of another type) the record is either Slow or equal
to the schema.
"""

from __future__ import annotations

import glob
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from marshmallow import ValidationError, fields, missing

from services.kernel import facts, facts_schemas, year_fastload, year_schemas
from services.kernel.fastload import OPTIONAL, REQUIRED, Record, Slow, text_problem
from services.kernel.parameters import read_yaml

ROOT = Path(__file__).resolve().parents[2]
YEAR_FILES = sorted(Path(p) for p in glob.glob(str(ROOT / "plugins/*/mutual_aid_*/data/2*.yaml")))
CASE_FILES = sorted(glob.glob(str(ROOT / "plugins/*/mutual_aid_*/cases/*.yaml")))


def _pairs():
    from mutual_aid_keqiao import kpi
    from mutual_aid_quzhou import preferential

    yield "claim", facts._CLAIM, facts_schemas.ClaimFactsSchema()
    yield "history", facts._HISTORY_ENTRY, facts_schemas.HistoryEntrySchema()
    yield "unit", facts._UNIT, facts_schemas.UnitSchema()
    for name in (
        "ACCOUNT",
        "BAND",
        "DISTRICT",
        "PERIOD",
        "FEE",
        "PARTICIPATION",
        "ROSTER_COLUMN",
        "ROSTER",
        "DEADLINE",
        "CLAIMS",
        "BENEFIT",
        "EXCLUSION",
        "TARGET",
        "PAYOUT_ADVICE",
        "YEAR",
        "SCHEDULE",
    ):
        schema = getattr(year_schemas, "".join(w.title() for w in name.split("_")) + "Schema")
        yield name, getattr(year_fastload, name), schema()
    yield "quzhou rule", preferential._RULE, preferential._rule_schema()
    yield "keqiao kpi", kpi._KPI, kpi._kpi_schema()


PAIRS = list(_pairs())


def _load(record: Record, schema, data):
    """(answer of the record or Slow, answer of the schema or ValidationError); neither
    changes the data it is given (the mutations share their unchanged parts)."""
    try:
        fast = record(data)
    except Slow:
        fast = Slow
    try:
        slow = schema.load(data)
    except ValidationError:
        slow = ValidationError
    return fast, slow


def _agree(record, schema, data) -> bool:
    fast, slow = _load(record, schema, data)
    return fast is Slow or fast == slow


@pytest.mark.parametrize("name, record, schema", PAIRS, ids=[p[0] for p in PAIRS])
def test_each_record_has_its_schemas_fields_required_and_defaults(name, record, schema):
    assert set(record.fields) == set(schema.fields), name
    for key, field in schema.fields.items():
        default = record.fields[key][1]
        if field.required:
            assert default is REQUIRED, key
        elif field.load_default is missing:
            assert default is OPTIONAL, key
        else:
            want = field.load_default() if callable(field.load_default) else field.load_default
            got = default() if callable(default) else default
            assert (got, type(got)) == (want, type(want)), key
            assert field.allow_none == (default is None), key
        if isinstance(field, fields.Nested):
            assert isinstance(record.fields[key][0], Record), key


def test_the_fact_names_are_the_schemas():
    assert facts.FACT_NAMES == tuple(facts_schemas.ClaimFactsSchema().fields)


def test_the_year_records_load_every_seed_file_as_the_schema_does():
    assert len(YEAR_FILES) >= 5
    for path in YEAR_FILES:
        raw = read_yaml(path)
        fast = year_fastload.YEAR(raw)  # a seed file is the common case: no Slow
        assert fast == year_schemas.YearSchema().load(raw), path


def _case_inputs():
    claims, units, histories = [], [], []
    for path in CASE_FILES:
        for case in yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []:
            if "assess" in case:
                claims.append(case["assess"]["claim"])
                if case["assess"].get("history"):
                    histories.append(case["assess"]["history"])
            if "quote" in case:
                units.append(case["quote"]["unit"])
    return claims, units, histories


def test_the_fact_records_load_the_seed_cases_as_the_schema_does():
    """Some cases are refused on purpose (the record defers them); most are the common case."""
    claims, units, histories = _case_inputs()
    assert len(claims) > 100 and units and histories
    entries = [e for h in histories for e in h]
    fast_answers = 0
    for record, schema, inputs in [
        (facts._CLAIM, facts_schemas.CLAIM_SCHEMA, claims),
        (facts._UNIT, facts_schemas.UnitSchema(), units),
        (facts._HISTORY_ENTRY, facts_schemas.HistoryEntrySchema(), entries),
    ]:
        for data in inputs:
            fast, slow = _load(record, schema, data)
            assert fast is Slow or fast == slow, data
            fast_answers += fast is not Slow
    assert fast_answers >= 0.9 * (len(claims) + len(units) + len(entries))


# values of every kind a mistake could put anywhere
ODD_VALUES = [
    None,
    "",
    "  ",
    "x",
    "a\x00b",
    "2024-02-30",
    "2024-1-5",
    "2024-03-01",
    "2024/03/01",
    "2024-03-01T08:00",
    "7,000.50",
    "1e3",
    "0.1234567",
    "-5",
    "99999999999",
    " 3 ",
    "IV",
    "death",
    "12",
    0,
    -1,
    1,
    11,
    True,
    False,
    1.5,
    Decimal("2.50"),
    date(2024, 3, 1),
    [],
    ["x"],
    [None],
    {},
    {"x": 1},
]


# one of each kind, for the year files (a year file's load costs more than a claim's)
KINDS = [None, "", "x", "2024-1-5", "1e3", 0, -1, 13, True, 1.5, date(2024, 3, 1), [], {"x": 1}]


def _mutations(data, odd=ODD_VALUES):
    """``data`` with one change somewhere: a key dropped, added, or a value replaced."""
    if isinstance(data, dict):
        yield {**data, "no_such_key": 1}
        for key, value in data.items():
            rest = {k: v for k, v in data.items() if k != key}
            yield rest
            for other in odd:
                yield {**rest, key: other}
            for inner in _mutations(value, odd):
                yield {**rest, key: inner}
    elif isinstance(data, list) and data:
        for inner in _mutations(data[0], odd):  # the first item stands for the rest
            yield [inner, *data[1:]]
        yield [*data, data[0]] if not isinstance(data[0], dict) else data[:1]
        yield []


def _short(data):
    """``data`` with every list cut to its first three items (Keqiao has 60 targets)."""
    if isinstance(data, dict):
        return {key: _short(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_short(value) for value in data[:3]]
    return data


@pytest.mark.parametrize("path", YEAR_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_on_mutated_year_files_a_record_is_slow_or_answers_as_the_schema(path):
    raw = _short(read_yaml(path))
    schema = year_schemas.YearSchema()
    tried = 0
    for mutated in _mutations(raw, KINDS):
        assert _agree(year_fastload.YEAR, schema, mutated), mutated
        tried += 1
    assert tried > 400


def test_on_mutated_facts_a_record_is_slow_or_answers_as_the_schema():
    claims, units, histories = _case_inputs()
    full_claim = {name: None for name in facts.FACT_NAMES}
    samples = [
        (facts._CLAIM, facts_schemas.CLAIM_SCHEMA, claims[:40]),
        (facts._UNIT, facts_schemas.UnitSchema(), units),
        (
            facts._HISTORY_ENTRY,
            facts_schemas.HistoryEntrySchema(),
            [e for h in histories for e in h],
        ),
    ]
    tried = 0
    for record, schema, inputs in samples:
        for data in inputs:
            for mutated in _mutations(data):
                assert _agree(record, schema, mutated), mutated
                tried += 1
        for name in full_claim if record is facts._CLAIM else record.fields:
            for odd in ODD_VALUES:
                data = {**inputs[0], name: odd}
                assert _agree(record, schema, data), data
                tried += 1
    assert tried > 3000


def test_text_problem_words_what_the_text_field_refuses():
    assert text_problem("ok", multiline=False, blank=False, max_length=None) is None
    assert "U+0009" in text_problem("a\tb", multiline=False, blank=False, max_length=None)
    assert text_problem("a\tb", multiline=True, blank=False, max_length=None) is None
    assert text_problem(" ", multiline=False, blank=False, max_length=None) == "不能为空白"
    assert text_problem(" ", multiline=False, blank=True, max_length=None) is None
    assert "最多 2" in text_problem("abc", multiline=False, blank=False, max_length=2)
