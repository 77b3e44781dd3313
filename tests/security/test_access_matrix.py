"""Who may reach what: every URL route and every WebSocket route, for six kinds of visitor, as data.

The matrix names each route with the arguments it is called with, the methods it accepts and what each
role gets. Routes are enumerated from the resolver: a route added without an entry fails
`test_it_has_an_entry_for_every_route` until someone decides who may use it. After each refused or
redirected request, nothing of the other users changed (the student's draft, revisions, session state,
DNS record, help requests; the cohort; the messages; the cloud credential and cluster).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from clouds.models import CloudCredential, Cluster
from labs.live import actions as object_tasks
from labs.models import Cohort, DnsRecord, HelpRequest, LabSession, ManifestRevision, Message
from liveops.routing import NoSuchSocket
from liveops.routing import websocket_urlpatterns as socket_routes
from teaching.actions import record
from teaching.models import Action
from teaching.roles import make_instructor, make_student
from tests.labs.helpers import make_session
from tests.labs.ws import WebsocketCommunicator

ANON, OWNER, OTHER_STUDENT, OTHER_INSTRUCTOR, INSTRUCTOR, ADMIN = (
    "anonymous", "owner", "other-student", "other-instructor", "instructor", "admin")
ROLES = (ANON, OWNER, OTHER_STUDENT, OTHER_INSTRUCTOR, INSTRUCTOR, ADMIN)

# What a role gets.
LOGIN = "login redirect"
ADMIN_LOGIN = "admin login redirect"
REFUSED = "refused"  # 403 or 404
OK = "ok"  # 2xx, or a redirect elsewhere than a login page
READ_ONLY = "read-only"  # 200, drawn read-only
REACHED = "reached"  # past the access check: any answer but a login redirect or a 5xx (admin odds and ends)

# Routes anyone may use, logged in or not.
PUBLIC = {"healthz", "readyz", "login", "logout", "admin:login", "admin:logout"}


# ---- the world: two cohorts, a student's session with things saved, a credential and a cluster ----------


@dataclass
class World:
    users: dict
    cohort: Cohort
    other_cohort: Cohort
    session: LabSession
    help_request: HelpRequest
    credential: CloudCredential
    cluster: Cluster
    admin_objects: dict = field(default_factory=dict)


@pytest.fixture
def world(make_user, settings):
    settings.LIVEOPS_DNS_ZONE = "lab.test"
    settings.LIVEOPS_DNS_UPDATE_SERVER = "127.0.0.1:9"  # never reached: a refused request stops before
    alice, bob = make_user("alice"), make_user("bob")
    teacher, intruder = make_user("teacher"), make_user("intruder")
    root = make_user("root", is_staff=True, is_superuser=True)
    for student in (alice, bob):
        make_student(student)
    for instructor in (teacher, intruder):
        make_instructor(instructor)
    cohort = Cohort.objects.create(name="Class A")
    cohort.students.add(alice, bob)
    cohort.instructors.add(teacher)
    other_cohort = Cohort.objects.create(name="Class B")
    other_cohort.instructors.add(intruder)
    credential = CloudCredential.objects.create(name="cloud", auth_url="https://k.example.com/v3", username="u",
                                                password="p", project_name="p")
    cluster = Cluster.objects.create(name="lab-cluster", kubeconfig_path="/nonexistent", cloud_credential=credential,
                                     is_default=True)
    session = make_session(alice, cluster=cluster, cohort=cohort, draft="# alice's draft\n")
    revision = ManifestRevision.objects.create(session=session, number=1, text="kind: Service\n", status="applied")
    DnsRecord.objects.create(session=session, name="alice.lab.test", address="127.0.0.10")
    help_request = HelpRequest.objects.create(session=session, question="why pending?")
    Message.objects.create(cohort=cohort, recipient=alice, sender=teacher, text="look at the selector")
    action = record(teacher, Action.Kind.MESSAGE, cohort, session, detail="hint")
    users = {ANON: None, OWNER: alice, OTHER_STUDENT: bob, OTHER_INSTRUCTOR: intruder, INSTRUCTOR: teacher,
             ADMIN: root}
    return World(users, cohort, other_cohort, session, help_request, credential, cluster, admin_objects={
        "cloudcredential": credential.pk, "cluster": cluster.pk, "cohort": cohort.pk, "labsession": session.pk,
        "manifestrevision": revision.pk, "action": action.pk, "user": alice.pk,
        "group": alice.groups.first().pk})


def snapshot(world: World) -> dict:
    """Everything of the others a request could change."""
    session = LabSession.objects.get(pk=world.session.pk)
    cohort = Cohort.objects.get(pk=world.cohort.pk)
    return {
        "session": {f: getattr(session, f) for f in ("state", "draft", "expires_at", "extended", "end_reason",
                                                      "cohort_id", "user_id", "namespace")},
        "revisions": list(session.revisions.values_list("number", "text", "status")),
        "dns": list(DnsRecord.objects.values_list("session_id", "name", "address")),
        "help": list(HelpRequest.objects.values_list("pk", "question", "state", "answer")),
        "cohort": {f: getattr(cohort, f) for f in ("name", "code", "join_token", "opens_at", "closes_at",
                                                    "session_minutes", "stuck_minutes")},
        "members": (sorted(cohort.students.values_list("username", flat=True)),
                    sorted(cohort.instructors.values_list("username", flat=True))),
        "other_cohort": list(Cohort.objects.filter(pk=world.other_cohort.pk).values()),
        "messages": list(Message.objects.values_list("pk", "recipient_id", "text")),
        "actions": list(Action.objects.values_list("pk", "kind", "status")),
        "credentials": list(CloudCredential.objects.values()),
        "clusters": list(Cluster.objects.values()),
        "sessions": list(LabSession.objects.values_list("pk", "state")),
    }


# ---- the matrix -------------------------------------------------------------------------------------------

Args = Callable[[World], list]


@dataclass(frozen=True)
class Entry:
    args: Args
    expect: dict  # method -> {role: outcome}
    data: Callable[[World], dict] | None = None  # what a POST sends (what would change something if let through)
    query: str = ""


def session_args(*extra) -> Args:
    return lambda w: [w.session.id, *extra]


def cohort_args(*extra) -> Args:
    return lambda w: [w.cohort.pk, *extra]


def no_args(w):
    return []


def roles(default, **by_role):
    table = {role: default for role in ROLES}
    table.update({k.replace("_", "-"): v for k, v in by_role.items()})
    return table


# A student's session, read: the student, the cohort's instructors and admins; read-only for those two.
SESSION_READ = roles(REFUSED, anonymous=LOGIN, owner=OK, instructor=OK, admin=OK)
SESSION_PAGE = roles(REFUSED, anonymous=LOGIN, owner=OK, instructor=READ_ONLY, admin=READ_ONLY)
# A student's session, changed: the student only (instructors act from their dashboard, through audited actions).
SESSION_CHANGE = roles(REFUSED, anonymous=LOGIN, owner=OK)
# The cohort's side: its instructors and admins.
TEACHING = roles(REFUSED, anonymous=LOGIN, instructor=OK, admin=OK)
# Instructor pages that take no id: any instructor (each sees their own cohorts).
INSTRUCTORS = roles(REFUSED, anonymous=LOGIN, other_instructor=OK, instructor=OK, admin=OK)
ANY_USER = roles(OK, anonymous=LOGIN)
STAFF = roles(ADMIN_LOGIN, admin=OK)
STAFF_REACHED = roles(ADMIN_LOGIN, admin=REACHED)

LAB_SLUG = "loadbalancer"

MATRIX: dict[str, Entry] = {
    "home": Entry(no_args, {"GET": ANY_USER}),
    "labs:catalogue": Entry(no_args, {"GET": ANY_USER}),
    "labs:start": Entry(lambda w: [LAB_SLUG], {"POST": ANY_USER}),
    "labs:join": Entry(no_args, {"POST": ANY_USER}, data=lambda w: {"code": "NOSUCH"}),
    "labs:join_link": Entry(lambda w: [w.other_cohort.join_token], {"GET": ANY_USER}),
    "labs:session": Entry(session_args(), {"GET": SESSION_PAGE}),
    "labs:status": Entry(session_args(), {"GET": roles(REFUSED, anonymous=LOGIN, owner=OK, instructor=READ_ONLY,
                                                       admin=READ_ONLY)}),
    "labs:revision": Entry(session_args(1), {"GET": SESSION_READ}),
    "labs:validate": Entry(session_args(), {"POST": SESSION_CHANGE},
                           data=lambda w: {"manifest": "# overwritten by someone else\n"}),
    "labs:apply": Entry(session_args(), {"POST": SESSION_CHANGE},
                        data=lambda w: {"manifest": "# overwritten by someone else\n", "action": "apply"}),
    "labs:end": Entry(session_args(), {"POST": SESSION_CHANGE}),
    "labs:extend": Entry(session_args(), {"POST": SESSION_CHANGE}),
    "labs:raise_hand": Entry(session_args(), {"POST": SESSION_CHANGE}, data=lambda w: {"question": "not mine"}),
    "labs:dns_record": Entry(session_args(), {"POST": SESSION_CHANGE},
                             data=lambda w: {"label": "hijacked", "address": "127.0.0.99"}),
    "labs:object_describe": Entry(session_args("services", "web"), {"GET": SESSION_READ}),
    "labs:object_yaml": Entry(session_args("deployments", "web"), {"GET": SESSION_READ}),
    "labs:object_logs": Entry(session_args("web-1"), {"GET": SESSION_READ}),
    "labs:object_edit": Entry(session_args("deployments", "web"), {"POST": SESSION_CHANGE},
                              data=lambda w: {"manifest": ""}),
    "labs:object_delete": Entry(session_args("services", "web"), {"POST": SESSION_CHANGE}),
    "labs:object_scale": Entry(session_args("web"), {"POST": SESSION_CHANGE}, data=lambda w: {"replicas": "0"}),
    "labs:object_restart": Entry(session_args("web"), {"POST": SESSION_CHANGE}),
    "labs:object_pause": Entry(session_args("web"), {"POST": SESSION_CHANGE}),
    "labs:object_resume": Entry(session_args("web"), {"POST": SESSION_CHANGE}),
    "labs:object_rollback": Entry(session_args("web"), {"POST": SESSION_CHANGE}, data=lambda w: {"revision": "1"}),
    "teaching:home": Entry(no_args, {"GET": INSTRUCTORS}),
    "teaching:create": Entry(no_args, {"GET": INSTRUCTORS, "POST": INSTRUCTORS},
                             data=lambda w: {"name": "New cohort", "lab_slug": LAB_SLUG, "stuck_minutes": "10"}),
    "teaching:dashboard": Entry(cohort_args(), {"GET": TEACHING}),
    "teaching:edit": Entry(cohort_args(), {"GET": TEACHING, "POST": TEACHING},
                           data=lambda w: {"name": "Renamed", "lab_slug": LAB_SLUG, "stuck_minutes": "3",
                                           "session_minutes": "1"}),
    "teaching:send_message": Entry(cohort_args(), {"POST": TEACHING}, data=lambda w: {"text": "everyone: stop"}),
    "teaching:answer_help": Entry(lambda w: [w.cohort.pk, w.help_request.pk], {"POST": TEACHING},
                                  data=lambda w: {"answer": "delete everything"}),
    "teaching:dismiss_help": Entry(lambda w: [w.cohort.pk, w.help_request.pk], {"POST": TEACHING}),
    "teaching:end_all": Entry(cohort_args(), {"POST": TEACHING}),
    "teaching:export": Entry(cohort_args(), {"GET": TEACHING}),
    "teaching:student": Entry(lambda w: [w.cohort.pk, w.session.id], {"GET": TEACHING}),
    "teaching:session_action": Entry(lambda w: [w.cohort.pk, w.session.id, "end"], {"POST": TEACHING}),
    # The admin site's own pages (its login and logout are public).
    "admin:index": Entry(no_args, {"GET": STAFF}),
    "admin:password_change": Entry(no_args, {"GET": STAFF}),
    "admin:password_change_done": Entry(no_args, {"GET": STAFF}),
    "admin:jsi18n": Entry(no_args, {"GET": STAFF}),
    "admin:autocomplete": Entry(no_args, {"GET": STAFF_REACHED}),
    "admin:view_on_site": Entry(lambda w: [ContentType.objects.get_for_model(Cohort).pk, w.cohort.pk],
                                {"GET": STAFF_REACHED}),
    "admin:app_list": Entry(no_args, {"GET": STAFF}),  # called with app_label below
    "admin/(?P<url>.*)$": Entry(no_args, {"GET": STAFF_REACHED}),
    "admin:auth_user_password_change": Entry(lambda w: [w.users[OWNER].pk], {"GET": STAFF, "POST": STAFF},
                                             data=lambda w: {"password1": "pw-owned-12345", "password2":
                                                             "pw-owned-12345"}),
    # The cloud's admin pages take changes: POST too (a credential's test runs against its cloud).
    "admin:clouds_cloudcredential_test_connection": Entry(lambda w: [w.credential.pk], {"POST": STAFF}),
}

CREDENTIAL_FORM = {
    "name": "renamed", "auth_url": "https://evil.example.com/v3", "username": "x", "password": "stolen",
    "application_credential_id": "", "application_credential_secret": "", "user_domain_name": "Default",
    "project_name": "x", "project_domain_name": "Default", "region_name": "", "floating_network": "public",
    "availability_zone": "", "load_balancers": "octavia", "taikun_flavor": "", "taikun_vrid_start": "1",
    "taikun_vrid_end": "255"}
CLUSTER_FORM = {"name": "renamed", "kubeconfig": "", "kubeconfig_path": "/etc/passwd", "context": "",
                "load_balancers_by": "cluster", "lb_subnet": ""}
ADMIN_POSTS = {"cloudcredential": CREDENTIAL_FORM, "cluster": CLUSTER_FORM}


def _admin_entries() -> dict[str, Entry]:
    """The pages every registered model gets from the admin site: staff only. Credentials and clusters
    are also POSTed to (their add, change and delete)."""
    entries = {}
    for model in admin.site._registry:
        meta = model._meta
        prefix = f"admin:{meta.app_label}_{meta.model_name}"
        post = ADMIN_POSTS.get(meta.model_name)

        def object_args(w, name=meta.model_name):
            return [w.admin_objects.get(name, 999999)]

        def post_data(w, form=post):
            return dict(form or {}, post="yes")

        # Past the admin's login, each model's own permissions decide (a read-only model has no add page).
        methods = {"GET": STAFF_REACHED, "POST": STAFF_REACHED} if post is not None else {"GET": STAFF_REACHED}
        entries[f"{prefix}_changelist"] = Entry(no_args, {"GET": STAFF})
        entries[f"{prefix}_add"] = Entry(no_args, methods, data=post_data)
        entries[f"{prefix}_history"] = Entry(object_args, {"GET": STAFF_REACHED})
        entries[f"{prefix}_delete"] = Entry(object_args, methods, data=post_data)
        entries[f"{prefix}_change"] = Entry(object_args, methods, data=post_data)
        # admin/<app>/<model>/<id>/: redirects to the change page
        entries[f"admin/{meta.app_label}/{meta.model_name}/<path:object_id>/"] = Entry(object_args, {"GET": STAFF_REACHED})
    return entries


MATRIX.update(_admin_entries())


def _walk(patterns, prefix="", namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(n for n in (namespace, pattern.namespace) if n) or None
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            key = (f"{namespace}:{pattern.name}" if namespace else pattern.name) if pattern.name else route
            yield key, route


ROUTES = dict(_walk(get_resolver().url_patterns))


def test_it_has_an_entry_for_every_route():
    routes = set(ROUTES) - PUBLIC
    assert routes - set(MATRIX) == set(), "new routes: say in MATRIX who may use them"
    assert set(MATRIX) - routes == set(), "MATRIX names routes that no longer exist"


def test_it_has_an_entry_for_every_socket_route():
    routes = {str(p.pattern) for p in socket_routes if p.callback.__name__ != NoSuchSocket.__name__}
    assert routes == set(SOCKETS)


# ---- the HTTP cells -----------------------------------------------------------------------------------------


def url_of(key: str, w: World) -> str:
    entry = MATRIX[key]
    if key == "admin:app_list":
        return reverse(key, kwargs={"app_label": "clouds"})
    if key == "admin/(?P<url>.*)$":
        return "/admin/no/such/page/"
    if key.startswith("admin/"):  # an unnamed route: admin/<app>/<model>/<path:object_id>/
        return "/" + key.replace("<path:object_id>", str(entry.args(w)[0]))
    return reverse(key, args=entry.args(w)) + entry.query


def outcome_of(response) -> str:
    status = response.status_code
    location = response.get("Location", "")
    if status in (301, 302, 303) and location.startswith("/admin/login/"):
        return ADMIN_LOGIN
    if status in (301, 302, 303) and location.startswith(reverse("login")):
        return LOGIN
    if status in (403, 404):
        return REFUSED
    if status in (502, 503):
        # Past the access check: the session's cluster is unreachable in this suite, and the view says so.
        body = response.content.decode("utf-8", "replace")
        if "Could not read" in body or "could not be queued" in body:
            return OK
    if status >= 500:
        return f"error {status}"
    return OK


CELLS = [(key, method, role, outcome) for key, entry in MATRIX.items() for method, expected in entry.expect.items()
         for role, outcome in expected.items()]


@pytest.fixture
def no_queue(monkeypatch):
    """The live panel's changes are queued with .delay(): keep them here (no worker runs in this suite)."""
    for task in (object_tasks.delete_object, object_tasks.scale_deployment, object_tasks.restart_deployment,
                 object_tasks.pause_deployment, object_tasks.resume_deployment, object_tasks.rollback_deployment):
        monkeypatch.setattr(task, "delay", lambda *args, **kwargs: None)


@pytest.mark.django_db
@pytest.mark.parametrize("key,method,role,expected", CELLS,
                         ids=[f"{key}-{method}-{role}" for key, method, role, _ in CELLS])
def test_it_gives_each_role_what_the_matrix_says(client, world, no_queue, key, method, role, expected):
    user = world.users[role]
    if user is not None:
        client.force_login(user)
    url = url_of(key, world)
    entry = MATRIX[key]
    before = snapshot(world)
    if method == "GET":
        response = client.get(url)
    else:
        response = client.post(url, entry.data(world) if entry.data else {})
    got = outcome_of(response)
    if expected == READ_ONLY:
        assert got == OK and response.status_code == 200, (got, response.status_code)
        assert response.context["read_only"] is True
    elif expected == REACHED:
        assert got in (OK, REFUSED), (got, response.status_code)
    else:
        assert got == expected, (got, response.status_code, response.get("Location"))
        if expected == OK and role == OWNER and key in ("labs:session", "labs:status"):
            assert response.context["read_only"] is False
    if expected in (LOGIN, ADMIN_LOGIN, REFUSED) or method == "GET":
        assert snapshot(world) == before, "a refused request (or a GET) changed what others had"


# Instructors reaching another cohort's student through their own cohort's id.
CROSS_COHORT = {
    "teaching:student": ("GET", lambda w: [w.other_cohort.pk, w.session.id]),
    "teaching:session_action": ("POST", lambda w: [w.other_cohort.pk, w.session.id, "end"]),
    "teaching:answer_help": ("POST", lambda w: [w.other_cohort.pk, w.help_request.pk]),
    "teaching:dismiss_help": ("POST", lambda w: [w.other_cohort.pk, w.help_request.pk]),
}


@pytest.mark.django_db
@pytest.mark.parametrize("key", list(CROSS_COHORT))
def test_it_refuses_another_cohorts_student_through_ones_own_cohort(client, world, key):
    method, args = CROSS_COHORT[key]
    client.force_login(world.users[OTHER_INSTRUCTOR])
    before = snapshot(world)
    url = reverse(key, args=args(world))
    response = client.get(url) if method == "GET" else client.post(url, {"answer": "x", "text": "x"})
    assert response.status_code == 404
    assert snapshot(world) == before


@pytest.mark.django_db
def test_it_refuses_a_message_to_a_student_of_another_cohort(client, world):
    client.force_login(world.users[OTHER_INSTRUCTOR])
    before = snapshot(world)
    r = client.post(reverse("teaching:send_message", args=[world.other_cohort.pk]),
                    {"text": "hi", "student": str(world.users[OWNER].pk)}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and b"choose a student of this cohort" in r.content
    assert snapshot(world) == before


# ---- the WebSocket cells -------------------------------------------------------------------------------------

FORBIDDEN = 4403
ACCEPTED = "accepted"
CLOSED = "closed 4403"

SOCKETS = {
    "ws/sessions/<uuid:session_id>/": (lambda w: f"/ws/sessions/{w.session.id}/", roles(
        CLOSED, owner=ACCEPTED, instructor=ACCEPTED, admin=ACCEPTED)),
    # A pod's log, followed in its dialog: read like the session (instructors watch, only the student acts).
    "ws/sessions/<uuid:session_id>/pods/<str:name>/logs/": (lambda w: f"/ws/sessions/{w.session.id}/pods/web-1/logs/",
                                                             roles(CLOSED, owner=ACCEPTED, instructor=ACCEPTED,
                                                                   admin=ACCEPTED)),
    "ws/teaching/cohorts/<int:cohort_id>/": (lambda w: f"/ws/teaching/cohorts/{w.cohort.pk}/", roles(
        CLOSED, instructor=ACCEPTED, admin=ACCEPTED)),
    "ws/admin/credentials/<int:credential_id>/test/": (lambda w: f"/ws/admin/credentials/{w.credential.pk}/test/",
                                                        roles(CLOSED, admin=ACCEPTED)),
}

SOCKET_CELLS = [(route, role, outcome) for route, (_, expected) in SOCKETS.items() for role, outcome in expected.items()]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route,role,expected", SOCKET_CELLS,
                         ids=[f"{route.split('/<')[0]}-{role}" for route, role, _ in SOCKET_CELLS])
async def test_it_lets_each_role_on_a_socket_as_the_matrix_says(world_async, route, role, expected):
    w = world_async
    path, _ = SOCKETS[route]
    before = await sync_to_async(snapshot)(w)
    communicator = WebsocketCommunicator(URLRouter(socket_routes), path(w))
    communicator.scope["user"] = w.users[role] or AnonymousUser()
    connected, _ = await communicator.connect(timeout=10)
    assert connected  # every consumer accepts first, so that the browser sees the close code
    first = await communicator.receive_output(10)
    if expected == ACCEPTED:
        assert first["type"] == "websocket.send" and first.get("text"), first
        # a page asking for more, or sending junk, changes nothing
        await communicator.send_to('{"resync": true, "what": "end", "type": "session.changed"}')
    else:
        assert first["type"] == "websocket.close" and first.get("code") == FORBIDDEN, first
    await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
    await communicator.wait(5)
    assert await sync_to_async(snapshot)(w) == before


@pytest.fixture
def world_async(world):
    return world
