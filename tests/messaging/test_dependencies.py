"""The providers refuse a service they cannot serve, by name, before it takes any work."""

import pytest
from nameko.rpc import rpc

from services.messaging.dependencies import Database, Outbox
from services.messaging.embedded import MEMORY_URI, install_memory_transport
from services.messaging.errors import ConfigError, DatabaseConfigError
from tests.messaging.demo_services import ClaimsBase, ClaimsService


class OutboxWithoutDatabase:
    name = "lonely"
    outbox = Outbox()

    @rpc
    def ping(self):
        return "pong"


class TwoDatabases:
    name = "greedy"
    db = Database(ClaimsBase.metadata)
    other = Database(ClaimsBase.metadata)
    outbox = Outbox()

    @rpc
    def ping(self):
        return "pong"


@pytest.fixture
def config(tmp_path, memory_bus):
    install_memory_transport()
    return {
        "AMQP_URI": MEMORY_URI,
        "DATABASES": {"greedy": f"sqlite:///{tmp_path}/greedy.sqlite"},
    }


def test_a_service_without_a_database_url_is_named(container_factory, config):
    container = container_factory(ClaimsService, config)
    with pytest.raises(DatabaseConfigError, match="DATABASES.claims"):
        container.start()


@pytest.mark.parametrize("service_cls, found", [(OutboxWithoutDatabase, 0), (TwoDatabases, 2)])
def test_an_outbox_needs_exactly_one_database(container_factory, config, service_cls, found):
    container = container_factory(service_cls, config)
    with pytest.raises(ConfigError, match=f"exactly one Database provider, found {found}"):
        container.start()
