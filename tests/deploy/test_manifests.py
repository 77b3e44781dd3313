"""The deployment files: Kubernetes manifests valid against the API's own schemas (strict), least RBAC on
the lab clusters covering what the product really calls, and a compose file whose processes share one image."""

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from clouds.kube import KINDS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S_VERSION = "1.37"


def documents(name):
    with open(DEPLOY / "kubernetes" / name) as fh:
        return [d for d in yaml.safe_load_all(fh) if d]


ALL = [(name, doc) for name in ("liveops.yaml", "managed-cluster-rbac.yaml") for doc in documents(name)]


@pytest.mark.parametrize("name, doc", ALL, ids=[f"{n}:{d['kind']}/{d['metadata']['name']}" for n, d in ALL])
def test_it_ships_manifests_the_api_server_accepts(name, doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def pod_specs():
    for doc in documents("liveops.yaml"):
        if doc["kind"] in ("Deployment", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def test_it_runs_every_process_unprivileged_with_resources():
    for name, spec in pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], name


def test_it_probes_the_web_server_and_runs_one_watcher_and_one_beat():
    deployments = {d["metadata"]["name"]: d for d in documents("liveops.yaml") if d["kind"] == "Deployment"}
    web = deployments["liveops-web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for single in ("liveops-watcher", "liveops-beat"):
        assert deployments[single]["spec"]["replicas"] == 1
        assert deployments[single]["spec"]["strategy"]["type"] == "Recreate"


def rules():
    role = next(d for d in documents("managed-cluster-rbac.yaml") if d["kind"] == "ClusterRole")
    return role["rules"]


def allowed(group, resource, verb):
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules())


def test_it_asks_the_lab_clusters_for_no_wildcard():
    for rule in rules():
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
    assert not allowed("", "secrets", "get") and not allowed("rbac.authorization.k8s.io", "roles", "create")


def test_it_grants_the_watcher_every_kind_it_watches():
    for plural, kind in KINDS.items():
        group = kind.api_version.split("/")[0] if "/" in kind.api_version else ""
        for verb in ("list", "watch"):
            assert allowed(group, plural, verb), f"{verb} {plural}"


def test_it_grants_what_provisioning_apply_and_the_balancer_controller_do():
    for group, resource, verb in [
        ("", "namespaces", "create"), ("", "namespaces", "delete"), ("", "resourcequotas", "create"),
        ("", "resourcequotas", "update"), ("", "limitranges", "create"), ("apps", "deployments", "patch"),
        ("", "services", "patch"), ("", "services/status", "patch"), ("", "events", "create"),
        ("", "pods/log", "get"), ("", "services", "delete"), ("apps", "deployments", "delete"),
        ("networking.k8s.io", "networkpolicies", "create"), ("networking.k8s.io", "networkpolicies", "update"),
        ("", "namespaces", "patch"),
    ]:
        assert allowed(group, resource, verb), f"{verb} {group}/{resource}"


def test_it_composes_every_process_from_one_image_with_the_production_settings():
    with open(DEPLOY / "docker-compose.yml") as fh:
        compose = yaml.safe_load(fh)
    services = compose["services"]
    product = [n for n in ("migrate", "web", "worker", "beat", "watcher")]
    assert {"postgres", "redis", *product} <= set(services)
    for name in product:
        service = services[name]
        assert service["image"] == "liveops-labs:latest" and service["build"]["dockerfile"] == "deploy/Dockerfile"
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["LIVEOPS_REDIS_URL"] == "redis://redis:6379/0"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert ".env" in (DEPLOY / ".." / ".gitignore").read_text() or (DEPLOY / ".gitignore").exists()


def _served_queues(commands) -> set[str]:
    """The Celery queues the worker commands consume (a worker without -Q serves them all)."""
    from django.conf import settings

    every = {q.name for q in settings.CELERY_TASK_QUEUES}
    served = set()
    for command in commands:
        if "worker" not in command:
            continue
        served |= set(command[command.index("-Q") + 1].split(",")) if "-Q" in command else every
    return served


def test_every_celery_queue_has_a_worker_in_each_deployment():
    """A queue nobody consumes looks like a product that never answers: the checks would never turn green."""
    import ast

    from django.conf import settings

    every = {q.name for q in settings.CELERY_TASK_QUEUES}
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed <= every
    k8s = [c["command"] for _, spec in pod_specs() for c in spec["containers"] if "command" in c]
    with open(DEPLOY / "docker-compose.yml") as fh:
        compose = [svc["command"] for svc in yaml.safe_load(fh)["services"].values() if "command" in svc]
    launcher = Path(__file__).resolve().parents[2] / "liveops" / "launcher.py"
    make_run = [[elt.value for elt in node.elts if isinstance(elt, ast.Constant)]
                for node in ast.walk(ast.parse(launcher.read_text())) if isinstance(node, ast.List)]
    for name, commands in (("kubernetes", k8s), ("compose", compose), ("make run", make_run)):
        assert _served_queues(commands) == every, name
