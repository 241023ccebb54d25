"""`mutual-aid bank-sim` and `mutual-aid payments reconcile`.

    mutual-aid bank-sim [--port 8099] [--secret S] [--callback-url URL] [--delay 0.5]
                        [--fail 0.1] [--lose 0.2] [--duplicate 0.1] [--reorder]
    mutual-aid payments reconcile FILE --account NUMBER [--day YYYY-MM-DD] [--actor NAME]
                        [--db URL] [--report OUT.xlsx]

`bank-sim` runs the bank simulator (bank_sim.py) on localhost until Ctrl-C. `reconcile`
imports a bank statement (CSV or Excel) of one day into the payments database and prints the
reconciliation as JSON: matched, amount differs, ours only, bank's only, duplicates (a line
imported before is ignored); `--report` writes the same as an Excel workbook. The day is
the statement's own when all its lines share one (else give --day). The database is
`--db URL`, else $MUTUAL_AID_PAYMENTS_DB, else the embedded `sqlite:///var/payments.sqlite`;
a missing one is named in the error, never created.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from services.messaging.errors import MessagingError

DEFAULT_DB = "sqlite:///var/payments.sqlite"


class CommandError(MessagingError):
    """Bad input to a payments command: one line on stderr, exit 2."""


def cmd_bank_sim(args) -> int:
    from services.payments import bank_sim

    argv = ["--host", "127.0.0.1", "--port", str(args.port), "--secret", args.secret]
    argv += ["--delay", str(args.delay), "--fail", str(args.fail)]
    argv += ["--lose", str(args.lose), "--duplicate", str(args.duplicate)]
    if args.callback_url:
        argv += ["--callback-url", args.callback_url]
    if args.reorder:
        argv.append("--reorder")
    raise SystemExit(bank_sim.main(argv))


def cmd_reconcile(args) -> dict:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from services.messaging.database import make_engine, make_session_factory, session_scope
    from services.payments import reconcile
    from services.payments.exceptions import PaymentsError

    path = Path(args.file)
    data = path.read_bytes()  # OSError: the CLI's one line
    url = args.db or os.environ.get("MUTUAL_AID_PAYMENTS_DB") or DEFAULT_DB
    try:
        parsed = make_url(url)
    except SQLAlchemyError:
        raise CommandError(f"--db {url!r}: not a database URL") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        raise CommandError(f"{shown}: no such database (give the payments service's --db)")
    try:
        engine = make_engine(parsed, pool_size=1)
        try:
            with session_scope(make_session_factory(engine)) as session:
                result = reconcile.reconcile_file(
                    session,
                    data=data,
                    filename=path.name,
                    account=args.account,
                    actor=args.actor,
                    day=args.day,
                )
        finally:
            engine.dispose()
    except PaymentsError as exc:
        raise CommandError(str(exc)) from None
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise CommandError(f"{shown}: {detail}") from None
    if args.report:
        Path(args.report).write_bytes(reconcile.report_workbook(result))
        result["report"] = args.report
    return result


def _day(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a day is YYYY-MM-DD, not {text!r}") from None


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a share is between 0 and 1, not {text!r}")
    return value


def _one_line(command):
    def run(args):
        try:
            return command(args)
        except MessagingError as exc:
            print(f"mutual-aid: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    return run


def add_to(sub) -> None:
    """Register `bank-sim` and `payments reconcile` on the CLI's subparsers (services/cli.py)."""
    p = sub.add_parser("bank-sim", help="run the bank simulator on localhost (tests, demo)")
    p.add_argument("--port", type=int, default=8099, help="default: 8099 (0: any free port)")
    p.add_argument(
        "--secret", default="sim-secret", help="HMAC secret its callbacks are signed with"
    )
    p.add_argument("--callback-url", help="where callbacks go, e.g. …/payments/callbacks/bank/sim")
    p.add_argument("--delay", type=float, default=0.5, help="seconds until a payout is final")
    p.add_argument("--fail", type=_share, default=0.0, help="share of payouts that fail")
    p.add_argument("--lose", type=_share, default=0.0, help="share of callbacks never sent")
    p.add_argument("--duplicate", type=_share, default=0.0, help="share of callbacks sent twice")
    p.add_argument("--reorder", action="store_true", help="a batch's callbacks in random order")
    p.set_defaults(run=cmd_bank_sim)
    payments = sub.add_parser("payments", help="the payments database: reconciliation")
    commands = payments.add_subparsers(
        dest="payments_command", required=True, parser_class=type(payments)
    )
    p = commands.add_parser("reconcile", help="import a bank statement of one day and reconcile")
    p.add_argument("file", metavar="FILE", help="the statement (.csv, .xlsx)")
    p.add_argument("--account", required=True, help="the fund account number it is for")
    p.add_argument("--day", type=_day, help="the statement's day (default: its lines' day)")
    p.add_argument("--actor", default="finance", help="who imports it (recorded)")
    p.add_argument(
        "--db", help=f"payments database URL (default: $MUTUAL_AID_PAYMENTS_DB or {DEFAULT_DB})"
    )
    p.add_argument("--report", metavar="OUT.xlsx", help="write the Excel report here")
    p.set_defaults(run=_one_line(cmd_reconcile))
