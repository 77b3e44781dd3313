"""Static files for the ASGI app.

Every URL the templates make (`{% static %}`) carries the file's content
version (`?v=<hash>`): such a request is cached by the browser for a year, so a
returning student downloads only the page. The editor's files share one version
(editor.js fetches its workers, schema and stylesheet with the version of its
own URL), and its font carries its hash in its name. Precompressed copies
(`<file>.gz`, written by the editor build) go to browsers that accept gzip.
"""

import functools
import hashlib
import mimetypes
import os
import posixpath
import re

from django.contrib.staticfiles import finders
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.contrib.staticfiles.storage import StaticFilesStorage
from django.contrib.staticfiles.views import serve
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404
from django.utils.cache import patch_vary_headers

MAX_AGE = 300  # seconds, for a URL without its version
IMMUTABLE_AGE = 365 * 24 * 3600
# Files whose version is their folder's: they load each other.
VERSIONED_TOGETHER = ("editor/",)
HASHED_NAME = re.compile(r"-[A-Z0-9]{8}\.[a-z0-9]+$")


@functools.lru_cache(maxsize=512)
def version(name: str) -> str:
    """A short hash of the file's content (or of its folder's files, for VERSIONED_TOGETHER)."""
    folder = next((f for f in VERSIONED_TOGETHER if name.startswith(f)), None)
    digest = hashlib.sha256()
    if folder:
        root = finders.find(folder.rstrip("/"))
        if not root:
            return ""
        for dirpath, _dirs, files in sorted(os.walk(root)):
            for file in sorted(files):
                if not file.endswith(".gz"):
                    with open(os.path.join(dirpath, file), "rb") as fh:
                        digest.update(file.encode() + fh.read())
    else:
        found = finders.find(name)
        if not found or os.path.isdir(found):
            return ""
        with open(found, "rb") as fh:
            digest.update(fh.read())
    return digest.hexdigest()[:12]


class VersionedStaticFilesStorage(StaticFilesStorage):
    def url(self, name):
        url = super().url(name)
        v = version(name) if name and not name.endswith("/") else ""
        return f"{url}?v={v}" if v else url


class StaticFiles(ASGIStaticFilesHandler):
    def serve(self, request):
        path = posixpath.normpath(self.file_path(request.path)).lstrip("/")
        try:
            found = finders.find(path)
        except SuspiciousFileOperation:
            raise Http404("No such static file") from None
        if found and "gzip" in request.headers.get("Accept-Encoding", "") and os.path.exists(found + ".gz"):
            content_type, _ = mimetypes.guess_type(found)
            response = FileResponse(open(found + ".gz", "rb"), content_type=content_type or "application/octet-stream")
            response.headers["Content-Encoding"] = "gzip"
        else:
            if not found:
                raise Http404(f"No static file {path}")
            response = serve(request, path, insecure=True)
        if found:
            patch_vary_headers(response, ["Accept-Encoding"])
            if request.GET.get("v") or HASHED_NAME.search(path):
                response.headers["Cache-Control"] = f"public, max-age={IMMUTABLE_AGE}, immutable"
            else:
                response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
        return response
