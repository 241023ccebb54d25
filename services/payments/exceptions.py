"""The payments service's exception family: messages a finance clerk can act on."""

from __future__ import annotations


class PaymentsError(Exception):
    """Base: something the caller asked for that cannot be done as asked."""


class NotFound(PaymentsError):
    pass


class InvoiceError(PaymentsError):
    """An invoice that cannot be issued as asked (no quote, no account, nothing due …)."""


class LedgerError(PaymentsError):
    """A journal that does not balance, or an entry that would edit history."""


class CallbackRefused(PaymentsError):
    """A callback that is not the provider's: bad or missing signature, stale timestamp,
    replayed nonce, unreadable body. ``reason`` is the short code stored on the inbox row."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


class PayoutError(PaymentsError):
    """A payout move its state does not allow, or a second payout of a claim."""


class StatementUnreadable(PaymentsError):
    """A bank statement file that cannot be read as one (no header row, a bad amount …)."""


class DeskError(PaymentsError):
    """A finance-desk resolution that is not allowed (already resolved, own refund …)."""
