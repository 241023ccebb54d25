"""deploy/ parses, and its files agree with one another and with the code they run.

Nothing here starts Docker, Kubernetes or a broker: the files are read as data. The checks are
the mistakes that would otherwise show only in production: a config default that does not
apply, a variable a manifest sets that config.yaml never reads, a log handler without the
masking filter, an event queue that is classic, unbound, or named for a handler nobody wrote.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import requests
import yaml
from amqp.exceptions import PreconditionFailed
from kombu import Connection, Queue
from nameko.events import SERVICE_POOL, EventHandler
from sqlalchemy.engine import make_url

from services.messaging.config import REFERENCE, load_config
from services.messaging.embedded import embedded_config
from services.messaging.http_address import parse_address
from services.messaging.openapi import http_entrypoints
from services.messaging.runner import has_http
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
CONFIG = DEPLOY / "config.yaml"
SERVICES = ("enrollment", "claims", "payments", "notify")
MASKING_FILTER = "services.kernel.privacy.MaskingFilter"
JSON_FORMATTER = "services.messaging.logs.JsonFormatter"
# the facts DESIGN.md ("Messaging") names; each needs a queue before its consumer first starts
DESIGN_EVENTS = {
    "application_submitted",
    "premium_paid",
    "members_enrolled",
    "claim_approved",
    "payout_succeeded",
    "payout_failed",
}
RUNNER_LAST_RESORT = 3  # seconds after the grace (services/messaging/runner.py: grace + 3.0)
EVENT_QUEUE = re.compile(
    r"evt-(?P<source>[a-z_]+)-(?P<event>[a-z0-9_]+)--(?P<target>[a-z_]+)\.(?P<method>\w+)"
)


def documents(path: Path) -> list:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return [json.loads(text)]
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def referenced_variables(path: Path) -> set[str]:
    return {match.group(1) for match in REFERENCE.finditer(path.read_text(encoding="utf-8"))}


@pytest.fixture(scope="module")
def definitions() -> dict:
    return json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict]:
    """Every Kubernetes object in deploy/kubernetes/, by (kind, name)."""
    found = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in documents(path):
            found[doc["kind"], doc["metadata"]["name"]] = doc
    return found


# -- files ----------------------------------------------------------------------------------------


def test_every_yaml_and_json_file_parses():
    files = sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml", ".json"})
    names = {str(p.relative_to(DEPLOY)) for p in files}

    assert {
        "config.yaml",
        "embedded.yaml",
        "compose.yaml",
        "kustomization.yaml",
        "rabbitmq/definitions.json",
        *(f"kubernetes/{service}.yaml" for service in SERVICES),
    } <= names
    for path in files:
        assert documents(path), f"{path} is empty"


# -- config.yaml ----------------------------------------------------------------------------------


def test_config_loads_with_its_defaults_from_an_empty_environment():
    config = load_config(CONFIG, {})

    assert config["AMQP_URI"] == "amqp://guest:guest@localhost:5672/mutual-aid"
    assert set(config["DATABASES"]) == set(SERVICES)
    for service, url in config["DATABASES"].items():
        url = make_url(url)
        assert (url.drivername, url.host, url.database) == (
            "postgresql+psycopg",
            "localhost",
            service,
        )
    assert config["max_workers"] == 10
    assert config["DATABASE_POOL_SIZE"] == config["max_workers"] + 2
    assert config["DATABASE_CREATE_TABLES"] is False  # production schemas are Alembic's
    assert (config["OUTBOX_RELAY_INTERVAL"], config["OUTBOX_RELAY_BATCH"]) == (5, 100)
    assert config["LOGGING"]["root"]["level"] == "INFO"
    assert (config["HTTP_MAX_BODY"], config["SHUTDOWN_GRACE"]) == (16 * 1024 * 1024, 20)
    assert config["WEB_SERVER_ADDRESS"] == "0.0.0.0:8000"


def test_config_takes_what_the_environment_sets():
    environ = {
        "AMQP_URI": "amqp://mutual-aid:S3cret@rabbitmq:5672/mutual-aid",
        "CLAIMS_DATABASE_URL": "postgresql+psycopg://mutual_aid:p%40ss@db:5432/mutual_aid"
        "?options=-csearch_path%3Dclaims",
        "MAX_WORKERS": "25",
        "DATABASE_POOL_SIZE": "27",
        "LOG_LEVEL": "WARNING",
    }

    config = load_config(CONFIG, environ)

    assert config["AMQP_URI"] == environ["AMQP_URI"]
    assert config["DATABASES"]["claims"] == environ["CLAIMS_DATABASE_URL"]
    assert config["DATABASES"]["enrollment"].endswith("@localhost:5432/enrollment")
    assert (config["max_workers"], config["DATABASE_POOL_SIZE"]) == (25, 27)
    assert config["LOGGING"]["root"]["level"] == "WARNING"


def nameko_loader(monkeypatch) -> type[yaml.SafeLoader]:
    """nameko's own YAML reading (what `nameko run --config` does), on a private loader."""
    if importlib.util.find_spec("pkg_resources") is None:
        # nameko.cli.main imports it only for `nameko --version`; setuptools 81+ dropped it
        stub = types.SimpleNamespace(get_distribution=lambda name: None)
        monkeypatch.setitem(sys.modules, "pkg_resources", stub)
    cli = importlib.import_module("nameko.cli.main")

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!env_var", cli.env_var_constructor)
    Loader.add_implicit_resolver("!env_var", cli.IMPLICIT_ENV_VAR_MATCHER, None)
    return Loader


def test_nameko_run_reads_config_as_load_config_does(monkeypatch):
    loader = nameko_loader(monkeypatch)
    for name in referenced_variables(CONFIG):
        monkeypatch.delenv(name, raising=False)
    text = CONFIG.read_text(encoding="utf-8")

    assert yaml.load(text, Loader=loader) == load_config(CONFIG, {})

    environ = {
        "AMQP_URI": "amqp://mutual-aid:S3cret@rabbitmq:5672/mutual-aid",
        "ENROLLMENT_DATABASE_URL": "postgresql+psycopg://u:p%23w@db/enrollment",
        "MAX_WORKERS": "25",
        "WEB_SERVER_ADDRESS": "0.0.0.0:9000",
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert yaml.load(text, Loader=loader) == load_config(CONFIG, environ)


@pytest.mark.parametrize("name", ["config.yaml", "embedded.yaml"])
def test_every_log_handler_masks_personal_data(name):
    path = DEPLOY / name
    logging_config = load_config(path, {})["LOGGING"]
    masking = {
        key for key, spec in logging_config["filters"].items() if spec.get("()") == MASKING_FILTER
    }
    for handler, spec in logging_config["handlers"].items():
        assert masking & set(spec.get("filters", [])), f"{name}: handler {handler} does not mask"
        formatter = logging_config["formatters"][spec["formatter"]]
        assert formatter.get("()") == JSON_FORMATTER, f"{name}: handler {handler} is not JSON"

    # and in a process of its own, configured exactly so, a careless log line is masked
    program = (
        "import logging.config, sys\n"
        "from services.messaging.config import load_config\n"
        "logging.config.dictConfig(load_config(sys.argv[1], {})['LOGGING'])\n"
        "logging.getLogger('services.enrollment').warning("
        "'member %s phone %s', '11010519491231002X', '13812345678')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    logged = done.stdout + done.stderr
    # (eventlet, imported with nameko, prints its deprecation notice as plain text)
    (line,) = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    assert line["message"] == "member 110105********002X phone 138****5678"
    assert (line["level"], line["logger"]) == ("WARNING", "services.enrollment")
    assert "11010519491231002X" not in logged and "13812345678" not in logged


def test_embedded_yaml_is_the_embedded_mode():
    services = [type(name, (), {"name": name}) for name in SERVICES]
    expected = embedded_config(services)

    config = load_config(DEPLOY / "embedded.yaml", {})

    assert {key: config[key] for key in expected} == expected


# -- RabbitMQ -------------------------------------------------------------------------------------


def test_every_queue_is_quorum_and_bound_to_an_existing_exchange(definitions):
    (vhost,) = definitions["vhosts"]
    exchanges = {x["name"]: x for x in definitions["exchanges"]}
    queues = {q["name"]: q for q in definitions["queues"]}
    bound = {}
    for binding in definitions["bindings"]:
        assert binding["vhost"] == vhost["name"]
        assert binding["source"] in exchanges, f"binding from unknown exchange {binding['source']}"
        assert binding["destination_type"] == "queue" and binding["destination"] in queues
        bound.setdefault(binding["destination"], []).append(binding)

    assert queues
    for name, queue in queues.items():
        assert queue["vhost"] == vhost["name"]
        assert queue["arguments"].get("x-queue-type") == "quorum", f"{name} is not quorum"
        assert queue["durable"] and not queue["auto_delete"], name
        assert name in bound, f"{name} is bound to no exchange"
    # the handlers declare them as quorum queues too, so both declarations agree
    assert load_config(CONFIG, {})["EVENT_QUEUE_TYPE"] == "quorum"
    # no vhost default queue type: it needs RabbitMQ 3.13 (README.md)
    assert "default_queue_type" not in vhost and "default_queue_type" not in vhost["metadata"]


@pytest.mark.rabbit
def test_the_definitions_load_on_the_local_broker_and_the_services_declare_alike(
    definitions, rabbit_config, container_factory, tmp_path
):
    """Loaded into a throwaway vhost through the management API, as apply-definitions.sh
    does; then the claims service starts on it with deploy/config.yaml's queue type."""
    vhost = rabbit_config["vhost"]
    api = "http://127.0.0.1:15672/api"
    auth = ("guest", "guest")

    loaded = requests.post(f"{api}/definitions/{vhost}", json=definitions, auth=auth, timeout=30)

    assert loaded.status_code in (200, 201, 204), loaded.text
    queues = {q["name"]: q for q in requests.get(f"{api}/queues/{vhost}", auth=auth).json()}
    assert set(queues) == {q["name"] for q in definitions["queues"]}
    assert {q["type"] for q in queues.values()} == {"quorum"}
    (policy,) = requests.get(f"{api}/policies/{vhost}", auth=auth).json()
    assert policy["definition"]["delivery-limit"] == 20
    bindings = requests.get(f"{api}/bindings/{vhost}", auth=auth).json()
    assert {(b["source"], b["destination"], b["routing_key"]) for b in bindings} >= {
        (b["source"], b["destination"], b["routing_key"]) for b in definitions["bindings"]
    }

    queue = "evt-payments-payout_succeeded--claims.on_payout_succeeded"
    # nameko's own declaration (no queue type) of a pre-declared quorum queue is refused
    with Connection(rabbit_config["AMQP_URI"]) as connection:
        with pytest.raises(PreconditionFailed, match="x-queue-type"):
            Queue(queue, durable=True)(connection.default_channel).declare()
    # with EVENT_QUEUE_TYPE the claims service declares it alike, and consumes from it
    from services.claims.service import ClaimsService

    config = {
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "DATABASES": {"claims": f"sqlite:///{tmp_path}/claims.sqlite"},
        "DATABASE_CREATE_TABLES": True,
        "EVENT_QUEUE_TYPE": load_config(CONFIG, {})["EVENT_QUEUE_TYPE"],
        "WEB_SERVER_ADDRESS": "127.0.0.1:0",
    }
    container = container_factory(ClaimsService, config)
    container.start()
    with Connection(rabbit_config["AMQP_URI"]) as connection:
        declared = connection.default_channel.queue_declare(queue=queue, passive=True)
    assert declared.consumer_count == 1
    assert requests.get(f"{api}/queues/{vhost}/{queue}", auth=auth).json()["type"] == "quorum"


def test_exchanges_are_the_ones_nameko_declares(definitions):
    exchanges = {x["name"]: x for x in definitions["exchanges"]}

    for name in [f"{service}.events" for service in SERVICES] + ["nameko-rpc"]:
        # as nameko and the outbox relay declare them: a mismatch is PRECONDITION_FAILED
        assert exchanges[name]["type"] == "topic"
        assert exchanges[name]["durable"] and not exchanges[name]["auto_delete"]
        assert not exchanges[name]["internal"] and exchanges[name]["arguments"] == {}


def test_event_queues_are_named_and_bound_as_nameko_does(definitions):
    bindings = {b["destination"]: b for b in definitions["bindings"]}
    (policy,) = [p for p in definitions["policies"] if p["name"] == "event-handler-queues"]
    exchanges = {x["name"] for x in definitions["exchanges"]}
    events = set()

    for queue in definitions["queues"]:
        match = EVENT_QUEUE.fullmatch(queue["name"])
        if match is None:
            assert not re.match(policy["pattern"], queue["name"])  # dead letters stay put
            continue
        binding = bindings[queue["name"]]
        assert binding["source"] == f"{match['source']}.events"
        assert binding["routing_key"] == match["event"]
        assert match["target"] in SERVICES and match["source"] in SERVICES
        assert re.match(policy["pattern"], queue["name"])
        events.add(match["event"])

    assert policy["definition"]["dead-letter-exchange"] in exchanges
    # the events DESIGN.md names all have a consumer; an event nobody handles (enrollment's
    # application_approved, since payments invoices on submission) has no queue to fill up:
    # test_pre_declared_queues_are_the_handlers_of_the_service matches queues to handlers
    assert DESIGN_EVENTS <= events


def event_handler_queues(service: str) -> set[str] | None:
    """The queues nameko would declare for the service's event handlers; None if the service
    is not written yet."""
    if importlib.util.find_spec(f"services.{service}") is None:
        return None
    if importlib.util.find_spec(f"services.{service}.service") is None:
        return None
    module = importlib.import_module(f"services.{service}.service")
    queues = set()
    for cls in vars(module).values():
        if not inspect.isclass(cls) or getattr(cls, "name", None) != service:
            continue
        for method_name, method in inspect.getmembers(cls, inspect.isfunction):
            for entrypoint in getattr(method, "nameko_entrypoints", ()):
                if isinstance(entrypoint, EventHandler) and entrypoint.handler_type is SERVICE_POOL:
                    queues.add(
                        f"evt-{entrypoint.source_service}-{entrypoint.event_type}"
                        f"--{service}.{method_name}"
                    )
    return queues


# Checked for each service written so far; the others' queues are the contract they will meet.
WRITTEN = [
    s
    for s in SERVICES
    if importlib.util.find_spec(f"services.{s}") and event_handler_queues(s) is not None
]


@pytest.mark.parametrize("service", WRITTEN)
def test_pre_declared_queues_are_the_handlers_of_the_service(definitions, service):
    handled = event_handler_queues(service)
    declared = {
        q["name"]
        for q in definitions["queues"]
        if (m := EVENT_QUEUE.fullmatch(q["name"])) and m["target"] == service
    }

    assert declared - handled == set(), "queues no handler consumes (they would fill up)"
    assert handled - declared == set(), "handlers whose events before first start are lost"


# -- compose and Kubernetes -----------------------------------------------------------------------


def test_compose_runs_each_service_with_the_production_config():
    compose = documents(DEPLOY / "compose.yaml")[0]
    services = compose["services"]
    config_variables = referenced_variables(CONFIG)

    ports = {}
    for service in SERVICES:
        assert services[service]["command"] == [
            "mutual-aid",
            "run",
            "--config",
            "deploy/config.yaml",
            service,
        ]
        environment = services[service]["environment"]
        assert set(environment) <= config_variables
        assert {"rabbitmq-setup", "migrate"} <= set(services[service]["depends_on"])
        ports[service] = parse_address(environment["WEB_SERVER_ADDRESS"]).port
        if serves_http(service):
            assert f"{ports[service]}:{ports[service]}" in services[service]["ports"]
        assert float(environment["SHUTDOWN_GRACE"]) < duration(
            services[service]["stop_grace_period"]
        )
    assert len(set(ports.values())) == len(SERVICES), f"services share an HTTP port: {ports}"
    assert services["migrate"]["command"][-len(SERVICES) :] == list(SERVICES)
    assert "management" in services["rabbitmq"]["image"]
    assert "./rabbitmq:/definitions:ro" in services["rabbitmq-setup"]["volumes"]
    assert (DEPLOY / "postgres" / "init-databases.sql").exists()


def service_classes(service: str) -> list[type]:
    """The service's class, once it is written."""
    if importlib.util.find_spec(f"services.{service}") is None:
        return []
    if importlib.util.find_spec(f"services.{service}.service") is None:
        return []
    module = importlib.import_module(f"services.{service}.service")
    return [
        cls
        for cls in vars(module).values()
        if inspect.isclass(cls) and getattr(cls, "name", None) == service
    ]


def serves_http(service: str) -> bool:
    """Whether the service (if written yet) has HTTP routes."""
    if importlib.util.find_spec(f"services.{service}") is None:
        return False
    if importlib.util.find_spec(f"services.{service}.service") is None:
        return False
    module = importlib.import_module(f"services.{service}.service")
    return any(
        has_http(cls)
        for cls in vars(module).values()
        if inspect.isclass(cls) and getattr(cls, "name", None) == service
    )


def duration(text: str) -> float:
    """compose's `30s` / `1m30s` in seconds."""
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", text)
    assert parts and text, f"not a duration: {text!r}"
    return int(parts[1] or 0) * 60 + int(parts[2] or 0)


def test_kustomization_names_files_that_exist():
    kustomization = documents(DEPLOY / "kustomization.yaml")[0]
    files = list(kustomization["resources"])
    for generator in kustomization["configMapGenerator"]:
        files += generator["files"]

    assert [f for f in files if not (DEPLOY / f).is_file()] == []
    assert "config.yaml" in files and "rabbitmq/definitions.json" in files


def test_a_deployment_per_service_reads_its_secrets_and_migrates_first(manifests):
    config_variables = referenced_variables(CONFIG)

    for service in SERVICES:
        deployment = manifests["Deployment", service]
        assert deployment["spec"]["replicas"] >= 2
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        (migrate,) = pod["initContainers"]
        assert container["command"] == [
            "mutual-aid",
            "run",
            "--config",
            "/etc/mutual-aid/config.yaml",
            service,
        ]
        assert migrate["command"][:4] == [
            "python",
            "-m",
            "services.messaging.migrations",
            "upgrade",
        ]
        assert migrate["command"][-1] == service
        env = {e["name"]: e for e in container["env"]}
        assert set(env) <= config_variables
        assert env[f"{service.upper()}_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "mutual-aid-databases",
            "key": service,
        }
        assert env["AMQP_URI"]["valueFrom"]["secretKeyRef"]["name"] == "mutual-aid-rabbitmq"
        volume = pod["volumes"][0]
        assert volume["configMap"]["name"] == "mutual-aid-config"
        assert float(env["SHUTDOWN_GRACE"]["value"]) < pod["terminationGracePeriodSeconds"]


def test_each_service_has_its_own_http_port_exposed_and_probed(manifests):
    ports = {}
    for service in SERVICES:
        pod = manifests["Deployment", service]["spec"]["template"]
        (container,) = pod["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        ports[service] = parse_address(env["WEB_SERVER_ADDRESS"]).port
        # every process listens, routes or not: its probes and /metrics are there
        (http,) = container["ports"]
        assert (http["name"], http["containerPort"]) == ("http", ports[service])
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(ports[service])
        (exposed,) = manifests["Service", service]["spec"]["ports"]
        assert (exposed["port"], exposed["targetPort"]) == (ports[service], "http")
    assert len(set(ports.values())) == len(SERVICES), f"services share an HTTP port: {ports}"


def test_grace_periods_outlast_the_runners_own_bound(manifests):
    """After SIGTERM the runner gives running work SHUTDOWN_GRACE seconds, kills it, and ends
    the process RUNNER_LAST_RESORT seconds later at worst: the platform must wait longer."""
    compose = documents(DEPLOY / "compose.yaml")[0]["services"]
    for service in SERVICES:
        pod = manifests["Deployment", service]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        grace = float({e["name"]: e.get("value") for e in container["env"]}["SHUTDOWN_GRACE"])
        assert grace + RUNNER_LAST_RESORT < pod["terminationGracePeriodSeconds"], service
        grace = float(compose[service]["environment"]["SHUTDOWN_GRACE"])
        assert grace + RUNNER_LAST_RESORT < duration(compose[service]["stop_grace_period"])


def test_every_route_a_user_or_bank_needs_is_reachable_from_outside(manifests):
    ingress = manifests["Ingress", "mutual-aid"]
    (rule,) = ingress["spec"]["rules"]
    backends = {
        path["path"]: (path["backend"]["service"]["name"], path["backend"]["service"]["port"])
        for path in rule["http"]["paths"]
    }
    for service in SERVICES:
        prefix = next(p for p in backends if p.strip("/") == service)
        assert backends[prefix] == (service, {"name": "http"})
        routes = [e.url for cls in service_classes(service) for _, e in http_entrypoints(cls)]
        assert all(url.startswith(prefix.rstrip("/")) for url in routes), (service, routes)
    # the process's own routes stay inside the cluster
    assert not any(p in backends for p in ("/", "/metrics", "/readyz"))


def test_compose_publishes_every_port_and_checks_readiness():
    services = documents(DEPLOY / "compose.yaml")[0]["services"]
    for service in SERVICES:
        port = parse_address(services[service]["environment"]["WEB_SERVER_ADDRESS"]).port
        assert f"{port}:{port}" in services[service]["ports"]
        test = services[service]["healthcheck"]["test"]
        assert f"http://127.0.0.1:{port}/readyz" in test[-1]
        assert services[service]["healthcheck"]["interval"] == "10s"


def test_secrets_have_one_example_and_reach_the_services_that_read_them(manifests):
    config = load_config(CONFIG, {})
    example = {
        doc["metadata"]["name"]: doc
        for doc in documents(DEPLOY / "kubernetes" / "secrets.example.yaml")
    }
    assert set(example) == {
        "mutual-aid-rabbitmq",
        "mutual-aid-databases",
        "mutual-aid-bank",
        "mutual-aid-sms",
        "mutual-aid-idp",
    }
    assert {"issuer", "audience", "jwks-uri"} <= set(example["mutual-aid-idp"]["stringData"])
    compose = documents(DEPLOY / "compose.yaml")[0]
    for service, secret, key in (
        ("payments", "mutual-aid-bank", "BANK_KEYS_FILE"),
        ("notify", "mutual-aid-sms", "SMS_KEYS_FILE"),
    ):
        (file_name,) = example[secret]["stringData"]
        pod = manifests["Deployment", service]["spec"]["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == secret]
        (container,) = pod["containers"]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
        assert config[key] == f"{mount['mountPath']}/{file_name}"
        (mounted,) = compose["services"][service]["secrets"]
        assert mounted["target"] == config[key]
        assert compose["secrets"][mounted["source"]]["file"].startswith("./secrets/")


def test_the_image_runs_the_production_runner():
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    (cmd,) = [line for line in dockerfile.splitlines() if line.startswith("CMD ")]

    assert json.loads(cmd.removeprefix("CMD ")) == [
        "mutual-aid",
        "run",
        "--config",
        "deploy/config.yaml",
        "enrollment",
    ]
    assert "nameko run" not in (DEPLOY / "README.md").read_text(encoding="utf-8")


def test_the_broker_and_the_database_are_run_by_their_operators(manifests):
    assert manifests["RabbitmqCluster", "rabbitmq"]["spec"]["replicas"] == 3
    assert manifests["Cluster", "postgres"]["spec"]["instances"] == 3
    job = manifests["Job", "rabbitmq-setup"]["spec"]["template"]["spec"]
    assert job["volumes"][0]["configMap"]["name"] == "rabbitmq-definitions"


# -- identity: the Keycloak realm and the claims the code reads ------------------------------------

REALM = DEPLOY / "keycloak" / "realm-mutual-aid.json"


def test_the_realm_issues_the_claims_the_services_read():
    from services.access.identity import CLAIM_NAMES, ROLES

    realm = documents(REALM)[0]
    config = load_config(CONFIG, {})
    clients = {client["clientId"]: client for client in realm["clients"]}

    assert config["AUTH_ISSUER"].endswith(f"/realms/{realm['realm']}")
    assert config["AUTH_JWKS_URL"] == config["AUTH_ISSUER"] + "/protocol/openid-connect/certs"
    assert set(clients) == {"mutual-aid-console", "mutual-aid-cli"}
    console, cli = clients["mutual-aid-console"], clients["mutual-aid-cli"]
    assert console["publicClient"] and console["attributes"]["pkce.code.challenge.method"] == "S256"
    assert not console["directAccessGrantsEnabled"] and not console["implicitFlowEnabled"]
    assert cli["attributes"]["oauth2.device.authorization.grant.enabled"] == "true"
    for client in clients.values():
        access_claims = {
            m["config"]["claim.name"]
            for m in client["protocolMappers"]
            if "claim.name" in m["config"] and m["config"]["access.token.claim"] == "true"
        }
        kinds = {m["protocolMapper"]: m["config"] for m in client["protocolMappers"]}
        assert set(CLAIM_NAMES) - {"sub"} <= access_claims, client["clientId"]
        assert "oidc-sub-mapper" in kinds
        assert kinds["oidc-audience-mapper"]["included.custom.audience"] == config["AUTH_AUDIENCE"]
        assert client["attributes"]["access.token.signed.response.alg"] in ("RS256", "ES256")

    provider = realm["components"]["org.keycloak.userprofile.UserProfileProvider"][0]
    profile = json.loads(provider["config"]["kc.user.profile.config"][0])
    attributes = {a["name"]: a for a in profile["attributes"]}
    assert attributes["role"]["validations"]["options"]["options"] == list(ROLES)
    for name in ("role", "city", "district", "unit"):  # nobody edits their own scope
        assert attributes[name]["permissions"]["edit"] == ["admin"], name
