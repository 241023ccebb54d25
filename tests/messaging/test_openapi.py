"""The OpenAPI document: every HTTP route of every service, bodies from their marshmallow
schemas, valid OpenAPI 3 (openapi-spec-validator), and served by `mutual-aid serve` for all
services and per service."""

from __future__ import annotations

import importlib
import importlib.util
import inspect

import pytest
import requests
from openapi_spec_validator import validate

from services.messaging.openapi import document, http_entrypoints, openapi_path
from tests.test_serve import Serving

SERVICES = ("enrollment", "claims", "payments", "notify")


def service_classes() -> list[type]:
    """The class of each service written so far (payments and notify join when they exist)."""
    found = []
    for name in SERVICES:
        if importlib.util.find_spec(f"services.{name}") is None:
            continue
        if importlib.util.find_spec(f"services.{name}.service") is None:
            continue
        module = importlib.import_module(f"services.{name}.service")
        found += [
            cls
            for cls in vars(module).values()
            if inspect.isclass(cls) and getattr(cls, "name", None) == name
        ]
    return found


@pytest.fixture(scope="module")
def spec() -> dict:
    return document(service_classes())


def test_the_document_is_valid_openapi_3(spec):
    validate(spec)  # raises, naming the place, when it is not
    assert spec["openapi"].startswith("3.")


def test_every_registered_route_is_in_the_document_and_nothing_else(spec):
    registered = set()
    for cls in service_classes():
        for _, entrypoint in http_entrypoints(cls):
            path, _ = openapi_path(entrypoint.url)
            registered |= {(path, method.lower()) for method in entrypoint.method.split(",")}
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}

    assert {"claims", "enrollment"} <= {cls.name for cls in service_classes()}
    assert ("/claims/{claim_id}/submit", "post") in registered
    assert documented == registered


# actions whose route names everything they need: the person is the token's
BODILESS = {
    ("/enrollment/applications/{application_id}/submit", "post"),
    ("/enrollment/applications/{application_id}/approve", "post"),
}


def test_every_route_that_takes_a_body_documents_it(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("post", "put", "patch") and (path, method) not in BODILESS:
                assert "requestBody" in operation, f"{method.upper()} {path}: no body documented"
            assert operation["summary"] != operation["operationId"].split(".")[1], (
                f"{method.upper()} {path}: no summary"
            )


def test_bodies_are_the_schemas_the_handlers_load(spec):
    create = spec["paths"]["/claims"]["post"]
    reference = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][reference.rsplit("/", 1)[1]]

    assert {"city", "year", "id_number", "facts", "name", "payee_card"} == set(schema["properties"])
    assert {"city", "year", "id_number", "facts"} <= set(schema["required"])
    assert schema["properties"]["city"]["maxLength"] > 0  # from the model's column
    assert "201" in create["responses"] and "401" in create["responses"]
    assert {"422", "404"} <= set(spec["paths"]["/claims/{claim_id}/submit"]["post"]["responses"])
    roster = spec["paths"]["/enrollment/applications/{application_id}/roster"]["post"]
    assert list(roster["requestBody"]["content"]) == [
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ]
    assert {p["name"] for p in roster["parameters"]} >= {"application_id", "filename", "append"}
    get = spec["paths"]["/claims/{claim_id}"]["get"]
    assert get["parameters"][0] == {
        "name": "claim_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }


def test_serve_answers_the_document_for_all_and_for_each_service(tmp_path):
    serving = Serving(tmp_path)
    try:
        base = serving.wait_ready()
        whole = requests.get(f"{base}/openapi.json", timeout=30)
        claims = requests.get(f"{base}/claims/openapi.json", timeout=30)
        unknown = requests.get(f"{base}/nobody/openapi.json", timeout=30)
    finally:
        serving.close()

    assert whole.status_code == 200 and claims.status_code == 200
    validate(whole.json())
    assert whole.json()["paths"] == document(service_classes())["paths"]
    assert set(claims.json()["paths"]) == {
        path for path in whole.json()["paths"] if path.startswith("/claims")
    }
    assert unknown.status_code == 404
