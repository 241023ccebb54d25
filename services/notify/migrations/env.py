"""Alembic runs this for the notify migrations. The service, its metadata and the database
connection arrive in the Alembic config (services.notify.migrations.MIGRATIONS); what is
done with them is the same for every service: services/messaging/migrations.py."""

from services.messaging.migrations import run_env

run_env()
