"""What a kubeconfig may ask of the server: reaching a cluster, never running a command.

The official client runs `users[].user.exec` commands and `auth-provider`
plugins on the machine that loads the kubeconfig. A kubeconfig pasted in the
admin runs on this server, so both forms are refused, naming the user entry. A
kubeconfig file path must lie under one of the configured directories
(settings.LIVEOPS_KUBECONFIG_DIRS, plus the directory of LIVEOPS_KUBECONFIG),
so that the admin cannot point the product at any file of the server.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from django.conf import settings

# User fields that make the client run something on the server.
FORBIDDEN_USER_FIELDS = ("exec", "auth-provider")


class KubeconfigError(ValueError):
    """A kubeconfig the product refuses; `field` names the admin field, the message what to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def check_kubeconfig(data, field: str = "kubeconfig") -> dict:
    """The parsed kubeconfig when it only says how to reach a cluster; KubeconfigError otherwise."""
    if not isinstance(data, dict) or not data.get("clusters"):
        raise KubeconfigError(field, "This does not look like a kubeconfig (no clusters).")
    for i, entry in enumerate(data.get("users") or []):
        if not isinstance(entry, dict):
            continue
        user = entry.get("user") or {}
        if not isinstance(user, dict):
            continue
        name = entry.get("name") or f"#{i + 1}"
        for key in FORBIDDEN_USER_FIELDS:
            if key in user:
                raise KubeconfigError(
                    field,
                    f"users[{i}].user.{key} (user “{name}”) would run a command on this server, which is not "
                    "allowed. Use a token or a client certificate for this user instead.",
                )
    return data


def allowed_directories() -> list[Path]:
    dirs = [Path(d) for d in getattr(settings, "LIVEOPS_KUBECONFIG_DIRS", []) if str(d).strip()]
    default = getattr(settings, "LIVEOPS_KUBECONFIG", "")
    if default:
        dirs.append(Path(default).parent)
    return [Path(os.path.realpath(d)) for d in dirs]


def check_kubeconfig_path(path: str, field: str = "kubeconfig_path") -> Path:
    """The resolved path when it lies under an allowed directory; KubeconfigError otherwise."""
    if not path or not os.path.isabs(path):
        raise KubeconfigError(field, "Give an absolute path to a kubeconfig file.")
    resolved = Path(os.path.realpath(path))
    allowed = allowed_directories()
    if not any(resolved == d or d in resolved.parents for d in allowed):
        shown = ", ".join(str(d) for d in allowed) or "(none configured)"
        raise KubeconfigError(field, f"{path} is outside the directories kubeconfig files may be read from "
                                     f"({shown}; set LIVEOPS_KUBECONFIG_DIRS to change them).")
    return resolved


def read_kubeconfig_file(path: str, field: str = "kubeconfig_path") -> dict:
    resolved = check_kubeconfig_path(path, field)
    try:
        with open(resolved) as fh:
            # libyaml's loader when there is one: the pure-Python one took ~10 ms a kubeconfig, paid by
            # every task and view that reaches the cluster (the same safe subset of YAML either way).
            data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except OSError as exc:
        raise KubeconfigError(field, f"{path} cannot be read ({exc.strerror}).") from None
    except yaml.YAMLError as exc:
        raise KubeconfigError(field, f"{path} is not valid YAML ({exc}).") from None
    return check_kubeconfig(data, field)
