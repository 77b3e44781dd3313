from labs.revisions.editing import editable, merge_into_text

LIVE_SERVICE = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web", "namespace": "ns", "uid": "u", "resourceVersion": "9", "managedFields": [{}],
                 "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
    "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.9", "clusterIPs": ["10.96.0.9"],
             "ports": [{"port": 80, "targetPort": 80, "nodePort": 31000}], "selector": {"app": "web"}},
    "status": {"loadBalancer": {"ingress": [{"ip": "127.20.0.1"}]}},
}


def test_it_leaves_out_what_the_cluster_manages():
    obj = editable(LIVE_SERVICE)
    assert obj["metadata"] == {"name": "web"}
    assert obj["spec"] == {"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": 80}], "selector": {"app": "web"}}
    assert "status" not in obj
    assert LIVE_SERVICE["spec"]["clusterIP"] == "10.96.0.9"  # the input is not changed


def test_it_replaces_the_document_of_the_same_kind_and_name():
    text = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: ClusterIP\n")
    merged, line = merge_into_text(text, editable(LIVE_SERVICE))
    assert line == 6
    assert merged.startswith("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\n")
    assert "type: LoadBalancer" in merged and "ClusterIP" not in merged


def test_it_appends_a_document_that_is_not_in_the_text():
    merged, line = merge_into_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web", editable(LIVE_SERVICE))
    assert merged.splitlines()[4] == "---"
    assert merged.splitlines()[line - 1] == "apiVersion: v1"


def test_it_fills_an_empty_editor():
    merged, line = merge_into_text("", editable(LIVE_SERVICE))
    assert merged.startswith("apiVersion: v1\nkind: Service") and line == 1


def test_it_appends_when_the_text_does_not_parse():
    merged, _ = merge_into_text("kind: [unclosed\n", editable(LIVE_SERVICE))
    assert merged.startswith("kind: [unclosed\n---\n")
