"""Alembic migrations for a service's own database, run from Python (no alembic.ini).

Each service keeps its migrations beside its models, in one layout:

    services/<service>/migrations/__init__.py      MIGRATIONS = ServiceMigrations(...)
                                  env.py           run_env()
                                  script.py.mako   the template of a new revision
                                  versions/0001_initial.py …

and is migrated with `MIGRATIONS.upgrade(url)`, or from a shell (deploy/README.md):

    python -m services.messaging.migrations upgrade --config deploy/config.yaml enrollment
    python -m services.messaging.migrations revision enrollment -m "add unit remark"

Each service records its revision in its own table, `alembic_version_<service>`. Services that
share one PostgreSQL database each take a schema of their own (they all have an `outbox` and a
`processed_events` table), named first in the URL's search_path:
`postgresql+psycopg://…/mutual_aid?options=-csearch_path%3Denrollment`; `upgrade` creates that
schema if it is missing. Concurrent upgrades of one service (every replica's init container at
once) queue on a PostgreSQL advisory lock, and all but the first find nothing left to do.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.types import TypeDecorator

from services.messaging.config import load_config
from services.messaging.database import make_engine
from services.messaging.errors import ConfigError, MessagingError
from services.messaging.idempotency import processed_events_table
from services.messaging.outbox import outbox_table

_ATTRIBUTE = "mutual_aid.migrations"  # Config.attributes key: the ServiceMigrations running
_REVISION_ID = re.compile(r"\d{4}")


class MigrationError(MessagingError):
    """A migration cannot run, or left the database different from the models."""


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def service_metadata(models: ModuleType) -> MetaData:
    """Everything a service's models module owns: its `metadata()` if it has one, else its
    `Base.metadata` with the outbox and processed-events tables added (on a copy)."""
    provided = getattr(models, "metadata", None)
    if callable(provided):
        return provided()
    metadata = MetaData(naming_convention=models.Base.metadata.naming_convention)
    for table in models.Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    if "outbox" not in metadata.tables:
        outbox_table(metadata)
    if "processed_events" not in metadata.tables:
        processed_events_table(metadata)
    return metadata


@dataclass(frozen=True)
class ServiceMigrations:
    """One service's migrations: its name, its migrations folder, and its models' metadata."""

    service: str
    directory: Path
    target_metadata: Callable[[], MetaData]

    @property
    def version_table(self) -> str:
        return version_table(self.service)

    def upgrade(self, url: str, revision: str = "head") -> None:
        """Migrate the database at `url` up to `revision` (the newest by default)."""
        self._run(url, lambda config: command.upgrade(config, revision))

    def downgrade(self, url: str, revision: str) -> None:
        """Migrate down to `revision` ("base": no tables of this service left)."""
        self._run(url, lambda config: command.downgrade(config, revision))

    def current(self, url: str) -> str | None:
        """The revision the database is at; None if this service never migrated it."""
        engine = make_engine(url, pool_size=1)
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(
                    connection, opts={"version_table": self.version_table}
                )
                return context.get_current_revision()
        finally:
            engine.dispose()

    def heads(self) -> tuple[str, ...]:
        return tuple(ScriptDirectory.from_config(self.config()).get_heads())

    def differences(self, url: str) -> list[Any]:
        """What autogenerate would change to make the database match the models (a list of
        alembic diff tuples); empty when the migrations and the models agree."""
        engine = make_engine(url, pool_size=1)
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(
                    connection, opts=_compare_options(self.service)
                )
                return compare_metadata(context, self.target_metadata())
        finally:
            engine.dispose()

    def revision(self, message: str, *, autogenerate: bool = True) -> Path:
        """Write the next revision (versions/000N_<message>.py), autogenerated by comparing the
        models with a scratch SQLite database migrated to head. Read it before committing:
        autogenerate misses renames and cannot write data migrations."""
        scripts = ScriptDirectory.from_config(self.config()).walk_revisions()
        numbers = [int(s.revision) for s in scripts if _REVISION_ID.fullmatch(s.revision)]
        next_id = f"{max(numbers, default=0) + 1:04d}"
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite:///{Path(scratch) / f'{self.service}.sqlite'}"
            self.upgrade(url)
            written = []
            self._run(
                url,
                lambda config: written.append(
                    command.revision(config, message, autogenerate=autogenerate, rev_id=next_id)
                ),
            )
        return Path(written[0].path)

    def config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.directory))
        # A literal "%" is doubled for ConfigParser: files are named 0002_add_unit_remark.py
        config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
        config.attributes[_ATTRIBUTE] = self
        return config

    def _run(self, url: str, action: Callable[[Config], Any]) -> None:
        engine = make_engine(url, pool_size=1)
        try:
            with engine.connect() as connection:
                sqlite = connection.dialect.name == "sqlite"
                if sqlite:
                    # Rebuilding a table (batch mode) must not cascade through foreign keys;
                    # the pragma only takes effect outside a transaction, so on the raw
                    # connection before SQLAlchemy begins one. Checked again after commit.
                    connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
                else:
                    _create_search_path_schema(connection)
                    connection.commit()  # alembic then begins its own transaction
                config = self.config()
                config.attributes["connection"] = connection
                action(config)
                if sqlite:
                    problems = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    connection.rollback()
                    if problems:
                        raise MigrationError(
                            f"{self.service} migrations left rows whose foreign keys point "
                            f"nowhere: {problems[:5]}"
                        )
        finally:
            engine.dispose()


def run_env() -> None:
    """The body of every service's env.py: migrate on the connection `_run` handed over, with
    the service's version table and metadata (both arrive in the Alembic config)."""
    from alembic import context

    migrations = context.config.attributes.get(_ATTRIBUTE)
    connection = context.config.attributes.get("connection")
    if migrations is None or connection is None:
        raise MigrationError(
            "run migrations through services.<service>.migrations.upgrade(url) or "
            "`python -m services.messaging.migrations`, not the alembic command (no alembic.ini)"
        )
    context.configure(
        connection=connection,
        target_metadata=migrations.target_metadata(),
        render_as_batch=True,  # SQLite alters a table by copying it; PostgreSQL as usual
        render_item=_render_frozen_type,
        **_compare_options(migrations.service),
    )
    with context.begin_transaction():
        _lock_for(connection, migrations.service)
        context.run_migrations()


def _compare_options(service: str) -> dict[str, Any]:
    # what autogenerate and `differences` compare: types (with length, precision, time zone)
    # and server defaults too, not only tables, columns, nullability, indexes and constraints
    return {
        "version_table": version_table(service),
        "compare_type": True,
        "compare_server_default": True,
    }


def _lock_for(connection: Connection, service: str) -> None:
    """Serialise migrations of one service on PostgreSQL (released when the transaction ends).
    A SQLite file belongs to one process (the embedded mode): nothing to serialise."""
    if connection.dialect.name == "postgresql":
        key = zlib.crc32(f"mutual-aid migrations {service}".encode())
        connection.execute(select(func.pg_advisory_xact_lock(key)))


def _create_search_path_schema(connection: Connection) -> None:
    """Create the schema a URL's search_path names first, if it does not exist yet."""
    if connection.execute(text("SELECT current_schema()")).scalar() is not None:
        return
    first = connection.execute(text("SHOW search_path")).scalar().split(",")[0].strip()
    schema = first.strip('"')
    if not schema or schema == "$user":
        raise MigrationError(f"search_path {first!r} names no schema to create")
    quoted = connection.dialect.identifier_preparer.quote(schema)
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))


def _render_frozen_type(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render a column type the application defines (UtcDateTime) as the SQLAlchemy type it
    stores, so a migration never imports application code that may change after it."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


# -- command line ---------------------------------------------------------------------------------


def service_migrations(service: str) -> ServiceMigrations:
    """The migrations of `services.<service>`, found by the layout above."""
    try:
        module = importlib.import_module(f"services.{service}.migrations")
    except ModuleNotFoundError as exc:
        if exc.name not in (f"services.{service}", f"services.{service}.migrations"):
            raise
        raise ConfigError(
            f"service {service}: no migrations (services/{service}/migrations/)"
        ) from None
    return module.MIGRATIONS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.messaging.migrations",
        description="Migrate a service's database (Alembic, one version table per service).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, helptext in [
        ("upgrade", "migrate up to the newest revision (or --revision)"),
        ("downgrade", "migrate down to --revision (base: drop the service's tables)"),
        ("current", "print each service's revision"),
        ("check", "exit 1 if a database differs from its service's models"),
    ]:
        sub = commands.add_parser(name, help=helptext)
        where = sub.add_mutually_exclusive_group(required=True)
        where.add_argument("--config", help="nameko config: DATABASES.<service> is the URL")
        where.add_argument("--url", help="the database URL (one service only)")
        sub.add_argument("--revision", required=name == "downgrade", default="head")
        sub.add_argument("services", nargs="+", metavar="SERVICE")
    sub = commands.add_parser("revision", help="write the next revision, autogenerated")
    sub.add_argument("service", metavar="SERVICE")
    sub.add_argument("-m", "--message", required=True)
    sub.add_argument("--empty", action="store_true", help="do not compare with the models")
    args = parser.parse_args(argv)

    try:
        if args.command == "revision":
            path = service_migrations(args.service).revision(
                args.message, autogenerate=not args.empty
            )
            print(path)
            return 0
        return _run_command(args)
    except MessagingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run_command(args: argparse.Namespace) -> int:
    if args.url and len(args.services) > 1:
        raise ConfigError("--url names one database: give one service")
    databases = {}
    if args.config:
        databases = load_config(args.config).get("DATABASES") or {}
    status = 0
    for service in args.services:
        migrations = service_migrations(service)
        url = args.url or databases.get(service)
        if not url:
            raise ConfigError(f"{args.config}: no DATABASES.{service}")
        shown = make_url(url).render_as_string(hide_password=True)
        if args.command == "upgrade":
            migrations.upgrade(url, args.revision)
            print(f"{service}: {shown} at {migrations.current(url)}")
        elif args.command == "downgrade":
            migrations.downgrade(url, args.revision)
            print(f"{service}: {shown} at {migrations.current(url)}")
        elif args.command == "current":
            print(f"{service}: {shown} at {migrations.current(url)}")
        else:
            differences = migrations.differences(url)
            for difference in differences:
                print(f"{service}: {difference}")
            if differences:
                status = 1
            else:
                print(f"{service}: {shown} matches the models")
    return status


if __name__ == "__main__":
    sys.exit(main())
