"""Discovery documents: /version, /api, /apis, the per-group resource lists and the
OpenAPI documents kubectl consults (v3 per group-version, a minimal v2)."""

from __future__ import annotations

import hashlib
import json

from .resources import Resource, groups

KUBE_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "sandbox",
                "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23.3",
                "compiler": "gc", "platform": "linux/amd64"}


def version() -> dict:
    return dict(KUBE_VERSION)


def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group_list() -> dict:
    out = []
    for gv in groups():
        if "/" not in gv:
            continue
        group, ver = gv.split("/")
        entry = {"groupVersion": gv, "version": ver}
        out.append({"name": group, "versions": [entry], "preferredVersion": entry})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


def api_group(group: str) -> dict | None:
    for gv in groups():
        if gv.startswith(group + "/"):
            entry = {"groupVersion": gv, "version": gv.split("/")[1]}
            return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [entry],
                    "preferredVersion": entry}
    return None


def _resource_entries(r: Resource) -> list[dict]:
    entries = [{
        "name": r.name, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
        "verbs": list(r.verbs), **({"shortNames": list(r.short_names)} if r.short_names else {}),
        **({"categories": list(r.categories)} if r.categories else {}),
        "storageVersionHash": hashlib.sha256(r.name.encode()).hexdigest()[:11],
    }]
    for sub in r.subresources:
        if sub == "log":
            entries.append({"name": f"{r.name}/log", "singularName": "", "namespaced": True, "kind": "Pod",
                            "verbs": ["get"]})
        elif sub == "scale":
            entries.append({"name": f"{r.name}/scale", "singularName": "", "namespaced": True,
                            "group": "autoscaling", "version": "v1", "kind": "Scale",
                            "verbs": ["get", "patch", "update"]})
        else:
            entries.append({"name": f"{r.name}/{sub}", "singularName": "", "namespaced": r.namespaced,
                            "kind": r.kind, "verbs": ["get", "patch", "update"]})
    return entries


def api_resource_list(group_version: str) -> dict | None:
    rs = groups().get(group_version)
    if rs is None:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [e for r in rs for e in _resource_entries(r)]}


# ---- OpenAPI -------------------------------------------------------------------------------

_PARAMS = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
           for n in ("dryRun", "fieldManager", "fieldValidation", "force")]


def _gv_path(gv: str) -> str:
    return f"api/{gv}" if "/" not in gv else f"apis/{gv}"


def openapi_v3_index() -> dict:
    paths = {}
    for gv in groups():
        p = _gv_path(gv)
        paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={_hash(gv)}"}
    return {"paths": paths}


def _hash(gv: str) -> str:
    return hashlib.sha512(json.dumps(openapi_v3_doc(gv), sort_keys=True).encode()).hexdigest()[:64].upper()


def openapi_v3_doc(gv: str) -> dict | None:
    rs = groups().get(gv)
    if rs is None:
        return None
    paths = {}
    for r in rs:
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        base = f"/{_gv_path(gv)}/" + ("namespaces/{namespace}/" if r.namespaced else "") + r.name + "/{name}"
        op = {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch",
              "parameters": _PARAMS, "responses": {"200": {"description": "OK"}},
              "operationId": f"patch{r.kind}", "tags": [gv]}
        paths[base] = {"patch": op}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": {}}}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num: int, payload: bytes) -> bytes:
    return _varint((num << 3) | 2) + _varint(len(payload)) + payload


def openapi_v2_protobuf() -> bytes:
    """A minimal gnostic openapi_v2.Document: swagger "2.0", info, empty paths."""
    info = _field(1, b"Kubernetes") + _field(2, b"v1.32.0")
    return _field(1, b"2.0") + _field(2, info) + _field(8, b"")


def openapi_v2_json() -> dict:
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": {},
            "definitions": {}}
