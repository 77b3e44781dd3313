"""Kubernetes resource quantities ("500m", "128Mi", "1G"): parse and format."""

from __future__ import annotations

import functools
from fractions import Fraction

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
            "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
            "P": Fraction(10**15), "E": Fraction(10**18)}


def parse(value) -> Fraction:
    """'500m' -> 1/2, '1Gi' -> 1073741824, 2 -> 2. Raises ValueError."""
    if isinstance(value, (int, float)):
        return Fraction(value)
    return _parse_text(str(value))


@functools.lru_cache(maxsize=1024)
def _parse_text(value: str) -> Fraction:
    """Remembered: the quota controller and admission read the same few quantities on every change."""
    s = value.strip()
    if not s:
        raise ValueError("empty quantity")
    for suffix, mult in _BINARY.items():
        if s.endswith(suffix):
            return Fraction(s[: -len(suffix)]) * mult
    if "e" in s[1:].lower() and s[-1].isdigit():
        return Fraction(s)
    suffix = s[-1] if s[-1] in _DECIMAL and not s[-1].isdigit() else ""
    number = s[: -len(suffix)] if suffix else s
    return Fraction(number) * _DECIMAL[suffix]


def is_cpu(resource: str) -> bool:
    return resource.split(".")[-1] == "cpu"


def format_quantity(resource: str, value: Fraction) -> str:
    """Canonical-looking text: cpu in cores or millicores, bytes with binary suffixes."""
    if is_cpu(resource):
        if value.denominator == 1:
            return str(value.numerator)
        milli = value * 1000
        return f"{-(-milli.numerator // milli.denominator)}m"
    if value.denominator != 1:
        milli = value * 1000
        return f"{-(-milli.numerator // milli.denominator)}m"
    n = value.numerator
    if n == 0:
        return "0"
    for suffix, mult in reversed(list(_BINARY.items())):
        if n % mult == 0:
            return f"{n // mult}{suffix}"
    for suffix in ("E", "P", "T", "G", "M", "k"):
        mult = _DECIMAL[suffix]
        if n % mult == 0:
            return f"{n // int(mult)}{suffix}"
    return str(n)
