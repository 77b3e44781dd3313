"""Bring a live object into the editor: its YAML as a student would write it,
replacing the document of the same kind and name, or appended."""

from __future__ import annotations

import copy

import yaml

from labs.manifests.parse import parse_manifests

# Fields the server fills in: leaving them out keeps the text the student's own.
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
                   "namespace", "ownerReferences", "finalizers", "deletionTimestamp", "deletionGracePeriodSeconds")
SERVER_ANNOTATIONS = ("deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration")
SERVER_SERVICE_SPEC = ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "healthCheckNodePort")


def editable(obj: dict) -> dict:
    """The object without its status and the fields the cluster manages."""
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    meta = obj.get("metadata") or {}
    for key in SERVER_METADATA:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    for key in SERVER_ANNOTATIONS:
        annotations.pop(key, None)
    if not annotations:
        meta.pop("annotations", None)
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Service":
        for key in SERVER_SERVICE_SPEC:
            spec.pop(key, None)
        for port in spec.get("ports") or []:
            port.pop("nodePort", None)
    template_meta = (spec.get("template") or {}).get("metadata") or {}
    template_meta.pop("creationTimestamp", None)
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": meta,
            **{k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}}


def merge_into_text(text: str, obj: dict) -> tuple[str, int]:
    """`text` with the document of obj's kind and name replaced by obj's YAML (or appended).

    Returns the new text and the 1-based line where the object's document starts.
    """
    doc_text = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)
    kind, name = obj.get("kind"), (obj.get("metadata") or {}).get("name")
    parsed = parse_manifests(text, max_bytes=10 * len(text) + 1000, max_documents=1000)
    lines = text.splitlines()
    for doc in parsed.documents:
        if doc.kind == kind and doc.name == name:
            before, after = lines[: doc.start_line - 1], lines[doc.end_line:]
            new_lines = before + doc_text.rstrip("\n").splitlines() + after
            return "\n".join(new_lines) + "\n", doc.start_line
    if not text.strip():
        return doc_text, 1
    body = text if text.endswith("\n") else text + "\n"
    return body + "---\n" + doc_text, len(body.splitlines()) + 2
