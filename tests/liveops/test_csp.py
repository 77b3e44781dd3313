"""Every HTML page carries the enforced Content-Security-Policy: scripts from this site or with the page's
nonce only (no 'unsafe-inline', no eval), and the nonce the page's tags carry is the header's.

The pages are those of the access matrix (every route), each fetched by the roles that may see it."""

import re

import pytest

from tests.security.test_access_matrix import (  # noqa: F401 - the matrix's fixtures
    ADMIN,
    ANON,
    INSTRUCTOR,
    MATRIX,
    OK,
    OWNER,
    REACHED,
    READ_ONLY,
    no_queue,
    url_of,
    world,
)

pytestmark = pytest.mark.django_db

# A pod's log waits for the (unreachable) cluster of the matrix, and answers plain text.
SLOW = {"labs:object_logs"}
# Of the admin's generic pages (the same views for every model), its index and the clouds' pages (the
# credential's page has scripts and a WebSocket of its own).
ADMIN_PAGES = {"admin:index", "admin:password_change", "admin:app_list"}
NONCE_ATTR = re.compile(r'\snonce="([^"]*)"')


def policy_of(response) -> dict[str, list[str]]:
    assert "Content-Security-Policy" in response, f"{response.request['PATH_INFO']}: no Content-Security-Policy"
    assert "Content-Security-Policy-Report-Only" not in response
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_enforced(response, editor_page=False):
    path = response.request["PATH_INFO"]
    policy = policy_of(response)
    # Style attributes only where the editor draws with them (liveops/csp.py EDITOR_PAGES).
    assert policy.get("style-src-attr") == (["'unsafe-inline'"] if editor_page else None), (path, policy)
    scripts = policy["script-src"]
    assert "'self'" in scripts and "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, (path, scripts)
    assert "'unsafe-inline'" not in policy["style-src"] and "'unsafe-inline'" not in policy.get("style-src-elem", [])
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"]
    assert policy["worker-src"] == ["'self'", "blob:"] and policy["img-src"] == ["'self'", "data:"]
    assert "'self'" in policy["connect-src"] and "ws://testserver" in policy["connect-src"], (path, policy)
    nonces = {f"'nonce-{n}'" for n in NONCE_ATTR.findall(response.content.decode())}
    assert nonces <= set(scripts), (path, nonces, scripts)


def _is_html(response) -> bool:
    return response["Content-Type"].startswith("text/html")


def test_every_page_carries_the_policy(client, world, no_queue):
    """Each route, fetched once by someone who may see it (its owner, else its instructor, else an admin)."""
    seen = 0
    for key, entry in MATRIX.items():
        expected = entry.expect.get("GET")
        if not expected or key in SLOW or (key.startswith("admin") and "clouds" not in key and key not in ADMIN_PAGES):
            continue
        role = next((r for r in (OWNER, INSTRUCTOR, ADMIN) if expected[r] in (OK, READ_ONLY, REACHED)), ANON)
        client.logout()
        if world.users[role] is not None:
            client.force_login(world.users[role])
        response = client.get(url_of(key, world))
        if _is_html(response):
            assert_enforced(response, editor_page=key == "labs:session" and response.status_code == 200)
            seen += 1
    assert seen > 20  # the matrix's pages, not a handful


@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/no-such-page/"])
def test_the_public_and_error_pages_carry_the_policy(client, path):
    response = client.get(path)
    assert _is_html(response)
    assert_enforced(response)


def test_a_page_with_htmx_names_its_nonce_in_the_header(client, make_user):
    client.force_login(make_user())
    response = client.get("/home/", follow=True)
    [nonce] = set(NONCE_ATTR.findall(response.content.decode()))
    assert f"'nonce-{nonce}'" in policy_of(response)["script-src"]
    assert '<meta name="htmx-config"' in response.content.decode()


def test_a_request_refused_for_its_size_carries_the_policy(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/login/", {"username": "x" * 2000})
    assert response.status_code == 400
    assert_enforced(response)
