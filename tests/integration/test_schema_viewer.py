"""``/schema`` works without the internet: the API viewer's page names only the service's own files, and
the service serves each of them (from the pinned package that ships Swagger UI)."""

from __future__ import annotations

from urllib.parse import urlsplit

import lxml.html
import pytest

from tests.support import Api

pytestmark = pytest.mark.usefixtures("backend")


def test_the_schema_viewer_loads_nothing_from_elsewhere(api: Api) -> None:
    page = api.client.get("/schema")
    assert page.status_code == 200, page.text[:300]
    assert page.headers["content-type"].split(";")[0] == "text/html"
    tree = lxml.html.document_fromstring(page.text)
    urls = tree.xpath("//script/@src | //link/@href | //img/@src")
    assert urls, "the viewer names no script or stylesheet"
    for url in urls:
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("", ""), f"{url} is not the service's own"
        assert parts.path.startswith("/schema/"), url
    assert "http://" not in page.text.replace("http://testserver.local", "")
    assert "https://" not in page.text

    kinds = {}
    for url in urls:
        asset = api.client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
        kinds[url.rsplit(".", 1)[-1]] = asset.headers["content-type"]
        assert asset.headers["content-type"].lower().count("charset") <= 1, asset.headers["content-type"]
    assert kinds["js"].startswith(("text/javascript", "application/javascript"))
    assert kinds["css"].startswith("text/css")
    # The viewer reads the description from the page itself (OpenAPI 3.1, which Swagger UI 5 renders).
    assert '"openapi":"3.1' in page.text.replace(" ", "")


def test_only_the_viewers_files_are_served(api: Api) -> None:
    for path in ("/schema/swagger-ui/../../pyproject.toml", "/schema/swagger-ui/swagger-editor-bundle.js"):
        assert api.client.get(path).status_code == 404, path
