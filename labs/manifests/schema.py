"""Strict validation against the offline Kubernetes JSON schemas, with errors explained for learners."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path as FsPath
from typing import Any

import jsonschema
from referencing import Registry, Resource

from .problems import Document, Path, Problem, field_name, format_path
from .wording import closest, describe_types, describe_value, join_names


@cache
def schema_dir() -> FsPath:
    """The strict schema folder of the newest Kubernetes version shipped by kubernetes-validate."""
    root = FsPath(str(resources.files("kubernetes_validate") / "kubernetes-json-schema"))
    pattern = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-local-strict$")
    found = [(tuple(int(n) for n in m.groups()), p) for p in root.iterdir() if (m := pattern.match(p.name))]
    if not found:
        raise RuntimeError(f"No strict Kubernetes JSON schemas found under {root}")
    return max(found)[1]


def kubernetes_version() -> str:
    return schema_dir().name.split("-")[0]


@cache
def _registry() -> Registry:
    definitions = json.loads((schema_dir() / "_definitions.json").read_text())
    return Registry().with_resource(definitions["$id"], Resource.from_contents(definitions))


def _file_stem(kind: str, api_version: str) -> str:
    # rbac.authorization.k8s.io/v1 -> rbac-v1; apps/v1 -> apps-v1; v1 -> v1
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}"


@cache
def validator_for(kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    path = schema_dir() / f"{_file_stem(kind, api_version)}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    if not any(gvk.get("kind") == kind for gvk in schema.get("x-kubernetes-group-version-kind", [])):
        return None  # e.g. "deployment" spelled in lower case
    return jsonschema.Draft202012Validator(schema, registry=_registry())


@cache
def api_versions_for(kind: str) -> tuple[str, ...]:
    """The apiVersions under which Kubernetes knows `kind` (e.g. ('apps/v1',) for Deployment)."""
    found = []
    for path in schema_dir().glob(f"{kind.lower()}-*.json"):
        schema = json.loads(path.read_text())
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            if gvk.get("kind") == kind:
                group = gvk.get("group")
                found.append(f"{group}/{gvk['version']}" if group else gvk["version"])
    # stable versions first
    return tuple(sorted(set(found), key=lambda v: ("alpha" in v or "beta" in v, v)))


def check_schema(documents: list[Document]) -> list[Problem]:
    problems: list[Problem] = []
    for doc in documents:
        validator = validator_for(doc.kind, doc.api_version)
        if validator is None:
            problems.append(_unknown_type(doc))
            continue
        found: list[Problem] = []
        for error in validator.iter_errors(doc.obj):
            for problem in _explain(doc, error):
                if all((p.field, p.message) != (problem.field, problem.message) for p in found):
                    found.append(problem)
        # "missing name" says nothing new when "unknown field nmae (did you mean name?)" is reported
        misspelt = {_suggested_field(p) for p in found if p.code == "unknown-field"}
        problems.extend(p for p in found if not (p.code == "schema" and p.field in misspelt and
                                                  "is missing the required field" in p.message))
    return problems


def _suggested_field(problem: Problem) -> str | None:
    match = re.search(r'\(did you mean "([^"]+)"\?\)', problem.message)
    if not match or not problem.field:
        return None
    return problem.field[: -len(problem.field.rsplit(".", 1)[-1])] + match.group(1)


def _unknown_type(doc: Document) -> Problem:
    versions = api_versions_for(doc.kind)
    if versions:
        return doc.problem(
            "schema", ("apiVersion",),
            f'{doc.kind} is not part of apiVersion "{doc.api_version}"; it belongs to "{versions[0]}".',
            f"Write apiVersion: {versions[0]}")
    return doc.problem("schema", ("kind",), f'Kubernetes has no kind "{doc.kind}" in apiVersion "{doc.api_version}".',
                       "Check the spelling of kind (it is case-sensitive).")


def _explain(doc: Document, error: jsonschema.ValidationError) -> list[Problem]:
    path: Path = tuple(error.absolute_path)
    name = field_name(path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        known = list(schema.get("properties", {}))
        extras = [k for k in error.instance if k not in known] if isinstance(error.instance, dict) else []
        problems = []
        for extra in extras:
            suggestion = closest(extra, known)
            where = f" under {format_path(path)}" if path else ""
            message = f'Unknown field "{extra}"{where} in {doc.title}'
            message += f' (did you mean "{suggestion}"?)' if suggestion else "."
            hint = _unknown_field_hint(doc, path, extra, known, suggestion)
            problems.append(doc.problem("unknown-field", path + (extra,), message, hint))
        return problems
    if error.validator == "required":
        missing = [r for r in error.validator_value if not isinstance(error.instance, dict) or r not in error.instance]
        return [doc.problem("schema", path + (r,),
                            f'{doc.title} is missing the required field "{format_path(path + (r,))}".',
                            _required_hint(path + (r,)))
                for r in missing]
    if error.validator == "type":
        types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        message = f"{name} must be {describe_types(types)}, got {describe_value(error.instance)}."
        return [doc.problem("schema", path, message, _type_hint(doc, path, types, error.instance))]
    if error.validator in ("oneOf", "anyOf"):
        types = []
        for sub in error.validator_value:
            sub_types = sub.get("type", []) if isinstance(sub, dict) else []
            types.extend(t for t in ([sub_types] if isinstance(sub_types, str) else sub_types) if t not in types)
        message = f"{name} must be {describe_types(types)}, got {describe_value(error.instance)}."
        return [doc.problem("schema", path, message, None)]
    if error.validator == "enum":
        allowed = join_names(f'"{v}"' for v in error.validator_value if v is not None)
        return [doc.problem("schema", path, f"{name} must be {allowed}, got {describe_value(error.instance)}.")]
    return [doc.problem("schema", path, f"{name}: {error.message}")]


def _unknown_field_hint(doc: Document, path: Path, extra: str, known: list[str], suggestion: str | None) -> str:
    if suggestion:
        return f'Rename "{extra}" to "{suggestion}".'
    if doc.kind == "Service" and path == ("spec", "selector") and extra == "matchLabels":
        return "A Service's selector lists labels directly (app: lb-test), without matchLabels."
    shown = ", ".join(known)
    where = format_path(path) or "the top level"
    return f"Check its spelling and indentation; {where} accepts: {shown}."


def _required_hint(path: Path) -> str | None:
    if path[-1:] == ("selector",) and path[:-1] == ("spec",):
        return "Add spec.selector.matchLabels with the same labels as spec.template.metadata.labels."
    return f"Add {format_path(path)}."


def _type_hint(doc: Document, path: Path, types: list[str], value: Any) -> str | None:
    if doc.kind == "Service" and path[:2] == ("spec", "selector") and len(path) == 3 and isinstance(value, dict):
        return "A Service's selector lists labels directly (app: lb-test), without matchLabels."
    wants_number = any(t in ("integer", "number") for t in types)
    if wants_number and isinstance(value, str) and value.strip().lstrip("-").isdecimal():
        return f"Remove the quotes: {field_name(path)}: {value.strip()}"
    if "string" in types and isinstance(value, (bool, int, float)) and value is not None:
        shown = ("true" if value else "false") if isinstance(value, bool) else value
        return f'Put the value in quotes: {field_name(path)}: "{shown}"'
    if "array" in types and isinstance(value, dict):
        return "Start each item of the list with a dash (- )."
    return None
