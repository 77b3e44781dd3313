"""The student's pages: the lab catalogue and the lab session page with its actions (editor, end, extend, DNS)."""

from __future__ import annotations

import difflib
import functools
import logging
from urllib.parse import parse_qsl

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import OperationalError
from django.http import Http404, HttpResponse
from django.http.request import RawPostDataException
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from labs import lifecycle
from labs.access import get_session_or_404
from labs.content_loader import LabNotFound, all_labs, load_lab
from labs.live import fragments
from labs.live.fragments import script_json
from labs.live.stepper import stepper_context
from labs.manifests import (
    Policy,
    Problem,
    Validation,
    decode_manifest,
    replacement_problem,
    utf8_size,
    validate_manifests,
)
from labs.models import LabSession
from labs.revisions.submit import StillApplying, submit_revision
from labs.views import kept_pages
from labs.views.dns import set_dns_record
from labs.views.help import raise_hand as raise_hand_for

logger = logging.getLogger(__name__)


def _lab_or_404(slug):
    try:
        return load_lab(slug)
    except LabNotFound:
        raise Http404("No such lab") from None


@login_required
@require_GET
def catalogue(request):
    mine = LabSession.objects.filter(user=request.user)
    running = {s.lab_slug: s for s in mine if s.is_running}
    labs = [{"lab": lab, "active": running.get(lab.slug)} for lab in all_labs()]
    past = [s for s in mine[:20] if not s.is_running]
    cohorts = list(request.user.cohorts.all())
    return render(request, "labs/catalogue.html", {"labs": labs, "past": past, "cohorts": cohorts})


@login_required
@require_POST
def start(request, slug):
    lab = _lab_or_404(slug)
    try:
        session, _created = lifecycle.start_session(request.user, lab.slug)
    except lifecycle.StartRefused as exc:
        messages.error(request, str(exc))
        return redirect("labs:catalogue")
    except OperationalError:
        # The database stayed busy past its timeout (a whole class pressing Start on SQLite): nothing was
        # saved (the start is one transaction), so pressing again is safe.
        logger.warning("a start of %s by %s found the database busy", lab.slug, request.user, exc_info=True)
        messages.error(request, f"{lab.title}: too many labs are starting at this moment, nothing was started. "
                                "Press Start again in a few seconds.")
        return redirect("labs:catalogue")
    return redirect("labs:session", session_id=session.id)


@functools.lru_cache(maxsize=128)
def _text_problems(text: str, namespace: str, policy: Policy) -> tuple[Problem, ...]:
    """The problems the page shows under the editor's text. Validating is a pure function of the text, the
    namespace and the lab's policy (the schemas ship with the code; problems are frozen): a page drawn again
    over the same text (a reload, a student coming back) does not validate it again."""
    return tuple(validate_manifests(text, namespace=namespace, policy=policy).problems)


@login_required
@require_GET
def session_page(request, session_id):
    session = get_session_or_404(request.user, session_id)
    lab = _lab_or_404(session.lab_slug)
    watching = session.user_id != request.user.pk
    return kept_pages.lab_page(request, session, watching=watching, template="labs/session.html",
                               context=lambda live: _session_page_context(session, lab, watching, live))


def _session_page_context(session: LabSession, lab, watching: bool, live=None) -> dict:
    # Every fragment's context, each row and Redis key read once; the editor's text falls back on the latest revision.
    fragment_contexts = fragments.page_context(session, live)
    latest = fragment_contexts["latest"]
    text = session.draft or (latest.text if latest else "")
    problems = _text_problems(text, session.namespace, lab.policy()) if text.strip() else ()
    context = {
        "session": session,
        "lab": lab,
        "text": text,
        "problems": list(problems),
        "examples_json": script_json({kind: lab.example(kind) for kind in ("Deployment", "Service")}),
        "problems_json": script_json([p.to_dict() for p in problems]),
        "history": session.log.all(),
        # No controls for an instructor watching, nor once the lab ended (it no longer takes changes).
        "read_only": watching or not session.accepts_changes,
        "watching": watching,
        # For the message the page shows when the server refuses a request before the view (too large).
        "upload_limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE or "",
        **fragment_contexts,
    }
    # The stepper follows the checks the checklist shows (evaluated once for both).
    context.update(stepper_context(lab, context["checks"]))
    return context


def _problems_response(request, session, validation, *, message=""):
    problems = [p.to_dict() for p in validation.problems]
    html = render_to_string(
        fragments.PROBLEMS_TEMPLATE,
        {"session": session, "problems": validation.problems, "problems_json": script_json(problems),
         "message": message, "ok": validation.ok, "documents": validation.documents},
        request=request,
    )
    return HttpResponse(html)


def _save_draft(session: LabSession, text: str, lab) -> None:
    """Keep the editor's text, unless it is far beyond what the lab accepts (counted in bytes, as sent)."""
    if utf8_size(text) <= 4 * lab.policy().max_bytes:
        LabSession.objects.filter(pk=session.pk).update(draft=text)


def _raw_field(request, name: str) -> bytes | None:
    """The bytes of a urlencoded form field exactly as sent, or None when they are not at hand."""
    if request.content_type != "application/x-www-form-urlencoded":
        return None
    if request.encoding and request.encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return None
    try:
        body = request.body
    except RawPostDataException:
        return None
    for key, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1"):
        if key == name:
            return value.encode("latin-1")
    return None


def _manifest_text(request) -> tuple[str, Problem | None]:
    """The editor's text, and a problem when it is not UTF-8 (Django would silently put U+FFFD in its place)."""
    raw = _raw_field(request, "manifest")
    if raw is not None:
        return decode_manifest(raw)
    text = request.POST.get("manifest", "")
    return text, replacement_problem(text)


def _owned_running_session(request, session_id) -> LabSession:
    session = get_session_or_404(request.user, session_id)
    if session.user_id != request.user.pk:
        raise Http404("Only the student who runs this lab can change it")
    return session


@login_required
@require_POST
def validate(request, session_id):
    """Check the editor's text on the server (and keep it as the draft)."""
    session = _owned_running_session(request, session_id)
    text, not_utf8 = _manifest_text(request)
    if not_utf8:
        return _problems_response(request, session, Validation(documents=[], problems=[not_utf8]))
    lab = _lab_or_404(session.lab_slug)
    _save_draft(session, text, lab)
    validation = validate_manifests(text, namespace=session.namespace, policy=lab.policy())
    return _problems_response(request, session, validation)


@login_required
@require_POST
def apply(request, session_id):
    """Validate, then hand the text to a Celery task (dry run, diff, server-side apply)."""
    session = _owned_running_session(request, session_id)
    text, not_utf8 = _manifest_text(request)
    if not_utf8:
        return _problems_response(request, session, Validation(documents=[], problems=[not_utf8]),
                                  message="Fix the problems below; nothing was applied.")
    dry_run = request.POST.get("action") == "dry-run"
    lab = _lab_or_404(session.lab_slug)
    _save_draft(session, text, lab)
    validation = validate_manifests(text, namespace=session.namespace, policy=lab.policy())
    if not validation.documents and validation.ok:
        return _problems_response(request, session, validation, message="There is nothing to apply yet: write or insert a Deployment and a Service.")
    if not validation.ok:
        return _problems_response(request, session, validation, message="Fix the problems below; nothing was applied.")
    if session.state == LabSession.State.PROVISIONING:
        return _problems_response(request, session, validation,
                                  message="Your namespace is still being prepared: apply again in a moment.")
    if session.state != LabSession.State.READY:
        return _problems_response(request, session, validation, message="The lab is not running, so nothing can be applied.")
    try:
        revision = submit_revision(session, text, dry_run)
    except StillApplying as busy:
        return _problems_response(request, session, validation,
                                  message=f"Revision {busy.number} is still being applied: wait for it to finish.")
    what = "Dry run" if dry_run else "Apply"
    return _problems_response(request, session, validation, message=f"{what} of revision {revision.number} started.")


@login_required
@require_GET
def revision_detail(request, session_id, number):
    session = get_session_or_404(request.user, session_id)
    revision = session.revisions.filter(number=number).first()
    if revision is None:
        raise Http404("No such revision")
    previous = session.revisions.filter(number__lt=number).first()
    diff = "\n".join(
        difflib.unified_diff(
            (previous.text if previous else "").splitlines(), revision.text.splitlines(),
            f"revision {previous.number}" if previous else "(empty)", f"revision {revision.number}", lineterm="",
        )
    )
    return render(request, "labs/revision.html", {"session": session, "revision": revision, "previous": previous, "diff": diff})


@login_required
@require_POST
def end(request, session_id):
    session = _owned_running_session(request, session_id)
    lifecycle.end_session(session)
    if request.htmx:
        return HttpResponse(render_to_string(fragments.STATUS_TEMPLATE, fragments.status_context(session), request=request))
    return redirect("labs:session", session_id=session.id)


@login_required
@require_POST
def extend(request, session_id):
    session = _owned_running_session(request, session_id)
    error = lifecycle.extend_session(session)
    context = {**fragments.status_context(session), "error": error}
    if request.htmx:
        return HttpResponse(render_to_string(fragments.STATUS_TEMPLATE, context, request=request))
    return redirect("labs:session", session_id=session.id)


@login_required
@require_POST
def dns_record(request, session_id):
    session = _owned_running_session(request, session_id)
    return set_dns_record(request, session)


@login_required
@require_GET
def status_fragment(request, session_id):
    session = get_session_or_404(request.user, session_id)
    watching = session.user_id != request.user.pk
    context = {**fragments.status_context(session), "read_only": watching or not session.accepts_changes,
               "watching": watching}
    return HttpResponse(render_to_string(fragments.STATUS_TEMPLATE, context, request=request))


@login_required
@require_POST
def raise_hand(request, session_id):
    session = _owned_running_session(request, session_id)
    return raise_hand_for(request, session)
