"""What the Kubernetes API server refuses although its JSON schema lets it through: names, port protocols and
numbers out of their range (ports, replicas)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .policy import containers, dig
from .problems import Document, Path, Problem, format_path
from .wording import join_names

PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True)
class NameRule:
    """One of the Kubernetes naming rules, with the words that explain it."""

    title: str  # "a DNS-1123 label"
    pattern: re.Pattern
    max_length: int
    words: str  # the rule for a learner
    starts_with_letter: bool = False
    dots: bool = False
    needs_letter: bool = False
    no_double_dash: bool = False

    def accepts(self, value: str) -> bool:
        return (len(value) <= self.max_length and bool(self.pattern.match(value))
                and (not self.needs_letter or any(c.isalpha() for c in value))
                and (not self.no_double_dash or "--" not in value))


DNS1123_LABEL = NameRule(
    "a DNS-1123 label", re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), 63,
    "at most 63 characters, only lowercase letters (a-z), digits and '-', starting and ending with a letter or digit")
DNS1123_SUBDOMAIN = NameRule(
    "a DNS-1123 subdomain", re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"), 253,
    "at most 253 characters, only lowercase letters (a-z), digits, '-' and '.', starting and ending with a letter "
    "or digit", dots=True)
DNS1035_LABEL = NameRule(
    "a DNS-1035 label", re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$"), 63,
    "at most 63 characters, only lowercase letters (a-z), digits and '-', starting with a letter and ending with a "
    "letter or digit", starts_with_letter=True)
IANA_SVC_NAME = NameRule(
    "an IANA service name (IANA_SVC_NAME)", re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), 15,
    "at most 15 characters, only lowercase letters (a-z), digits and '-', at least one letter, starting and ending "
    "with a letter or digit, and no '--'", needs_letter=True, no_double_dash=True)

QUALIFIED_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def annotation_key_problem(key: str) -> str | None:
    """Why `key` cannot be an annotation (or label) key, as the API server's rule has it; None if it can."""
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return "the part before '/' is empty"
    if prefix and not DNS1123_SUBDOMAIN.accepts(prefix):
        return f"the prefix before '/' must be {DNS1123_SUBDOMAIN.title} ({DNS1123_SUBDOMAIN.words})"
    if not name:
        return "the name is empty"
    if len(name) > 63 or not QUALIFIED_NAME_PART.match(name):
        return ("the name must be at most 63 characters, letters, digits, '-', '_' or '.', starting and ending "
                "with a letter or digit")
    return None


# The rule of metadata.name per kind (as the API server's validation has it); other kinds: a subdomain.
OBJECT_NAME_RULES = {"Service": DNS1035_LABEL, "Deployment": DNS1123_SUBDOMAIN, "Namespace": DNS1123_LABEL}


def name_problem(value: str, kind: str) -> str | None:
    """Why `value` cannot name an object of `kind` ("Service", "Pod"..., or "Container"); None if it can.

    Used before any name reaches an API path, whatever its source."""
    rule = DNS1123_LABEL if kind == "Container" else OBJECT_NAME_RULES.get(kind, DNS1123_SUBDOMAIN)
    if not isinstance(value, str) or not value:
        return "a name is required"
    if rule.accepts(value):
        return None
    return f"it must be {rule.title} ({rule.words}); " + (join_names(_reasons(value, rule)) or "it is not")


def check_api_rules(documents: list[Document]) -> list[Problem]:
    problems: list[Problem] = []
    for doc in documents:
        problems.extend(_object_name(doc))
        problems.extend(_containers(doc))
        problems.extend(_replica_count(doc))
        if doc.kind == "Service":
            problems.extend(_service_ports(doc))
    return problems


def _object_name(doc: Document) -> list[Problem]:
    name = dig(doc.obj, ("metadata", "name"))
    rule = OBJECT_NAME_RULES.get(doc.kind, DNS1123_SUBDOMAIN)
    return _name(doc, ("metadata", "name"), name, rule, f"{doc.kind} name")


def _containers(doc: Document) -> list[Problem]:
    problems = []
    for path, container in containers(doc):
        problems.extend(_name(doc, path + ("name",), container.get("name"), DNS1123_LABEL, "container name"))
        ports = container.get("ports")
        for index, port in enumerate(ports if isinstance(ports, list) else []):
            if not isinstance(port, dict):
                continue
            port_path = path + ("ports", index)
            problems.extend(_name(doc, port_path + ("name",), port.get("name"), IANA_SVC_NAME,
                                  "container port name"))
            problems.extend(_protocol(doc, port_path, port))
            for key in ("containerPort", "hostPort"):
                problems.extend(_port_number(doc, port_path + (key,), port.get(key)))
    return problems


def _service_ports(doc: Document) -> list[Problem]:
    ports = dig(doc.obj, ("spec", "ports"))
    if not isinstance(ports, list):
        return []
    problems = []
    seen: dict[str, int] = {}
    for index, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        path = ("spec", "ports", index)
        name = port.get("name")
        if name in (None, "") and len(ports) > 1:
            problems.append(doc.problem(
                "port-name", path,
                f"{doc.title} has {len(ports)} ports, so each one needs a name, and ports[{index}] has none.",
                f"Add name: under ports[{index}], e.g. name: {_port_name_example(port, index)}."))
        elif isinstance(name, str) and name:
            problems.extend(_name(doc, path + ("name",), name, DNS1123_LABEL, "Service port name"))
            if name in seen:
                problems.append(doc.problem(
                    "port-name", path + ("name",),
                    f'{doc.title} names two ports "{name}" (ports[{seen[name]}] and ports[{index}]).',
                    "Give each port its own name."))
            else:
                seen[name] = index
        problems.extend(_protocol(doc, path, port))
        for key in ("port", "targetPort"):
            problems.extend(_port_number(doc, path + (key,), port.get(key)))
    return problems


MAX_PORT = 65535
MAX_INT32 = 2**31 - 1


def _port_number(doc: Document, path: Path, value: object) -> list[Problem]:
    """A port number must be 1 to 65535 (a wrong type, or a named targetPort, is the schema's business)."""
    if isinstance(value, bool) or not isinstance(value, int) or 1 <= value <= MAX_PORT:
        return []
    where = format_path(path)
    return [doc.problem("port-range", path, f"{doc.title}: {where} is {value}, but a port number is 1 to {MAX_PORT}.",
                        f"Write a port from 1 to {MAX_PORT}, e.g. 80.")]


def _replica_count(doc: Document) -> list[Problem]:
    replicas = dig(doc.obj, ("spec", "replicas"))
    if doc.kind not in ("Deployment", "ReplicaSet", "StatefulSet") or isinstance(replicas, bool) \
            or not isinstance(replicas, int) or 0 <= replicas <= MAX_INT32:
        return []
    return [doc.problem("replicas-range", ("spec", "replicas"),
                        f"{doc.title}: spec.replicas is {replicas}, but replicas are a whole number from 0 to "
                        f"{MAX_INT32:,}.", "Set replicas to 3.")]


def _port_name_example(port: dict, index: int) -> str:
    number = port.get("port")
    return {80: "http", 443: "https"}.get(number, f"port-{number}" if isinstance(number, int) else f"port-{index}")


def _protocol(doc: Document, path: Path, port: dict) -> list[Problem]:
    protocol = port.get("protocol")
    if not isinstance(protocol, str) or protocol in PROTOCOLS:
        return []  # absent means TCP; a wrong type is explained by the schema check
    allowed = join_names(f'"{p}"' for p in PROTOCOLS)
    where = format_path(path + ("protocol",))
    message = f'{doc.title}: {where} is "{protocol}", which Kubernetes does not accept; it accepts only {allowed}.'
    if protocol.upper() in PROTOCOLS:
        message += " Case matters: the protocol is written in capital letters."
        hint = f"Write protocol: {protocol.upper()}"
    else:
        hint = "Write protocol: TCP for a web server (or remove the line: TCP is the default)."
    return [doc.problem("port-protocol", path + ("protocol",), message, hint)]


def _name(doc: Document, path: Path, value: object, rule: NameRule, what: str) -> list[Problem]:
    if not isinstance(value, str) or value == "" or rule.accepts(value):
        return []  # missing or wrongly typed names are explained elsewhere
    reasons = join_names(_reasons(value, rule)) or "it does not follow that rule"
    message = (f'"{value}" is not a valid {what}: it must be {rule.title} ({rule.words}); {reasons}.')
    suggestion = _suggest(value, rule)
    hint = f'Use, for example, "{suggestion}".' if suggestion else f"Rename it following the rule: {rule.words}."
    return [doc.problem("invalid-name", path, message, hint)]


def _is_allowed_char(char: str, rule: NameRule) -> bool:
    return ("a" <= char <= "z") or char.isdigit() and char.isascii() or char == "-" or (rule.dots and char == ".")


def _shown(char: str) -> str:
    return {" ": "a space", "\t": "a tab"}.get(char, f"'{char}'")


def _reasons(value: str, rule: NameRule) -> list[str]:
    reasons = []
    if len(value) > rule.max_length:
        reasons.append(f"it is {len(value)} characters long")
    if any(c.isupper() for c in value):
        reasons.append("it has capital letters")
    others = sorted({c for c in value if not c.isupper() and not _is_allowed_char(c, rule)})
    if others:
        reasons.append(f"it contains {join_names(_shown(c) for c in others)}")
    if rule.starts_with_letter and value[0].isdigit():
        reasons.append("it starts with a digit")
    elif value[0] in "-.":
        reasons.append(f"it starts with '{value[0]}'")
    if value[-1] in "-." and len(value) > 1:
        reasons.append(f"it ends with '{value[-1]}'")
    if rule.dots and ".." in value:
        reasons.append("it has two dots in a row")
    if rule.no_double_dash and "--" in value:
        reasons.append("it contains '--'")
    if rule.needs_letter and not any(c.isalpha() for c in value):
        reasons.append("it has no letter")
    return reasons


def _suggest(value: str, rule: NameRule) -> str | None:
    """A name close to `value` that follows the rule, if one is easy to find."""
    text = "".join(c if _is_allowed_char(c, rule) else "-" for c in value.lower())
    text = re.sub(r"-{2,}", "-", text) if rule.no_double_dash else text
    text = re.sub(r"\.{2,}", ".", text)
    text = text[: rule.max_length].strip("-.")
    if rule.starts_with_letter:
        text = text.lstrip("0123456789-")
    return text if text and text != value and rule.accepts(text) else None
