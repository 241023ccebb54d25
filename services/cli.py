"""``mutual-aid``: the command line. JSON on stdout; bad input is one line on stderr, exit 2.

Subcommands: cities, benefits, quote, assess, idcard, targets, roster check, template, the
enrollment database's unit/application commands (services/enrollment/commands.py), and the
two ways of running the services: `serve` (embedded) and `run` (production).
A command answers a dict (exit 0) or a (dict, exit code) pair: `roster check` exits 1 when the
file has errors, its JSON still on stdout.

"Today" is the day in Asia/Shanghai (services/kernel/clock.py); `mutual-aid --today YYYY-MM-DD
<command>` pins it for every command that needs a date, and `serve` passes it on to the
services (their FIXED_TODAY).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

# Only what every command needs is imported here (exceptions, the clock, the parser): each
# command imports its own modules, so `cities` or `quote` does not pay for SQLAlchemy, nameko
# or the spreadsheet readers (issue 14; tests/test_cli_imports.py).
from services.enrollment.exceptions import EnrollmentError, RosterUnreadable
from services.kernel.clock import SYSTEM, Clock, parse_day
from services.kernel.errors import PolicyError
from services.kernel.registry import load_city, load_registry
from services.messaging.errors import DatabaseConfigError, MessagingError, StartupError


class UsageError(Exception):
    """Bad input to the CLI itself: one line on stderr, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; we print one line
        # main() prefixes "mutual-aid: "; name the subcommand's help, not the prog twice
        raise UsageError(f"{message} (see {self.prog} --help)")


def _read_json(source: str) -> dict:
    try:
        if source == "-":
            text = sys.stdin.read()
        else:
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{source}: not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a JSON object")
    return data


def _only(data: dict, source: str, allowed: set[str], required: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise UsageError(
            f"{source}: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(allowed))}"
        )
    missing = sorted(required - set(data))
    if missing:
        raise UsageError(f"{source}: missing key(s) {', '.join(missing)}")


def cmd_cities(args) -> dict:
    # Listing needs each plugin's name and years, not its validated data: each year file is
    # only parsed (libyaml), so a plugin whose file does not parse is listed under "failed";
    # a key that does not validate is named, by file and key, when the city is used.
    registry = load_registry(validate=False)
    return {
        "cities": [
            {
                "code": c.code,
                "name": c.policy.name,
                "years": list(c.policy.years()),
                "distribution": c.distribution,
                "version": c.version,
            }
            for c in registry
        ],
        "failed": [
            {
                "entry_point": b.entry_point,
                "distribution": b.distribution,
                "version": b.version,
                "reason": b.reason,
            }
            for b in registry.broken
        ],
    }


def cmd_benefits(args) -> dict:
    policy = load_city(args.city)
    return {
        "city": args.city,
        "year": args.year,
        "period": policy.period(args.year).to_dict(),
        "benefits": [b.to_dict() for b in policy.benefits(args.year)],
        "exclusions": [
            {"code": e.code, "label": e.label, "benefits": list(e.benefits), "recover": e.recover}
            for e in policy.exclusions(args.year)
        ],
    }


def cmd_quote(args) -> dict:
    from services.kernel.facts import load_unit

    data = _read_json(args.file)
    _only(data, args.file, {"unit"}, {"unit"})
    unit = load_unit(data["unit"])
    policy = load_city(args.city)
    return {"city": args.city, "year": args.year, **policy.quote(args.year, unit).to_dict()}


def cmd_assess(args) -> dict:
    from services.kernel.facts import load_claim, load_history

    data = _read_json(args.file)
    _only(data, args.file, {"claim", "history"}, {"claim"})
    claim = load_claim(data["claim"])
    history = load_history(data.get("history"))
    policy = load_city(args.city)
    return {
        "city": args.city,
        "year": args.year,
        **policy.assess(args.year, claim, history).to_dict(),
    }


def cmd_idcard(args) -> dict:
    from services.kernel.idcard import parse_id

    results = []
    for raw in args.ids:
        check = parse_id(raw, today=args.clock.today())
        result = check.to_dict()
        result["input"] = raw
        result["sex_label"] = check.sex_label if check.valid else None
        if not check.valid:
            result["birth_date"] = result["sex"] = None
        results.append(result)
    return {"ids": results}


def cmd_targets(args) -> dict:
    from services.kernel.money import MoneyError, parse_money

    policy = load_city(args.city)
    actuals = {}
    if args.file:
        data = _read_json(args.file)
        _only(data, args.file, {"actuals"}, {"actuals"})
        if not isinstance(data["actuals"], list):
            raise UsageError(
                f"{args.file}: actuals must be a list of {{organisation, kind, actual}}"
            )
        for i, row in enumerate(data["actuals"]):
            if not isinstance(row, dict) or set(row) != {"organisation", "kind", "actual"}:
                raise UsageError(
                    f"{args.file}: actuals[{i}] must be {{organisation, kind, actual}}"
                )
            try:
                actual = parse_money(row["actual"], name=f"actuals[{i}].actual")
            except MoneyError as exc:
                raise UsageError(f"{args.file}: {exc}") from None
            actuals[(row["organisation"], row["kind"])] = actual
    rows = []
    for r in policy.evaluate_targets(args.year, actuals):
        rows.append(
            {
                "organisation": r.target.organisation,
                "group": r.target.group,
                "kind": r.target.kind,
                "target": str(r.target.figure),
                "base": None if r.target.base is None else str(r.target.base),
                "actual": str(r.actual) if args.file else None,
                "met": r.met if args.file else None,
            }
        )
    return {"city": args.city, "year": args.year, "targets": rows}


def cmd_roster_check(args) -> tuple[dict, int]:
    from services.enrollment.roster import read_roster
    from services.enrollment.workbook import open_workbook

    fmt = load_city(args.city).roster_format(args.year)
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    name = Path(args.file).name
    book = open_workbook(data, name)  # once, for the check and the report
    # No database here: conflicts with other units are checked by the enrollment service.
    result = read_roster(book, name, fmt, today=args.clock.today())
    answer = {"file": args.file, "city": args.city, "year": args.year, **result.to_dict()}
    answer["report"] = None
    if args.report and (result.errors or result.warnings):
        from services.enrollment.report import write_report  # openpyxl: only when asked

        try:
            answer["report"] = str(write_report(book, result, args.report))
        except OSError as exc:
            raise UsageError(f"cannot write {args.report}: {exc.strerror}") from None
    return answer, 1 if result.errors else 0


def cmd_template(args) -> dict:
    from services.enrollment.template import default_name, write_template  # openpyxl

    policy = load_city(args.city)
    target = Path(args.output or default_name(policy, args.year))
    if target.suffix.lower() != ".xlsx":
        raise UsageError(f"{target}: the template is written as .xlsx")
    try:
        written = write_template(policy, args.year, target)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror}") from None
    return {"city": args.city, "year": args.year, "written": str(written)}


def _patch_eventlet() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eventlet's own deprecation notice: nameko 2 needs it
        import eventlet

    eventlet.monkey_patch()  # nameko runs on eventlet; patch before it starts anything


def _ready(names: str, mode: str):
    def ready(runner) -> None:
        from services.messaging.http_listener import Listener

        http = ", ".join(Listener.bound()) or "no HTTP"
        print(f"mutual-aid: ready: {names} ({mode}), HTTP on {http}", file=sys.stderr, flush=True)

    return ready


def cmd_serve(args) -> dict:
    """Run the services in one process on the in-process bus, SQLite under --var (the
    embedded mode of DESIGN.md), until Ctrl-C or SIGTERM."""
    _patch_eventlet()
    from services.access.tokens import LocalIssuer
    from services.demo import seed
    from services.demo.year import DEMO_TODAY
    from services.messaging.embedded import embedded_config, run_embedded
    from services.messaging.logs import setup_logging
    from services.providers import TODAY_KEY

    classes = _service_classes()
    config = embedded_config(
        classes, var_dir=args.var, WEB_SERVER_ADDRESS=args.http, **_embedded_bank(args.var)
    )
    var = Path(args.var)
    new, demo = seed.is_new(var) and not args.no_demo, seed.is_demo(var)
    today = args.clock.pinned or (
        parse_day(seed.demo_today(var) or DEMO_TODAY) if new or demo else None
    )
    if today:  # a demo var/ runs on the demo clock (windows and deadlines open) unless --today
        config[TODAY_KEY] = today.isoformat()
    var.mkdir(parents=True, exist_ok=True)
    LocalIssuer(config["AUTH_KEY_DIR"]).ensure()  # embedded: the key `token issue` signs with
    setup_logging(config)
    names = ", ".join(cls.name for cls in classes)
    ready = _ready(names, f"in-process bus, data in {args.var}/")
    if new or demo:
        demo_ready = seed.on_ready({**config, "AMQP_URI": "memory://"}, var, new, today)
        ready = _both(ready, demo_ready)
    run_embedded(classes, config, ready)
    return {"stopped": names}


def _both(*hooks):
    def ready(runner) -> None:
        for hook in hooks:
            hook(runner)

    return ready


def _embedded_bank(var: str) -> dict:
    """The bank of the embedded mode: the simulator in-process on localhost, its HMAC secret
    made once and kept under var/ (never in code), payouts final after a second."""
    import secrets

    path = Path(var) / "bank-sim.secret"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    secret = path.read_text(encoding="utf-8").strip()
    return {
        "BANK_SIMULATOR": {"code": "sim", "secret": secret, "delay": 1.0},
        "PAYOUT_QUERY_AFTER": 30,
        "PAYOUT_QUERY_INTERVAL": 10,
    }


def cmd_run(args) -> dict:
    """Run the named services on the config's broker and databases (production), until
    SIGTERM; what they need is checked first, each problem one line."""
    from services.messaging.config import load_config

    config = load_config(args.config)  # before eventlet: a missing file is one line at once
    _patch_eventlet()
    from services.messaging.logs import setup_logging
    from services.messaging.runner import check_startup, run_services

    classes = [_service_class(name) for name in args.services]
    names = ", ".join(cls.name for cls in classes)
    setup_logging(config, service=names)
    check_startup(classes, config)
    run_services(classes, config, _ready(names, "broker and databases checked"))
    return {"stopped": names}


def _service_class(name: str) -> type:
    """`claims` or `services.claims.service`: the class whose `name` is the service's."""
    import importlib

    short = name.removeprefix("services.").removesuffix(".service")
    if not short.isidentifier():
        raise UsageError(f"{name}: not a service name")
    try:
        module = importlib.import_module(f"services.{short}.service")
    except ModuleNotFoundError:
        raise UsageError(f"{name}: no such service (services/{short}/service.py)") from None
    for value in vars(module).values():
        if isinstance(value, type) and getattr(value, "name", None) == short:
            return value
    raise UsageError(f"services/{short}/service.py has no service named {short!r}")


def _service_classes() -> list[type]:
    from services.claims.service import ClaimsService
    from services.console.service import ConsoleService  # the web console, /console/
    from services.enrollment.service import EnrollmentService
    from services.notify.service import NotifyService  # the embedded outbox gateway
    from services.payments.service import PaymentsService

    return [EnrollmentService, ClaimsService, PaymentsService, NotifyService, ConsoleService]


def _http_address(text: str) -> str:
    from services.messaging.http_address import HttpAddressError, parse_address

    try:
        parse_address(text)
    except HttpAddressError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _year(text: str) -> int:
    if not (text.isdigit() and len(text) == 4):
        raise argparse.ArgumentTypeError(f"year must be four digits, not {text!r}")
    return int(text)


def _pinned_clock(text: str) -> Clock:
    try:
        return Clock(parse_day(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def city_year(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--city", required=True)
    p.add_argument("--year", required=True, type=_year)
    return p


def _add_cities(sub) -> None:
    sub.add_parser("cities", help="installed city plugins").set_defaults(run=cmd_cities)


def _add_benefits(sub) -> None:
    city_year(sub.add_parser("benefits", help="a city's benefit catalogue")).set_defaults(
        run=cmd_benefits
    )


def _add_quote(sub) -> None:
    p = city_year(sub.add_parser("quote", help="fee quote for a unit's group application"))
    p.add_argument("file", metavar="FILE|-")
    p.set_defaults(run=cmd_quote)


def _add_assess(sub) -> None:
    p = city_year(sub.add_parser("assess", help="assess a claim"))
    p.add_argument("file", metavar="FILE|-")
    p.set_defaults(run=cmd_assess)


# The short commands people wait for (issue 14, CLI start): `mutual-aid quote …` builds a
# parser with only its own subcommand, not the 35 of them (argparse and gettext cost 0.01–0.02
# s). Anything that parser refuses, and every --help, is parsed again by the whole parser,
# so messages and help read as before.
_SHORT = {
    "cities": _add_cities,
    "benefits": _add_benefits,
    "quote": _add_quote,
    "assess": _add_assess,
}


def _command_word(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (after ``--today DAY``), if it is one of _SHORT and
    no help is asked for; otherwise None (the whole parser)."""
    if "-h" in argv or "--help" in argv:
        return None
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] == "--today" else 1
    word = argv[i] if i < len(argv) else None
    return word if word in _SHORT else None


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    argv = sys.argv[1:] if argv is None else list(argv)
    only = _command_word(argv)
    if only is not None:
        try:
            return build_parser(only).parse_args(argv)
        except UsageError:
            pass  # the whole parser words it, as it always has
    return build_parser().parse_args(argv)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (``only``) the global options and one short subcommand."""
    parser = _Parser(
        prog="mutual-aid", description="Workers' medical mutual aid: city policies and tools."
    )
    parser.add_argument(
        "--today",
        dest="clock",
        type=_pinned_clock,
        default=SYSTEM,
        metavar="YYYY-MM-DD",
        help="pin today's date (Asia/Shanghai) for every command that needs one, and for the "
        "services `serve` runs: a rehearsal or a test (default: the real day)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    if only is not None:
        _SHORT[only](sub)
        return parser
    for add in _SHORT.values():
        add(sub)
    p = sub.add_parser("idcard", help="check resident ID numbers")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.set_defaults(run=cmd_idcard)
    p = city_year(sub.add_parser("targets", help="targets, and how recorded actuals meet them"))
    p.add_argument(
        "file", nargs="?", metavar="FILE|-", help='{"actuals": [{organisation, kind, actual}]}'
    )
    p.set_defaults(run=cmd_targets)
    roster = sub.add_parser("roster", help="member rosters from Excel")
    roster_sub = roster.add_subparsers(dest="roster_command", required=True, parser_class=_Parser)
    p = city_year(roster_sub.add_parser("check", help="check a roster file (.xls, .xlsx, .ods)"))
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--report",
        metavar="OUT.xlsx",
        help="write the error report workbook here (when there are errors or warnings)",
    )
    p.set_defaults(run=cmd_roster_check)
    p = city_year(sub.add_parser("template", help="a city's blank application and roster workbook"))
    p.add_argument("-o", "--output", metavar="OUT.xlsx", help="default: <city name><year>.xlsx")
    p.set_defaults(run=cmd_template)
    # the other commands' own modules: argparse only (their work is imported lazily), and
    # not imported by the short commands, which build only their own subparser
    from services.access import commands as token_commands
    from services.demo import commands as demo_commands
    from services.enrollment import commands as enrollment_commands
    from services.messaging import commands as events_commands
    from services.payments import commands as payments_commands

    enrollment_commands.add_to(sub, city_year, _year)
    events_commands.add_to(sub)
    payments_commands.add_to(sub)
    token_commands.add_to(sub)
    demo_commands.add_to(sub)
    from services.onboarding import commands as city_commands  # argparse only; work is lazy

    city_commands.add_to(sub, _year)
    p = sub.add_parser(
        "serve", help="run the services in one process (embedded mode: in-process bus, SQLite)"
    )
    p.add_argument("--var", default="var", help="folder for the SQLite files (default: var)")
    p.add_argument(
        "--http",
        default="127.0.0.1:8000",
        type=_http_address,
        metavar="HOST:PORT",
        help="HTTP address (default: 127.0.0.1:8000)",
    )
    p.add_argument(
        "--no-demo",
        action="store_true",
        help="a new --var starts empty (default: demo data, tokens and the demo clock)",
    )
    p.set_defaults(run=cmd_serve)
    p = sub.add_parser(
        "run", help="run services in production (config: broker, databases); see deploy/"
    )
    p.add_argument("services", nargs="+", metavar="SERVICE", help="e.g. enrollment claims")
    p.add_argument("--config", required=True, metavar="FILE", help="e.g. deploy/config.yaml")
    p.set_defaults(run=cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse(argv)
        result = args.run(args)
    except (UsageError, PolicyError, RosterUnreadable, EnrollmentError, DatabaseConfigError) as exc:
        print(f"mutual-aid: {exc}", file=sys.stderr)
        return 2
    except MessagingError as exc:  # starting: config, HTTP address (2); database, broker (1)
        print(f"mutual-aid: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, StartupError) else 2
    except OSError as exc:  # a file named on the command line that cannot be read or written
        print(f"mutual-aid: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    result, code = result if isinstance(result, tuple) else (result, 0)
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
