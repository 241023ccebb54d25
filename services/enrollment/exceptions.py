"""The enrollment service's exception family: messages a clerk or reviewer can act on."""

from __future__ import annotations


class EnrollmentError(Exception):
    """Base: something the caller asked for that cannot be done as asked."""


class NotFound(EnrollmentError):
    pass


class Conflict(EnrollmentError):
    """Already exists, or names a person another unit has enrolled."""


class WorkflowError(EnrollmentError):
    """An action the application's state does not allow."""


class SubmissionRefused(WorkflowError):
    """Submitting found problems; ``problems`` lists each in words."""

    def __init__(self, problems: tuple[str, ...] | list[str]):
        self.problems = tuple(problems)
        super().__init__("；".join(self.problems))


class RosterUnreadable(Exception):
    """The upload cannot be read as a roster at all; the message says why and what to do.

    Here, not in workbook.py, so the CLI can catch it without importing the readers."""
