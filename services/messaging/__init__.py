"""Messaging and data plumbing shared by the four services.

Plain modules (no nameko): `database` (engines, transactions, a UTC column type), `bulk`
(many rows inserted at once, by COPY on PostgreSQL; many values looked up at once), `outbox`
(record an event in the caller's transaction; relay it later), `idempotency` (a handler
changes things once per event), `config` (YAML with environment substitution), `errors`,
`http_address` (the HTTP bind address).
nameko modules: `dependencies` (the `Database` and `Outbox` providers), `publishing` (events in
nameko's wire format, with publisher confirms), `embedded` (all services in one process on
kombu's memory transport), `web` (the `http` entrypoint: the HTTP edge) on `http_listener`
(one listener per process and address), `logs` (JSON lines, masked, with request ids),
`runner` (startup checks and a bounded stop, for `mutual-aid run` and `serve`).
"""
