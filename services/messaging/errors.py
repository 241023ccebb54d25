"""The messaging package's exception family. Messages name what to fix."""

from __future__ import annotations


class MessagingError(Exception):
    """Base for errors raised by services.messaging."""


class ConfigError(MessagingError):
    """A configuration file or value is missing or malformed."""


class DatabaseConfigError(ConfigError):
    """A service has no database URL, or one this platform does not run on."""


class EventPayloadError(MessagingError, ValueError):
    """An event that breaks the payload rules: small, versioned, ids only."""


class StartupError(MessagingError):
    """Something a service needs at start (its database, the broker) is missing or refuses."""
