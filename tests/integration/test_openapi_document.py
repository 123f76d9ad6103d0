"""The OpenAPI document at /schema/openapi.json describes every answer (issue 19): each refusal a route can
give as application/problem+json referring to the Problem schema, report bodies as objects (JSON) or text,
and a method a path does not have is a 405 whose Allow header lists exactly the methods documented."""

from __future__ import annotations

from typing import Any

import pytest

from fundapp.core.models import Role
from tests.support import Api, assert_problem

pytestmark = pytest.mark.usefixtures("backend")

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture
def document(api: Api) -> dict[str, Any]:
    response = api.client.get("/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, item[m]) for p, item in document["paths"].items() for m in METHODS if m in item]


def test_every_refusal_is_a_problem_referring_to_the_problem_schema(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status"}
    for path, method, operation in operations(document):
        responses = operation["responses"]
        for status in ("400", "414", "422", "431"):
            assert status in responses, (method, path, status)
        for status, response in responses.items():
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (method, path, status)
                assert response["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
        public = path in ("/health", "/health/live", "/health/ready", "/api/v1/auth/login")
        assert ("403" in responses) is not public, (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        if method in ("post", "put", "patch", "delete"):
            assert {"409", "413", "415"} <= set(responses), (method, path)
    assert "429" in document["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert "503" in document["paths"]["/health"]["get"]["responses"]
    assert "503" in document["paths"]["/health/ready"]["get"]["responses"]
    assert "503" in document["paths"]["/api/v1/contributions"]["post"]["responses"]
    assert "503" not in document["paths"]["/health/live"]["get"]["responses"]
    assert "410" in document["paths"]["/api/v1/attachments/{attachment_id}"]["get"]["responses"]


def test_report_bodies_are_documented_as_objects_per_format(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["ReportOut"]["type"] == "object"
    for path, _method, operation in operations(document):
        if path.startswith("/api/v1/reports/") and "/iati/" not in path:
            content = operation["responses"]["200"]["content"]
            assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/ReportOut"}, path
            assert set(content) == {"application/json", "text/csv", "text/html", "application/pdf"}, path
    # every reference resolves
    text = str(document)
    for name in {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}:
        assert name in schemas, name


def test_idempotent_operations_document_the_replay(document: dict[str, Any]) -> None:
    responses = document["paths"]["/api/v1/contributions"]["post"]["responses"]
    assert {"200", "201"} <= set(responses)


def test_a_405_lists_in_allow_exactly_the_documented_methods(api: Api, document: dict[str, Any]) -> None:
    reader = api.create_user(Role.SECRETARIAT_ADMIN, Role.AUDITOR)
    checked = 0
    for path, item in document["paths"].items():
        documented = {m.upper() for m in METHODS if m in item}
        missing = [m for m in ("DELETE", "PUT", "PATCH") if m not in documented]
        if not missing:
            continue
        concrete = path.replace("{code}", "1100").replace("{period_id}", "2026-01").replace("{action}", "submit")
        concrete = concrete.replace("{", "").replace("}", "")
        for name in ("token_id", "user_id", "entry_id", "contributor_id", "pledge_id", "contribution_id"):
            concrete = concrete.replace(name, "1")
        concrete = "/".join("1" if part.endswith("_id") else part for part in concrete.split("/"))
        response = api.client.request(missing[0], concrete, headers=reader.headers)
        body = assert_problem(response, 405)
        allowed = {m.strip() for m in response.headers["allow"].split(",")} - {"OPTIONS", "HEAD"}
        assert allowed == documented, (path, allowed, documented, body)
        checked += 1
    assert checked > 80
