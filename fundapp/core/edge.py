"""The service's edge: request-size limits and security headers, around every response (docs/api.md, "Limits"
and "Security headers").

``EdgeMiddleware`` wraps the whole ASGI application (``Litestar.asgi_handler``, so it sees what no route
matches too: 404, 405, the static files and ``/schema``):

- **Limits**, before anything else runs: a query string longer than :data:`MAX_QUERY_BYTES` or a path longer
  than :data:`MAX_PATH_BYTES` is ``414`` (``uri-too-long``), more than :data:`MAX_QUERY_PARAMETERS`
  parameters ``414`` as well, and request headers over :data:`MAX_HEADER_BYTES` in all ``431``
  (``headers-too-large``); each a problem+json that names the limit (``limit``, and ``errors[]`` with the
  field and rule).
- **Headers** on every response: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: same-origin``, a ``Content-Security-Policy`` (pages: only the service's own scripts and
  stylesheets, no inline script or style, and so for ``/schema``; anything else: ``default-src 'none'``),
  ``frame-ancestors 'none'`` in every policy, ``Cache-Control: no-store`` on the answer to a request that
  carries credentials (a bearer token or the session cookie) unless the route chose its own, and
  ``Strict-Transport-Security`` in production.
"""

from __future__ import annotations

import json
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from fundapp.core.errors import PROBLEM_BASE, PROBLEM_JSON

MAX_QUERY_BYTES = 8 * 1024
MAX_QUERY_PARAMETERS = 200
MAX_PATH_BYTES = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024

# The pages: scripts and stylesheets of the service only (no inline script, no inline style), no plugin,
# forms post only to the service, never framed.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI at /schema: the same (its initialiser is a file and the description a JSON data block, so no inline
# script; the styles it sets from script are not inline markup); tests/browser/test_security_policy.py renders it.
SCHEMA_POLICY = PAGE_POLICY
# Everything else (JSON, problem+json, CSV, PDF, XML, files): nothing to load, nothing to run.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=63072000; includeSubDomains"

COMMON_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


def _problem(status: int, slug: str, title: str, detail: str, *, path: str, field: str, rule: str, limit: int) -> bytes:
    body = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "instance": path,
        "detail": detail,
        "limit": limit,
        "errors": [{"field": field, "rule": rule, "message": detail}],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def refusal(scope: Scope) -> tuple[int, bytes] | None:
    """The limit a request breaks, as (status, problem body), or None."""
    # raw_path never holds the query under a server (ASGI); a test client may put it there
    raw_path: bytes = (scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")).split(b"?")[0]
    path = scope.get("path", "")
    instance = path if len(raw_path) <= MAX_PATH_BYTES else path[:200] + "..."
    query: bytes = scope.get("query_string", b"")
    if len(raw_path) > MAX_PATH_BYTES:
        detail = f"the path has {len(raw_path)} bytes; at most {MAX_PATH_BYTES}"
        return 414, _problem(
            414, "uri-too-long", "The URI is too long", detail,
            path=instance, field="path", rule="max_path_bytes", limit=MAX_PATH_BYTES,
        )  # fmt: skip
    if len(query) > MAX_QUERY_BYTES:
        detail = f"the query string has {len(query)} bytes; at most {MAX_QUERY_BYTES}"
        return 414, _problem(
            414, "uri-too-long", "The URI is too long", detail,
            path=instance, field="query", rule="max_query_bytes", limit=MAX_QUERY_BYTES,
        )  # fmt: skip
    parameters = sum(1 for pair in query.split(b"&") if pair)
    if parameters > MAX_QUERY_PARAMETERS:
        detail = f"the query has {parameters} parameters; at most {MAX_QUERY_PARAMETERS}"
        return 414, _problem(
            414, "uri-too-long", "The URI is too long", detail,
            path=instance, field="query", rule="max_query_parameters", limit=MAX_QUERY_PARAMETERS,
        )  # fmt: skip
    headers = list(scope.get("headers", []))
    size = sum(len(name) + len(value) + 4 for name, value in headers)  # "name: value\r\n"
    if size > MAX_HEADER_BYTES:
        detail = f"the request's headers have {size} bytes; at most {MAX_HEADER_BYTES}"
        return 431, _problem(
            431, "headers-too-large", "The request's headers are too large", detail,
            path=instance, field="headers", rule="max_header_bytes", limit=MAX_HEADER_BYTES,
        )  # fmt: skip
    return None


def _has_credentials(scope: Scope, session_cookie: bytes) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return True
        if name == b"cookie" and session_cookie + b"=" in value:
            return True
    return False


def _policy_for(path: str, media_type: bytes, existing: bytes | None) -> bytes:
    if existing is not None:  # the route's own (a report's HTML, a download), never framed
        return existing if b"frame-ancestors" in existing else existing + b"; frame-ancestors 'none'"
    if media_type == b"text/html":
        return (SCHEMA_POLICY if path == "/schema" or path.startswith("/schema/") else PAGE_POLICY).encode()
    return DATA_POLICY.encode()


class EdgeMiddleware:
    """Limits before the application, security headers on whatever it answers (see the module's text)."""

    def __init__(self, app: ASGIApp, *, session_cookie: str, production: bool) -> None:
        self.app = app
        self.session_cookie = session_cookie.encode()
        self.production = production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        credentials = _has_credentials(scope, self.session_cookie)
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)  # type: ignore[assignment]
                message["headers"] = self.headers_for(path, list(message.get("headers", [])), credentials)
            await send(message)

        refused = refusal(scope)
        if refused is not None:
            status, body = refused
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", PROBLEM_JSON.encode()),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await self.app(scope, receive, send_with_headers)

    def headers_for(
        self, path: str, headers: list[tuple[bytes, bytes]], credentials: bool
    ) -> list[tuple[bytes, bytes]]:
        present: dict[bytes, bytes] = {}
        for name, value in headers:
            present.setdefault(name.lower(), value)
        media_type = present.get(b"content-type", b"").split(b";")[0].strip().lower()
        kept = [(n, v) for n, v in headers if n.lower() != b"content-security-policy"]
        out: list[tuple[bytes, bytes]] = [*kept]
        out.append((b"content-security-policy", _policy_for(path, media_type, present.get(b"content-security-policy"))))
        out.extend((name, value) for name, value in COMMON_HEADERS if name not in present)
        if credentials and b"cache-control" not in present:
            out.append((b"cache-control", b"no-store"))
        if self.production and b"strict-transport-security" not in present:
            out.append((b"strict-transport-security", HSTS.encode()))
        return out


def install(app: Any, *, session_cookie: str, production: bool) -> None:
    """Wrap a Litestar app's whole ASGI handler (what ``Litestar.__call__`` runs for every HTTP request)."""
    app.asgi_handler = EdgeMiddleware(app.asgi_handler, session_cookie=session_cookie, production=production)
