"""The DNS step's form: set the student's own A record, answer with the DNS fragment."""

from __future__ import annotations

import logging

from django.http import HttpResponse
from django.template.loader import render_to_string

from labs.checks import dns as labdns
from labs.checks import recheck_now
from labs.live.fragments import DNS_TEMPLATE, dns_context
from labs.live.path import redraw_path
from labs.models import LabSession
from labs.notify import notify_session

log = logging.getLogger(__name__)

def render_dns(request, session: LabSession, status: int = 200, **kwargs) -> HttpResponse:
    html = render_to_string(DNS_TEMPLATE, dns_context(session, **kwargs), request=request)
    return HttpResponse(html, status=status)


def set_dns_record(request, session: LabSession) -> HttpResponse:
    """POST label, address: point <label>.<zone> at address (inline RFC 2136 UPDATE, 2 s timeout).

    The caller has checked the student may act on `session`. Bad input or a DNS
    server problem comes back as the fragment with a message naming it (status
    200 so htmx swaps it in); the probe of the new name is enqueued on success.
    """
    label = request.POST.get("label", "")
    address = request.POST.get("address", "")
    try:
        record = labdns.set_student_record(session, label, address)
    except labdns.DnsRecordError as exc:
        return _answer(request, session, error=exc.message, error_field=exc.field, label=label, address=address)
    except Exception:  # noqa: BLE001 - never a 500 for a form post
        log.exception("setting the DNS record of session %s failed", session.id)
        return _answer(request, session, error="Your record could not be set because of a problem on our side; "
                                               "try again in a moment.", label=label, address=address)
    # Kept before the redraws below, so that they show it too (it stays until the next action).
    labdns.remember_outcome(session, message=f"{record.name} now points to {record.address}.")
    _after_record_change(session)
    return render_dns(request, session, message=f"{record.name} now points to {record.address}.")


def _answer(request, session: LabSession, **outcome) -> HttpResponse:
    """The fragment with the form's outcome, kept for the redraws that follow."""
    labdns.remember_outcome(session, **outcome)
    return render_dns(request, session, **outcome)


def _after_record_change(session: LabSession) -> None:
    """Probe the new name at once and refresh the checklist (the page gets both over its socket)."""
    try:
        recheck_now(session)
    except Exception:  # noqa: BLE001 - the record is set; the checks follow with the next change
        log.exception("could not start the DNS probe of session %s", session.id)
    notify_session(session.id, "dns")
    redraw_path(session)  # the name and its answer are the path's first hops
