"""Reads the bytes a student sent as UTF-8 text, or says where they stop being UTF-8."""

from __future__ import annotations

from .problems import Problem


def decode_manifest(raw: bytes) -> tuple[str, Problem | None]:
    """The text of `raw`, and a problem naming the first byte that is not UTF-8 (None when all is UTF-8).

    With a problem, the text is still returned, with U+FFFD in place of the bytes it could not read.
    """
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as error:
        offset = error.start
        before = raw[:offset].decode("utf-8", "replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        shown = " ".join(f"0x{b:02X}" for b in raw[offset:error.end])
        problem = Problem(
            line=line, column=column, severity="error", code="not-utf8", field=None, document=None,
            message=f"The text is not UTF-8: the byte{'s' if error.end - offset > 1 else ''} {shown} at byte offset "
                    f"{offset:,} (line {line}, column {column}) cannot be read as UTF-8.",
            hint="Save or copy the text as UTF-8 (text written in another encoding, such as Latin-1 or "
                 "Windows-1252, often shows this with letters such as é), or type that character again.")
        return raw.decode("utf-8", "replace"), problem


def replacement_problem(text: str) -> Problem | None:
    """When only the decoded text is at hand: U+FFFD marks bytes that were not UTF-8 when it was read."""
    index = text.find("\ufffd")
    if index < 0:
        return None
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return Problem(
        line=line, column=column, severity="error", code="not-utf8", field=None, document=None,
        message=f"The text is not UTF-8: line {line}, column {column} holds U+FFFD, the character that stands "
                "for bytes that could not be read as UTF-8.",
        hint="Save or copy the text as UTF-8, or type that character again.")


def utf8_size(text: str) -> int:
    """The size of `text` as sent: bytes of UTF-8, not characters."""
    return len(text.encode("utf-8", "surrogatepass"))
