"""Cross-resource checks: selectors, target ports, the Service type, Deployment selectors, ports."""

from labs.content_loader import load_lab
from labs.manifests import Policy, validate_manifests
from labs.manifests.crossref import selector_matches
from tests.manifests import DEPLOYMENT, SERVICE, both

POLICY = Policy(image_allowlist=("nginx",), require_service_type="LoadBalancer")


def validate(text, policy=POLICY):
    return validate_manifests(text, namespace="lab-1", policy=policy)


def problems(text, code, policy=POLICY):
    return [p for p in validate(text, policy).problems if p.code == code]


def test_it_accepts_matching_objects():
    assert validate(both()).problems == []


def test_it_accepts_the_labs_own_examples():
    lab = load_lab("loadbalancer")
    v = validate_manifests(lab.examples_text(), namespace="lab-1", policy=lab.policy())
    assert v.problems == []
    assert [(d.kind, d.name) for d in v.documents] == [("Deployment", "lb-test"), ("Service", "lb-test-svc")]
    assert v.documents[0].obj["spec"]["replicas"] == 3


def test_it_names_the_labels_when_the_selector_matches_no_pod():
    [p] = problems(both(service=SERVICE.replace("app: lb-test", "app: lb-tset")), "selector-mismatch")
    assert (p.line, p.column, p.field, p.document) == (28, 5, "spec.selector.app", 1)
    assert p.message == ("Service lb-test-svc selects app=lb-tset but the pods of Deployment lb-test "
                         "are labelled app=lb-test.")
    assert "spec.template.metadata.labels" in p.hint


def test_it_reports_a_selector_with_extra_labels():
    service = SERVICE.replace("    app: lb-test\n", "    app: lb-test\n    tier: web\n")
    [p] = problems(both(service=service), "selector-mismatch")
    assert (p.line, p.field) == (29, "spec.selector.tier")
    assert "selects app=lb-test, tier=web" in p.message


def test_it_points_at_the_selector_when_several_labels_differ():
    service = SERVICE.replace("    app: lb-test\n", "    app: web\n    tier: web\n")
    [p] = problems(both(service=service), "selector-mismatch")
    assert (p.line, p.field) == (27, "spec.selector")


def test_it_compares_with_the_closest_deployment():
    other = DEPLOYMENT.replace("lb-test", "other")
    service = SERVICE.replace("    app: lb-test\n", "    app: lb-test\n    tier: web\n")
    text = other + "---\n" + both(service=service)
    [p] = problems(text, "selector-mismatch")
    assert "pods of Deployment lb-test" in p.message


def test_it_accepts_a_service_that_selects_any_deployment():
    other = DEPLOYMENT.replace("lb-test", "other")
    assert validate(other + "---\n" + both()).problems == []


def test_it_skips_selector_checks_without_deployments():
    text = SERVICE.replace("app: lb-test", "app: anything")
    assert validate(text).problems == []


def test_it_flags_a_service_without_selector_even_alone():
    text = SERVICE.replace("  selector:\n    app: lb-test\n", "")
    [p] = validate(text).problems
    assert (p.code, p.line, p.field) == ("service-selector", 5, "spec.selector")
    assert p.message == "Service lb-test-svc has no selector, so it would send traffic to no pod."


def test_it_flags_an_empty_selector():
    [p] = problems(both(service=SERVICE.replace("  selector:\n    app: lb-test\n", "  selector: {}\n")),
                   "service-selector")
    assert (p.line, p.field) == (27, "spec.selector")


def test_it_reports_a_target_port_no_container_listens_on():
    [p] = problems(both(service=SERVICE.replace("targetPort: 80", "targetPort: 8080")), "target-port")
    assert (p.severity, p.line, p.column, p.field) == ("error", 32, 7, "spec.ports[0].targetPort")
    assert p.message == ("Service lb-test-svc sends traffic to targetPort 8080, but the pods of Deployment lb-test "
                         "listen on containerPort 80.")
    assert p.hint == "Set targetPort to 80, the port the container listens on."


def test_it_uses_port_when_target_port_is_missing():
    service = SERVICE.replace("      port: 80\n      targetPort: 80\n", "      port: 8080\n")
    [p] = problems(both(service=service), "target-port")
    assert (p.line, p.field) == (31, "spec.ports[0].port")
    assert "port (used as targetPort) 8080" in p.message


def test_it_accepts_a_named_target_port():
    deployment = DEPLOYMENT.replace("- containerPort: 80", "- containerPort: 80\n              name: http")
    assert validate(both(deployment, SERVICE.replace("targetPort: 80", "targetPort: http"))).problems == []


def test_it_reports_an_unknown_named_target_port():
    deployment = DEPLOYMENT.replace("- containerPort: 80", "- containerPort: 80\n              name: http")
    [p] = problems(both(deployment, SERVICE.replace("targetPort: 80", "targetPort: web")), "target-port")
    assert (p.line, p.field) == (33, "spec.ports[0].targetPort")
    assert 'the port named "web"' in p.message and "named ports are http" in p.message


def test_it_reports_a_quoted_numeric_target_port():
    [p] = problems(both(service=SERVICE.replace("targetPort: 80", 'targetPort: "80"')), "target-port")
    assert p.line == 32
    assert 'targetPort "80" is written as a string' in p.message
    assert p.hint == "Remove the quotes: targetPort: 80"


def test_it_warns_when_pods_declare_no_ports():
    deployment = DEPLOYMENT.replace("          ports:\n            - containerPort: 80\n", "")
    v = validate(both(deployment=deployment))
    [p] = v.problems
    assert (p.code, p.severity, p.line, p.field) == ("target-port", "warning", 30, "spec.ports[0].targetPort")
    assert "declare no containerPort" in p.message
    assert v.ok  # a warning does not block


def test_it_requires_the_labs_service_type():
    [p] = problems(both(service=SERVICE.replace("type: LoadBalancer", "type: NodePort")), "service-type")
    assert (p.line, p.field, p.document) == (26, "spec.type", 1)
    assert p.message == "Service lb-test-svc is of type NodePort; this lab needs type LoadBalancer."
    assert p.hint == "Add type: LoadBalancer under spec."


def test_it_explains_that_no_type_means_cluster_ip():
    [p] = problems(SERVICE.replace("  type: LoadBalancer\n", ""), "service-type")
    assert (p.line, p.field) == (5, "spec.type")
    assert "no type, so it is a ClusterIP Service" in p.message


def test_it_accepts_any_type_when_the_lab_does_not_require_one():
    policy = Policy(image_allowlist=("nginx",))
    assert validate(both(service=SERVICE.replace("type: LoadBalancer", "type: ClusterIP")), policy).problems == []


def test_it_reports_a_service_without_ports():
    text = SERVICE.replace("  ports:\n    - protocol: TCP\n      port: 80\n      targetPort: 80\n", "")
    [p] = problems(both(service=text), "service-ports")
    assert (p.line, p.field) == (25, "spec.ports")  # the line of spec, its parent
    assert p.message == "Service lb-test-svc has no ports."


def test_it_reports_a_deployment_selector_that_misses_its_own_pods():
    deployment = DEPLOYMENT.replace("        app: lb-test\n    spec:", "        app: web\n    spec:")
    [p] = problems(deployment, "deployment-selector")
    assert (p.line, p.field) == (9, "spec.selector.matchLabels.app")
    assert p.message == ("Deployment lb-test selects pods with app=lb-test but its own pod template "
                         "is labelled app=web.")


def test_it_reports_an_empty_deployment_selector():
    deployment = DEPLOYMENT.replace("  selector:\n    matchLabels:\n      app: lb-test\n", "  selector: {}\n")
    [p] = problems(deployment, "deployment-selector")
    assert (p.line, p.field) == (7, "spec.selector")
    assert "empty selector" in p.message


def test_it_evaluates_match_expressions():
    labels = {"app": "lb-test", "tier": "web"}
    assert selector_matches({"matchExpressions": [{"key": "app", "operator": "In", "values": ["lb-test"]}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["lb-test"]}]},
                                labels)
    assert selector_matches({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, labels)
    assert not selector_matches({"matchLabels": {"app": "x"}}, labels)


def test_it_does_not_pile_cross_checks_on_schema_errors():
    service = SERVICE.replace("  selector:\n    app: lb-test", "  selector:\n    matchLabels:\n      app: lb-test")
    assert [p.code for p in validate(both(service=service)).problems] == ["schema"]
