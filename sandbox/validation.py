"""Validation like a real apiserver: the strict OpenAPI-derived JSON schemas shipped by
kubernetes-validate (every error, not just the first) plus the semantic checks that the
schema cannot express (names, selectors matching templates, required images)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import kubernetes_validate
from referencing import Registry
from referencing import Resource as SchemaResource

from .resources import RESOURCES
from .selectors import match_selector_object

SCHEMA_ROOT = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def _schema_dir() -> Path:
    dirs = sorted(
        (p for p in SCHEMA_ROOT.iterdir() if p.name.endswith("-local-strict")),
        key=lambda p: tuple(int(x) for x in p.name[1:].split("-")[0].split(".")),
    )
    return dirs[-1]


@functools.lru_cache(maxsize=1)
def _definitions() -> SchemaResource:
    with open(_schema_dir() / "_definitions.json") as f:
        return SchemaResource.from_contents(json.load(f))


@functools.lru_cache(maxsize=64)
def validator_for(kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_dir() / f"{kind.lower()}-{group_version}.json"
    if not path.exists():
        return None
    with open(path) as f:
        schema = json.load(f)
    registry = SchemaResource.from_contents(schema) @ Registry()
    registry = _definitions() @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


@functools.lru_cache(maxsize=1)
def _definitions_contents() -> dict:
    with open(_schema_dir() / "_definitions.json") as f:
        return json.load(f)


@functools.lru_cache(maxsize=64)
def fast_validator_for(kind: str, api_version: str):
    """The same schema compiled by jsonschema-rs: about a thousand times faster than jsonschema, so an
    object is first checked with it, and only one it finds invalid goes through `validator_for`, whose
    errors say everything wrong the way the API server words it."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_dir() / f"{kind.lower()}-{group_version}.json"
    if not path.exists():
        return None
    with open(path) as f:
        schema = json.load(f)
    definitions = _definitions_contents()

    def retrieve(uri: str) -> dict:
        if uri != definitions.get("$id"):
            raise ValueError(f"unknown schema {uri}")
        return definitions

    return jsonschema_rs.Draft202012Validator(schema, retriever=retrieve, validate_formats=False)


def field_path(parts) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def _go_value(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v)


def _type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def _cause(field: str, reason: str, message: str) -> dict:
    return {"reason": reason, "message": message, "field": field}


def schema_errors(obj: dict) -> tuple[list[dict], list[tuple[list, str]]]:
    """-> (causes of invalid values, [(path parts, unknown key)])."""
    fast = fast_validator_for(obj.get("kind", ""), obj.get("apiVersion", ""))
    if fast is not None and fast.is_valid(obj):
        return [], []
    validator = validator_for(obj.get("kind", ""), obj.get("apiVersion", ""))
    if validator is None:
        return [], []
    causes: list[dict] = []
    unknown: list[tuple[list, str]] = []
    seen: set[tuple[str, str]] = set()

    def visit(err: jsonschema.ValidationError) -> None:
        parts = list(err.absolute_path)
        fp = field_path(parts)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            props = err.schema.get("properties", {})
            for key in err.instance:
                if key not in props:
                    unknown.append((parts, key))
            return
        if err.validator in ("oneOf", "anyOf") and err.context:
            # int-or-string and friends: report once, on the field
            pass
        if err.validator == "required":
            for name in err.validator_value:
                if isinstance(err.instance, dict) and name not in err.instance:
                    f = field_path(parts + [name])
                    key = (f, "required")
                    if key not in seen:
                        seen.add(key)
                        causes.append(_cause(f, "FieldValueRequired", "Required value"))
            return
        if err.validator == "type":
            expected = err.validator_value
            expected = [t for t in (expected if isinstance(expected, list) else [expected]) if t != "null"]
            msg = (f"Invalid value: {_go_value(err.instance) if not isinstance(err.instance, (dict, list)) else _type_name(err.instance)}: "
                   f"{fp} in body must be of type {' or '.join(expected)}: \"{_type_name(err.instance)}\"")
            key = (fp, "type")
            if key not in seen:
                seen.add(key)
                causes.append(_cause(fp, "FieldValueTypeInvalid", msg))
            return
        if err.validator == "enum":
            allowed = ", ".join(json.dumps(v) for v in err.validator_value if v is not None)
            causes.append(_cause(fp, "FieldValueNotSupported",
                                 f"Unsupported value: {_go_value(err.instance)}: supported values: {allowed}"))
            return
        if err.validator in ("oneOf", "anyOf"):
            key = (fp, "type")
            if key not in seen:
                seen.add(key)
                causes.append(_cause(fp, "FieldValueTypeInvalid",
                                     f"Invalid value: {_go_value(err.instance)}: {fp} in body has an invalid type"))
            return
        causes.append(_cause(fp, "FieldValueInvalid", f"Invalid value: {_go_value(err.instance)}: {err.message}"))

    for err in validator.iter_errors(obj):
        visit(err)
    return causes, unknown


def drop_unknown(obj: dict, unknown: list[tuple[list, str]]) -> None:
    for parts, key in unknown:
        cur: Any = obj
        try:
            for p in parts:
                cur = cur[p]
            cur.pop(key, None)
        except (KeyError, IndexError, TypeError):
            continue


def unknown_field_names(unknown: list[tuple[list, str]]) -> list[str]:
    return [field_path(parts + [key]) for parts, key in unknown]


# ---- semantic checks ------------------------------------------------------------------

DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                     "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
                     "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                         "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                         "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
DNS1035_LABEL_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                     "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                     "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
PROTOCOLS = ("SCTP", "TCP", "UDP")  # sorted, as the API server lists them


def dns1123_label(value: str) -> list[str]:
    """apimachinery's IsDNS1123Label: the messages, none when valid."""
    errs = [] if len(value) <= 63 else ["must be no more than 63 characters"]
    return errs + ([] if DNS1123_LABEL.match(value) else [DNS1123_LABEL_MSG])


def dns1123_subdomain(value: str) -> list[str]:
    errs = [] if len(value) <= 253 else ["must be no more than 253 characters"]
    return errs + ([] if DNS1123_SUBDOMAIN.match(value) else [DNS1123_SUBDOMAIN_MSG])


def dns1035_label(value: str) -> list[str]:
    errs = [] if len(value) <= 63 else ["must be no more than 63 characters"]
    return errs + ([] if DNS1035_LABEL.match(value) else [DNS1035_LABEL_MSG])


def port_name(value: str) -> list[str]:
    """IsValidPortName (IANA_SVC_NAME)."""
    errs = []
    if len(value) > 15:
        errs.append("must be no more than 15 characters")
    if not re.match(r"^[-a-z0-9]+$", value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def _invalid(field: str, value: Any, messages: list[str]) -> list[dict]:
    return [_cause(field, "FieldValueInvalid", f"Invalid value: {_go_value(value)}: {m}") for m in messages]


def _port_number(field: str, value: Any) -> list[dict]:
    if isinstance(value, int) and not isinstance(value, bool) and not 0 < value < 65536:
        return _invalid(field, value, ["must be between 1 and 65535, inclusive"])
    return []


def _protocol(field: str, value: Any) -> list[dict]:
    if isinstance(value, str) and value not in PROTOCOLS:
        supported = ", ".join(json.dumps(p) for p in PROTOCOLS)
        return [_cause(field, "FieldValueNotSupported", f"Unsupported value: {json.dumps(value)}: "
                                                        f"supported values: {supported}")]
    return []


# metadata.name per resource (ValidateObjectMeta's name function); others: a DNS-1123 subdomain.
NAME_RULES = {"namespaces": dns1123_label, "services": dns1035_label}


def _name_causes(resource: str, meta: dict) -> list[dict]:
    causes = []
    name = meta.get("name")
    gen = meta.get("generateName")
    if isinstance(name, str) and name:
        if resource != "events":
            causes += _invalid("metadata.name", name, NAME_RULES.get(resource, dns1123_subdomain)(name))
    elif not gen:
        causes.append(_cause("metadata.name", "FieldValueRequired",
                             "Required value: name or generateName is required"))
    for field in ("labels",):
        for k, v in (meta.get(field) or {}).items():
            causes += _label_causes("metadata.labels", k, v)
    return causes


def _label_causes(base: str, key: Any, value: Any) -> list[dict]:
    causes = []
    k = str(key)
    name = k.rsplit("/", 1)[-1]
    prefix = k.rsplit("/", 1)[0] if "/" in k else ""
    if not QUALIFIED_NAME.match(name) or len(name) > 63 or (prefix and not DNS1123_SUBDOMAIN.match(prefix)):
        causes.append(_cause(base, "FieldValueInvalid",
                             f"Invalid value: {json.dumps(k)}: name part must consist of alphanumeric characters, "
                             "'-', '_' or '.', and must start and end with an alphanumeric character"))
    if isinstance(value, str) and (len(value) > 63 or not LABEL_VALUE.match(value)):
        causes.append(_cause(base, "FieldValueInvalid",
                             f"Invalid value: {json.dumps(value)}: a valid label must be an empty string or consist "
                             "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                             "alphanumeric character"))
    return causes


def _go_map(labels: dict) -> str:
    inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted((labels or {}).items()))
    return f"map[string]string{{{inner}}}"


def _pod_spec_causes(base: str, spec: Any, template: bool, creating: bool = True) -> list[dict]:
    causes = []
    if not isinstance(spec, dict):
        return causes
    containers = spec.get("containers")
    if not containers:
        causes.append(_cause(f"{base}.containers", "FieldValueRequired", "Required value"))
    names = set()
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for i, c in enumerate(spec.get(key) or []):
            if not isinstance(c, dict):
                continue
            p = f"{base}.{key}[{i}]"
            cname = c.get("name")
            if not cname:
                causes.append(_cause(f"{p}.name", "FieldValueRequired", "Required value"))
            elif isinstance(cname, str):
                causes += _invalid(f"{p}.name", cname, dns1123_label(cname))
                if cname in names:
                    causes.append(_cause(f"{p}.name", "FieldValueDuplicate", f"Duplicate value: {json.dumps(cname)}"))
                names.add(cname)
            if not c.get("image"):
                causes.append(_cause(f"{p}.image", "FieldValueRequired", "Required value"))
            port_names = set()
            for j, port in enumerate(c.get("ports") or []):
                if not isinstance(port, dict):
                    continue
                pp = f"{p}.ports[{j}]"
                if isinstance(port.get("name"), str) and port["name"]:
                    causes += _invalid(f"{pp}.name", port["name"], port_name(port["name"]))
                    if port["name"] in port_names:
                        causes.append(_cause(f"{pp}.name", "FieldValueDuplicate",
                                             f"Duplicate value: {json.dumps(port['name'])}"))
                    port_names.add(port["name"])
                if port.get("containerPort") == 0:
                    causes.append(_cause(f"{pp}.containerPort", "FieldValueRequired", "Required value"))
                else:  # a missing one is the schema's "Required value"
                    causes += _port_number(f"{pp}.containerPort", port.get("containerPort"))
                if port.get("hostPort") not in (None, 0):
                    causes += _port_number(f"{pp}.hostPort", port.get("hostPort"))
                causes += _protocol(f"{pp}.protocol", port.get("protocol"))
    if spec.get("ephemeralContainers"):
        if template:  # ValidatePodTemplateSpec
            causes.append(_cause(f"{base}.ephemeralContainers", "FieldValueForbidden",
                                 "Forbidden: ephemeral containers not allowed in pod template"))
        elif creating:  # ValidatePodCreate: only the ephemeralcontainers subresource adds them
            causes.append(_cause(f"{base}.ephemeralContainers", "FieldValueForbidden",
                                 "Forbidden: cannot be set on create"))
    if template and spec.get("restartPolicy") not in (None, "Always"):
        causes.append(_cause(f"{base}.restartPolicy", "FieldValueNotSupported",
                             f'Unsupported value: {json.dumps(spec.get("restartPolicy"))}: supported values: "Always"'))
    return causes


def _workload_causes(obj: dict) -> list[dict]:
    causes = []
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [_cause("spec", "FieldValueRequired", "Required value")]
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas < 0:
        causes.append(_cause("spec.replicas", "FieldValueInvalid",
                             f"Invalid value: {replicas}: must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec.get("template")
    if not isinstance(selector, dict):
        causes.append(_cause("spec.selector", "FieldValueRequired", "Required value"))
    elif not selector.get("matchLabels") and not selector.get("matchExpressions"):
        causes.append(_cause("spec.selector", "FieldValueInvalid",
                             "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
                             "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid "
                             "for deployment"))
    if not isinstance(template, dict):
        causes.append(_cause("spec.template", "FieldValueRequired", "Required value"))
        return causes
    labels = (template.get("metadata") or {}).get("labels") or {}
    if isinstance(selector, dict) and (selector.get("matchLabels") or selector.get("matchExpressions")):
        if not isinstance(labels, dict) or not match_selector_object(selector, labels):
            causes.append(_cause("spec.template.metadata.labels", "FieldValueInvalid",
                                 f"Invalid value: {_go_map(labels if isinstance(labels, dict) else {})}: "
                                 "`selector` does not match template `labels`"))
    if isinstance(labels, dict):
        for k, v in labels.items():
            causes += _label_causes("spec.template.metadata.labels", k, v)
    causes += _pod_spec_causes("spec.template.spec", template.get("spec"), template=True)
    if template.get("spec") is None:
        causes.append(_cause("spec.template.spec.containers", "FieldValueRequired", "Required value"))
    return causes


def _service_causes(obj: dict) -> list[dict]:
    causes = []
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    stype = spec.get("type", "ClusterIP")
    ports = spec.get("ports") or []
    if stype != "ExternalName" and not ports and spec.get("clusterIP") != "None":
        causes.append(_cause("spec.ports", "FieldValueRequired", "Required value"))
    names = set()
    for i, p in enumerate(ports):
        if not isinstance(p, dict):
            continue
        port = p.get("port")
        if port is None:
            causes.append(_cause(f"spec.ports[{i}].port", "FieldValueRequired", "Required value"))
        else:
            causes += _port_number(f"spec.ports[{i}].port", port)
        causes += _protocol(f"spec.ports[{i}].protocol", p.get("protocol"))
        target = p.get("targetPort")  # 0 and "" are defaulted to the port before validation
        if isinstance(target, str) and target:
            causes += _invalid(f"spec.ports[{i}].targetPort", target, port_name(target))
        elif target != 0:
            causes += _port_number(f"spec.ports[{i}].targetPort", target)
        if len(ports) > 1 and not p.get("name"):
            causes.append(_cause(f"spec.ports[{i}].name", "FieldValueRequired", "Required value"))
        if isinstance(p.get("name"), str) and p["name"]:
            causes += _invalid(f"spec.ports[{i}].name", p["name"], dns1123_label(p["name"]))
        if p.get("name"):
            if p["name"] in names:
                causes.append(_cause(f"spec.ports[{i}].name", "FieldValueDuplicate",
                                     f"Duplicate value: {json.dumps(p['name'])}"))
            names.add(p["name"])
        np = p.get("nodePort")
        if isinstance(np, int) and np and not 30000 <= np <= 32767:
            causes.append(_cause(f"spec.ports[{i}].nodePort", "FieldValueInvalid",
                                 f"Invalid value: {np}: provided port is not in the valid range. "
                                 "The range of valid ports is 30000-32767"))
    for k, v in (spec.get("selector") or {}).items() if isinstance(spec.get("selector"), dict) else []:
        causes += _label_causes("spec.selector", k, v)
    return causes


def semantic_causes(resource: str, obj: dict, creating: bool = True) -> list[dict]:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    causes = _name_causes(resource, meta)
    if resource in ("deployments", "replicasets"):
        causes += _workload_causes(obj)
    elif resource == "pods":
        causes += _pod_spec_causes("spec", obj.get("spec") or {}, template=False, creating=creating)
    elif resource == "services":
        causes += _service_causes(obj)
    return causes


def invalid_message(kind: str, name: str, causes: list[dict]) -> str:
    parts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    if len(parts) == 1:
        detail = parts[0]
    else:
        detail = "[" + ", ".join(parts) + "]"
    return f'{kind}.{RESOURCES_GROUP.get(kind, "")}'.rstrip(".") + f' "{name}" is invalid: {detail}'


RESOURCES_GROUP = {r.kind: r.group for r in RESOURCES.values()}
