"""Error pages that say what was wrong with the request (Django's default 400 page names nothing)."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpResponseBadRequest
from django.utils.html import escape


def bad_request(request, exception=None):
    """400: a request refused before any view ran (a body over the upload limit, too many fields, ...)."""
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        reason = (f"The request is too large: this server accepts at most {limit:,} bytes. Nothing was saved."
                  if limit else "The request is too large. Nothing was saved.")
    elif isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        reason = "The request has too many fields. Nothing was saved."
    else:
        reason = "The request could not be understood. Nothing was saved."
    return HttpResponseBadRequest(
        f'<!doctype html><title>Bad request · LiveOps Labs</title><h1>Bad request</h1><p role="alert">{escape(reason)}'
        '</p><p><a href="/">Back to the labs</a></p>')
