"""The lab page as a workspace: ready for a Content-Security-Policy, with its stepper and tabs drawn server-side."""

import re
from pathlib import Path

import pytest

from labs.content_loader import load_lab
from tests.labs.helpers import make_session

TEMPLATES = Path(__file__).resolve().parents[3] / "labs" / "templates" / "labs"
# What a policy without 'unsafe-inline' refuses: handlers in attributes, inline scripts, style attributes.
INLINE_HANDLER = re.compile(r"\s(on[a-z]+|hx-on[:\w-]*)\s*=", re.I)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\b(src|type=\"application/json\"))[^>]*>", re.I)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.I)


def _inline_code(text: str) -> list[str]:
    return [m.group(0) for pattern in (INLINE_HANDLER, INLINE_SCRIPT, STYLE_ATTRIBUTE) for m in pattern.finditer(text)]


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_lab_template_has_inline_code(path):
    assert _inline_code(path.read_text()) == []


@pytest.mark.django_db
def test_it_draws_the_workspace_with_no_inline_code(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    body = client.get(f"/sessions/{session.id}/").content.decode()
    assert _inline_code(body) == []
    steps = len(load_lab("loadbalancer").steps)
    assert f'Step <span data-step-number>1</span> of {steps}' in body
    for pane in ("pane-guide", "pane-editor", "pane-live"):
        assert f'id="{pane}"' in body
    assert body.count('role="separator"') == 2 and body.count('role="tab"') == 9
    assert 'href="#manifest-form">Skip to the editor</a>' in body
    assert 'id="panel-nodes"' in body and 'id="panel-namespace"' in body and session.namespace in body
