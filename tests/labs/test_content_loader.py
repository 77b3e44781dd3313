"""Lab content as data: loading, validation of the files, rendering, hints and discovery."""

import shutil
from pathlib import Path

import pytest
import yaml

from labs.content_loader import CONTENT_ROOT, LabContentError, LabNotFound, all_labs, clear_cache, load_lab
from labs.manifests import Policy


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def copy_lab(tmp_path, slug="loadbalancer", new_slug=None, edit=None):
    """Copy the LoadBalancer lab into a temporary content root, optionally editing its lab.yaml data."""
    new_slug = new_slug or slug
    target = tmp_path / new_slug
    shutil.copytree(CONTENT_ROOT / slug, target)
    data = yaml.safe_load((target / "lab.yaml").read_text())
    data["slug"] = new_slug
    if edit:
        edit(data)
    (target / "lab.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def test_it_loads_the_loadbalancer_lab():
    lab = load_lab("loadbalancer")
    assert lab.slug == "loadbalancer"
    assert (lab.duration_minutes, lab.extension_minutes, lab.warn_before_minutes) == (60, 30, 5)
    assert [c.key for c in lab.checks] == ["deployment-ready", "service-selects-pods", "external-ip",
                                           "http-external-ip", "dns-sslip", "dns-record", "cleanup"]
    assert [c.key for c in lab.required_checks] == ["deployment-ready", "service-selects-pods", "external-ip",
                                                    "http-external-ip", "cleanup"]
    assert lab.step("cleanup").checks == ("cleanup",)
    assert 4 <= len(lab.steps) <= 5
    assert lab.step("deploy").checks == ("deployment-ready", "service-selects-pods")


def test_it_builds_the_labs_policy():
    policy = load_lab("loadbalancer").policy()
    assert policy == Policy(allowed_kinds=("Deployment", "Service"),
                            image_allowlist=("nginx", "nginxinc/nginx-unprivileged", "httpd", "traefik/whoami"),
                            max_replicas=5, max_bytes=20000, max_documents=10, require_service_type="LoadBalancer",
                            annotation_allowlist=("loadbalancer.taikun.cloud/proxy-protocol",), allow_command=False)


def test_it_gives_quota_and_limitrange_specs():
    lab = load_lab("loadbalancer")
    assert lab.quota_spec() == {"hard": {"pods": "10", "services.loadbalancers": "1", "requests.cpu": "2",
                                         "requests.memory": "2Gi", "limits.cpu": "4", "limits.memory": "4Gi"}}
    assert lab.limitrange_spec() == {"limits": [{"type": "Container",
                                                 "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
                                                 "default": {"cpu": "200m", "memory": "128Mi"}}]}


def test_it_renders_steps_to_html():
    step = load_lab("loadbalancer").step("deploy")
    assert step.title == "Write the Deployment and the Service"
    assert "<strong>the labels on the pods must match the Service's\nselector</strong>" in step.html
    assert '<code class="language-yaml">' in step.html
    assert step.markdown.startswith("Write two objects")


def test_it_gives_the_examples_by_kind():
    lab = load_lab("loadbalancer")
    deployment = yaml.safe_load(lab.example("Deployment"))
    service = yaml.safe_load(lab.example("Service"))
    assert (deployment["metadata"]["name"], deployment["spec"]["replicas"]) == ("lb-test", 3)
    assert (service["metadata"]["name"], service["spec"]["type"]) == ("lb-test-svc", "LoadBalancer")
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    assert len(list(yaml.safe_load_all(lab.examples_text()))) == 2
    with pytest.raises(KeyError):
        lab.example("ConfigMap")


def test_it_keeps_example_requests_within_the_quota():
    lab = load_lab("loadbalancer")
    deployment = yaml.safe_load(lab.example("Deployment"))
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    cpu_millis = int(container["resources"]["requests"]["cpu"].rstrip("m"))
    assert cpu_millis * deployment["spec"]["replicas"] <= 2000


def test_it_fills_hint_placeholders():
    lab = load_lab("loadbalancer")
    text = lab.hint("selector-mismatch", selector="app=lb-tset", labels="app=lb-test")
    assert "**app=lb-tset**" in text and "**app=lb-test**" in text
    assert "{ip}" in lab.hint("dns-wrong-ip", name="x.sslip.io", found_ip="1.2.3.4")  # missing ones stay visible
    assert lab.hint("no-such-code") is None
    for code in ("selector-mismatch", "target-port-refused", "image-pull", "lb-pending", "lb-failed",
                 "dns-not-resolving", "dns-wrong-ip", "http-failed", "service-not-loadbalancer", "pods-not-ready"):
        assert lab.hint(code)


def test_it_caches_loaded_labs():
    assert load_lab("loadbalancer") is load_lab("loadbalancer")


def test_it_lists_all_labs():
    assert "loadbalancer" in [lab.slug for lab in all_labs()]


def test_it_discovers_a_second_lab_without_code_changes(tmp_path):
    copy_lab(tmp_path)
    copy_lab(tmp_path, new_slug="another-lab", edit=lambda d: d.update(title="Another lab", order=1))
    (tmp_path / "not-a-lab").mkdir()
    labs = all_labs(root=tmp_path)
    assert [lab.slug for lab in labs] == ["another-lab", "loadbalancer"]  # ordered by order, then slug
    assert load_lab("another-lab", root=tmp_path).title == "Another lab"


def test_it_raises_not_found_for_an_unknown_or_unsafe_slug(tmp_path):
    with pytest.raises(LabNotFound):
        load_lab("nope")
    with pytest.raises(LabNotFound):
        load_lab("../loadbalancer")
    with pytest.raises(LabNotFound):
        load_lab("loadbalancer", root=tmp_path)


def assert_content_error(tmp_path, edit, field, words):
    copy_lab(tmp_path, edit=edit)
    with pytest.raises(LabContentError) as caught:
        load_lab("loadbalancer", root=tmp_path)
    error = caught.value
    assert error.field == field
    assert error.path == str(tmp_path.resolve() / "loadbalancer" / "lab.yaml")
    assert "lab.yaml" in str(error) and field in str(error) and words in str(error)


def test_it_names_the_file_and_field_of_a_wrong_type(tmp_path):
    assert_content_error(tmp_path, lambda d: d["policy"].update(max_replicas="five"), "policy.max_replicas",
                         "must be an integer")


def test_it_rejects_unknown_fields(tmp_path):
    assert_content_error(tmp_path, lambda d: d.update(durations=3), "durations", "unknown field")


def test_it_rejects_a_step_with_an_unknown_check(tmp_path):
    assert_content_error(tmp_path, lambda d: d["steps"][1].update(checks=["deployment-redy"]), "steps[1].checks[0]",
                         "unknown check 'deployment-redy'")


def test_it_rejects_a_missing_step_file(tmp_path):
    assert_content_error(tmp_path, lambda d: d["steps"][0].update(file="steps/missing.md"), "steps[0].file",
                         "does not exist")


def test_it_rejects_a_file_outside_the_lab_folder(tmp_path):
    assert_content_error(tmp_path, lambda d: d["examples"][0].update(file="../../etc/passwd"), "examples[0].file",
                         "outside the lab's folder")


def test_it_rejects_a_missing_required_field(tmp_path):
    assert_content_error(tmp_path, lambda d: d.pop("title"), "title", "non-empty string")


def test_it_rejects_a_slug_that_differs_from_the_folder(tmp_path):
    assert_content_error(tmp_path, lambda d: d.update(slug="other"), "slug", "name of the lab's folder")


def test_it_rejects_duplicate_check_keys(tmp_path):
    assert_content_error(tmp_path, lambda d: d["checks"].append(dict(d["checks"][0])), "checks", "appears twice")


def test_it_rejects_a_broken_hint_placeholder(tmp_path):
    assert_content_error(tmp_path, lambda d: d["hints"].update({"lb-pending": "wait {ip"}), "hints.lb-pending",
                         "placeholder")


@pytest.mark.parametrize(("edit", "field", "words"), [
    (lambda d: d["policy"].update(allow_command="yes"), "policy.allow_command", "must be true or false"),
    (lambda d: d["policy"].update(annotation_allowlist="loadbalancer.taikun.cloud/proxy-protocol"),
     "policy.annotation_allowlist", "must be a list"),
    (lambda d: d["policy"].update(annotation_allowlist=["ok.example/fine", "bad key!"]),
     "policy.annotation_allowlist[1]", "is not an annotation key"),
    (lambda d: d["policy"].update(annotation_allowlist=["-bad.example/x"]), "policy.annotation_allowlist[0]",
     "prefix before '/'"),
    (lambda d: d["policy"].update(annotation_allowlist=[3]), "policy.annotation_allowlist[0]", "non-empty string"),
    (lambda d: d["policy"].update(allowed_kinds=["Deployment", "service"]), "policy.allowed_kinds[1]",
     "not a Kubernetes kind"),
    (lambda d: d["policy"].update(allowed_kinds=["Service", "Service"]), "policy.allowed_kinds", "appears twice"),
    (lambda d: d["policy"].update(require_service_type="Loadbalancer"), "policy.require_service_type",
     "must be one of"),
    (lambda d: d["policy"].update(image_allowlist=["nginx latest"]), "policy.image_allowlist[0]", "spaces"),
])
def test_it_validates_what_the_lab_allows(tmp_path, edit, field, words):
    assert_content_error(tmp_path, edit, field, words)


def test_it_reads_the_annotations_and_commands_a_lab_allows(tmp_path):
    def allow(d):
        d["policy"].update(annotation_allowlist=["loadbalancer.taikun.cloud/*", "example.com/note"],
                           allow_command=True)

    copy_lab(tmp_path, edit=allow)
    policy = load_lab("loadbalancer", root=tmp_path).policy()
    assert policy.annotation_allowlist == ("loadbalancer.taikun.cloud/*", "example.com/note")
    assert policy.allow_command is True
    assert policy.allows_annotation("loadbalancer.taikun.cloud/proxy-protocol")
    assert not policy.allows_annotation("loadbalancer.openstack.org/load-balancer-id")


def test_it_reports_invalid_yaml_with_the_file(tmp_path):
    target = copy_lab(tmp_path)
    (target / "lab.yaml").write_text("slug: [unclosed\n")
    with pytest.raises(LabContentError, match="lab.yaml: not valid YAML"):
        load_lab("loadbalancer", root=tmp_path)


def test_it_has_no_django_dependency():
    import subprocess
    import sys

    code = ("import sys, labs.content_loader, labs.manifests; "
            "sys.exit(1 if any(m == 'django' or m.startswith('django.') for m in sys.modules) else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(CONTENT_ROOT).parent.parent,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
