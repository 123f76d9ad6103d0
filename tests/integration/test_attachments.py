"""Attachments: checked by content, stored under server names, served as downloads (issue acceptance 4).

A file is accepted only when its bytes are a PDF, DOCX, XLSX, PNG or JPEG, whatever its name and declared
type say, and only up to 10 MiB; a refusal is a 422 naming the field ``file`` and the rule
(``attachment-type``, ``attachment-size``) and stores nothing (no row, no file, no audit event). A name is
shown without any path, with the extension of the real type, and the file is stored under a name the
server makes up. A download returns the very bytes uploaded, as an attachment the browser may not sniff.
Who may upload and download follows the proposal's access rules. Both backends.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from proposals.service import MAX_ATTACHMENT_BYTES
from tests.support import (
    DOCX_BYTES,
    JPEG_BYTES,
    PDF_BYTES,
    PNG_BYTES,
    PROPOSAL_TABLES,
    PROPOSALS,
    V1,
    XLSX_BYTES,
    Api,
    ProposalWorld,
    accepted,
    acted,
    assert_problem,
    assign,
    broken_rules,
    create_proposal,
    declare,
    endorse_by_delegates,
    office_bytes,
    proposal_world,
    upload,
)

pytestmark = pytest.mark.usefixtures("backend")

PDF, DOCX, XLSX, PNG, JPEG = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "image/png",
    "image/jpeg",
)
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + bytes(200)
MZ = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + bytes(48)
    + b"This program cannot be run in DOS mode."
)
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "not an office document")
    return buffer.getvalue()


@pytest.fixture
def world(api: Api) -> ProposalWorld:
    return proposal_world(api, reviewers=3)


@pytest.fixture
def draft(api: Api, world: ProposalWorld) -> int:
    return int(create_proposal(api, world.grantee, world.call_id)["id"])


def stored_files(api: Api) -> set[str]:
    directory = Path(api.settings.var_dir) / "attachments"
    return {p.name for p in directory.iterdir()} if directory.exists() else set()


def all_files(api: Api) -> set[Path]:
    root = Path(api.settings.var_dir)
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def download(api: Api, actor: Any, attachment_id: int) -> Any:
    return api.client.get(f"{V1}/attachments/{attachment_id}", headers=actor.headers)


# ---------------------------------------------------------------- refused


REFUSED: dict[str, tuple[str, bytes, str, str]] = {
    # name: (filename, bytes, declared content type, rule)
    "an ELF executable named .pdf": ("report.pdf", ELF, "application/pdf", "attachment-type"),
    "a Windows executable named .pdf": ("budget.pdf", MZ, "application/pdf", "attachment-type"),
    "a Windows executable named .docx": ("narrative.docx", MZ, DOCX, "attachment-type"),
    "a GIF": ("chart.gif", GIF, "image/gif", "attachment-type"),
    "a GIF named .png": ("chart.png", GIF, "image/png", "attachment-type"),
    "a ZIP that is not an office document": ("annexes.zip", plain_zip(), "application/zip", "attachment-type"),
    "a ZIP named .docx": ("annexes.docx", plain_zip(), DOCX, "attachment-type"),
    "a package with content types but no document": (
        "empty.docx",
        office_bytes("[Content_Types].xml"),
        DOCX,
        "attachment-type",
    ),
    "a document part without content types": ("odd.docx", office_bytes("word/document.xml"), DOCX, "attachment-type"),
    "a truncated ZIP": ("broken.xlsx", XLSX_BYTES[:40], XLSX, "attachment-type"),
    "plain text": ("notes.txt", b"Budget notes: staff 60000, travel 40000.\n", "text/plain", "attachment-type"),
    "plain text named .pdf": ("notes.pdf", b"Budget notes\n", "application/pdf", "attachment-type"),
    "an SVG with a script": ("logo.png", SVG, "image/png", "attachment-type"),
    "an HTML page": ("letter.pdf", HTML, "text/html", "attachment-type"),
    "a PDF header not at the start": ("late.pdf", b"\n" + PDF_BYTES, "application/pdf", "attachment-type"),
    "an empty file": ("empty.pdf", b"", "application/pdf", "attachment-size"),
    "a PDF one byte over 10 MiB": (
        "big.pdf",
        PDF_BYTES + b"%" * (MAX_ATTACHMENT_BYTES + 1 - len(PDF_BYTES)),
        "application/pdf",
        "attachment-size",
    ),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_file_that_is_not_an_accepted_type_or_size_is_refused(
    api: Api, world: ProposalWorld, draft: int, name: str
) -> None:
    filename, data, content_type, rule = REFUSED[name]
    before, files = api.db.snapshot(*PROPOSAL_TABLES), all_files(api)

    body = assert_problem(upload(api, world.grantee, draft, filename, data, content_type), 422)

    assert ("file", rule) in broken_rules(body), body
    assert api.db.snapshot(*PROPOSAL_TABLES) == before
    assert all_files(api) == files
    assert accepted(api.client.get(f"{PROPOSALS}/{draft}/attachments", headers=world.grantee.headers)) == []


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(api: Api, world: ProposalWorld, draft: int) -> None:
    before, files = api.db.snapshot(*PROPOSAL_TABLES), all_files(api)
    data = PDF_BYTES + b"%" * (MAX_ATTACHMENT_BYTES + 256 * 1024)

    response = upload(api, world.grantee, draft, "huge.pdf", data)

    assert response.status_code in {413, 422}, response.status_code
    assert_problem(response, response.status_code)
    assert api.db.snapshot(*PROPOSAL_TABLES) == before
    assert all_files(api) == files


def test_a_pdf_of_exactly_10_mib_is_accepted(api: Api, world: ProposalWorld, draft: int) -> None:
    data = PDF_BYTES + b"%" * (MAX_ATTACHMENT_BYTES - len(PDF_BYTES))

    row = accepted(upload(api, world.grantee, draft, "big.pdf", data), 201)

    assert (row["size"], row["sha256"]) == (MAX_ATTACHMENT_BYTES, hashlib.sha256(data).hexdigest())
    assert download(api, world.grantee, row["id"]).content == data


# ---------------------------------------------------------------- accepted, and served back as they came


@pytest.mark.parametrize(
    ("filename", "data", "media_type", "shown_as"),
    [
        ("Concept note.pdf", PDF_BYTES, PDF, "Concept note.pdf"),
        ("Narrative.docx", DOCX_BYTES, DOCX, "Narrative.docx"),
        ("Budget 2026.xlsx", XLSX_BYTES, XLSX, "Budget 2026.xlsx"),
        ("map.png", PNG_BYTES, PNG, "map.png"),
        ("team.jpeg", JPEG_BYTES, JPEG, "team.jpg"),
    ],
    ids=["pdf", "docx", "xlsx", "png", "jpeg"],
)
def test_an_accepted_file_round_trips_byte_for_byte(
    api: Api, world: ProposalWorld, draft: int, filename: str, data: bytes, media_type: str, shown_as: str
) -> None:
    row = accepted(upload(api, world.grantee, draft, filename, data, "application/octet-stream"), 201)

    assert (row["filename"], row["media_type"], row["size"]) == (shown_as, media_type, len(data))
    assert row["sha256"] == hashlib.sha256(data).hexdigest()
    response = download(api, world.grantee, row["id"])
    assert response.status_code == 200
    assert response.content == data
    assert hashlib.sha256(response.content).hexdigest() == row["sha256"]
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.headers["content-disposition"] == f'attachment; filename="{shown_as}"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in response.headers["cache-control"]
    listed = accepted(api.client.get(f"{PROPOSALS}/{draft}/attachments", headers=world.grantee.headers))
    assert listed == [row]
    stored = api.db.rows("SELECT stored_name, sha256, uploaded_by FROM attachments WHERE id = :id", id=row["id"])
    assert stored[0].sha256 == row["sha256"] and stored[0].uploaded_by == world.grantee.id
    assert (Path(api.settings.var_dir) / "attachments" / stored[0].stored_name).read_bytes() == data
    events = api.db.rows(
        "SELECT after FROM audit_events WHERE action = 'proposal.attachment' AND object_id = :id", id=str(draft)
    )
    assert len(events) == 1 and row["sha256"] in events[0].after


def test_the_declared_content_type_is_ignored(api: Api, world: ProposalWorld, draft: int) -> None:
    row = accepted(upload(api, world.grantee, draft, "letter.html", PDF_BYTES, "text/html"), 201)

    assert (row["filename"], row["media_type"]) == ("letter.pdf", PDF)
    response = download(api, world.grantee, row["id"])
    assert response.headers["content-type"].split(";")[0] == PDF


@pytest.mark.parametrize(
    ("filename", "data", "shown_as"),
    [
        ("../../etc/passwd.pdf", PDF_BYTES, "passwd.pdf"),
        ("/etc/cron.d/job.pdf", PDF_BYTES, "job.pdf"),
        ("..\\..\\Windows\\System32\\report.pdf", PDF_BYTES, "report.pdf"),
        ("C:\\Users\\me\\Desktop\\plan.docx", DOCX_BYTES, "plan.docx"),
        ("photo.exe", PNG_BYTES, "photo.png"),
        ("invoice.pdf.exe", PDF_BYTES, "invoice.pdf.pdf"),
        ("..", PDF_BYTES, "attachment.pdf"),
        ("Informe técnico: versión final.pdf", PDF_BYTES, "Informe tecnico_ version final.pdf"),
        ("a;b=c,d.pdf", PDF_BYTES, "a_b_c_d.pdf"),
    ],
)
def test_a_filename_is_shown_without_its_path_and_stored_under_a_server_name(
    api: Api, world: ProposalWorld, draft: int, filename: str, data: bytes, shown_as: str
) -> None:
    files = all_files(api)

    row = accepted(upload(api, world.grantee, draft, filename, data), 201)

    assert row["filename"] == shown_as
    stored_name = api.db.scalar("SELECT stored_name FROM attachments WHERE id = :id", id=row["id"])
    assert re.fullmatch(r"[0-9a-f]{32}", stored_name)
    # Exactly one new file, under the server's name in the attachments directory, holding the upload.
    assert all_files(api) - files == {Path("attachments") / stored_name}
    response = download(api, world.grantee, row["id"])
    assert response.content == data
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="{shown_as}"'
    assert "/" not in disposition and "\\" not in disposition and ".." not in shown_as


def test_a_filename_cannot_inject_into_the_download_headers(api: Api, world: ProposalWorld, draft: int) -> None:
    row = accepted(upload(api, world.grantee, draft, "x\"; filename*=UTF-8''evil.html; a=\".pdf", PDF_BYTES), 201)

    assert re.fullmatch(r"[A-Za-z0-9._ -]+\.pdf", row["filename"]), row["filename"]
    disposition = download(api, world.grantee, row["id"]).headers["content-disposition"]
    assert disposition.count('"') == 2 and "filename*" not in disposition


def test_two_uploads_of_one_name_are_kept_apart(api: Api, world: ProposalWorld, draft: int) -> None:
    first = accepted(upload(api, world.grantee, draft, "letter.pdf", PDF_BYTES), 201)
    second_bytes = PDF_BYTES.replace(b"Count 0", b"Count 1")
    second = accepted(upload(api, world.admin, draft, "letter.pdf", second_bytes), 201)

    assert first["filename"] == second["filename"] == "letter.pdf"
    assert len(stored_files(api)) == 2
    assert download(api, world.grantee, first["id"]).content == PDF_BYTES
    assert download(api, world.grantee, second["id"]).content == second_bytes


# ---------------------------------------------------------------- who may upload and download


def test_who_uploads_and_downloads_follows_the_proposals_access_rules(api: Api, world: ProposalWorld) -> None:
    pid = int(create_proposal(api, world.grantee, world.call_id)["id"])
    attachment = accepted(upload(api, world.grantee, pid, "concept.pdf", PDF_BYTES), 201)["id"]
    assert accepted(upload(api, world.admin, pid, "screening note.pdf", PDF_BYTES), 201)["filename"] == (
        "screening note.pdf"
    )
    endorse_by_delegates(api, world, pid, "MEX", "SEN")
    acted(api, world.grantee, pid, "submit")
    acted(api, world.admin, pid, "screen")
    acted(api, world.admin, pid, "pass")
    declared, silent, conflicted = world.reviewers
    accepted(assign(api, world.admin, pid, declared, silent, conflicted))
    accepted(declare(api, declared, pid))
    accepted(declare(api, conflicted, pid, conflict=True, reason="Board member of the applicant."))
    unassigned = api.create_user(declared.roles[0])

    readers = [world.grantee, world.admin, world.auditor, world.delegates["MEX"], world.delegates["SEN"], declared]
    hidden = [world.other_grantee, world.delegates["PHL"], silent, conflicted, unassigned]
    for actor in readers:
        response = download(api, actor, attachment)
        assert response.status_code == 200 and response.content == PDF_BYTES, actor.username
        assert len(accepted(api.client.get(f"{PROPOSALS}/{pid}/attachments", headers=actor.headers))) == 2
    for actor in hidden:
        response = download(api, actor, attachment)
        assert_problem(response, 404)
        assert b"%PDF" not in response.content
        listing = api.client.get(f"{PROPOSALS}/{pid}/attachments", headers=actor.headers)
        assert listing.status_code in {403, 404} and b"concept" not in listing.content, actor.username
    for missing in (attachment + 1000, 0, 2**31, 2**63):
        assert_problem(download(api, world.admin, missing), 404)

    # Uploading: the proposal's organisation and the secretariat only.
    before, files = api.db.snapshot(*PROPOSAL_TABLES), all_files(api)
    for actor in [world.auditor, world.delegates["MEX"], declared, *hidden]:
        response = upload(api, actor, pid, "extra.pdf", PDF_BYTES)
        assert response.status_code in {403, 404}, (actor.username, response.status_code)
        assert_problem(response, response.status_code)
    assert api.db.snapshot(*PROPOSAL_TABLES) == before
    assert all_files(api) == files
    assert accepted(upload(api, world.grantee, pid, "annex.pdf", PDF_BYTES), 201)["filename"] == "annex.pdf"
