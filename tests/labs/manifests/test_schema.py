"""Strict schema layer: unknown fields, wrong types, missing fields, apiVersions; all errors, not the first."""

import time

from labs.manifests import Policy, kubernetes_version, validate_manifests
from labs.manifests.schema import api_versions_for, schema_dir, validator_for
from tests.manifests import DEPLOYMENT, SERVICE, both

POLICY = Policy(image_allowlist=("nginx",), require_service_type="LoadBalancer")


def validate(text):
    return validate_manifests(text, namespace="lab-1", policy=POLICY)


def schema_problems(text):
    return [p for p in validate(text).problems if p.code in ("schema", "unknown-field")]


def test_it_uses_the_newest_strict_schemas():
    assert schema_dir().name.endswith("-local-strict")
    major, minor = (int(n) for n in kubernetes_version().lstrip("v").split(".")[:2])
    assert (major, minor) >= (1, 30)


def test_it_caches_validators():
    assert validator_for("Deployment", "apps/v1") is validator_for("Deployment", "apps/v1")
    assert validator_for("Service", "v1") is not None
    assert validator_for("deployment", "apps/v1") is None


def test_it_accepts_the_valid_objects():
    v = validate(both())
    assert v.problems == []


def test_it_names_an_unknown_field_and_suggests_the_right_one():
    [p] = schema_problems(DEPLOYMENT.replace("  replicas: 3", "  replica: 3"))
    assert (p.code, p.line, p.column, p.field, p.document) == ("unknown-field", 6, 3, "spec.replica", 0)
    assert 'Unknown field "replica"' in p.message
    assert "Deployment lb-test" in p.message
    assert '(did you mean "replicas"?)' in p.message
    assert p.hint == 'Rename "replica" to "replicas".'


def test_it_explains_an_unknown_field_with_no_close_match():
    text = SERVICE.replace("  type: LoadBalancer\n", "  type: LoadBalancer\n  banana: 1\n")
    [p] = schema_problems(text)
    assert (p.code, p.line, p.field) == ("unknown-field", 7, "spec.banana")
    assert "did you mean" not in p.message
    assert "indentation" in p.hint and "selector" in p.hint and "ports" in p.hint


def test_it_reports_a_field_indented_at_the_wrong_level():
    # containers written under template instead of template.spec
    text = DEPLOYMENT.split("    spec:\n")[0] + "    containers:\n      - name: web\n        image: nginx\n"
    problems = schema_problems(text)
    assert [(p.code, p.field, p.line) for p in problems] == [("unknown-field", "spec.template.containers", 14)]
    assert "template accepts: metadata, spec" in problems[0].hint


def test_it_reports_every_error_not_only_the_first():
    text = DEPLOYMENT.replace("  replicas: 3", "  replicas: three").replace("name: web", "nmae: web")
    text = text.replace("containerPort: 80", "containerPort: 80\n              protocl: TCP")
    problems = schema_problems(text)
    assert [(p.line, p.field) for p in problems] == [
        (6, "spec.replicas"),
        (16, "spec.template.spec.containers[0].nmae"),
        (20, "spec.template.spec.containers[0].ports[0].protocl"),
    ]
    assert problems[0].message == 'replicas must be an integer, got the string "three".'
    assert '(did you mean "name"?)' in problems[1].message
    assert '(did you mean "protocol"?)' in problems[2].message


def test_it_suggests_removing_quotes_around_a_number():
    [p] = schema_problems(DEPLOYMENT.replace("containerPort: 80", 'containerPort: "80"'))
    assert (p.code, p.line, p.field) == ("schema", 19, "spec.template.spec.containers[0].ports[0].containerPort")
    assert p.message == 'containerPort must be an integer, got the string "80".'
    assert p.hint == "Remove the quotes: containerPort: 80"


def test_it_suggests_quotes_around_a_label_that_looks_like_a_number():
    text = DEPLOYMENT.replace("  labels:\n        app: lb-test", "  labels:\n        app: lb-test\n        tier: 1")
    [p] = schema_problems(text)
    assert (p.line, p.field) == (14, "spec.template.metadata.labels.tier")
    assert p.message == "tier must be a string, got the number 1."
    assert p.hint == 'Put the value in quotes: tier: "1"'


def test_it_names_a_missing_required_field_at_its_parents_line():
    text = SERVICE.replace("      port: 80\n", "")
    [p] = schema_problems(text)
    assert (p.code, p.line, p.field) == ("schema", 10, "spec.ports[0].port")
    assert p.message == 'Service lb-test-svc is missing the required field "spec.ports[0].port".'


def test_it_names_a_missing_deployment_selector():
    text = DEPLOYMENT.replace("  selector:\n    matchLabels:\n      app: lb-test\n", "")
    [p] = schema_problems(text)
    assert (p.line, p.field) == (5, "spec.selector")
    assert "matchLabels" in p.hint


def test_it_explains_a_list_written_as_a_mapping():
    text = SERVICE.replace("  ports:\n    - protocol: TCP\n      port: 80\n      targetPort: 80\n",
                           "  ports:\n    port: 80\n")
    [p] = schema_problems(text)
    assert (p.line, p.field) == (9, "spec.ports")
    assert p.message == "ports must be a list (items starting with -), got a mapping."
    assert "dash" in p.hint


def test_it_explains_an_int_or_string_field():
    text = SERVICE.replace("targetPort: 80", "targetPort: [80]")
    [p] = schema_problems(text)
    assert (p.line, p.field) == (12, "spec.ports[0].targetPort")
    assert p.message == "targetPort must be a string or an integer, got a list."


def test_it_explains_a_service_selector_written_like_a_deployments():
    text = SERVICE.replace("  selector:\n    app: lb-test", "  selector:\n    matchLabels:\n      app: lb-test")
    [p] = schema_problems(text)
    assert (p.line, p.field) == (8, "spec.selector.matchLabels")
    assert "without matchLabels" in p.hint


def test_it_names_the_right_api_version():
    [p] = schema_problems(DEPLOYMENT.replace("apiVersion: apps/v1", "apiVersion: v1"))
    assert (p.code, p.line, p.field) == ("schema", 1, "apiVersion")
    assert p.message == 'Deployment is not part of apiVersion "v1"; it belongs to "apps/v1".'
    assert p.hint == "Write apiVersion: apps/v1"
    assert api_versions_for("Service") == ("v1",)


def test_it_reports_an_unknown_kind_allowed_by_the_policy():
    policy = Policy(allowed_kinds=("Deployment", "Service", "Widget"), image_allowlist=("nginx",))
    v = validate_manifests("apiVersion: v1\nkind: Widget\nmetadata:\n  name: w\n", namespace="n", policy=policy)
    [p] = v.problems
    assert (p.code, p.line, p.field) == ("schema", 2, "kind")
    assert 'no kind "Widget"' in p.message


def test_it_explains_a_wrong_kind_value_with_the_enum():
    from labs.manifests.parse import parse_manifests
    from labs.manifests.schema import check_schema

    [doc] = parse_manifests(DEPLOYMENT, max_bytes=10_000, max_documents=5).documents
    doc.obj["kind"] = "Service"  # the apps/v1 Deployment schema only accepts kind Deployment
    doc.kind = "Deployment"
    [p] = check_schema([doc])
    assert (p.line, p.field) == (2, "kind")
    assert p.message == 'kind must be "Deployment", got the string "Service".'


def test_it_validates_a_typical_text_quickly():
    text = both()
    validate(text)  # warm the caches
    start = time.perf_counter()
    for _ in range(20):
        validate(text)
    per_text = (time.perf_counter() - start) / 20
    assert per_text < 0.25  # generous: a cached validation takes a few milliseconds
