"""The year file's JSON Schema for editors: current with the loader's schema, and every
installed year file valid against it."""

from __future__ import annotations

import datetime
import json

import jsonschema  # the test extra: a missing install fails, never skips

from services.kernel.parameters import read_yaml
from services.kernel.registry import load_registry
from services.onboarding.schema import SCHEMA_FILE, schema_text


def test_the_checked_in_schema_is_current(root):
    assert (root / SCHEMA_FILE).read_text(encoding="utf-8") == schema_text(), (
        f"regenerate it: mutual-aid city schema > {SCHEMA_FILE}"
    )


def test_city_schema_prints_the_checked_in_file(mutual_aid, root):
    run = mutual_aid("city", "schema")
    assert run.code == 0, run.stderr
    assert run.stdout == (root / SCHEMA_FILE).read_text(encoding="utf-8")


def _json_ready(value):
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def test_every_installed_year_file_is_valid_under_the_schema(root):
    schema = json.loads((root / SCHEMA_FILE).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    checked = 0
    for installed in load_registry():
        for path in sorted(installed.policy.data_dir.glob("[0-9][0-9][0-9][0-9].yaml")):
            errors = [e.message for e in validator.iter_errors(_json_ready(read_yaml(path)))]
            assert not errors, f"{path}: {errors[:3]}"
            checked += 1
    assert checked >= 5
    bad = {"year": 2024, "source": "x", "fee": {"price": 50.5}}
    assert not validator.is_valid(bad)  # a float price, and period/roster missing
