"""The nameko side of access control: the caller's identity in context data, and the one
place per service where its access table (policy.py) is checked.

    class EnrollmentService:
        access = Guard(access.POLICY)        # services/enrollment/access.py
        ...
        actor = self.access.actor(actor)     # the token's person, else the trusted caller's

The HTTP edge (services/messaging/web.py) verifies the token and puts the identity in the
worker's context data under `identity`; nameko copies context data into every RPC call's
headers, so a downstream service sees the same person. Before a worker runs, the Guard
checks the table for every HTTP entrypoint (a route without a rule fails the container's
setup, unless declared public-by-signature with `auth=False`) and for every RPC call that
carries an identity: a person may call only the methods the table names (any other is the
services' own: refused, 403). RPC without one comes from the service bus itself (another
service, a script holding broker credentials): trusted as before. Event handlers and timers
act for their service: the identity an event's headers carry is dropped there, so their RPC
calls are the service's own. A service that asks another for its own purposes while a person
waits (claims asking enrollment whether the member is covered) calls through `AsService`, not
nameko's RpcProxy: without the person's identity, as itself.
"""

from __future__ import annotations

import inspect
from functools import wraps

from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc, RpcProxy, ServiceProxy

from services.access.identity import Identity
from services.access.policy import Decision, Forbidden, Policy
from services.access.reads import record_read
from services.messaging.database import utc_now

IDENTITY_KEY = "identity"


class Caller:
    """What a worker knows of its caller: the identity (None: the bus itself) and, once the
    table was checked, the decision (whether personal data may be shown unmasked)."""

    def __init__(self, identity: Identity | None):
        self.identity = identity
        self.decision: Decision | None = None

    def actor(self, stated: str | None = None) -> str:
        """The recorded actor: the token's person; only a caller without a token (the bus,
        the CLI on a database) states its own."""
        if self.identity is not None:
            return self.identity.actor
        if not stated:
            raise Forbidden("缺少经办人")
        return stated

    @property
    def unmasked(self) -> bool:
        """Personal data shown in full: a trusted bus caller, or a role the rule unmasks."""
        return self.identity is None or bool(self.decision and self.decision.unmasked)


class Guard(DependencyProvider):
    def __init__(self, policy: Policy):
        self.policy = policy

    def setup(self) -> None:
        from services.messaging.web import HttpEntrypoint

        for entrypoint in self.container.entrypoints:
            if (
                isinstance(entrypoint, HttpEntrypoint)
                and entrypoint.auth
                and entrypoint.method_name not in self.policy.rules
            ):
                raise ValueError(
                    f"{self.container.service_name}.{entrypoint.method_name}: an HTTP route "
                    "with no access rule (add it to the service's access table)"
                )
            if isinstance(entrypoint, Rpc):
                # the Guard's refusal is one of an RPC's answers, not a fault: logged in one
                # line as the service's own refusals are (messaging/logs.py), not as an error
                # with its traceback
                expected = entrypoint.expected_exceptions
                expected = expected if isinstance(expected, tuple) else (expected,)
                if Forbidden not in expected:
                    entrypoint.expected_exceptions = (*expected, Forbidden)

    def get_dependency(self, worker_ctx) -> Caller:
        return Caller(Identity.from_context(worker_ctx.context_data.get(IDENTITY_KEY)))

    def worker_setup(self, worker_ctx) -> None:
        from services.messaging.web import HttpEntrypoint

        service, name = worker_ctx.service, worker_ctx.entrypoint.method_name
        caller: Caller = getattr(service, self.attr_name)
        http = isinstance(worker_ctx.entrypoint, HttpEntrypoint)
        if not http and not isinstance(worker_ctx.entrypoint, Rpc):
            # an event handler or a timer acts for the service, not for the person whose
            # request once recorded the event (its headers carry them): nor do its RPC calls
            worker_ctx.context_data.pop(IDENTITY_KEY, None)
            caller.identity = None
            return
        if http and not worker_ctx.entrypoint.auth:
            return
        if not http and caller.identity is None:
            return  # the bus itself
        if not http and name not in self.policy.rules:
            # a person may call only what the table names; the rest is the services' own
            setattr(service, name, _refuse)
            return
        method = getattr(service, name)
        # the Database provider wraps the method in its transaction the same way; whichever
        # provider nameko sets up first is inside. If it came first, its commit has run when
        # the method returns here, and the access log row needs a commit of its own.
        after_commit = name in vars(service)
        signature = inspect.signature(method)
        policy = self.policy

        @wraps(method)
        def guarded(*args, **kwargs):
            if caller.identity is None:  # an HTTP worker the edge let through unverified
                raise Forbidden()
            arguments = signature.bind_partial(*args, **kwargs).arguments
            caller.decision = decision = policy.check(name, caller.identity, service, arguments)
            result = method(*args, **kwargs)
            if decision.unmasked:  # in the worker's transaction: only a read that happened
                record_read(
                    service.db.session,
                    at=utc_now(),
                    actor=decision.identity.actor,
                    role=decision.identity.role,
                    entrypoint=f"{worker_ctx.service_name}.{name}",
                    record_id=_record_id(arguments),
                    why=decision.why,
                )
                if after_commit:
                    service.db.commit()
            return result

        # nameko looks the method up on the instance after worker_setup: the check runs first
        setattr(service, name, guarded)


def _refuse(*_args, **_kwargs):
    raise Forbidden()


class _WithoutIdentity:
    """A worker's context as the calls it makes see it, the caller's identity left out."""

    def __init__(self, worker_ctx):
        self._worker_ctx = worker_ctx

    def __getattr__(self, name):
        return getattr(self._worker_ctx, name)

    @property
    def context_data(self) -> dict:
        data = dict(self._worker_ctx.context_data)
        data.pop(IDENTITY_KEY, None)
        return data


class AsService(RpcProxy):
    """nameko's RpcProxy, calling as the service itself: the person whose request the worker
    serves is not passed on (their request id is). For what a service asks another for its
    own purposes (is this member covered? this unit's district?), which no person may call:
    a person's identity there would be refused by the other service's Guard."""

    def get_dependency(self, worker_ctx):
        return ServiceProxy(
            _WithoutIdentity(worker_ctx),
            self.target_service,
            self.rpc_reply_listener,
            **self.options,
        )


def _record_id(arguments: dict) -> str | None:
    """The record a call reads: its first `…_id` argument (claim_id, upload_id, …)."""
    for key, value in arguments.items():
        if key.endswith("_id") and isinstance(value, str):
            return value[:80]
    return None
