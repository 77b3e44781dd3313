"""Write the editor's Kubernetes schema: Deployment (apps/v1) and Service (v1).

The schemas come from the kubernetes-validate package (newest Kubernetes
version it ships, strict variant, so unknown fields are errors). The output is
one self-contained JSON schema: every reference points into its own
``definitions``, and an ``allOf`` of ``if kind == X then <X schema>`` picks the
right schema for each document of a multi-document YAML text.

Usage: .venv/bin/python frontend/export_schemas.py [OUTPUT]
(default OUTPUT: static/editor/schemas/kubernetes.json)
"""

import json
import re
import sys
from pathlib import Path

import kubernetes_validate
from kubernetes_validate.utils import latest_version

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "static" / "editor" / "schemas" / "kubernetes.json"

# kind -> (apiVersion, schema file name in kubernetes-validate)
KINDS = {
    "Deployment": ("apps/v1", "deployment-apps-v1.json"),
    "Service": ("v1", "service-v1.json"),
}
REF = re.compile(r"^(?:/api/_definitions\.json)?#/\$defs/(?P<name>.+)$")


def schema_folder():
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    version = latest_version()
    folder = base / f"v{version}-local-strict"
    if not folder.is_dir():
        raise SystemExit(f"no strict schemas for Kubernetes {version} in {base}")
    return version, folder


def rewrite(node, needed):
    """Copy node with $refs pointing at #/definitions/, and collect their names."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key.startswith("x-kubernetes-") or key in ("$schema", "$id"):
                continue
            if key == "$ref":
                match = REF.match(value)
                if not match:
                    raise SystemExit(f"unexpected $ref {value!r}")
                needed.append(match["name"])
                value = "#/definitions/" + match["name"]
            out[key] = rewrite(value, needed)
        return out
    if isinstance(node, list):
        return [rewrite(item, needed) for item in node]
    return node


def build_schema():
    version, folder = schema_folder()
    all_defs = json.loads((folder / "_definitions.json").read_text())["$defs"]
    definitions = {}
    needed = []
    branches = []
    for kind, (_api_version, filename) in KINDS.items():
        top = json.loads((folder / filename).read_text())
        definitions[kind] = rewrite(top, needed)
        branches.append(
            {
                "if": {
                    "properties": {"kind": {"const": kind}},
                    "required": ["kind"],
                },
                "then": {"$ref": f"#/definitions/{kind}"},
            }
        )
    while needed:
        name = needed.pop()
        if name in definitions:
            continue
        definitions[name] = rewrite(all_defs[name], needed)

    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": f"Kubernetes {version}: Deployment (apps/v1) or Service (v1)",
        "description": "A Kubernetes object. Each YAML document is checked "
        "against the schema of its kind.",
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "apps/v1 for a Deployment, v1 for a Service.",
                "type": "string",
                "enum": sorted({api for api, _ in KINDS.values()}),
            },
            "kind": {
                "description": "The kind of object: Deployment or Service.",
                "type": "string",
                "enum": list(KINDS),
            },
        },
        "required": ["apiVersion", "kind"],
        "allOf": branches,
        "definitions": dict(sorted(definitions.items())),
    }


def main(argv):
    output = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUTPUT
    schema = build_schema()
    output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(schema, separators=(",", ":"), sort_keys=False)
    tmp = output.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(output)
    print(f"wrote {output} ({len(text)} bytes, {len(schema['definitions'])} definitions)")


if __name__ == "__main__":
    main(sys.argv)
