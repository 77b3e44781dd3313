"""The result types of manifest validation: problems, documents and the whole verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or suspicious) in the learner's YAML, explained for a learner."""

    line: int | None
    column: int | None
    severity: str  # "error" | "warning"
    code: str
    field: str | None
    document: int | None
    message: str
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass
class Document:
    """One non-empty YAML document that looks like a Kubernetes object."""

    index: int  # 0-based position among the non-empty documents of the text
    kind: str
    name: str | None
    api_version: str
    obj: dict[str, Any]
    start_line: int
    end_line: int
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def title(self) -> str:
        """How messages name the object, e.g. 'Deployment lb-test'."""
        return f"{self.kind} {self.name}" if self.name else f"{self.kind} (document {self.index + 1})"

    def locate(self, path: Path) -> tuple[int, int]:
        """Line and column (1-based) of the field at `path`, or of its nearest existing parent."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (self.start_line, 1))

    def problem(self, code: str, path: Path, message: str, hint: str | None = None,
                severity: str = "error") -> Problem:
        line, column = self.locate(path)
        return Problem(line=line, column=column, severity=severity, code=code,
                       field=format_path(path) if path else None, document=self.index,
                       message=message, hint=hint)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "kind": self.kind, "name": self.name, "api_version": self.api_version,
                "start_line": self.start_line, "end_line": self.end_line}


@dataclass
class Validation:
    """Everything the validator found: the documents it understood and the problems it saw."""

    documents: list[Document]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not any(p.is_error for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "documents": [d.to_dict() for d in self.documents],
                "problems": [p.to_dict() for p in self.problems]}


def sort_problems(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0, p.column or 0))


def format_path(path: Path) -> str:
    """('spec', 'containers', 0, 'image') -> 'spec.containers[0].image'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and all(c.isalnum() or c in "_-" for c in part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


def field_name(path: Path) -> str:
    """The short name a message uses for a field: 'replicas', 'containers[0]'."""
    if not path:
        return "the object"
    if isinstance(path[-1], int):
        parent = next((p for p in reversed(path) if isinstance(p, str)), "item")
        return f"{parent}[{path[-1]}]"
    return str(path[-1])
