"""Static files for the ASGI app: precompressed copies (`<file>.gz`, written by the
editor build) go to browsers that accept gzip, and every file may be cached briefly."""

import mimetypes
import os
import posixpath

from django.contrib.staticfiles import finders
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.contrib.staticfiles.views import serve
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404
from django.utils.cache import patch_vary_headers

MAX_AGE = 300  # seconds; the files are not content-hashed, so keep it short


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
            response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
        return response
