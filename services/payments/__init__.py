"""The payments service: invoices for premiums, bank and WeChat Pay callbacks, the double-entry
ledger, payouts of approved claims, reconciliation of bank statements and the finance desk."""
