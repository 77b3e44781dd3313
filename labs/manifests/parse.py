"""Reads multi-document YAML into Kubernetes-looking documents, with line numbers for every field."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .encoding import utf8_size
from .problems import Document, Path, Problem, format_path

# Aliases can make a small text expand to an enormous object ("billion laughs").
MAX_EXPANDED_NODES = 50_000


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as strings, as Kubernetes does when it reads YAML."""


# libyaml is several times faster; its error messages are worded differently, so a text that
# fails with it is read again with the pure-Python loader to explain the error the same way.
_FastLoader = type("_FastLoader", (getattr(yaml, "CSafeLoader", _Loader),), {})

for _cls in {_Loader, _FastLoader}:
    _cls.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


@dataclass
class Parsed:
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fatal: bool = False  # True when later checks must not run (syntax error, limits exceeded)


# What YAML accepts in a document (as PyYAML's reader checks it).
NON_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


def parse_manifests(text: str, *, max_bytes: int, max_documents: int) -> Parsed:
    result = Parsed()
    size = utf8_size(text)
    if size > max_bytes:
        characters = (f" ({len(text):,} characters: letters such as é take more than one byte)"
                      if size != len(text) else "")
        result.problems.append(Problem(
            line=None, column=None, severity="error", code="too-large", field=None, document=None,
            message=f"The text is {size:,} bytes long{characters}; this lab accepts at most {max_bytes:,} bytes.",
            hint="Keep only the Deployment and the Service the lab asks for."))
        result.fatal = True
        return result

    bad = NON_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        result.problems.append(Problem(
            line=line, column=column, severity="error", code="yaml-syntax", field=None, document=None,
            message=f"Line {line}, column {column}: the text contains the control character "
                    f"U+{ord(bad.group()):04X}, which YAML does not allow.",
            hint="It often comes with text pasted from a terminal: delete it and type the line again."))
        result.fatal = True
        return result

    result = _read(text, max_documents, _FastLoader)
    if result.fatal and _FastLoader is not _Loader and any(p.code == "yaml-syntax" for p in result.problems):
        result = _read(text, max_documents, _Loader)
    return result


def _read(text: str, max_documents: int, loader_class: type) -> Parsed:
    result = Parsed()
    loader = loader_class(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            if _is_empty(node):
                continue
            if index >= max_documents:
                result.problems.append(Problem(
                    line=node.start_mark.line + 1, column=None, severity="error", code="too-many-documents",
                    field=None, document=index,
                    message=f"The text has more than {max_documents} documents; this lab accepts at most "
                            f"{max_documents}.",
                    hint='Remove the extra documents (each one starts after a "---" line).'))
                result.fatal = True
                break
            if _expanded_size(node, {}) > MAX_EXPANDED_NODES:
                result.problems.append(Problem(
                    line=node.start_mark.line + 1, column=None, severity="error", code="too-large", field=None,
                    document=index,
                    message=f"Document {index + 1} uses YAML aliases that expand to a huge object.",
                    hint="Write the values out instead of using anchors (&) and aliases (*)."))
                result.fatal = True
                break
            positions: dict[Path, tuple[int, int]] = {}
            duplicates: list[Problem] = []
            _map_positions(node, (), positions, duplicates, index)
            obj = _json_keys(loader.construct_document(node))
            result.problems.extend(duplicates)
            doc = _document(index, node, obj, positions, result.problems)
            if doc is not None:
                result.documents.append(doc)
            index += 1
    except yaml.MarkedYAMLError as error:
        result.problems.append(_syntax_problem(error, text))
        result.fatal = True
    except yaml.YAMLError as error:  # anything else the reader refuses: still a problem, never a crash
        result.problems.append(Problem(
            line=None, column=None, severity="error", code="yaml-syntax", field=None, document=None,
            message=f"The text cannot be read as YAML: {error}", hint=None))
        result.fatal = True
    except RecursionError:
        result.problems.append(Problem(
            line=None, column=None, severity="error", code="too-large", field=None, document=None,
            message="The YAML is nested too deeply to be a Kubernetes object.", hint=None))
        result.fatal = True
    finally:
        loader.dispose()
    return result


def _is_empty(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null" and node.value in ("", "~", "null")


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # guards against recursive structures
    if isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded_size(item, memo) for item in node.value)
    else:
        total = 1
    memo[key] = total
    return total


def _key_text(node: yaml.Node) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) else "?"


def _map_positions(node: yaml.Node, path: Path, positions: dict, duplicates: list, index: int) -> None:
    """Record the (line, column) of every field; report keys written twice in one mapping."""
    if not path:
        positions[()] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = _key_text(key_node)
            if key == "<<":
                continue
            child = path + (key,)
            where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in seen:
                duplicates.append(Problem(
                    line=where[0], column=where[1], severity="error", code="duplicate-key",
                    field=format_path(child), document=index,
                    message=f'The key "{key}" appears twice in the same mapping; only the last one would count.',
                    hint="Merge the two into one, or fix the indentation of one of them."))
                continue
            seen.add(key)
            positions[child] = where
            _map_positions(value_node, child, positions, duplicates, index)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = path + (i,)
            positions[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _map_positions(item, child, positions, duplicates, index)


def _json_keys(value: Any) -> Any:
    """Mapping keys become strings, as when Kubernetes converts YAML to JSON."""
    if isinstance(value, dict):
        return {_key_string(k): _json_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_keys(v) for v in value]
    return value


def _key_string(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _end_line(node: yaml.Node) -> int:
    mark = node.end_mark
    return mark.line + 1 if mark.column > 0 else max(mark.line, node.start_mark.line + 1)


def _document(index: int, node: yaml.Node, obj: Any, positions: dict, problems: list[Problem]) -> Document | None:
    start = node.start_mark.line + 1
    if not isinstance(obj, dict):
        what = "a list" if isinstance(obj, list) else "a single value"
        problems.append(Problem(
            line=start, column=node.start_mark.column + 1, severity="error", code="not-a-mapping", field=None,
            document=index,
            message=f"Document {index + 1} is {what}, not a Kubernetes object.",
            hint="Each document should be a mapping that starts with apiVersion: and kind:."))
        return None
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    missing = [name for name, value in (("apiVersion", api_version), ("kind", kind))
               if not isinstance(value, str) or not value.strip()]
    if missing:
        names = " and ".join(missing)
        field = missing[0]
        line, column = positions.get((field,), (start, 1))
        problems.append(Problem(
            line=line, column=column, severity="error", code="missing-kind", field=field, document=index,
            message=f"Document {index + 1} has no {names}, so it is not clear what kind of object it is.",
            hint="Start the document with, for example, apiVersion: apps/v1 and kind: Deployment."))
        return None
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return Document(index=index, kind=kind, name=str(name) if name not in (None, "") else None,
                    api_version=api_version, obj=obj, start_line=start, end_line=_end_line(node),
                    positions=positions)


def _syntax_problem(error: yaml.MarkedYAMLError, text: str) -> Problem:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    message, hint = _explain_syntax(error, text.splitlines())
    return Problem(line=line, column=column, severity="error", code="yaml-syntax", field=None, document=None,
                   message=message, hint=hint)


# Said with every error that can come from indentation the student did not type.
EDITOR_INDENT_HINT = "If the editor indented the line for you, remove the extra spaces."

# Keys of a Deployment and a Service: used to spot two lines run together ("apps/v1kind: Deployment").
COMMON_KEYS = ("apiVersion", "kind", "metadata", "name", "namespace", "labels", "annotations", "spec", "replicas",
               "selector", "matchLabels", "template", "containers", "image", "ports", "containerPort", "type",
               "port", "targetPort", "protocol", "resources", "env", "value", "args", "command")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _previous_line(lines: list[str], index: int) -> int | None:
    """The index of the nearest line above `index` that holds something (not blank, not a comment)."""
    for i in range(index - 1, -1, -1):
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("#"):
            return i
    return None


def _key_of(line: str) -> str | None:
    """'  - name: web' -> 'name'; None when the line is not "key: value"."""
    match = re.match(r"^\s*(?:-\s+)*([^\s:#][^:#]*?):(?:\s|$)", line)
    return match.group(1) if match else None


def _key_column(line: str) -> int:
    """Where the key of a line starts, after any list dashes: '    - port: 80' -> 6."""
    match = re.match(r"^(\s*(?:-\s+)*)", line)
    return len(match.group(1)) if match else _indent(line)


def _unexpected_colon(lines: list[str], index: int, column: int) -> tuple[str, str]:
    """Explain "mapping values are not allowed here": a colon where no key can start."""
    number = index + 1
    text = lines[index] if 0 <= index < len(lines) else ""
    before = text[:column]
    first = re.search(r":(\s)", before)
    if first:
        # Two "key: value" on one line: either two lines ran together, or a value holds ": ".
        key = before[: first.start()].strip().lstrip("- ").strip()
        second = before[first.end():].strip()
        for candidate in sorted(COMMON_KEYS, key=len, reverse=True):
            if second.endswith(candidate) and len(second) > len(candidate):
                value = second[: -len(candidate)].rstrip()
                rest = text[column + 1:].strip()
                return (f'Line {number} holds two keys, "{key}" and "{candidate}": it looks like two lines ran '
                        f'together, and YAML allows one "key: value" per line.',
                        f'Put "{candidate}: {rest}" on a line of its own after "{key}: {value}". '
                        "(In the editor, Enter always starts a new line; a completion is taken with Tab.)")
        return (f'Line {number} has a second colon followed by a space, after "{key}: {second}": '
                "YAML reads a colon and a space as the end of a key, and a value cannot start a new key.",
                f'If "{second}: ..." is meant as one value, put it in quotes ({key}: "{second}: ..."); '
                "if it is another key, put it on a line of its own.")
    previous = _previous_line(lines, index)
    if previous is None:
        return (f"Line {number} has a colon where no key can start.",
                'Write each field as "key: value", one per line.')
    above = lines[previous]
    above_key = _key_of(above)
    if above_key is None:
        return (f'Line {previous + 1} ("{above.strip()}") has no colon, so YAML reads it and line {number} '
                f"as one long value, and the colon on line {number} cannot start a key inside a value.",
                f'Write line {previous + 1} as "key: value", with a colon and a space after the key.')
    this_indent, key_column = _indent(text), _key_column(above)
    if this_indent > key_column:
        return (f'Line {number} is indented more ({this_indent} spaces) than the key "{above_key}" on line '
                f"{previous + 1} ({key_column} spaces), so YAML reads it as part of the value of \"{above_key}\", "
                "and a key cannot start inside a value.",
                f'If it belongs beside "{above_key}", indent it with {key_column} spaces. {EDITOR_INDENT_HINT}')
    return (f"Line {number} has a colon where no key can start.",
            f"Check the indentation of this line and of line {previous + 1}. {EDITOR_INDENT_HINT}")


def _explain_syntax(error: yaml.MarkedYAMLError, lines: list[str]) -> tuple[str, str | None]:
    problem = error.problem or ""
    context = error.context or ""
    opened = f" (it opens on line {error.context_mark.line + 1})" if error.context_mark else ""
    mark = error.problem_mark
    if "'\\t'" in problem:
        return ("This line is indented with a tab; YAML only accepts spaces for indentation.",
                "Replace the tab with spaces (2 per level is usual).")
    if "mapping values are not allowed here" in problem and mark:
        return _unexpected_colon(lines, mark.line, mark.column)
    if "expected <block end>" in problem and mark:
        return _misaligned(lines, mark.line)
    if "could not find expected ':'" in problem:
        return ("This line looks like a key but has no colon after it.",
                'Write it as "key: value", or indent it as part of the value above.')
    if "end of stream" in problem and "quoted scalar" in context:
        return (f"A quoted string is never closed{opened}.", "Add the closing quote.")
    if "expected ',' or ']'" in problem:
        return (f"A list written with [ is never closed{opened}.", "Add the closing ].")
    if "expected ',' or '}'" in problem:
        return (f"A mapping written with {{ is never closed{opened}.", "Add the closing }.")
    if "undefined alias" in problem:
        return (f"YAML {problem}.", "Define the anchor (&name) before using it as *name, or write the value out.")
    if "could not determine a constructor" in problem:
        return (f"Unsupported YAML tag: {problem.split('tag', 1)[-1].strip()}.", "Remove the tag (the word after !).")
    text = problem[:1].upper() + problem[1:] if problem else "The YAML could not be read"
    if context:
        text += f" ({context})"
    return (f"YAML syntax error: {text}.", None)


def _misaligned(lines: list[str], index: int) -> tuple[str, str]:
    """Explain "expected <block end>": a line indented like none of the levels open above it."""
    number = index + 1
    text = lines[index] if 0 <= index < len(lines) else ""
    previous = _previous_line(lines, index)
    spaces = _indent(text)
    if previous is None:
        return (f"Line {number} is indented with {spaces} spaces, unlike the lines around it.",
                f"Line it up with the other keys of the same mapping or items of the same list. {EDITOR_INDENT_HINT}")
    above = lines[previous]
    above_key, key_column = _key_of(above), _key_column(above)
    what = f'the key "{above_key}"' if above_key else "the line"
    return (f"Line {number} is indented with {spaces} spaces, but {what} on line {previous + 1} is indented "
            f"with {key_column}: the keys of one mapping must start in the same column, and a line indented less "
            "must line up with a key further up.",
            f"Line it up with the keys it belongs with (here, {key_column} spaces if it sits beside "
            f"{what}). {EDITOR_INDENT_HINT}")
