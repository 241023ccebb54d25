"""The notify service's schema, migrated by Alembic without an alembic.ini.

    from services.notify import migrations
    migrations.upgrade("postgresql+psycopg://notify@db/notify")  # to the newest revision
    migrations.current(url)                                      # "0001"; None if never

Its revisions are recorded in `alembic_version_notify`. From a shell, and how to write the
next revision after changing models.py: services/messaging/migrations.py, deploy/README.md.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData

from services.messaging.migrations import ServiceMigrations, service_metadata


def target_metadata() -> MetaData:
    """The tables the migrations must produce: the models' own, the outbox, processed events."""
    from services.notify import models

    return service_metadata(models)


MIGRATIONS = ServiceMigrations("notify", Path(__file__).parent, target_metadata)

upgrade = MIGRATIONS.upgrade
downgrade = MIGRATIONS.downgrade
current = MIGRATIONS.current
