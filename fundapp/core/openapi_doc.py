"""The OpenAPI document says every answer a route can give (docs/api.md, "Errors" and "Limits").

Litestar describes each route's success and, for a route with parameters, a 400 in its own error shape that
this service never sends (its errors are RFC 9457 problems, and invalid fields are 422). :func:`complete`
rewrites the generated document once, when it is first asked for:

- every refusal a route can answer is described as ``application/problem+json`` referring to the ``Problem``
  schema: 400 (unreadable body or request), 414 and 431 (the edge's limits), 422 (invalid fields) on every
  operation; 401 and 403 on every operation that needs credentials; 404 when the path names a record; 409,
  413 and 415 on the unsafe methods with a body; 429 on the login; 503 (the database in trouble) on all but
  ``/health/live``; 410 on a download;
- an operation that takes ``Idempotency-Key`` answers a repeated key with 200 (the first result);
- a report's body is described per format: ``application/json`` as the ``ReportOut`` object, CSV and HTML as
  text, PDF as binary; the IATI files as XML and the hledger export as text.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable, Sequence
from typing import Any

from litestar._openapi.schema_generation import SchemaCreator
from litestar.openapi.spec import Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition
from pydantic import RootModel

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem: what kind of refusal, and which fields broke which rules.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "urn:fundapp:problem:<slug>, the kind of refusal"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "the request's path"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "rule", "message"],
                "properties": {
                    "field": {"type": "string", "description": "dotted path of the input field ('' for the request)"},
                    "rule": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
        "limit": {"type": "integer", "description": "the limit a request broke (414, 431, quotas)"},
    },
    "additionalProperties": True,
}

DESCRIPTIONS = {
    400: "The request could not be read (a body that is not JSON, or malformed multipart)",
    401: "Not authenticated (WWW-Authenticate: Bearer)",
    403: "Authenticated but not allowed: the problem names the roles needed",
    404: "No such record (or one the caller may not see)",
    405: "Method not allowed: the Allow header lists the path's methods",
    409: "Conflicts with the current state (workflow, idempotency, quota)",
    410: "The stored file is missing (rule file-missing)",
    413: "The request body is too large",
    414: "The URI is too long: query over 8 KiB or over 200 parameters (problem names the limit)",
    415: "Unsupported media type",
    422: "Invalid fields: errors[] names each field and the rule it broke",
    429: "Too many attempts: Retry-After says when to try again",
    431: "The request's headers are over 16 KiB in all (problem names the limit)",
    503: "The database does not answer",
}
EVERY_OPERATION = (400, 414, 422, 431)
UNSAFE = {"post", "put", "patch", "delete"}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

REPORT_PATH = re.compile(r"^/api/v1/reports/(?!iati/)")
TEXT = {"type": "string"}
# Query filters that name a record by its code
REFERENCE_FILTERS = {"window", "member", "member_code", "subject", "account", "call"}


def _problem_response(status: int) -> dict[str, Any]:
    return {"description": DESCRIPTIONS[status], "content": {PROBLEM_JSON: {"schema": dict(PROBLEM_REF)}}}


def _statuses(path: str, method: str, operation: dict[str, Any], public: bool) -> set[int]:
    statuses = set(EVERY_OPERATION)
    if not public:
        statuses |= {401, 403}
    # a record named by the path, or by a query filter (window=, contributor_id= ... that names none: 404)
    names = {p.get("name", "") for p in operation.get("parameters", []) if p.get("in") == "query"}
    if "{" in path or any(n.endswith("_id") or n in REFERENCE_FILTERS for n in names):
        statuses.add(404)
    if method in UNSAFE:
        statuses |= {409, 413, 415}
    if path.endswith("/auth/login"):
        statuses |= {401, 429}  # wrong credentials, too many failures
    if path != "/health/live":
        statuses.add(503)  # the database in trouble (docs/api.md, "Database trouble"); liveness asks it nothing
    if path.startswith("/api/v1/attachments/"):
        statuses.add(410)
    return statuses


def complete(
    document: dict[str, Any],
    *,
    is_public: Callable[[str], bool],
    report_schema: tuple[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``document`` with every operation's refusals, idempotent replays and report bodies described."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    if report_schema is not None:
        name, schema = report_schema
        for definition_name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(definition_name, definition)
        schemas[name] = schema
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status in sorted(_statuses(path, method, operation, is_public(path))):
                responses[str(status)] = _problem_response(status)
            parameters: Sequence[dict[str, Any]] = operation.get("parameters", [])
            idempotent = any(p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in parameters)
            if idempotent and "201" in responses and "200" not in responses:
                replay = copy.deepcopy(responses["201"])
                replay["description"] = "The first result, for a repeated Idempotency-Key with the same body"
                responses["200"] = replay
            if method == "get" and REPORT_PATH.match(path) and "200" in responses:
                responses["200"]["content"] = _report_content(report_schema[0] if report_schema else None)
            elif path.startswith("/api/v1/reports/iati/") and "200" in responses:
                responses["200"]["content"] = {"application/xml": {"schema": TEXT}}
            elif path.endswith("/exports/journal.hledger") and "200" in responses:
                responses["200"]["content"] = {"text/plain": {"schema": TEXT}}
            elif path.startswith("/api/v1/attachments/") and "200" in responses:
                responses["200"]["content"] = {
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for media in (
                        "application/pdf",
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        "image/png",
                        "image/jpeg",
                    )
                }
    return document


def _report_content(name: str | None) -> dict[str, Any]:
    json_schema = {"$ref": f"#/components/schemas/{name}"} if name else {"type": "object"}
    return {
        "application/json": {"schema": json_schema},
        "text/csv": {"schema": TEXT},
        "text/html": {"schema": TEXT},
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
    }


class RootModelSchema(OpenAPISchemaPlugin):
    """A pydantic ``RootModel`` body described as its root (a discriminated union of schemas, say), not as
    an object with a ``root`` property: the body is the root itself."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return isinstance(value, type) and issubclass(value, RootModel)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        model: type[RootModel[Any]] = field_definition.annotation
        root = FieldDefinition.from_annotation(model.model_fields["root"].annotation)
        found = schema_creator.for_field_definition(root)
        if isinstance(found, Schema) and model.__doc__:
            found.description = inspect.cleandoc(model.__doc__)
        return found  # type: ignore[return-value]
