"""`mutual-aid city …`: onboarding a city and its next scheme year.

    mutual-aid city new CODE --name 宣化 [--from zhangjiakou] [--dir plugins] [--year Y]
    mutual-aid city new-year CODE YEAR [--from PREVIOUS]
    mutual-aid city check CODE          # one line per finding; exit 0 clean, 1 with findings
    mutual-aid city schema > plugins/city-year.schema.json
    mutual-aid city what-if CODE --year Y --rules DRAFT.yaml [--claims-db URL]

Only the city asked for is loaded (issue 14: CLI start); the modules are imported inside the
commands.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from services.kernel.errors import PolicyError


class CityCommandError(PolicyError):
    """Bad input to a city command: one line on stderr, exit 2 (main() catches PolicyError)."""


def _policy(code: str):
    from services.kernel.registry import load_registry

    return load_registry().get(code)


def cmd_new(args) -> dict:
    from services.onboarding.scaffold import ScaffoldError, new_city

    origin = _policy(args.origin) if args.origin else None
    year = args.year or args.clock.today().year
    try:
        made = new_city(args.code, args.name, Path(args.dir), origin, year)
    except (ScaffoldError, OSError) as exc:
        raise CityCommandError(str(exc)) from None
    return made.to_dict()


def cmd_new_year(args) -> dict:
    from services.onboarding.cases import cases_dir
    from services.onboarding.newyear import new_year
    from services.onboarding.scaffold import ScaffoldError

    policy = _policy(args.code)
    data_dir = getattr(policy, "data_dir", None)
    if data_dir is None:
        raise CityCommandError(f"{args.code}: its numbers are not year files (data/<year>.yaml)")
    try:
        made = new_year(args.code, data_dir, args.year, args.origin, cases_dir(policy))
    except (ScaffoldError, OSError) as exc:
        raise CityCommandError(str(exc)) from None
    return {"city": args.code, "year": args.year, **made.to_dict()}


def cmd_check(args):
    """Findings as lines on stdout (not JSON: an operator reads them), exit 1 if any."""
    from services.onboarding.conformance import check_city

    policy = _policy(args.code)
    findings = check_city(policy)
    for finding in findings:
        print(finding.line())
    if not findings:
        print(f"{args.code}: 通过（{len(list(policy.years()))} 个年度）")
    sys.stdout.flush()
    raise SystemExit(1 if findings else 0)


def cmd_schema(args) -> dict:
    from services.onboarding.schema import year_schema

    return year_schema()


def cmd_what_if(args) -> dict:
    from services.onboarding.whatif import WhatIfError, run

    policy = _policy(args.code)
    url = args.claims_db or os.environ.get("MUTUAL_AID_CLAIMS_DB") or "sqlite:///var/claims.sqlite"
    if not Path(args.rules).is_file():
        raise CityCommandError(f"--rules {args.rules}: no such file")
    try:
        return run(policy, args.year, Path(args.rules), url)
    except WhatIfError as exc:
        raise CityCommandError(str(exc)) from None


def add_to(sub, year_type) -> None:
    """Register `city new|new-year|check|schema|what-if` on the CLI's subparsers."""
    city = sub.add_parser("city", help="onboard a city: scaffold, next year, check, what-if")
    commands = city.add_subparsers(dest="city_command", required=True, parser_class=type(city))

    p = commands.add_parser("new", help="a new city plugin distribution")
    p.add_argument("code", metavar="CODE", help="e.g. xuanhua")
    p.add_argument("--name", required=True, help="the city's name, e.g. 宣化")
    p.add_argument("--from", dest="origin", metavar="CITY", help="copy an installed city")
    p.add_argument("--dir", default="plugins", help="where to write it (default: plugins)")
    p.add_argument("--year", type=year_type, help="a blank city's scheme year (default: this year)")
    p.set_defaults(run=cmd_new)

    p = commands.add_parser("new-year", help="next scheme year's data file from the last one")
    p.add_argument("code", metavar="CODE")
    p.add_argument("year", type=year_type, metavar="YEAR")
    p.add_argument("--from", dest="origin", type=year_type, metavar="PREVIOUS")
    p.set_defaults(run=cmd_new_year)

    p = commands.add_parser("check", help="conformance check before switching a city on")
    p.add_argument("code", metavar="CODE")
    p.set_defaults(run=cmd_check)

    p = commands.add_parser("schema", help="JSON Schema of a year file, for editors")
    p.set_defaults(run=cmd_schema)

    p = commands.add_parser("what-if", help="a past year's claims under a draft year file")
    p.add_argument("code", metavar="CODE")
    p.add_argument("--year", required=True, type=year_type, help="the claims' scheme year")
    p.add_argument("--rules", required=True, metavar="DRAFT.yaml")
    p.add_argument(
        "--claims-db",
        metavar="URL",
        help="the claims database (default: $MUTUAL_AID_CLAIMS_DB, else sqlite:///var/claims.sqlite)",
    )
    p.set_defaults(run=cmd_what_if)
