"""Server-side apply of a student's manifests, with a dry run and a diff against what is live."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field

import yaml
from kubernetes.client import ApiException
from urllib3.exceptions import HTTPError

from clouds import kube
from clouds.kube import api_message
from labs.models import LabSession
from labs.revisions.editing import editable

FIELD_MANAGER = "liveops-lab"
REQUEST_TIMEOUT = 20
APPLY = "application/apply-patch+yaml"


@dataclass
class ObjectResult:
    kind: str
    name: str
    document: int
    action: str = ""  # "created", "configured", "unchanged", "failed"
    diff: str = ""
    error: str = ""
    causes: list = field(default_factory=list)

    def to_dict(self):
        return self.__dict__.copy()


EDITABLE = {kube.KINDS[plural].kind: kube.KINDS[plural] for plural in kube.PANEL_KINDS
            if kube.KINDS[plural].allows("edit")}


def _ops(session: LabSession, kind: str):
    """(patch, read) callables for a kind the lab allows."""
    ns = session.namespace
    spec = EDITABLE.get(kind)
    if spec is None:
        raise ValueError(f"kind {kind} cannot be applied in this lab")
    api = spec.api(kube.api_client(session.cluster))
    patch = getattr(api, f"patch_namespaced_{spec.method}")
    read = getattr(api, f"read_namespaced_{spec.method}")
    return (lambda name, body, **kw: patch(name, ns, body, **kw), lambda name, **kw: read(name, ns, **kw))


def _raw(call, *args, **kwargs) -> dict:
    resp = call(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
    return json.loads(resp.data)


def yaml_diff(before: dict | None, after: dict | None, name: str) -> str:
    a = yaml.safe_dump(editable(before), sort_keys=True).splitlines() if before else []
    b = yaml.safe_dump(editable(after), sort_keys=True).splitlines() if after else []
    return "\n".join(difflib.unified_diff(a, b, f"live/{name}", f"applied/{name}", lineterm="", n=3))


def _api_error(exc: ApiException) -> tuple[str, list]:
    """The cluster's message and the causes that name the refused fields."""
    try:
        status = json.loads(exc.body)
    except (TypeError, ValueError):
        status = {}
    causes = (status.get("details") or {}).get("causes") or [] if isinstance(status, dict) else []
    return api_message(exc), causes


def _attempt(result: ObjectResult, fn) -> None:
    try:
        fn()
    except ApiException as exc:
        result.action = "failed"
        result.error, result.causes = _api_error(exc)
    except (OSError, HTTPError):
        result.action = "failed"
        result.error = "The cluster cannot be reached; try again in a minute."


def _body(session: LabSession, doc) -> dict:
    body = json.loads(json.dumps(doc.obj))
    body.setdefault("metadata", {})["namespace"] = session.namespace
    return body


def dry_run_documents(session: LabSession, documents) -> list[ObjectResult]:
    """Server dry run of every document, with the diff of what would change."""
    results = []
    for doc in documents:
        result = ObjectResult(kind=doc.kind, name=doc.name, document=doc.index)

        def run(doc=doc, result=result):
            patch, read = _ops(session, doc.kind)
            try:
                live = _raw(read, doc.name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                live = None
            preview = _raw(patch, doc.name, _body(session, doc), dry_run="All", field_manager=FIELD_MANAGER,
                           force=True, field_validation="Strict", _content_type=APPLY)
            result.diff = yaml_diff(live, preview, f"{doc.kind.lower()}/{doc.name}")
            result.action = "created" if live is None else ("configured" if result.diff else "unchanged")

        _attempt(result, run)
        results.append(result)
    return results


def apply_documents(session: LabSession, documents, results: list[ObjectResult]) -> None:
    """Apply every document whose dry run passed (call only when all passed)."""
    for doc, result in zip(documents, results, strict=True):
        if result.action == "unchanged":
            continue
        _attempt(result, lambda doc=doc: _raw(
            _ops(session, doc.kind)[0], doc.name, _body(session, doc), field_manager=FIELD_MANAGER, force=True,
            field_validation="Strict", _content_type=APPLY))
        if result.action == "failed":
            return


def parse_field_path(field_path: str) -> tuple:
    """'spec.template.spec.containers[0].image' -> ('spec', 'template', 'spec', 'containers', 0, 'image')."""
    parts: list = []
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", field_path or ""):
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    return tuple(parts)


def server_problems(documents, results: list[ObjectResult]) -> list[dict]:
    """The cluster's refusals as editor problems, each at the line of the field it names."""
    by_index = {doc.index: doc for doc in documents}
    problems = []
    for result in results:
        if result.action != "failed":
            continue
        doc = by_index[result.document]
        causes = result.causes or [{"field": "", "message": result.error}]
        for cause in causes:
            path = parse_field_path(cause.get("field", ""))
            line, column = doc.locate(path)
            problems.append({
                "line": line, "column": column, "severity": "error", "code": "cluster-refused",
                "field": cause.get("field") or None, "document": doc.index,
                "message": f"The cluster refused {doc.title}: {cause.get('message') or result.error}",
                "hint": None,
            })
    return problems
