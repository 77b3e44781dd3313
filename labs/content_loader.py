"""Reads lab content (labs/content/<slug>/lab.yaml, its step pages and example manifests) into dataclasses.

Pure Python: no Django, no cluster. A lab is a folder; adding a folder adds a lab.
"""

from __future__ import annotations

import functools
import logging
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import markdown
import yaml

from labs.manifests import Policy, annotation_key_problem

logger = logging.getLogger(__name__)
CONTENT_ROOT = Path(__file__).resolve().parent / "content"
LAB_FILE = "lab.yaml"
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MARKDOWN_EXTENSIONS = ["fenced_code", "tables", "sane_lists"]

TOP_LEVEL_FIELDS = {"slug", "title", "summary", "order", "duration_minutes", "extension_minutes",
                    "warn_before_minutes", "policy", "quota", "limitrange", "steps", "checks", "hints", "examples"}
POLICY_FIELDS = {"allowed_kinds", "image_allowlist", "max_replicas", "max_bytes", "max_documents",
                 "require_service_type", "annotation_allowlist", "allow_command"}
KIND_PATTERN = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
LIMITRANGE_FIELDS = {"default_request", "default_limit"}


class LabContentError(Exception):
    """A lab's content files are wrong; the message names the file and the field."""

    def __init__(self, path: Path | str, field: str | None, message: str):
        self.path = str(path)
        self.field = field
        self.problem = message
        super().__init__(f"{self.path}: {field}: {message}" if field else f"{self.path}: {message}")


class LabNotFound(LookupError):
    """No lab has this slug."""


@dataclass(frozen=True)
class Check:
    key: str
    title: str
    description: str
    optional: bool = False


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    file: str
    checks: tuple[str, ...]
    markdown: str
    html: str


@dataclass(frozen=True)
class Example:
    kind: str
    file: str
    text: str


class _KeepMissing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True, eq=False)
class LabContent:
    slug: str
    title: str
    summary: str
    order: int
    duration_minutes: int
    extension_minutes: int
    warn_before_minutes: int
    policy_settings: dict[str, Any]
    quota: dict[str, str]
    limitrange: dict[str, dict[str, str]]
    steps: tuple[Step, ...]
    checks: tuple[Check, ...]
    hints: dict[str, str]
    examples: tuple[Example, ...]
    directory: Path = field(repr=False)

    def policy(self) -> Policy:
        return Policy(**self.policy_settings)

    def example(self, kind: str) -> str:
        """The example manifest (YAML text) of `kind`, e.g. example("Service")."""
        for example in self.examples:
            if example.kind == kind:
                return example.text
        raise KeyError(f"Lab {self.slug} has no example for kind {kind}")

    def examples_text(self) -> str:
        """All example manifests as one multi-document YAML text."""
        return "---\n".join(e.text if e.text.endswith("\n") else e.text + "\n" for e in self.examples)

    def step(self, key: str) -> Step:
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(f"Lab {self.slug} has no step {key}")

    def check(self, key: str) -> Check:
        for check in self.checks:
            if check.key == key:
                return check
        raise KeyError(f"Lab {self.slug} has no check {key}")

    @property
    def required_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.optional)

    def hint(self, code: str, **values: Any) -> str | None:
        """The hint for a diagnosis code with its placeholders filled in (Markdown text), or None."""
        template = self.hints.get(code)
        if template is None:
            return None
        return template.format_map(_KeepMissing({k: str(v) for k, v in values.items()}))

    def quota_spec(self) -> dict[str, Any]:
        """The ResourceQuota spec for a session namespace."""
        return {"hard": dict(self.quota)}

    def limitrange_spec(self) -> dict[str, Any]:
        """The LimitRange spec for a session namespace (defaults for containers without resources)."""
        limit: dict[str, Any] = {"type": "Container"}
        if "default_request" in self.limitrange:
            limit["defaultRequest"] = dict(self.limitrange["default_request"])
        if "default_limit" in self.limitrange:
            limit["default"] = dict(self.limitrange["default_limit"])
        return {"limits": [limit]}


def load_lab(slug: str, root: Path | str | None = None) -> LabContent:
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
        raise LabNotFound(f"No lab called {slug!r}")
    return _load_lab(slug, _root(root))


def lab_or_none(slug: str) -> LabContent | None:
    """The lab's content, or None when it was removed (or broke) since a session started.

    Pages, checks and tasks of a running session use this: a lab taken away
    must not break them. Starting a lab uses load_lab, which says why not.
    """
    try:
        return load_lab(slug)
    except LabNotFound:
        return None
    except Exception:  # broken content: logged, and the session's pages keep working
        logger.exception("could not load lab %s", slug)
        return None


def all_labs(root: Path | str | None = None) -> list[LabContent]:
    return list(_all_labs(_root(root)))


def clear_cache() -> None:
    _load_lab.cache_clear()
    _all_labs.cache_clear()


def _root(root: Path | str | None) -> Path:
    return Path(root).resolve() if root is not None else CONTENT_ROOT


@functools.cache
def _all_labs(root: Path) -> tuple[LabContent, ...]:
    if not root.is_dir():
        return ()
    labs = [_load_lab(d.name, root) for d in sorted(root.iterdir()) if (d / LAB_FILE).is_file()]
    return tuple(sorted(labs, key=lambda lab: (lab.order, lab.slug)))


@functools.cache
def _load_lab(slug: str, root: Path) -> LabContent:
    directory = root / slug
    path = directory / LAB_FILE
    if not path.is_file():
        raise LabNotFound(f"No lab called {slug!r} (no {path})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise LabContentError(path, None, f"not valid YAML: {error}") from error
    reader = _Reader(path, directory)
    data = reader.mapping(data, None, required=True)
    reader.no_unknown(data, TOP_LEVEL_FIELDS, None)
    if reader.string(data, "slug") != slug:
        raise LabContentError(path, "slug", f"must be {slug!r}, the name of the lab's folder")
    checks = tuple(reader.check(item, f"checks[{i}]") for i, item in enumerate(reader.list(data, "checks")))
    reader.unique([c.key for c in checks], "checks")
    check_keys = {c.key for c in checks}
    steps = tuple(reader.step(item, f"steps[{i}]", check_keys) for i, item in enumerate(reader.list(data, "steps")))
    if not steps:
        raise LabContentError(path, "steps", "a lab needs at least one step")
    reader.unique([s.key for s in steps], "steps")
    examples = tuple(reader.example(item, f"examples[{i}]")
                     for i, item in enumerate(reader.list(data, "examples", required=False)))
    reader.unique([e.kind for e in examples], "examples")
    return LabContent(
        slug=slug,
        title=reader.string(data, "title"),
        summary=reader.string(data, "summary"),
        order=reader.integer(data, "order", required=False, default=100),
        duration_minutes=reader.integer(data, "duration_minutes", minimum=1),
        extension_minutes=reader.integer(data, "extension_minutes", required=False, default=0),
        warn_before_minutes=reader.integer(data, "warn_before_minutes", required=False, default=5),
        policy_settings=reader.policy(data.get("policy"), "policy"),
        quota=reader.quantities(data.get("quota"), "quota"),
        limitrange=reader.limitrange(data.get("limitrange"), "limitrange"),
        steps=steps,
        checks=checks,
        hints=reader.hints(data.get("hints"), "hints"),
        examples=examples,
        directory=directory,
    )


def _render(text: str) -> str:
    return markdown.markdown(text, extensions=MARKDOWN_EXTENSIONS)


class _Reader:
    """Reads and checks the fields of one lab.yaml, raising LabContentError with the field's path."""

    def __init__(self, path: Path, directory: Path):
        self.path = path
        self.directory = directory

    def fail(self, field: str | None, message: str) -> LabContentError:
        return LabContentError(self.path, field, message)

    @staticmethod
    def _join(parent: str | None, name: str) -> str:
        return f"{parent}.{name}" if parent else name

    def mapping(self, value: Any, field: str | None, required: bool = True) -> dict:
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.fail(field, "must be a mapping")
        return value

    def no_unknown(self, data: dict, known: set[str], parent: str | None) -> None:
        for key in data:
            if key not in known:
                raise self.fail(self._join(parent, str(key)), f"unknown field (expected one of {', '.join(sorted(known))})")

    def string(self, data: dict, key: str, parent: str | None = None, required: bool = True,
               default: str | None = None) -> str | None:
        value = data.get(key)
        if value is None and not required:
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.fail(self._join(parent, key), "must be a non-empty string")
        return value.strip()

    def integer(self, data: dict, key: str, parent: str | None = None, required: bool = True,
                default: int = 0, minimum: int = 0) -> int:
        value = data.get(key)
        if value is None and not required:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(self._join(parent, key), "must be an integer")
        if value < minimum:
            raise self.fail(self._join(parent, key), f"must be at least {minimum}")
        return value

    def list(self, data: dict, key: str, parent: str | None = None, required: bool = True) -> list:
        value = data.get(key)
        if value is None and not required:
            return []
        if not isinstance(value, list):
            raise self.fail(self._join(parent, key), "must be a list")
        return value

    def strings(self, data: dict, key: str, parent: str | None = None, required: bool = True) -> tuple[str, ...]:
        items = self.list(data, key, parent, required)
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item.strip():
                raise self.fail(f"{self._join(parent, key)}[{i}]", "must be a non-empty string")
        return tuple(item.strip() for item in items)

    def unique(self, keys: list[str], field: str) -> None:
        seen = set()
        for key in keys:
            if key in seen:
                raise self.fail(field, f"{key!r} appears twice")
            seen.add(key)

    def file(self, data: dict, key: str, parent: str) -> tuple[str, str]:
        name = self.string(data, key, parent)
        target = (self.directory / name).resolve()
        if self.directory.resolve() not in target.parents:
            raise self.fail(self._join(parent, key), f"{name!r} is outside the lab's folder")
        if not target.is_file():
            raise self.fail(self._join(parent, key), f"file {name!r} does not exist in {self.directory}")
        return name, target.read_text(encoding="utf-8")

    def check(self, item: Any, parent: str) -> Check:
        data = self.mapping(item, parent)
        self.no_unknown(data, {"key", "title", "description", "optional"}, parent)
        optional = data.get("optional", False)
        if not isinstance(optional, bool):
            raise self.fail(f"{parent}.optional", "must be true or false")
        return Check(key=self.string(data, "key", parent), title=self.string(data, "title", parent),
                     description=self.string(data, "description", parent), optional=optional)

    def step(self, item: Any, parent: str, check_keys: set[str]) -> Step:
        data = self.mapping(item, parent)
        self.no_unknown(data, {"key", "title", "file", "checks"}, parent)
        checks = self.strings(data, "checks", parent, required=False)
        for i, key in enumerate(checks):
            if key not in check_keys:
                raise self.fail(f"{parent}.checks[{i}]", f"unknown check {key!r} (not listed under checks)")
        file, text = self.file(data, "file", parent)
        return Step(key=self.string(data, "key", parent), title=self.string(data, "title", parent),
                    file=file, checks=checks, markdown=text, html=_render(text))

    def example(self, item: Any, parent: str) -> Example:
        data = self.mapping(item, parent)
        self.no_unknown(data, {"kind", "file"}, parent)
        file, text = self.file(data, "file", parent)
        return Example(kind=self.string(data, "kind", parent), file=file, text=text)

    def policy(self, value: Any, field: str) -> dict[str, Any]:
        data = self.mapping(value, field, required=False)
        self.no_unknown(data, POLICY_FIELDS, field)
        settings: dict[str, Any] = {}
        if "allowed_kinds" in data:
            settings["allowed_kinds"] = self.strings(data, "allowed_kinds", field)
            for i, kind in enumerate(settings["allowed_kinds"]):
                if not KIND_PATTERN.match(kind):
                    raise self.fail(f"{field}.allowed_kinds[{i}]", f"{kind!r} is not a Kubernetes kind "
                                    "(written like Deployment or Service)")
            self.unique(list(settings["allowed_kinds"]), f"{field}.allowed_kinds")
        settings["image_allowlist"] = self.strings(data, "image_allowlist", field)
        if not settings["image_allowlist"]:
            raise self.fail(f"{field}.image_allowlist", "must list at least one image")
        for i, image in enumerate(settings["image_allowlist"]):
            if any(c.isspace() for c in image):
                raise self.fail(f"{field}.image_allowlist[{i}]", f"{image!r} is not an image name (it has spaces)")
        for key in ("max_replicas", "max_bytes", "max_documents"):
            if key in data:
                settings[key] = self.integer(data, key, field, minimum=1)
        settings["require_service_type"] = self.string(data, "require_service_type", field, required=False)
        if settings["require_service_type"] not in (None, *SERVICE_TYPES):
            raise self.fail(f"{field}.require_service_type", f"must be one of {', '.join(SERVICE_TYPES)}")
        settings["annotation_allowlist"] = self.strings(data, "annotation_allowlist", field, required=False)
        for i, key in enumerate(settings["annotation_allowlist"]):
            problem = annotation_key_problem(key.removesuffix("/*") + "/x" if key.endswith("/*") else key)
            if problem:
                raise self.fail(f"{field}.annotation_allowlist[{i}]", f"{key!r} is not an annotation key: {problem}")
        allow_command = data.get("allow_command", False)
        if not isinstance(allow_command, bool):
            raise self.fail(f"{field}.allow_command", "must be true or false")
        settings["allow_command"] = allow_command
        return settings

    def quantities(self, value: Any, field: str) -> dict[str, str]:
        data = self.mapping(value, field, required=False)
        out = {}
        for key, amount in data.items():
            if isinstance(amount, bool) or not isinstance(amount, (str, int)) or str(amount).strip() == "":
                raise self.fail(f"{field}.{key}", "must be a quantity such as 2, \"500m\" or 2Gi")
            out[str(key)] = str(amount)
        return out

    def limitrange(self, value: Any, field: str) -> dict[str, dict[str, str]]:
        data = self.mapping(value, field, required=False)
        self.no_unknown(data, LIMITRANGE_FIELDS, field)
        return {key: self.quantities(data[key], f"{field}.{key}") for key in data}

    def hints(self, value: Any, field: str) -> dict[str, str]:
        data = self.mapping(value, field, required=False)
        out = {}
        for code, text in data.items():
            where = f"{field}.{code}"
            if not isinstance(text, str) or not text.strip():
                raise self.fail(where, "must be a non-empty text")
            try:
                list(string.Formatter().parse(text))
            except ValueError as error:
                raise self.fail(where, f"has a broken {{placeholder}}: {error}") from error
            out[str(code)] = text.strip()
        return out
