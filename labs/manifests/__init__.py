"""Server-side validation of learners' Kubernetes manifests, explained before anything is applied.

Layers: parse (YAML and line numbers), schema (strict Kubernetes JSON schemas), api_rules (what the API
server refuses beyond the schema: names, port protocols), policy (what the lab allows) and crossref
(mistakes between objects, such as a selector that matches no pod).
"""

from .api_rules import annotation_key_problem, name_problem
from .encoding import decode_manifest, replacement_problem, utf8_size
from .policy import Policy, image_repository
from .problems import Document, Problem, Validation, format_path
from .schema import kubernetes_version
from .validate import validate_manifests

__all__ = ["Document", "annotation_key_problem", "name_problem", "Policy", "Problem", "Validation", "decode_manifest", "format_path", "image_repository",
           "kubernetes_version", "replacement_problem", "utf8_size", "validate_manifests"]
