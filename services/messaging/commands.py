"""`mutual-aid events …`: an operator's view of the events a service's handlers gave up on.

    mutual-aid events dead-letters --service claims [--db URL] [--all]
    mutual-aid events replay ID… --service claims --actor NAME [--db URL]

`dead-letters` lists what is parked or waiting for a replay (`--all`: the replayed ones too),
masked. `replay` marks dead letters; the running service hands each back to its handler
within EVENT_REPLAY_INTERVAL seconds (services/messaging/handlers.py) and marks it replayed.
The database is the service's own: `--db URL`, else $MUTUAL_AID_<SERVICE>_DB, else the
embedded default `sqlite:///var/<service>.sqlite`. These commands never create a database:
one that is missing is named in the error.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from services.messaging.errors import MessagingError

# SQLAlchemy and the service's models are imported inside the commands, so the rest of the
# CLI starts without them.


class CommandError(MessagingError):
    """Bad input to an events command: one line on stderr, exit 2."""


def _models_metadata(service: str):
    if not service.isidentifier():
        raise CommandError(f"--service {service!r}: not a service name")
    try:
        models = importlib.import_module(f"services.{service}.models")
    except ModuleNotFoundError:
        raise CommandError(f"--service {service}: no such service") from None
    metadata = models.metadata() if callable(getattr(models, "metadata", None)) else None
    if metadata is None or "dead_letters" not in metadata.tables:
        raise CommandError(f"--service {service}: it handles no events, so it has no dead letters")
    return metadata


def _url(args) -> str:
    return (
        args.db
        or os.environ.get(f"MUTUAL_AID_{args.service.upper()}_DB")
        or f"sqlite:///var/{args.service}.sqlite"
    )


@contextmanager
def _session(args) -> Iterator:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from services.messaging.database import make_engine, make_session_factory, session_scope

    _models_metadata(args.service)
    url = _url(args)
    try:
        parsed = make_url(url)
    except SQLAlchemyError:
        raise CommandError(f"--db {url!r}: not a database URL") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or path == ":memory:" or not Path(path).is_file():
            raise CommandError(f"{shown}: no such database (give the service's --db)")
    try:
        engine = make_engine(parsed, pool_size=1)
        try:
            with session_scope(make_session_factory(engine)) as session:
                yield session
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise CommandError(f"{shown}: {detail}") from None


def cmd_dead_letters(args) -> dict:
    from services.messaging.dead_letters import list_dead_letters

    with _session(args) as session:
        letters = list_dead_letters(session, include_replayed=args.all)
    return {"service": args.service, "dead_letters": letters}


def cmd_replay(args) -> dict:
    from services.messaging.dead_letters import request_replay

    with _session(args) as session:
        marked = request_replay(session, args.ids, actor=args.actor)
    return {"service": args.service, "replay_requested": marked}


def _one_line(command: Callable[..., dict]) -> Callable[..., dict]:
    """The CLI's promise for these commands too: an error is one line on stderr, exit 2."""

    def run(args) -> dict:
        try:
            return command(args)
        except MessagingError as exc:
            print(f"mutual-aid: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    return run


def _dead_letter_id(text: str) -> int:
    import argparse

    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a dead letter id is a positive number, not {text!r}")
    return int(text)


def add_to(sub) -> None:
    """Register `events dead-letters|replay` on the CLI's subparsers (services/cli.py)."""
    events = sub.add_parser("events", help="events a service's handlers gave up on")
    commands = events.add_subparsers(
        dest="events_command", required=True, parser_class=type(events)
    )

    def service_db(p):
        p.add_argument("--service", required=True, help="the service that handles the events")
        p.add_argument(
            "--db",
            help="the service's database URL (default: $MUTUAL_AID_<SERVICE>_DB or "
            "var/<service>.sqlite)",
        )
        return p

    p = service_db(commands.add_parser("dead-letters", help="list dead letters (masked)"))
    p.add_argument("--all", action="store_true", help="the replayed ones too")
    p.set_defaults(run=_one_line(cmd_dead_letters))
    p = service_db(commands.add_parser("replay", help="hand dead letters back to their handler"))
    p.add_argument("ids", nargs="+", type=_dead_letter_id, metavar="ID")
    p.add_argument("--actor", required=True, help="who asks for the replay")
    p.set_defaults(run=_one_line(cmd_replay))
