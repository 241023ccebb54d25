"""`mutual-aid unit|application` subcommands: the clerk's and reviewer's work from a shell.

They work on the enrollment database directly, in one transaction per command (an import in
short ones, see applications.import_roster), through the same operations the service runs
(applications.py); events go to the outbox and are published when the service next relays.
The database is `--db URL`, else $MUTUAL_AID_ENROLLMENT_DB, else the embedded default
`sqlite:///var/enrollment.sqlite`. A command that writes creates a missing SQLite file (a
PostgreSQL database is prepared by its migrations instead); `application list` only reads,
and a missing file is an error there. "Today" is the CLI's clock (`mutual-aid --today …`).

    mutual-aid unit register --city quzhou --year 2025 --key 330800A --name … [--district …]
    mutual-aid application open --unit UNIT_ID --year 2025 --participants 80 --actor 王芳
    mutual-aid application import APPLICATION_ID FILE --actor 王芳 [--append] [--report OUT.xlsx]
    mutual-aid application submit|approve APPLICATION_ID --actor …
    mutual-aid application return APPLICATION_ID --reason … --actor …
    mutual-aid application list --city quzhou --year 2025 [--status submitted]
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from services.enrollment.exceptions import EnrollmentError

# The database modules (SQLAlchemy, the roster reader, the plugins) are imported inside the
# commands, so the policy commands of the same CLI start without them.

DEFAULT_DB = "sqlite:///var/enrollment.sqlite"


@contextmanager
def _session_scope(args, *, writes: bool = True):
    """The command's transaction; a command that only reads never creates the database."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from services.enrollment.models import metadata
    from services.messaging.database import make_engine, make_session_factory, session_scope

    url = args.db or os.environ.get("MUTUAL_AID_ENROLLMENT_DB") or DEFAULT_DB
    try:
        engine = make_engine(url, pool_size=2, must_exist=not writes)
        if engine.dialect.name == "sqlite" and writes:
            metadata().create_all(engine)  # the embedded mode's schema; PostgreSQL: migrations
        with session_scope(make_session_factory(engine)) as session:
            yield session
    except (OperationalError, ProgrammingError) as exc:
        raise EnrollmentError(f"数据库 {url}: {str(exc.orig).splitlines()[0]}") from None


def _policy_of(session, application_id: str):
    from services.enrollment import applications as ops
    from services.kernel.registry import load_registry

    return load_registry().get(ops.get_application(session, application_id).city)


def cmd_unit_register(args) -> dict:
    fields = {
        "unit_key": args.key,
        "name": args.name,
        "district": args.district,
        "nature": args.nature,
        "staff_total": args.staff_total,
        "staff_insured": args.staff_insured,
    }
    from services.enrollment import applications as ops
    from services.kernel.registry import load_registry

    with _session_scope(args) as session:
        unit = ops.register_unit(session, load_registry().get(args.city), year=args.year, **fields)
        return {
            "unit_id": unit.id,
            "city": unit.city,
            "unit_key": unit.unit_key,
            "district": unit.district,
        }


def cmd_application_open(args) -> dict:
    from services.enrollment import applications as ops
    from services.kernel.registry import load_registry

    with _session_scope(args) as session:
        unit = ops.get_unit(session, args.unit)
        app = ops.open_application(
            session,
            load_registry().get(unit.city),
            unit_id=unit.id,
            year=args.year,
            participants=args.participants,
            actor=args.actor,
        )
        return {"application_id": app.id, "status": app.status}


def cmd_application_import(args) -> tuple[dict, int]:
    from services.enrollment import applications as ops
    from services.enrollment.report import report_data, write_report

    path = Path(args.file)
    data = path.read_bytes()
    progress = _progress(args)
    written: list[str] = []

    def report(book, result) -> None:  # from the workbook the import opened (issue 14)
        written.append(str(write_report(book, result, args.report)))

    with _session_scope(args) as session:
        result = ops.import_roster(
            session,
            _policy_of(session, args.application),
            application_id=args.application,
            data=data,
            filename=path.name,
            actor=args.actor,
            append=args.append,
            progress=progress.rows,
            today=args.clock.today(),
            name_other_units=True,  # the operator on the database, not a unit's clerk
            report=report if args.report else None,
        )
        progress.done(
            f"已导入 {len(result.members)} 人"
            if result.importable
            else f"有 {len(result.errors)} 处错误，未导入"
        )
        answer = report_data(result)
        answer["imported"] = len(result.members)
    if written:
        answer["report"] = written[0]
    return answer, 0 if result.importable else 1


class _Bar:
    """A progress bar on stderr for long imports: rows checked of the sheet's rows."""

    WIDTH = 30

    def __init__(self, shown: bool):
        self.shown = shown
        self.started = time.monotonic()

    def rows(self, done: int, total: int) -> None:
        if not self.shown:
            return
        share = done / total if total else 1.0
        filled = int(self.WIDTH * share)
        elapsed = time.monotonic() - self.started
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        print(
            f"\r检查名册 [{bar}] {done}/{total} 行 {elapsed:5.1f}s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def done(self, message: str) -> None:
        if self.shown:
            elapsed = time.monotonic() - self.started
            print(f"\n{message}（{elapsed:.1f}s）", file=sys.stderr, flush=True)


def _progress(args) -> _Bar:
    return _Bar(args.progress or sys.stderr.isatty())


def _workflow(action: str):
    def run(args) -> dict:
        from services.enrollment import applications as ops
        from services.messaging.outbox import record_event

        with _session_scope(args) as session:
            record = functools.partial(record_event, session)
            if action == "submit":
                app = ops.submit(
                    session,
                    _policy_of(session, args.application),
                    application_id=args.application,
                    actor=args.actor,
                    today=args.clock.today(),
                    record=record,
                )
            elif action == "approve":
                app = ops.approve(
                    session,
                    _policy_of(session, args.application),
                    application_id=args.application,
                    actor=args.actor,
                    record=record,
                )
            else:
                app = ops.return_application(
                    session,
                    application_id=args.application,
                    actor=args.actor,
                    reason=args.reason,
                    record=record,
                )
            return {"application_id": app.id, "status": app.status, "quote": app.quote}

    return run


def cmd_application_list(args) -> dict:
    from services.enrollment import applications as ops

    with _session_scope(args, writes=False) as session:
        return {
            "applications": ops.list_applications(
                session, city=args.city, year=args.year, status=args.status
            )
        }


def add_to(sub, city_year: Callable, year_type: Callable) -> None:
    """Register the subcommands on the CLI's subparsers (services/cli.py)."""

    def db(p, writes: bool = True):
        p.add_argument(
            "--db",
            help="database URL (default: $MUTUAL_AID_ENROLLMENT_DB or var/enrollment.sqlite); "
            + (
                "a missing SQLite file is created"
                if writes
                else "read only: a missing database is an error"
            ),
        )
        return p

    unit = sub.add_parser("unit", help="units (参保单位)").add_subparsers(
        dest="unit_command", required=True
    )
    p = db(city_year(unit.add_parser("register", help="register a unit under the city's unit key")))
    p.add_argument("--key", required=True, help="医保编码 / 社保编码 / 单位编码")
    p.add_argument("--name", required=True)
    p.add_argument("--district")
    p.add_argument("--nature", choices=["public", "non_public"], default="public")
    p.add_argument("--staff-total", type=int)
    p.add_argument("--staff-insured", type=int)
    p.set_defaults(run=cmd_unit_register)

    app = sub.add_parser("application", help="group applications (团体申请)").add_subparsers(
        dest="application_command", required=True
    )
    p = db(app.add_parser("open", help="start a unit's application for a year"))
    p.add_argument("--unit", required=True)
    p.add_argument("--year", required=True, type=year_type)
    p.add_argument("--participants", required=True, type=int)
    p.add_argument("--actor", required=True)
    p.set_defaults(run=cmd_application_open)
    p = db(
        app.add_parser("import", help="import the roster (nothing is stored if any row is wrong)")
    )
    p.add_argument("application")
    p.add_argument("file")
    p.add_argument("--actor", required=True)
    p.add_argument("--report", metavar="OUT.xlsx", help="write the error report workbook here")
    p.add_argument(
        "--append",
        action="store_true",
        help="add these people (joiners) instead of replacing the roster",
    )
    p.add_argument(
        "--progress", action="store_true", help="show progress on stderr even when not a terminal"
    )
    p.set_defaults(run=cmd_application_import)
    for action, text in (("submit", "上报"), ("approve", "审核通过")):
        p = db(app.add_parser(action, help=text))
        p.add_argument("application")
        p.add_argument("--actor", required=True)
        p.set_defaults(run=_workflow(action))
    p = db(app.add_parser("return", help="退回 with a reason"))
    p.add_argument("application")
    p.add_argument("--reason", required=True)
    p.add_argument("--actor", required=True)
    p.set_defaults(run=_workflow("return"))
    p = db(city_year(app.add_parser("list", help="a city-year's applications")), writes=False)
    p.add_argument("--status", choices=["draft", "submitted", "approved", "returned"])
    p.set_defaults(run=cmd_application_list)
