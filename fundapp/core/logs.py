"""Structured logs: one JSON object per line, each carrying the id of the request it belongs to
(docs/operations.md, "Logs").

``RequestIdMiddleware`` (the outermost middleware) takes the request's ``X-Request-ID`` when it is sane (1 to
128 characters of letters, digits and ``-_.:``) or makes one, keeps it in a context variable for the request's
whole life, echoes it in the response's ``X-Request-ID``, and logs one line when the response has been sent
(method, route, status, duration). ``JsonFormatter`` writes every record with the request id of the context it
was logged in, so whatever a service logs while serving the request carries it too. ``log_config`` is the
``logging.config.dictConfig`` that ``fundapp serve`` hands to uvicorn.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNMATCHED = "(unmatched)"
# Told of every request once it is answered: method, route template, status, seconds (the metrics).
Observer = Callable[[str, str, int, float], None]
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("fundapp_request_id", default=None)
access_log = logging.getLogger("fundapp.request")

# The attributes every LogRecord has; anything else was passed with ``extra=`` and goes into the line.
# (uvicorn's ``color_message`` is its message with terminal colours: not for a JSON line.)
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, request_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def log_config(level: str = "info", *, json_lines: bool = True) -> dict[str, Any]:
    """The logging configuration of a served process: uvicorn's loggers and the facility's, to stderr."""
    formatter = (
        {"()": f"{__name__}.JsonFormatter"}
        if json_lines
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}
    named = {"level": level.upper(), "handlers": ["main"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "loggers": {"uvicorn": named, "uvicorn.error": {"level": level.upper()}, "fundapp": named},
        "root": {"level": "WARNING", "handlers": ["main"]},
    }


def sane_request_id(value: str | None) -> str:
    """The client's id if it is sane, else a new one (a client cannot inject text into the logs)."""
    if value is not None and _SANE.match(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Every HTTP request's id: in the context for its log lines, in the response's ``X-Request-ID``."""

    def __init__(self, app: ASGIApp, observers: Sequence[Observer] = ()) -> None:
        self.app = app
        self.observers = tuple(observers)

    async def __call__(self, asgi_scope: Scope, receive: Receive, send: Send) -> None:
        scope: dict[str, Any] = asgi_scope  # type: ignore[assignment]
        if scope["type"] != "http":
            await self.app(asgi_scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        rid = sane_request_id(given)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode("ascii"))]}
            await send(message)

        try:
            await self.app(asgi_scope, receive, send_with_id)
        finally:
            # The route's template (``/api/v1/users/{user_id:int}``), which the router set on the scope; a path
            # no route matched is not a label of its own (a client could make them without end).
            route = str(scope.get("path_template") or UNMATCHED)
            seconds = time.perf_counter() - started
            for observe in self.observers:
                observe(scope["method"], route, status, seconds)
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                },
            )
            request_id.reset(token)
