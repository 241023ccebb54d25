"""The claims service's exception family: messages a clerk or reviewer can act on."""

from __future__ import annotations


class ClaimsError(Exception):
    """Base: something the caller asked for that cannot be done as asked."""


class NotFound(ClaimsError):
    pass


class NotStored(ClaimsError):
    """A file kept in an external store (``storage_key``), which this service does not read."""


class Conflict(ClaimsError):
    """Already exists (the same attachment, settlement number or settlement file)."""


class WorkflowError(ClaimsError):
    """An action the claim's state does not allow."""


class SubmissionRefused(WorkflowError):
    """Submitting found problems (cover, deadline, benefit, facts, documents); ``problems``
    lists each in words. The claim stays as it was (draft or returned)."""

    def __init__(self, problems: tuple[str, ...] | list[str]):
        self.problems = tuple(problems)
        super().__init__("；".join(self.problems))


class AttachmentRefused(ClaimsError):
    """An upload that is too large, empty, or not a JPEG, PNG or PDF by its content."""


class ClawbackRefused(WorkflowError):
    """A clawback the claim or the city's exclusions do not allow."""


class SettlementUnreadable(ClaimsError):
    """A settlement file that cannot be read as one at all (not a table, no header row)."""
