"""Lab policy layer: kinds, namespace, host access, privileges, images, replicas, duplicates."""

import pytest

from labs.manifests import Policy, image_repository, validate_manifests
from tests.manifests import DEPLOYMENT, SERVICE

POLICY = Policy(image_allowlist=("nginx", "nginxinc/nginx-unprivileged", "httpd", "traefik/whoami"),
                max_replicas=5, require_service_type="LoadBalancer")


def validate(text, policy=POLICY, namespace="lab-1"):
    return validate_manifests(text, namespace=namespace, policy=policy)


def only(text, code, **kwargs):
    found = [p for p in validate(text, **kwargs).problems if p.code == code]
    assert len(found) == 1, found
    return found[0]


def with_pod_spec(extra):
    """DEPLOYMENT with `extra` (lines indented for the pod spec) added under spec.template.spec."""
    return DEPLOYMENT.replace("    spec:\n      containers:", "    spec:\n" + extra + "      containers:")


def with_container(extra):
    """DEPLOYMENT with `extra` (lines indented for the container) added to the first container."""
    return DEPLOYMENT.replace("          image: nginx:1.27\n", "          image: nginx:1.27\n" + extra)


def test_it_accepts_the_lab_deployment():
    assert validate(DEPLOYMENT).problems == []


def test_it_rejects_a_kind_the_lab_does_not_allow():
    text = DEPLOYMENT + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: b\n"
    v = validate(text)
    [p] = v.problems
    assert (p.code, p.line, p.field, p.document) == ("kind-not-allowed", 22, "kind", 1)
    assert 'Kind "ConfigMap" is not part of this lab' in p.message
    assert "Deployment and Service" in p.message
    assert not v.ok


def test_it_suggests_the_kind_for_a_near_miss():
    p = only(DEPLOYMENT.replace("kind: Deployment", "kind: Deploymnet"), "kind-not-allowed")
    assert p.line == 2
    assert '(did you mean "Deployment"?)' in p.message
    assert p.hint == "Change kind to Deployment."


def test_it_does_not_check_the_schema_of_a_kind_not_allowed():
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  bogus: 1\n"
    assert [p.code for p in validate(text).problems] == ["kind-not-allowed"]


def test_it_accepts_the_sessions_namespace_or_none():
    text = DEPLOYMENT.replace("  name: lb-test\n", "  name: lb-test\n  namespace: lab-1\n", 1)
    assert validate(text).problems == []


def test_it_rejects_another_namespace():
    text = DEPLOYMENT.replace("  name: lb-test\n", "  name: lb-test\n  namespace: default\n", 1)
    p = only(text, "namespace")
    assert (p.line, p.column, p.field) == (5, 3, "metadata.namespace")
    assert p.message == ('Deployment lb-test is set to namespace "default", but your lab objects live in '
                         'namespace "lab-1".')
    assert "Remove the namespace" in p.hint


@pytest.mark.parametrize("key", ["hostNetwork", "hostPID", "hostIPC"])
def test_it_rejects_host_namespaces(key):
    p = only(with_pod_spec(f"      {key}: true\n"), "host-network")
    assert (p.line, p.field) == (15, f"spec.template.spec.{key}")
    assert f"{key}: true" in p.message
    assert "not allowed" in p.message


def test_it_accepts_host_network_false():
    assert validate(with_pod_spec("      hostNetwork: false\n")).problems == []


def test_it_rejects_host_path_volumes():
    text = with_pod_spec("      volumes:\n        - name: root\n          hostPath:\n            path: /\n")
    p = only(text, "host-path")
    assert (p.line, p.field) == (17, "spec.template.spec.volumes[0].hostPath")
    assert 'Volume "root" of Deployment lb-test' in p.message
    assert "hostPath" in p.message
    assert "emptyDir" in p.hint


def test_it_rejects_privileged_containers():
    p = only(with_container("          securityContext:\n            privileged: true\n"), "privileged")
    assert (p.line, p.field) == (19, "spec.template.spec.containers[0].securityContext.privileged")
    assert p.message == 'Container "web" of Deployment lb-test asks to run privileged, which is not allowed in the lab.'


def test_it_rejects_privilege_escalation():
    p = only(with_container("          securityContext:\n            allowPrivilegeEscalation: true\n"), "privileged")
    assert (p.line, p.field) == (19, "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation")
    assert "allowPrivilegeEscalation: true" in p.message


def test_it_checks_init_containers_too():
    text = with_pod_spec("      initContainers:\n        - name: setup\n          image: busybox\n"
                         "          securityContext:\n            privileged: true\n")
    codes = sorted((p.code, p.field) for p in validate(text).problems)
    assert codes == [("image-not-allowed", "spec.template.spec.initContainers[0].image"),
                     ("privileged", "spec.template.spec.initContainers[0].securityContext.privileged")]


def test_it_rejects_an_image_outside_the_allowlist():
    p = only(DEPLOYMENT.replace("image: nginx:1.27", "image: redis:7"), "image-not-allowed")
    assert (p.line, p.column, p.field) == (17, 11, "spec.template.spec.containers[0].image")
    assert p.message == 'Container "web" of Deployment lb-test uses image "redis:7", which is not allowed in this lab.'
    assert p.hint == "Allowed images: nginx, nginxinc/nginx-unprivileged, httpd, traefik/whoami."


def test_it_suggests_the_image_for_a_near_miss():
    p = only(DEPLOYMENT.replace("image: nginx:1.27", "image: ngnix:latest"), "image-not-allowed")
    assert p.line == 17
    assert "(did you mean nginx?)" in p.message


@pytest.mark.parametrize("image", ["nginx", "nginx:1.27", "docker.io/nginx:latest", "docker.io/library/nginx",
                                   "library/nginx:1", "nginx@sha256:" + "a" * 64, "traefik/whoami:v1.10",
                                   "nginxinc/nginx-unprivileged:stable-alpine"])
def test_it_accepts_allowed_images_however_written(image):
    assert validate(DEPLOYMENT.replace("image: nginx:1.27", f"image: {image}")).problems == []


@pytest.mark.parametrize("image", ["evil.example.com/nginx", "localhost:5000/nginx", "nginx-fake", "docker.io/evil/nginx"])
def test_it_rejects_lookalike_images(image):
    assert only(DEPLOYMENT.replace("image: nginx:1.27", f"image: {image}"), "image-not-allowed").line == 17


def test_it_reads_image_repositories():
    assert image_repository("docker.io/library/nginx:1.27") == "nginx"
    assert image_repository("localhost:5000/team/app:v1") == "localhost:5000/team/app"
    assert image_repository("traefik/whoami@sha256:abc") == "traefik/whoami"


def test_it_reports_a_container_without_image():
    p = only(DEPLOYMENT.replace("          image: nginx:1.27\n", ""), "missing-image")
    assert (p.line, p.field) == (16, "spec.template.spec.containers[0].image")
    assert p.message == 'Container "web" of Deployment lb-test has no image.'
    assert p.hint == "Add an image, e.g. image: nginx"


def test_it_rejects_too_many_replicas():
    p = only(DEPLOYMENT.replace("replicas: 3", "replicas: 50"), "too-many-replicas")
    assert (p.line, p.column, p.field) == (6, 3, "spec.replicas")
    assert p.message == "Deployment lb-test asks for 50 replicas; this lab allows at most 5."


def test_it_accepts_the_maximum_replicas():
    assert validate(DEPLOYMENT.replace("replicas: 3", "replicas: 5")).problems == []


def test_it_rejects_the_same_object_twice():
    v = validate(DEPLOYMENT + "---\n" + DEPLOYMENT)
    [p] = v.problems
    assert (p.code, p.line, p.field, p.document) == ("duplicate", 24, "metadata.name", 1)
    assert p.message == "Deployment lb-test is defined twice (documents 1 and 2)."


def test_it_allows_the_same_name_for_different_kinds():
    service = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: lb-test\nspec:\n  type: LoadBalancer\n"
               "  selector:\n    app: lb-test\n  ports:\n    - port: 80\n")
    assert validate(DEPLOYMENT + "---\n" + service).problems == []


def test_it_requires_a_name():
    p = only(DEPLOYMENT.replace("  name: lb-test\n", "  labels: {}\n", 1), "missing-name")
    assert (p.line, p.field) == (3, "metadata.name")
    assert p.message == "This Deployment has no metadata.name."


def test_it_builds_policies_from_lists():
    policy = Policy(allowed_kinds=["Deployment"], image_allowlist=["nginx"])
    assert policy.allowed_kinds == ("Deployment",)
    assert policy.image_allowlist == ("nginx",)


@pytest.mark.parametrize(("line", "field", "words"), [
    ("  externalIPs: [127.20.0.9]\n", "spec.externalIPs", "externalIPs"),
    ("  loadBalancerIP: 127.20.0.9\n", "spec.loadBalancerIP", "loadBalancerIP"),
])
def test_it_refuses_service_fields_that_claim_addresses(line, field, words):
    text = SERVICE.replace("spec:\n", "spec:\n" + line, 1)
    problems = [p for p in validate_manifests(text, namespace="ns", policy=Policy()).problems if p.code == "service-address"]
    assert len(problems) == 1
    assert problems[0].field == field and words in problems[0].message
    assert problems[0].line == text.splitlines().index(line.rstrip("\n")) + 1


def test_it_refuses_a_chosen_node_port():
    text = SERVICE.replace("targetPort: 80", "targetPort: 80\n      nodePort: 30080")
    problems = [p for p in validate_manifests(text, namespace="ns", policy=Policy()).problems if p.code == "service-address"]
    assert [p.field for p in problems] == ["spec.ports[0].nodePort"]


def test_it_refuses_finalizers_naming_their_line():
    text = SERVICE.replace("metadata:\n  name: lb-test-svc\n",
                           "metadata:\n  name: lb-test-svc\n  finalizers:\n  - example.com/hold\n")
    assert text != SERVICE
    p = only(text, "finalizers")
    assert p.field == "metadata.finalizers" and p.line == 5
    assert "could never be deleted" in p.message
    template = DEPLOYMENT.replace("  template:\n    metadata:\n",
                                  "  template:\n    metadata:\n      finalizers: [example.com/hold]\n")
    assert template != DEPLOYMENT
    assert only(template, "finalizers").field == "spec.template.metadata.finalizers"


def test_it_refuses_added_capabilities_in_a_container():
    p = only(with_container("          securityContext:\n            capabilities:\n              add: [NET_ADMIN]\n"),
             "capabilities")
    assert (p.line, p.field) == (20, "spec.template.spec.containers[0].securityContext.capabilities.add")
    assert 'Container "web" of Deployment lb-test adds Linux capabilities' in p.message
    assert "capabilities.drop is fine" in p.hint
    dropped = with_container("          securityContext:\n            capabilities:\n              drop: [ALL]\n")
    assert validate(dropped).problems == []


def test_it_refuses_added_capabilities_at_the_pod_level():
    text = with_pod_spec("      securityContext:\n        capabilities:\n          add: [SYS_ADMIN]\n")
    p = only(text, "capabilities")
    assert (p.line, p.field) == (17, "spec.template.spec.securityContext.capabilities.add")
    assert "Deployment lb-test adds Linux capabilities" in p.message


def test_it_refuses_a_host_port():
    p = only(DEPLOYMENT.replace("- containerPort: 80\n", "- containerPort: 80\n              hostPort: 8080\n"),
             "host-port")
    assert (p.line, p.field) == (20, "spec.template.spec.containers[0].ports[0].hostPort")
    assert "opens a port on the node itself" in p.message


def test_it_refuses_a_node_name_in_the_pod_template():
    p = only(with_pod_spec("      nodeName: node-1\n"), "node-name")
    assert (p.line, p.column, p.field) == (15, 7, "spec.template.spec.nodeName")
    assert "without the scheduler" in p.message
    assert p.hint == "Remove nodeName: the scheduler chooses a node."


def test_it_refuses_ephemeral_containers_in_a_template():
    text = with_pod_spec("      ephemeralContainers:\n        - name: debug\n          image: nginx\n")
    p = only(text, "ephemeral-containers")
    assert (p.line, p.field) == (15, "spec.template.spec.ephemeralContainers")
    assert "debugging containers" in p.message


@pytest.mark.parametrize("where", ["metadata", "template"])
def test_it_refuses_owner_references(where):
    refs = "ownerReferences:\n{i}- apiVersion: apps/v1\n{i}  kind: ReplicaSet\n{i}  name: other\n{i}  uid: 1234\n"
    if where == "metadata":
        text = DEPLOYMENT.replace("  name: lb-test\n", "  name: lb-test\n  " + refs.format(i="  "), 1)
        line, field = 5, "metadata.ownerReferences"
    else:
        text = DEPLOYMENT.replace("    metadata:\n      labels:", "    metadata:\n      " + refs.format(i="      ")
                                  + "      labels:")
        line, field = 12, "spec.template.metadata.ownerReferences"
    p = only(text, "owner-references")
    assert (p.line, p.field) == (line, field)
    assert "belong to another object" in p.message and "delete it" in p.message


OPENSTACK_ANNOTATIONS = [
    "loadbalancer.openstack.org/load-balancer-id", "service.beta.kubernetes.io/openstack-internal-load-balancer",
    "loadbalancer.openstack.org/floating-network-id", "loadbalancer.openstack.org/floating-subnet",
    "loadbalancer.openstack.org/floating-subnet-id", "loadbalancer.openstack.org/subnet-id",
    "loadbalancer.openstack.org/network-id", "loadbalancer.openstack.org/port-id",
]


def with_service_annotation(key, value='"x"'):
    return SERVICE.replace("  name: lb-test-svc\n", f"  name: lb-test-svc\n  annotations:\n    {key}: {value}\n")


@pytest.mark.parametrize("key", OPENSTACK_ANNOTATIONS)
def test_it_refuses_cloud_annotations_that_reach_beyond_the_students_balancer(key):
    p = only(with_service_annotation(key), "annotation-not-allowed")
    assert (p.line, p.column, p.field) == (6, 5, f'metadata.annotations["{key}"]')
    assert f'the annotation "{key}" would' in p.message and "which this lab does not allow" in p.message


def test_it_accepts_cloud_annotations_the_lab_allows():
    policy = Policy(image_allowlist=("nginx",), annotation_allowlist=("loadbalancer.openstack.org/*",))
    for key in OPENSTACK_ANNOTATIONS[:1] + OPENSTACK_ANNOTATIONS[2:]:
        assert validate(with_service_annotation(key), policy=policy).problems == []
    only(with_service_annotation(OPENSTACK_ANNOTATIONS[1]), "annotation-not-allowed", policy=policy)


def test_it_refuses_annotations_outside_the_labs_allowlist_and_names_the_allowed_ones():
    policy = Policy(image_allowlist=("nginx",), annotation_allowlist=("loadbalancer.taikun.cloud/proxy-protocol",))
    assert validate(with_service_annotation("loadbalancer.taikun.cloud/proxy-protocol", '"true"'),
                    policy=policy).problems == []
    p = only(with_service_annotation("example.com/anything"), "annotation-not-allowed", policy=policy)
    assert p.line == 6 and 'the annotation "example.com/anything" is not one this lab allows.' in p.message
    assert p.hint == "Remove it. Annotations this lab allows: loadbalancer.taikun.cloud/proxy-protocol."


def test_it_refuses_pod_template_annotations_but_keeps_a_restart():
    text = DEPLOYMENT.replace("    metadata:\n      labels:",
                              "    metadata:\n      annotations:\n        container.apparmor.security.beta.kubernetes.io"
                              "/web: unconfined\n        kubectl.kubernetes.io/restartedAt: '2025-01-01T00:00:00Z'\n"
                              "      labels:")
    p = only(text, "annotation-not-allowed")
    assert p.line == 13
    assert p.field == 'spec.template.metadata.annotations["container.apparmor.security.beta.kubernetes.io/web"]'


@pytest.mark.parametrize("key", ["command", "args"])
def test_it_refuses_command_and_args_unless_the_lab_allows_them(key):
    text = with_container(f'          {key}: ["sh", "-c", "id"]\n')
    p = only(text, "command-not-allowed")
    assert (p.line, p.field) == (18, f"spec.template.spec.containers[0].{key}")
    assert f"sets {key}, which replaces what the image runs" in p.message
    allowing = Policy(image_allowlist=("nginx",), allow_command=True)
    assert validate(text, policy=allowing).problems == []


def test_it_still_refuses_finalizers_beside_the_new_rules():
    text = with_service_annotation("loadbalancer.openstack.org/port-id").replace(
        "  annotations:\n", "  finalizers: [example.com/hold]\n  annotations:\n")
    assert sorted(p.code for p in validate(text).problems) == ["annotation-not-allowed", "finalizers"]
