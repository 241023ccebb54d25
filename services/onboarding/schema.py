"""The year file's layout as JSON Schema, for editors (``mutual-aid city schema``).

Generated from the kernel's marshmallow schemas (services/kernel/parameters.py) by apispec,
so the file editors read and the loader that validates can never disagree; the checked-in
copy (plugins/city-year.schema.json) is tested to be current. A value tagged
``!unconfirmed`` reads as the value under the tag (editors: declare the tag as a scalar).
"""

from __future__ import annotations

import json
from decimal import Decimal

SCHEMA_FILE = "plugins/city-year.schema.json"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def year_schema() -> dict:
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    from services.kernel import parameters

    plugin = MarshmallowPlugin()
    spec = APISpec(title="city year", version="1", openapi_version="3.1.0", plugins=[plugin])
    # a number in a data file is a string ("0.85") or an int (20): never a float
    plugin.map_to_openapi_type(parameters.DecimalText, ["string", "integer"], None)
    spec.components.schema("Year", schema=parameters.YearSchema)
    spec.components.schema("Schedule", schema=parameters.ScheduleSchema)
    components = json.loads(json.dumps(spec.to_dict()["components"]["schemas"], default=_plain))
    text = json.dumps(components).replace("#/components/schemas/", "#/$defs/")
    defs = json.loads(text)
    year = defs.pop("Year")
    return {
        "$schema": _DIALECT,
        "$id": "https://mutual-aid.example/city-year.schema.json",
        "title": "mutual-aid: one scheme year of a city (plugins/<city>/mutual_aid_<city>/data/<year>.yaml)",
        **year,
        "$defs": defs,
    }


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def schema_text() -> str:
    # as `mutual-aid city schema` prints it (services/cli.py main), so the two are one file
    return json.dumps(year_schema(), ensure_ascii=False, indent=2) + "\n"
