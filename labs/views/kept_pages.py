"""The lab page drawn once and kept in Redis while nothing it shows has changed.

A class reloads its pages (a browser restarted, students back from a break, every tab after a network
blip), and each page is drawn from a dozen rows, the namespace's state and the checks: ~25 ms of a web
process's CPU. The page shows the facts a session's resync shows, so it is kept under the same stamp
(labs.live.resync_cache: the session's version, renewed by every change of a row the page reads, its
own row, the observed state, the DNS form's outcome, the nodes, the release, the epoch), plus what only
the page shows: who looks at it (their name, their staff and teaching rights in the top bar), whether
the lab takes changes, the upload limit, the newest line of the session's history.

What belongs to one response is never kept: the CSRF token and the CSP nonce are drawn as markers,
random for each drawing and kept with it, and each answer puts in the request's own. A request with
messages to show (django.contrib.messages) is drawn and not kept. Without Redis the page is drawn.
Each answer says in its Server-Timing header whether it was kept or drawn, and how long it took.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.messages import get_messages
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string

from labs.checks.dns import outcome_from_raw
from labs.live import resync_cache
from labs.live.fragments import LiveReading
from labs.models import LabSession

logger = logging.getLogger(__name__)

MARKER_LENGTH = 32  # hex characters of a drawing's marker


def page_key(session: LabSession, viewer_id) -> str:
    return f"{resync_cache.PREFIX}:page:{session.pk.hex}:{viewer_id}"


def _lookup(request, session: LabSession, watching: bool) -> resync_cache.Lookup | None:
    user = request.user
    newest_history_line = session.log.order_by("-pk").values_list("pk", flat=True).first()
    facts = ("lab page", user.pk, user.get_username(), user.is_staff, user.has_perm("labs.teach_cohort"),
             session.accepts_changes, settings.DATA_UPLOAD_MAX_MEMORY_SIZE, newest_history_line)
    try:
        return resync_cache.lookup(session, watching, not session.accepts_changes, key=page_key(session, user.pk),
                                   facts=facts)
    except Exception:  # noqa: BLE001 - without Redis the page is drawn
        logger.exception("could not read the kept lab page of session %s", session.pk)
        return None


def lab_page(request, session: LabSession, *, watching: bool, template: str,
             context: Callable[[LiveReading | None], dict]) -> HttpResponse:
    """The page of `session` as `template` draws it from `context(live)`, kept while its facts stay the same;
    `live` is what the stamp was computed from (None without Redis: the context reads it, or says why not)."""
    started = time.perf_counter()
    has_messages = len(get_messages(request)) > 0
    found = None if has_messages else _lookup(request, session, watching)
    if found is not None and found.payload is not None and len(found.payload) > MARKER_LENGTH:
        payload = found.payload.decode()
        return _answer(request, payload[MARKER_LENGTH:], payload[:MARKER_LENGTH], "kept", started)
    marker = secrets.token_hex(MARKER_LENGTH // 2)
    live = None if found is None else LiveReading(found.state, "", found.loaded_nodes,
                                                  outcome_from_raw(found.raw_outcome))
    html = render_to_string(template, {**context(live), "csrf_token": f"csrf{marker}", "csp_nonce": f"nonce{marker}"},
                            request=request)
    if found is not None:
        resync_cache.keep_payload(found, marker + html)
    return _answer(request, html, marker, "drawn", started)


def _answer(request, html: str, marker: str, how: str, started: float) -> HttpResponse:
    nonce = getattr(request, "csp_nonce", None)  # lazy: made (and named in the header) when read
    nonce = "" if nonce is None else str(nonce)
    html = html.replace(f"csrf{marker}", get_token(request)).replace(f"nonce{marker}", nonce)
    response = HttpResponse(html)
    response["Server-Timing"] = f'page;desc="{how}";dur={(time.perf_counter() - started) * 1000:.1f}'
    return response
