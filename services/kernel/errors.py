"""The kernel's exception family. Messages are for a clerk or an operator to act on."""

from __future__ import annotations


class PolicyError(Exception):
    """Bad input to a city policy: unknown city, year, district or benefit; a bad fact."""


class UnknownCity(PolicyError):
    pass


class UnknownYear(PolicyError):
    pass


class UnknownDistrict(PolicyError):
    pass


class UnknownBenefit(PolicyError):
    pass


class FactError(PolicyError):
    """A claim fact that is misspelt, malformed, or missing where a benefit needs it."""


class PolicyDataError(PolicyError):
    """A plugin's data file is missing or invalid; the message names the file and the key."""

    def __init__(self, file: str, key: str | None, message: str):
        self.file, self.key = file, key
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {message}")
