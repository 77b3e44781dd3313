"""Static files through the ASGI app: precompressed copies for browsers that accept gzip."""

import gzip
from pathlib import Path

import pytest
from asgiref.testing import ApplicationCommunicator

from liveops.asgi import application

BASE = Path(__file__).resolve().parents[2]


async def _get(path, accept_encoding=b"gzip, deflate", query=b""):
    scope = {"type": "http", "method": "GET", "path": path, "query_string": query, "scheme": "http",
             "server": ("127.0.0.1", 8000), "headers": [(b"host", b"127.0.0.1"), (b"accept-encoding", accept_encoding)]}
    comm = ApplicationCommunicator(application, scope)
    await comm.send_input({"type": "http.request", "body": b""})
    start = await comm.receive_output(10)
    body = b""
    while True:
        message = await comm.receive_output(10)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body


@pytest.mark.asyncio
async def test_it_sends_the_gzipped_bundle_to_browsers_that_accept_it():
    status, headers, body = await _get("/static/editor/editor.js")
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert "javascript" in headers["content-type"]
    assert gzip.decompress(body) == (BASE / "static/editor/editor.js").read_bytes()
    assert "Accept-Encoding" in headers["vary"]


@pytest.mark.asyncio
async def test_it_sends_plain_files_otherwise():
    status, headers, body = await _get("/static/editor/editor.js", accept_encoding=b"identity")
    assert status == 200 and "content-encoding" not in headers
    assert body == (BASE / "static/editor/editor.js").read_bytes()


@pytest.mark.asyncio
async def test_it_serves_files_without_a_compressed_copy():
    status, headers, body = await _get("/static/css/app.css")
    assert status == 200 and b".topbar" in body


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/static/no-such-file.js", "/static/../manage.py", "/static/%2e%2e/manage.py"])
async def test_it_gives_404_for_missing_or_escaping_paths(path):
    status, _, body = await _get(path)
    assert status == 404
    assert b"manage" not in body or b"execute_from_command_line" not in body


@pytest.mark.asyncio
async def test_it_lets_browsers_keep_a_versioned_file_for_good():
    from django.templatetags.static import static

    url = static("editor/editor.js")
    path, _, query = url.partition("?")
    assert query.startswith("v=") and len(query) > 8
    status, headers, _ = await _get(path, query=query.encode())
    assert status == 200 and headers["cache-control"] == "public, max-age=31536000, immutable"
    status, headers, _ = await _get(path)  # the same file without its version: kept only briefly
    assert headers["cache-control"] == "public, max-age=300"
    font = next(p.name for p in (BASE / "static" / "editor").iterdir() if p.name.startswith("codicon-")
                and p.name.endswith(".ttf"))
    status, headers, _ = await _get(f"/static/editor/{font}")
    assert status == 200 and "immutable" in headers["cache-control"]


def test_it_changes_a_files_version_with_its_content(tmp_path, settings):
    from django.contrib.staticfiles import finders

    from liveops.static import version

    (tmp_path / "css").mkdir()
    settings.STATICFILES_DIRS = [tmp_path]
    finders.get_finder.cache_clear()
    version.cache_clear()
    (tmp_path / "css" / "x.css").write_text("a { color: red }")
    first = version("css/x.css")
    version.cache_clear()
    (tmp_path / "css" / "x.css").write_text("a { color: blue }")
    assert version("css/x.css") != first
    version.cache_clear()
    finders.get_finder.cache_clear()
