"""What the simulated container runtime knows about images and commands."""

from __future__ import annotations

import hashlib
import os
import re


def repository(image: str) -> str:
    """'docker.io/library/nginx:1.27@sha256:..' -> 'nginx'; 'ghcr.io/a/b:1' -> 'ghcr.io/a/b'."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return name


def full_reference(image: str) -> str:
    """The reference containerd reports: docker.io/library/nginx:latest."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and not digest:
        name += ":latest"
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    return name + ("@" + digest if digest else "")


def image_id(image: str) -> str:
    ref = full_reference(image)
    repo = ref.split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: len(repo) - len(last)] + last.split(":", 1)[0]
    return f"{repo}@sha256:{hashlib.sha256(ref.encode()).hexdigest()}"


def image_size(image: str) -> int:
    return 30_000_000 + int(hashlib.sha256(image.encode()).hexdigest()[:6], 16) * 3


def allowed(image: str, allowlist) -> bool:
    return repository(image) in set(allowlist)


def default_ports(image: str) -> list[int]:
    repo = repository(image)
    if repo == "nginxinc/nginx-unprivileged":
        return [8080]
    if repo == "hashicorp/http-echo":
        return [5678]
    if repo in ("nginx", "httpd", "traefik/whoami"):
        return [80]
    return []


_EXIT = re.compile(r"(?:^|[;&|\s])exit(?:\s+(\d+))?\s*$|(?:^|[;&|\s])exit\s+(\d+)")


def exit_code(container: dict) -> int | None:
    """The code the container's main process exits with, or None if it keeps running."""
    command = [str(x) for x in container.get("command") or []]
    args = [str(x) for x in container.get("args") or []]
    argv = command + args
    repo = repository(container.get("image", ""))
    if not command and repo == "busybox" and not args:
        return 0  # busybox's default command is "sh", which exits without a terminal
    if not argv:
        return None
    first = os.path.basename(argv[0])
    if first == "false":
        return 1
    if first == "true":
        return 0
    if first in ("sh", "bash", "ash", "dash") and "-c" in argv:
        script = " ".join(argv[argv.index("-c") + 1:]).strip()
        m = _EXIT.search(script)
        if m:
            return int(m.group(1) or m.group(2) or 0)
        if script in ("false", "true"):
            return 1 if script == "false" else 0
    return None
