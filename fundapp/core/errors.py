"""Errors as RFC 9457 problem details.

Services raise ``DomainError`` subclasses that say which field broke which rule; the handlers here turn
them, and every framework error (validation, 404, 405, 413 ...), into ``application/problem+json``. Nothing
else ever reaches a client: an unexpected exception is logged and answered with a bare 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from fundapp.core.trouble import Trouble, trouble_of

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "urn:fundapp:problem:"

log = logging.getLogger("fundapp.errors")


@dataclass(frozen=True, slots=True)
class FieldError:
    """One broken rule on one input field (``field`` is a dotted path, e.g. ``instalments.2.amount``)."""

    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class DomainError(Exception):
    """A refusal by the facility's rules. Subclasses set the status, slug and title."""

    status: ClassVar[int] = 422
    slug: ClassVar[str] = "rule-violated"
    title: ClassVar[str] = "A rule of the facility refuses this request"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        rule: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors or [])
        if field is not None or rule is not None:
            # Every refusal names its rule; "" stands for the request as a whole when no field applies.
            self.errors.insert(0, FieldError(field or "", rule or self.slug, detail))
        self.rule = rule
        self.headers = headers or {}
        self.extra = extra

    def name_within(self, prefix: str) -> None:
        """Name the refusal's fields inside a part of the request (``receipts.3.`` + ``amount``)."""
        self.errors = [FieldError(prefix + e.field, e.rule, e.message) for e in self.errors]


class InvalidInput(DomainError):
    status = 422
    slug = "validation-failed"
    title = "The request has invalid fields"


WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="fundapp"'}


class NotAuthenticated(DomainError):
    status = 401
    slug = "not-authenticated"
    title = "Authentication is required"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        # RFC 9110: a 401 names the scheme the client should use.
        self.headers = {**WWW_AUTHENTICATE, **self.headers}


class PermissionDenied(DomainError):
    status = 403
    slug = "permission-denied"
    title = "Not allowed"


class NotFound(DomainError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    slug = "conflict"
    title = "Conflicts with the current state"


class Gone(DomainError):
    status = 410
    slug = "gone"
    title = "No longer available"


class RateLimited(DomainError):
    status = 429
    slug = "rate-limited"
    title = "Too many attempts"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


def problem(
    request: Request[Any, Any, Any],
    *,
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# Pages answer their errors as pages (fundapp.core.web registers how): (is it a page?, render the error).
PageErrors = tuple[
    Callable[[Request[Any, Any, Any]], bool], Callable[[Request[Any, Any, Any], int, Any], Response[Any]]
]
_page_errors: list[PageErrors] = []


def register_page_errors(handlers: PageErrors) -> None:
    _page_errors[:] = [handlers]


def _as_page(request: Request[Any, Any, Any], status: int, exc: BaseException | None) -> Response[Any] | None:
    if _page_errors and _page_errors[0][0](request):
        try:
            return _page_errors[0][1](request, status, exc)
        except Exception:  # an error page that fails must still answer: the problem+json below
            log.exception("the error page for %s could not be rendered", request.url.path)
    return None


def _domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    page = _as_page(request, exc.status, exc)
    if page is not None:
        return page
    return problem(
        request,
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        errors=[e.as_dict() for e in exc.errors],
        headers=exc.headers,
        **exc.extra,
    )


def _field_errors_from_validation(exc: ValidationException) -> list[dict[str, str]]:
    """Name each broken field and rule.

    Body models are validated by pydantic, whose errors (kept as the exception's cause) carry the field
    path and the rule (``missing``, ``extra_forbidden``, ``string_too_short`` ...). Query, path and header
    parameters come as Litestar's ``[{"key", "message", "source"}]``.
    """
    cause_errors = getattr(exc.__cause__, "errors", None)
    if isinstance(cause_errors, list) and cause_errors and all(isinstance(e, dict) for e in cause_errors):
        return [
            {
                "field": ".".join(str(p) for p in e.get("loc", ())) or "body",
                "rule": str(e.get("type") or "invalid"),
                "message": str(e.get("msg") or "invalid value"),
            }
            for e in cause_errors
        ]
    found: list[dict[str, str]] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict) and item.get("key") == "data" and item.get("source") == "body":
            found.append({"field": "body", "rule": "missing", "message": "the request needs a JSON body"})
        elif isinstance(item, dict):
            found.append(
                {
                    "field": str(item.get("key") or item.get("source") or "body"),
                    "rule": "invalid",
                    "message": str(item.get("message") or "invalid value"),
                }
            )
    return found


def _malformed(request: Request[Any, Any, Any], detail: str) -> Response[Any]:
    return problem(
        request, status=400, slug="malformed-body", title="The request body is not valid JSON", detail=detail
    )


def _is_undecodable(exc: BaseException) -> bool:
    """A body that could not be decoded at all (by type, never by the wording of a message)."""
    cause = exc.__cause__
    return isinstance(cause, SerializationException | UnicodeDecodeError | RecursionError) or (
        cause is not None and type(cause).__name__ == "DecodeError"
    )


def _validation_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = _field_errors_from_validation(exc)
    if not errors and _is_undecodable(exc):
        return _malformed(request, str(exc.detail))
    return problem(
        request,
        status=422,
        slug=InvalidInput.slug,
        title=InvalidInput.title,
        detail=str(exc.detail) if exc.detail else None,
        errors=errors or None,
    )


_HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("not-authenticated", "Authentication is required"),
    403: ("permission-denied", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflicts with the current state"),
    410: ("gone", "No longer available"),
    413: ("body-too-large", "The request body is too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("rate-limited", "Too many requests"),
}


def _http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        return _validation_handler(request, exc)
    status = exc.status_code
    if status >= 500:
        return _internal_error_handler(request, exc)
    page = _as_page(request, status, exc)
    if page is not None:
        return page
    slug, title = _HTTP_SLUGS.get(status, ("http-error", "Request refused"))
    detail = str(exc.detail) if exc.detail else None
    if status == 400 and _is_undecodable(exc):
        return _malformed(request, detail or "the body could not be decoded")
    headers = {**WWW_AUTHENTICATE, **(exc.headers or {})} if status == 401 else exc.headers
    return problem(request, status=status, slug=slug, title=title, detail=detail, headers=headers)


def database_trouble_response(request: Request[Any, Any, Any], trouble: Trouble) -> Response[Any]:
    """503 naming the database's trouble, with ``Retry-After`` (a page for the web pages)."""
    headers = {"Retry-After": str(trouble.retry_after)}
    page = _as_page(request, 503, None)
    if page is not None:
        page.headers.update(headers)
        return page
    return problem(request, status=503, slug=trouble.slug, title=trouble.title, detail=trouble.detail, headers=headers)


def _internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    trouble = trouble_of(exc)
    if trouble is not None:
        # The request's transaction never committed: nothing of it was written. Logged without the traceback
        # (an outage would fill the log with them): the error's own words say what the database said.
        log.error(
            "%s on %s %s: %s: %s",
            trouble.slug,
            request.method,
            request.url.path,
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "",
        )
        return database_trouble_response(request, trouble)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    page = _as_page(request, HTTP_500_INTERNAL_SERVER_ERROR, None)
    if page is not None:
        return page
    return problem(
        request,
        status=HTTP_500_INTERNAL_SERVER_ERROR,
        slug="internal-error",
        title="Internal error",
        detail="The request could not be completed; nothing was changed.",
    )


def _undecodable_body_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Raised while reading the body: nesting too deep for the decoder, or bytes that are not UTF-8.
    return _malformed(request, "the body is not UTF-8 JSON of a reasonable depth")


exception_handlers: dict[type[Exception] | int, Any] = {
    RecursionError: _undecodable_body_handler,
    UnicodeDecodeError: _undecodable_body_handler,
    DomainError: _domain_error_handler,
    HTTPException: _http_error_handler,
    Exception: _internal_error_handler,
}

__all__ = [
    "PROBLEM_JSON",
    "Conflict",
    "DomainError",
    "FieldError",
    "Gone",
    "InvalidInput",
    "NotAuthenticated",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "exception_handlers",
    "problem",
]


class DatedInTheFuture(InvalidInput):
    """Nothing that moves money or records a fact is dated after the facility's clock (docs/architecture.md,
    "Time")."""

    slug = "dated-in-the-future"
    title = "The date is after today"


# The earliest date anything may be recorded at: no facility's fact predates it, and a date such as 0001-01-01
# would open ledger periods (and fee years) in antiquity.
EARLIEST_DATE = date(2000, 1, 1)


class DatedTooEarly(InvalidInput):
    """A date before :data:`EARLIEST_DATE` (docs/api.md, "Time")."""

    slug = "dated-too-early"
    title = "The date is before the earliest date the facility records"


def refuse_future(value: date, today: date, *, field: str, what: str) -> None:
    """The one time rule: ``value`` (the date of ``what``) may be today or earlier, never later; and never
    before :data:`EARLIEST_DATE`.

    ``today`` is the facility's clock (the request's, in UTC); the refusal names the field and the rule
    ``not-in-future`` (or ``not-before-earliest-date``)."""
    if value < EARLIEST_DATE:
        raise DatedTooEarly(
            f"{what} is dated {value.isoformat()}, before {EARLIEST_DATE.isoformat()}, the earliest date the "
            "facility records",
            field=field,
            rule="not-before-earliest-date",
        )
    if value > today:
        raise DatedInTheFuture(
            f"{what} is dated {value.isoformat()}, after today ({today.isoformat()}): "
            "nothing is recorded before it has happened",
            field=field,
            rule="not-in-future",
        )
