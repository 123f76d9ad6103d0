"""File uploads: one ``multipart/form-data`` file part, read before the handler with refusals that name the part.

Litestar's own reading of a multipart body answers a body without the file part with a 500 (its extractor
takes the first file part there is, ``StopIteration`` when there is none), a file part under another name
as if it were the one asked for, and a part whose headers are longer than 4 KiB (a long file name) with a
400 that says "Request Entity Too Large". :func:`single_file_hook` reads the body itself, as a route's
``before_request`` hook, and leaves Litestar the form to hand to the handler's ``data: UploadFile``:

- not ``multipart/form-data`` (or no boundary): 415 ``unsupported-media-type``;
- malformed multipart: 400 ``malformed-body``;
- no part named ``data`` holding a file (or a text part in its place): 422 ``data`` / ``missing``;
- a file name longer than :data:`MAX_FILENAME_CHARS`: 422 ``filename`` / ``max_length``;
- more than :data:`MAX_PARTS` parts, or a part's header line over :data:`MAX_PART_HEADER_BYTES`: 422 naming
  the limit (``parts`` / ``max_parts``, ``filename`` / ``max_header_size``).

The body's size is bounded by the route's ``request_max_body_size`` (413), which ``Request.stream`` applies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request
from litestar.datastructures import UploadFile
from litestar.utils.scope.state import ScopeState
from multipart import (  # type: ignore[import-untyped]
    MultipartError,
    MultipartSegment,
    ParserLimitReached,
    PushMultipartParser,
)

from fundapp.core.errors import DomainError, InvalidInput

# A file's name as uploaded: no file system the facility's users have allows a longer one.
MAX_FILENAME_CHARS = 255
# One file part and a few text parts at most; the header line of a part carries the file name, so its bound
# leaves room for a name of MAX_FILENAME_CHARS characters in UTF-8 and percent-encoded (and refuses a name
# longer than that by its own rule, never as a body "too large").
MAX_PARTS = 8
MAX_PART_HEADER_BYTES = 16 * 1024

AnyRequest = Request[Any, Any, Any]


class UnsupportedMediaType(DomainError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class MalformedBody(DomainError):
    status = 400
    slug = "malformed-body"
    title = "The request body is not valid multipart/form-data"


async def read_single_file(request: AnyRequest, field: str) -> UploadFile:
    """The file of the multipart part named ``field`` (the other parts are read and dropped)."""
    media_type, options = request.content_type
    boundary = options.get("boundary", "")
    if media_type != "multipart/form-data" or not boundary:
        raise UnsupportedMediaType(
            f"send the file as multipart/form-data with a part named {field!r}", field="", rule="multipart"
        )
    found: UploadFile | None = None
    current: UploadFile | None = None
    text_parts: set[str] = set()
    try:
        with PushMultipartParser(
            boundary, max_header_size=MAX_PART_HEADER_BYTES, max_segment_count=MAX_PARTS
        ) as parser:
            async for chunk in _chunks(request):
                for event in parser.parse(chunk):
                    if isinstance(event, MultipartSegment):
                        if event.filename is not None and len(event.filename) > MAX_FILENAME_CHARS:
                            raise InvalidInput(
                                f"a file name is at most {MAX_FILENAME_CHARS} characters; this one has "
                                f"{len(event.filename)}",
                                field="filename",
                                rule="max_length",
                                max_length=MAX_FILENAME_CHARS,
                            )
                        if event.name == field and event.filename is not None and found is None:
                            current = UploadFile(
                                content_type=event.content_type or "application/octet-stream",
                                filename=event.filename,
                                headers=dict(event.headerlist),
                            )
                        elif event.name == field:
                            text_parts.add(field)
                    elif event:
                        if current is not None:
                            await current.write(bytes(event))
                    elif current is not None:  # the end of the file part
                        await current.seek(0)
                        found, current = current, None
    except ParserLimitReached as exc:
        await _close(found, current)
        if "segment count" in str(exc):
            raise InvalidInput(
                f"a multipart upload has at most {MAX_PARTS} parts", field="parts", rule="max_parts"
            ) from None
        raise InvalidInput(
            f"a part's header line (with its file name) is at most {MAX_PART_HEADER_BYTES} bytes",
            field="filename",
            rule="max_header_size",
        ) from None
    except (MultipartError, UnicodeDecodeError) as exc:
        await _close(found, current)
        raise MalformedBody(f"the body is not valid multipart/form-data: {exc}") from None
    except BaseException:
        await _close(found, current)
        raise
    if found is None:
        shape = "a text part" if field in text_parts else "no part"
        raise InvalidInput(
            f"the request has {shape} named {field!r}; send the file as the multipart part {field!r} with a file name",
            field=field,
            rule="missing",
        )
    return found


async def _chunks(request: AnyRequest) -> Any:
    """The body's chunks, then ``b""``: the end of the input, which the parser checks is complete."""
    async for chunk in request.stream():
        if chunk:
            yield chunk
    yield b""


async def _close(*files: UploadFile | None) -> None:
    for upload in files:
        if upload is not None:
            await upload.close()


def single_file_hook(field: str = "data") -> Callable[[AnyRequest], Awaitable[None]]:
    """A route's ``before_request`` hook: the app's own hook, then the body read by :func:`read_single_file`,
    left as the form Litestar gives the handler's ``data: UploadFile`` (its only file part)."""

    async def hook(request: AnyRequest) -> None:
        app_hook = request.app.before_request
        if app_hook is not None:  # a route's hook replaces the app's: run it first
            await app_hook(request)
        upload = await read_single_file(request, field)
        # Litestar reads a multipart body once per request and keeps the form in the request's scope state.
        ScopeState.from_scope(request.scope).form = {field: upload}

    return hook
