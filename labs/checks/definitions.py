"""The lab's checks: their definitions (from the lab's content) and the status of one check."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

PASSED, FAILING, WAITING = "passed", "failing", "waiting"
PROBE_KEYS = ("http-external-ip", "dns-sslip", "dns-record")
# The clean-up check: the Service gone, its balancer decommissioned, its address silent from the outside.
CLEANUP_KEY = "cleanup"
BAD_WAITING_REASONS = {
    "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CrashLoopBackOff", "CreateContainerConfigError",
    "CreateContainerError", "RunContainerError",
}

DEFAULT_CHECKS = [
    {"key": "deployment-ready", "title": "The Deployment's pods are ready", "optional": False},
    {"key": "service-selects-pods", "title": "The Service finds the pods", "optional": False},
    {"key": "external-ip", "title": "The load balancer has an external IP", "optional": False},
    {"key": "http-external-ip", "title": "The app answers on the external IP", "optional": False},
    {"key": "dns-sslip", "title": "The sslip.io name works", "optional": True},
    {"key": "dns-record", "title": "Your DNS record works", "optional": True},
    {"key": CLEANUP_KEY, "title": "The Service and its load balancer are gone", "optional": False},
]


@dataclass
class CheckStatus:
    key: str
    title: str
    state: str  # passed | failing | waiting
    message: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    optional: bool = False
    reached_at: datetime | None = None  # first time it passed (from the database)
    # Not passing now because the student cleaned up, as the last step asks: not a failure.
    cleaned_up: bool = False

    @property
    def passed(self) -> bool:
        return self.state == PASSED

    @property
    def reached(self) -> bool:
        """The record: reached once, whatever the cluster shows now."""
        return self.passed or self.reached_at is not None

    @property
    def regressed(self) -> bool:
        return not self.passed and self.reached_at is not None

    def visible(self) -> dict:
        data = asdict(self)
        data["reached_at"] = self.reached_at.isoformat() if self.reached_at else None
        return data


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def check_definitions(lab) -> list[dict]:
    """The lab's checks, in order: key, title, description, optional."""
    checks = _get(lab, "checks") if lab is not None else None
    if not checks:
        return [dict(c, description="") for c in DEFAULT_CHECKS]
    defs = []
    for c in checks:
        key = _get(c, "key")
        if not key:
            continue
        defs.append({"key": key, "title": _get(c, "title") or key, "description": _get(c, "description") or "",
                     "optional": bool(_get(c, "optional", False))})
    return defs
