"""Attachments, issue 19: an Office file is checked for real (its declared content types, its parts' names,
sizes and kinds), a proposal's attachments have a quota, a stored file that went missing is a clear 410, and
a file name too long is a 422 naming ``filename``. Every refusal stores nothing. Both backends."""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.support import (
    DOCX_BYTES,
    OFFICE_MAIN_TYPES,
    PDF_BYTES,
    PROPOSALS,
    V1,
    Api,
    ProposalWorld,
    accepted,
    assert_problem,
    assert_refused,
    broken_rules,
    content_types_xml,
    create_proposal,
    proposal_world,
    upload,
)

pytestmark = pytest.mark.usefixtures("backend")

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XML = '<?xml version="1.0" encoding="UTF-8"?><root/>'
BASE_DEFAULTS = {"xml": "application/xml", "rels": "application/vnd.openxmlformats-package.relationships+xml"}


def package(
    parts: dict[str, bytes | str],
    *,
    defaults: dict[str, str] | None = None,
    overrides: dict[str, str] | None = None,
    main: str = "word/document.xml",
) -> bytes:
    """A DOCX-like package: its main part, ``parts``, and content types that declare what they are told."""
    buffer = io.BytesIO()
    declared = {main: OFFICE_MAIN_TYPES.get(main, "application/xml"), **(overrides or {})}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types_xml({**BASE_DEFAULTS, **(defaults or {})}, declared))
        archive.writestr(main, XML)
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def world(api: Api) -> ProposalWorld:
    return proposal_world(api, reviewers=1)


@pytest.fixture
def draft(api: Api, world: ProposalWorld) -> int:
    return int(create_proposal(api, world.grantee, world.call_id)["id"])


def refused(api: Api, world: ProposalWorld, draft: int, data: bytes, rule: str, status: int = 422) -> None:
    before = api.db.snapshot("attachments")
    directory = Path(api.settings.var_dir) / "attachments"
    files = set(directory.iterdir()) if directory.exists() else set()
    body = assert_problem(upload(api, world.grantee, draft, "narrative.docx", data, DOCX), status)
    assert ("file", rule) in broken_rules(body), body
    assert api.db.snapshot("attachments") == before
    assert (set(directory.iterdir()) if directory.exists() else set()) == files


# ---------------------------------------------------------------- Office packages


def test_a_real_docx_is_accepted(api: Api, world: ProposalWorld, draft: int) -> None:
    data = package(
        {"word/styles.xml": XML, "_rels/.rels": XML, "word/printerSettings/printerSettings1.bin": b"\x00" * 64},
        defaults={"bin": "application/vnd.openxmlformats-officedocument.wordprocessingml.printerSettings"},
        overrides={"word/styles.xml": "application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"},
    )
    row = accepted(upload(api, world.grantee, draft, "narrative.docx", data, DOCX), 201)
    assert row["media_type"] == DOCX


@pytest.mark.parametrize(
    ("parts", "defaults", "rule"),
    [
        ({"evil.exe": b"MZ" + bytes(200)}, {"exe": "application/octet-stream"}, "attachment-executable"),
        ({"evil.exe": b"MZ" + bytes(200)}, {}, "attachment-executable"),
        ({"word/payload.dll": b"MZ" + bytes(64)}, {"dll": "application/x-msdownload"}, "attachment-executable"),
        ({"word/run.js": "alert(1)"}, {"js": "application/javascript"}, "attachment-executable"),
        ({"scripts/setup.sh": "#!/bin/sh\nrm -rf /"}, {"sh": "application/x-sh"}, "attachment-executable"),
        ({"word/vbaProject.bin": bytes(64)}, {"bin": "application/vnd.ms-office.vbaProject"}, "attachment-macro"),
        ({"word/notes.txt": "undeclared"}, {}, "attachment-type"),
    ],
    ids=["evil.exe", "undeclared exe", "dll", "js", "sh", "vbaProject", "undeclared part"],
)
def test_a_package_carrying_programs_macros_or_undeclared_parts_is_refused(
    api: Api, world: ProposalWorld, draft: int, parts: dict[str, bytes | str], defaults: dict[str, str], rule: str
) -> None:
    refused(api, world, draft, package(parts, defaults=defaults), rule)


def test_a_macro_enabled_document_is_refused(api: Api, world: ProposalWorld, draft: int) -> None:
    docm = package({}, overrides={"word/document.xml": "application/vnd.ms-word.document.macroEnabled.main+xml"})
    refused(api, world, draft, docm, "attachment-macro")


def test_a_document_whose_main_part_is_not_declared_as_one_is_refused(
    api: Api, world: ProposalWorld, draft: int
) -> None:
    refused(api, world, draft, package({}, overrides={"word/document.xml": "application/xml"}), "attachment-type")


def test_content_types_with_a_dtd_are_refused(api: Api, world: ProposalWorld, draft: int) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa">]><Types xmlns="x">&a;</Types>',
        )
        archive.writestr("word/document.xml", XML)
    refused(api, world, draft, buffer.getvalue(), "attachment-type")


@pytest.mark.parametrize("name", ["../../etc/cron.d/job.xml", "/abs/part.xml", "word\\..\\evil.xml", "C:/x.xml"])
def test_a_part_named_outside_the_package_is_refused(api: Api, world: ProposalWorld, draft: int, name: str) -> None:
    refused(api, world, draft, package({name: XML}), "attachment-path")


def test_a_zip_bomb_is_refused_by_its_uncompressed_size(api: Api, world: ProposalWorld, draft: int) -> None:
    # 120 MiB of zeros compress to about 120 KiB: declared sizes bound what a reader would have to expand.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(
            "[Content_Types].xml",
            content_types_xml(BASE_DEFAULTS, {"word/document.xml": OFFICE_MAIN_TYPES["word/document.xml"]}),
        )
        archive.writestr("word/document.xml", XML)
        with archive.open("word/media/blank.xml", "w") as part:
            chunk = bytes(1024 * 1024)
            for _ in range(120):
                part.write(chunk)
    data = buffer.getvalue()
    assert len(data) < 1024 * 1024
    refused(api, world, draft, data, "attachment-uncompressed-size")


# ---------------------------------------------------------------- quota


@pytest.fixture
def small_quota_api(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    settings = make_settings(
        api.settings.database_url,
        api.settings.var_dir,
        FUNDAPP_MAX_ATTACHMENTS_PER_PROPOSAL="2",
        FUNDAPP_MAX_ATTACHMENT_BYTES_PER_PROPOSAL=str(3 * len(PDF_BYTES)),
    )
    monkeypatch.setattr(api.client.app.state, "settings", settings)
    return api


def test_a_proposals_attachments_have_a_count_quota(small_quota_api: Api, world: ProposalWorld, draft: int) -> None:
    api = small_quota_api
    for n in range(2):
        accepted(upload(api, world.grantee, draft, f"annex-{n}.pdf", PDF_BYTES), 201)
    before = api.db.snapshot("attachments")
    body = assert_refused(
        upload(api, world.grantee, draft, "annex-3.pdf", PDF_BYTES),
        409,
        "conflict",
        field="file",
        rule="attachment-quota-count",
    )
    assert body["limit"] == 2
    assert api.db.snapshot("attachments") == before


def test_a_proposals_attachments_have_a_bytes_quota(small_quota_api: Api, world: ProposalWorld, draft: int) -> None:
    api = small_quota_api
    accepted(upload(api, world.grantee, draft, "annex.pdf", PDF_BYTES), 201)
    bigger = PDF_BYTES + b"%" * (2 * len(PDF_BYTES))
    assert_refused(
        upload(api, world.grantee, draft, "big.pdf", bigger),
        409,
        "conflict",
        field="file",
        rule="attachment-quota-bytes",
    )


# ---------------------------------------------------------------- a missing stored file, a long name


def test_a_stored_file_that_went_missing_is_a_410_saying_so(
    api: Api, world: ProposalWorld, draft: int, caplog: pytest.LogCaptureFixture
) -> None:
    row = accepted(upload(api, world.grantee, draft, "narrative.docx", DOCX_BYTES, DOCX), 201)
    for stored in (Path(api.settings.var_dir) / "attachments").iterdir():
        stored.unlink()
    with caplog.at_level(logging.ERROR, logger="fundapp.proposals"):
        response = api.client.get(f"{V1}/attachments/{row['id']}", headers=world.grantee.headers)
    assert_refused(response, 410, "gone", field="attachment_id", rule="file-missing")
    assert any("missing" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def test_a_file_name_of_10000_characters_is_a_422_naming_filename_and_its_limit(
    api: Api, world: ProposalWorld, draft: int
) -> None:
    response = upload(api, world.grantee, draft, "a" * 10_000 + ".pdf", PDF_BYTES)
    body = assert_refused(response, 422, "validation-failed", field="filename", rule="max_length")
    assert body["max_length"] == 255
    assert "Entity" not in response.text
    accepted(upload(api, world.grantee, draft, "a" * 251 + ".pdf", PDF_BYTES), 201)


def test_the_list_of_attachments_is_unchanged_by_refusals(api: Api, world: ProposalWorld, draft: int) -> None:
    upload(api, world.grantee, draft, "x" * 300, PDF_BYTES)
    assert accepted(api.client.get(f"{PROPOSALS}/{draft}/attachments", headers=world.grantee.headers)) == []
