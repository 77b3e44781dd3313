"""Runs every layer of checks over a learner's YAML and gathers the problems in line order."""

from __future__ import annotations

from .api_rules import check_api_rules
from .crossref import check_cross_references
from .parse import parse_manifests
from .policy import Policy, check_policy
from .problems import Validation, sort_problems
from .schema import check_schema


def validate_manifests(text: str, *, namespace: str, policy: Policy) -> Validation:
    parsed = parse_manifests(text, max_bytes=policy.max_bytes, max_documents=policy.max_documents)
    problems = list(parsed.problems)
    if not parsed.fatal:
        allowed = [d for d in parsed.documents if d.kind in policy.allowed_kinds]
        problems += check_policy(parsed.documents, namespace=namespace, policy=policy)
        problems += check_schema(allowed)
        problems += check_api_rules(allowed)
        problems += check_cross_references(allowed, policy=policy)
    return Validation(documents=parsed.documents, problems=sort_problems(problems))
