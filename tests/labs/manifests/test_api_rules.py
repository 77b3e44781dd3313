"""What the API server refuses beyond the JSON schema: names and port protocols, refused before apply."""

import pytest

from labs.manifests import Policy, validate_manifests
from tests.manifests import DEPLOYMENT, SERVICE, both

POLICY = Policy(image_allowlist=("nginx",), require_service_type="LoadBalancer")

PORT = "    - protocol: TCP\n      port: 80\n      targetPort: 80\n"
CONTAINER = "        - name: web\n          image: nginx:1.27\n          ports:\n            - containerPort: 80\n"


def problems(text, code):
    return [p for p in validate_manifests(text, namespace="lab-1", policy=POLICY).problems if p.code == code]


def test_it_accepts_the_lab_manifest():
    assert validate_manifests(both(), namespace="lab-1", policy=POLICY).problems == []


def test_it_refuses_a_protocol_in_lower_case_and_names_the_allowed_values():
    [p] = problems(both(service=SERVICE.replace("protocol: TCP", "protocol: tcp")), "port-protocol")
    assert (p.severity, p.line, p.column, p.field) == ("error", 30, 7, "spec.ports[0].protocol")
    assert '"tcp"' in p.message and '"TCP", "UDP" and "SCTP"' in p.message
    assert "capital letters" in p.message
    assert p.hint == "Write protocol: TCP"


def test_it_refuses_an_application_protocol_such_as_http():
    [p] = problems(both(service=SERVICE.replace("protocol: TCP", "protocol: HTTP")), "port-protocol")
    assert p.line == 30 and '"HTTP"' in p.message
    assert "TCP is the default" in p.hint


@pytest.mark.parametrize("protocol", ["TCP", "UDP", "SCTP"])
def test_it_accepts_the_protocols_of_the_api(protocol):
    assert problems(both(service=SERVICE.replace("protocol: TCP", f"protocol: {protocol}")), "port-protocol") == []


def test_it_refuses_a_container_port_protocol_the_api_does_not_accept():
    text = both(DEPLOYMENT.replace("- containerPort: 80", "- containerPort: 80\n              protocol: Tcp"))
    [p] = problems(text, "port-protocol")
    assert (p.line, p.field) == (20, "spec.template.spec.containers[0].ports[0].protocol")
    assert p.hint == "Write protocol: TCP"


def test_it_refuses_a_deployment_name_that_is_not_a_dns_subdomain():
    text = both(DEPLOYMENT.replace("  name: lb-test\n", "  name: LB_Test\n", 1))
    [p] = problems(text, "invalid-name")
    assert (p.line, p.column, p.field) == (4, 3, "metadata.name")
    assert "DNS-1123 subdomain" in p.message
    assert "253 characters" in p.message and "lowercase" in p.message
    assert "capital letters" in p.message and "'_'" in p.message
    assert p.hint == 'Use, for example, "lb-test".'


def test_it_refuses_a_service_name_that_starts_with_a_digit():
    text = both(service=SERVICE.replace("name: lb-test-svc", "name: 1-lb"))
    [p] = problems(text, "invalid-name")
    assert (p.line, p.field) == (24, "metadata.name")
    assert "DNS-1035 label" in p.message and "starting with a letter" in p.message
    assert "starts with a digit" in p.message
    assert p.hint == 'Use, for example, "lb".'


def test_it_refuses_a_name_longer_than_63_characters():
    long_name = "lb-" + "a" * 70
    [p] = problems(both(service=SERVICE.replace("name: lb-test-svc", f"name: {long_name}")), "invalid-name")
    assert "63 characters" in p.message and f"it is {len(long_name)} characters long" in p.message
    assert p.hint == f'Use, for example, "{long_name[:63]}".'


def test_it_refuses_a_container_name_that_is_not_a_dns_label():
    text = both(DEPLOYMENT.replace("- name: web", "- name: web.server-"))
    [p] = problems(text, "invalid-name")
    assert (p.line, p.field) == (16, "spec.template.spec.containers[0].name")
    assert "DNS-1123 label" in p.message and "'.'" in p.message and "ends with '-'" in p.message
    assert p.hint == 'Use, for example, "web-server".'


def test_it_refuses_a_container_port_name_longer_than_15_characters():
    text = both(DEPLOYMENT.replace("- containerPort: 80", "- containerPort: 80\n              name: http-web-server1"))
    [p] = problems(text, "invalid-name")
    assert (p.line, p.field) == (20, "spec.template.spec.containers[0].ports[0].name")
    assert "IANA_SVC_NAME" in p.message and "15 characters" in p.message
    assert "it is 16 characters long" in p.message
    assert p.hint == 'Use, for example, "http-web-server".'


def test_it_refuses_a_container_port_name_without_a_letter_or_with_two_dashes():
    text = both(DEPLOYMENT.replace("- containerPort: 80", "- containerPort: 80\n              name: '80'"))
    [p] = problems(text, "invalid-name")
    assert "has no letter" in p.message
    text = both(DEPLOYMENT.replace("- containerPort: 80", "- containerPort: 80\n              name: web--http"))
    [p] = problems(text, "invalid-name")
    assert "'--'" in p.message and p.hint == 'Use, for example, "web-http".'


def test_it_asks_for_port_names_when_a_service_has_several_ports():
    service = SERVICE + "    - protocol: TCP\n      port: 443\n      targetPort: 80\n"
    found = problems(both(service=service), "port-name")
    assert [(p.line, p.field) for p in found] == [(30, "spec.ports[0]"), (33, "spec.ports[1]")]
    assert "each one needs a name" in found[0].message
    assert found[0].hint == "Add name: under ports[0], e.g. name: http."


def test_it_refuses_two_service_ports_with_the_same_name_and_a_bad_service_port_name():
    service = (SERVICE.replace("    - protocol: TCP\n", "    - protocol: TCP\n      name: web\n")
               + "    - protocol: TCP\n      name: web\n      port: 443\n      targetPort: 80\n")
    [p] = problems(both(service=service), "port-name")
    assert (p.line, p.field) == (35, "spec.ports[1].name") and "two ports" in p.message
    bad = SERVICE.replace("    - protocol: TCP\n", "    - protocol: TCP\n      name: Web_Port\n")
    [p] = problems(both(service=bad), "invalid-name")
    assert p.field == "spec.ports[0].name" and "DNS-1123 label" in p.message
