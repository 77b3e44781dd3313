import pytest

from labs.live.rollouts import RollbackRefused, revisions, rollback_patch

UID = "d-uid"


def template(image, hash_=None):
    labels = {"app": "web", **({"pod-template-hash": hash_} if hash_ else {})}
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "nginx", "image": image}]}}


def replicaset(name, revision, image, uid=UID, annotations=None):
    return {"metadata": {"name": name, "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                                       **(annotations or {})},
                         "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": uid, "controller": True}]},
            "spec": {"template": template(image, name.rsplit("-", 1)[1])}}


def deployment(image="nginx:1.29", revision=3, paused=False):
    return {"metadata": {"name": "web", "uid": UID, "annotations": {
                "deployment.kubernetes.io/revision": str(revision),
                "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"paused": paused, "template": template(image)}}


REPLICASETS = [replicaset("web-a", 1, "nginx:1.27", annotations={"team": "blue"}), replicaset("web-b", 2, "nginx:1.28"),
               replicaset("web-c", 3, "nginx:1.29"), replicaset("other-x", 7, "httpd:2", uid="someone-else")]


def test_it_lists_the_revisions_of_its_own_replicasets_newest_first():
    found = revisions(deployment(), REPLICASETS)
    assert [(r.number, r.images, r.current) for r in found] == [
        (3, "nginx:1.29", True), (2, "nginx:1.28", False), (1, "nginx:1.27", False)]
    assert found[1].label == "revision 2: nginx:1.28"
    assert found[0].label == "revision 3: nginx:1.29 (current)"


def test_it_patches_the_template_and_annotations_like_kubectl():
    ops = rollback_patch(deployment(), REPLICASETS, 1)
    assert ops[0] == {"op": "replace", "path": "/spec/template", "value": template("nginx:1.27")}  # no hash label
    # The revision's own annotations come back; the Deployment keeps its revision and last-applied ones.
    assert ops[1] == {"op": "replace", "path": "/metadata/annotations", "value": {
        "deployment.kubernetes.io/revision": "3", "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "team": "blue"}}


@pytest.mark.parametrize("deploy,number,message", [
    (deployment(paused=True), 1, "deployment/web is paused: resume it first"),
    (deployment(), 9, "deployment/web has no revision 9 (its revisions: 1, 2, 3)"),
    (deployment(), 7, "has no revision 7"),  # another Deployment's ReplicaSet
    (deployment(), 3, "already runs the template of revision 3"),
])
def test_it_refuses_what_kubectl_refuses(deploy, number, message):
    with pytest.raises(RollbackRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
        rollback_patch(deploy, REPLICASETS, number)
