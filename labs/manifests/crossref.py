"""Mistakes that only show when objects are read together: selectors, ports and the Service type."""

from __future__ import annotations

from typing import Any

from .policy import Policy, containers, dig
from .problems import Document, Problem
from .wording import join_names, labels_text


def selector_matches(selector: Any, labels: Any) -> bool:
    """Whether a Deployment-style label selector (matchLabels + matchExpressions) selects `labels`."""
    if not isinstance(selector, dict):
        return False
    labels = labels if isinstance(labels, dict) else {}
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, dict):
        return False
    for key, value in match_labels.items():
        if key not in labels or str(labels[key]) != str(value):
            return False
    for expression in selector.get("matchExpressions") or []:
        if not isinstance(expression, dict):
            return False
        key, operator = expression.get("key"), expression.get("operator")
        values = [str(v) for v in expression.get("values") or []]
        present = key in labels
        if operator == "In" and not (present and str(labels[key]) in values):
            return False
        if operator == "NotIn" and present and str(labels[key]) in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _is_flat_labels(value: Any) -> bool:
    return isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values())


def _template_labels(deployment: Document) -> dict:
    labels = dig(deployment.obj, ("spec", "template", "metadata", "labels"))
    return labels if isinstance(labels, dict) else {}


def check_cross_references(documents: list[Document], *, policy: Policy) -> list[Problem]:
    deployments = [d for d in documents if d.kind == "Deployment"]
    services = [d for d in documents if d.kind == "Service"]
    problems: list[Problem] = []
    for deployment in deployments:
        problems.extend(_deployment_selector(deployment))
    for service in services:
        problems.extend(_service_type(service, policy))
        problems.extend(_service_ports_present(service))
        selector = dig(service.obj, ("spec", "selector"))
        if not selector:
            problems.append(service.problem(
                "service-selector", ("spec", "selector"),
                f"{service.title} has no selector, so it would send traffic to no pod.",
                "Add spec.selector with the labels of your pods, e.g. app: lb-test."))
            continue
        if not deployments or not _is_flat_labels(selector):
            continue  # without Deployments there is nothing to compare; the schema explains odd selectors
        selected = [d for d in deployments if _selects(selector, _template_labels(d))]
        if not selected:
            problems.append(_selector_mismatch(service, selector, deployments))
            continue
        problems.extend(_target_ports(service, selected))
    return problems


def _selects(selector: dict, labels: dict) -> bool:
    return all(k in labels and str(labels[k]) == str(v) for k, v in selector.items())


def _selector_mismatch(service: Document, selector: dict, deployments: list[Document]) -> Problem:
    def score(d: Document) -> int:
        labels = _template_labels(d)
        return sum(1 for k, v in selector.items() if k in labels and str(labels[k]) == str(v))

    nearest = max(deployments, key=score)  # first one wins a tie
    labels = _template_labels(nearest)
    differing = [k for k, v in selector.items() if k not in labels or str(labels[k]) != str(v)]
    path = ("spec", "selector", differing[0]) if len(differing) == 1 else ("spec", "selector")
    pods = f"the pods of {nearest.title}"
    described = f"are labelled {labels_text(labels)}" if labels else "have no labels"
    message = f"{service.title} selects {labels_text(selector)} but {pods} {described}."
    hint = ("The Service's spec.selector must match the Deployment's spec.template.metadata.labels "
            "(same keys, same values).")
    return service.problem("selector-mismatch", path, message, hint)


def _container_ports(deployments: list[Document]) -> tuple[set[int], set[str]]:
    numbers: set[int] = set()
    names: set[str] = set()
    for deployment in deployments:
        for _, container in containers(deployment):
            for port in container.get("ports") or []:
                if not isinstance(port, dict):
                    continue
                if isinstance(port.get("containerPort"), int):
                    numbers.add(port["containerPort"])
                if isinstance(port.get("name"), str):
                    names.add(port["name"])
    return numbers, names


def _target_ports(service: Document, selected: list[Document]) -> list[Problem]:
    ports = dig(service.obj, ("spec", "ports"))
    if not isinstance(ports, list):
        return []
    numbers, names = _container_ports(selected)
    owners = join_names(d.title for d in selected)
    problems = []
    for i, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        explicit = "targetPort" in port
        target = port.get("targetPort", port.get("port"))
        path = ("spec", "ports", i, "targetPort" if explicit else "port")
        if isinstance(target, bool) or target is None:
            continue
        if isinstance(target, str):
            if target.isdecimal():
                problems.append(service.problem(
                    "target-port", path, f'targetPort "{target}" is written as a string, so Kubernetes reads it '
                    "as a port name, not a number.", f"Remove the quotes: targetPort: {target}"))
            elif target not in names:
                known = f"named ports are {join_names(sorted(names))}" if names else "no containerPort has a name"
                problems.append(service.problem(
                    "target-port", path,
                    f'{service.title} sends traffic to the port named "{target}", but in the pods of {owners} '
                    f"{known}.", "Use the number of the containerPort, or give the containerPort that name."))
            continue
        if not isinstance(target, int):
            continue
        if not numbers:
            problems.append(service.problem(
                "target-port", path,
                f"The pods of {owners} declare no containerPort, so it cannot be checked that they listen on "
                f"port {target}.", f"Add ports: [{{containerPort: {target}}}] to the container.",
                severity="warning"))
        elif target not in numbers:
            listening = join_names(str(n) for n in sorted(numbers))
            word = "targetPort" if explicit else "port (used as targetPort)"
            problems.append(service.problem(
                "target-port", path,
                f"{service.title} sends traffic to {word} {target}, but the pods of {owners} listen on "
                f"containerPort {listening}.",
                f"Set targetPort to {sorted(numbers)[0]}, the port the container listens on."))
    return problems


def _service_type(service: Document, policy: Policy) -> list[Problem]:
    required = policy.require_service_type
    if not required:
        return []
    actual = dig(service.obj, ("spec", "type"))
    if actual == required:
        return []
    path = ("spec", "type")
    if actual in (None, ""):
        message = f"{service.title} has no type, so it is a ClusterIP Service; this lab needs type {required}."
    else:
        message = f"{service.title} is of type {actual}; this lab needs type {required}."
    return [service.problem("service-type", path, message, f"Add type: {required} under spec.")]


def _service_ports_present(service: Document) -> list[Problem]:
    ports = dig(service.obj, ("spec", "ports"))
    if isinstance(ports, list) and ports:
        return []
    return [service.problem(
        "service-ports", ("spec", "ports"), f"{service.title} has no ports.",
        "Add spec.ports with, for example, port: 80 and targetPort: 80.")]


def _deployment_selector(deployment: Document) -> list[Problem]:
    selector = dig(deployment.obj, ("spec", "selector"))
    if selector is None:
        return []  # the schema check reports the missing field
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return [deployment.problem(
            "deployment-selector", ("spec", "selector"),
            f"{deployment.title} has an empty selector; a Deployment must select its pods by label.",
            "Add spec.selector.matchLabels with the labels of spec.template.metadata.labels.")]
    labels = _template_labels(deployment)
    if selector_matches(selector, labels):
        return []
    match_labels = selector.get("matchLabels") if isinstance(selector.get("matchLabels"), dict) else {}
    differing = [k for k, v in match_labels.items() if k not in labels or str(labels[k]) != str(v)]
    path = ("spec", "selector", "matchLabels", differing[0]) if len(differing) == 1 else ("spec", "selector")
    selects = labels_text(match_labels) if match_labels else "its matchExpressions"
    described = f"is labelled {labels_text(labels)}" if labels else "has no labels"
    return [deployment.problem(
        "deployment-selector", path,
        f"{deployment.title} selects pods with {selects} but its own pod template {described}.",
        "spec.selector.matchLabels must match spec.template.metadata.labels.")]
