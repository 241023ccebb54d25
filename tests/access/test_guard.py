"""The identity in nameko context data (services/access/guard.py), on real RabbitMQ: it
travels from the HTTP edge through RPC, a downstream service records and checks the same
person, the bus without one states its actor, and an event handler acts for its service."""

from __future__ import annotations

import logging

import pytest
import requests
from nameko.events import EventDispatcher, event_handler
from nameko.exceptions import RemoteError
from nameko.rpc import RpcProxy, rpc
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_waiter

from services.access.guard import AsService, Guard
from services.access.policy import FORBIDDEN, Policy, Rule
from services.enrollment.service import EnrollmentService
from services.messaging.logs import NAMEKO_WORKERS
from services.messaging.web import http
from tests.messaging.test_logs import buffered
from tests.tokens import auth_config, bearer, identity_context

pytestmark = pytest.mark.rabbit


class Front:
    name = "front"
    access = Guard(Policy({"read": Rule({"unit_clerk"})}))
    back = RpcProxy("back")
    dispatch = EventDispatcher()

    @http("GET", "/front")
    def read(self, request):
        self.dispatch("poked", {"n": 1})
        return {"back": self.back.who_asks(), "front": self.access.identity.actor}


class Back:
    name = "back"
    access = Guard(Policy({"who_asks": Rule({"unit_clerk"})}))
    heard: list = []

    @rpc
    def who_asks(self):
        return self.access.identity.actor if self.access.identity else None

    @rpc
    def services_own(self):  # not in the table: the services' own
        return self.access.identity.actor if self.access.identity else "the bus"

    @event_handler("front", "poked")
    def on_poked(self, payload):
        Back.heard.append(self.access.identity)


def test_the_identity_travels_with_rpc_and_not_into_event_handlers(
    container_factory, rabbit_config, web_config, web_config_port, issuer
):
    config = {**rabbit_config, **web_config, **auth_config(issuer)}
    Back.heard = []
    back = container_factory(Back, config)
    back.start()
    container_factory(Front, config).start()

    with entrypoint_waiter(back, "on_poked"):
        answer = requests.get(
            f"http://127.0.0.1:{web_config_port}/front",
            headers=bearer(issuer, name="王芳", sub="wf-1", unit="u-1"),
        )

    assert answer.json() == {"back": "王芳 (wf-1)", "front": "王芳 (wf-1)"}
    assert Back.heard == [None]  # the handler acts for its service


@pytest.fixture
def enrollment(container_factory, rabbit_config, tmp_path):
    config = {
        **rabbit_config,
        "DATABASES": {"enrollment": f"sqlite:///{tmp_path}/enrollment.sqlite"},
        "DATABASE_CREATE_TABLES": True,
        "FIXED_TODAY": "2024-03-01",
        "WEB_SERVER_ADDRESS": "127.0.0.1:0",
    }
    container_factory(EnrollmentService, config).start()
    with ClusterRpcProxy(config) as bus:
        unit_ids = [
            bus.enrollment.register_unit(
                "zhangjiakou", 2024, {"unit_key": key, "name": f"{key}工会"}
            )["unit_id"]
            for key in ("A", "B")
        ]
    return config, unit_ids


def test_a_person_calling_by_rpc_is_recorded_and_checked_by_the_table(enrollment):
    config, (unit_a, unit_b) = enrollment
    wang = identity_context(name="王芳", sub="wf-1", city="zhangjiakou", unit=unit_a)
    zhao = identity_context(name="赵六", sub="zl-1", city="zhangjiakou", unit=unit_b)
    fields = {"unit_id": unit_a, "year": 2024, "participants": 1}

    with ClusterRpcProxy(config, context_data=wang) as as_wang:
        # the actor a person's call states is not theirs to choose
        opened = as_wang.enrollment.open_application("zhangjiakou", fields, "somebody else")
    app_id = opened["application_id"]
    with ClusterRpcProxy(config, context_data=zhao) as as_zhao:
        with pytest.raises(RemoteError) as refused:
            as_zhao.enrollment.roster(app_id)
        assert refused.value.exc_type == "Forbidden"
        with pytest.raises(RemoteError):
            as_zhao.enrollment.open_application("zhangjiakou", fields, None)
    with ClusterRpcProxy(config) as bus:  # the bus itself: trusted, states its actor
        history = bus.enrollment.application(app_id)["history"]
        assert bus.enrollment.roster(app_id) == []
        with pytest.raises(RemoteError) as nobody:
            bus.enrollment.submit(app_id, None)
        assert "缺少经办人" in str(nobody.value)
    assert [h["actor"] for h in history] == ["王芳 (wf-1)"]


def test_a_refusal_by_the_table_is_logged_in_one_line_not_as_a_fault(enrollment):
    config, (unit_a, unit_b) = enrollment
    wang = identity_context(name="王芳", sub="wf-1", city="zhangjiakou", unit=unit_a)
    zhao = identity_context(name="赵六", sub="zl-1", city="zhangjiakou", unit=unit_b)
    with ClusterRpcProxy(config, context_data=wang) as as_wang:
        opened = as_wang.enrollment.open_application(
            "zhangjiakou", {"unit_id": unit_a, "year": 2024, "participants": 1}, None
        )

    with buffered(NAMEKO_WORKERS, logging.WARNING) as log:
        with ClusterRpcProxy(config, context_data=zhao) as as_zhao:
            with pytest.raises(RemoteError) as refused:
                as_zhao.enrollment.roster(opened["application_id"])

    assert refused.value.exc_type == "Forbidden"
    (line,) = log.lines()
    assert (line["level"], line["message"]) == (
        "WARNING",
        f"(expected) enrollment.roster: Forbidden: {FORBIDDEN}",
    )
    assert "Traceback" not in log.text()


class Middle:
    name = "middle"
    access = Guard(Policy({"ask": Rule({"unit_clerk"})}))
    as_itself = AsService("back")
    as_the_person = RpcProxy("back")

    @rpc
    def ask(self, how):
        return getattr(self, how).services_own()


def test_a_person_may_call_only_what_the_table_names_and_services_ask_as_themselves(
    container_factory, rabbit_config
):
    for cls in (Back, Middle):
        container_factory(cls, rabbit_config).start()
    clerk = identity_context(name="王芳", sub="wf-1", city="zhangjiakou", unit="u-1")

    with ClusterRpcProxy(rabbit_config, context_data=clerk) as as_clerk:
        with pytest.raises(RemoteError) as refused:
            as_clerk.back.services_own()
        assert refused.value.exc_type == "Forbidden"
        assert as_clerk.middle.ask("as_itself") == "the bus"  # without the person
        with pytest.raises(RemoteError) as passed_on:
            as_clerk.middle.ask("as_the_person")
        assert "Forbidden" in str(passed_on.value)  # back refused the person middle passed on
    with ClusterRpcProxy(rabbit_config) as bus:
        assert bus.back.services_own() == "the bus"
