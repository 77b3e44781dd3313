"""The user data a Taikun load-balancer server (booted from the image tagged
`taikun-lb`) "runs": cloud-config writing an HAProxy and a keepalived configuration.

Accepted format (the product writes exactly this)::

    #cloud-config
    write_files:
      - path: /etc/haproxy/haproxy.cfg
        content: |
          global
            maxconn 4096
          defaults
            mode tcp
            timeout connect 5s
          frontend fe_80                      # or: listen NAME (bind and server lines together)
            bind *:80                         # *:PORT, 0.0.0.0:PORT, :PORT, [::]:PORT or VIP:PORT;
                                              # several addresses comma-separated
            default_backend be_80             # or an unconditional `use_backend NAME`
          backend be_80
            balance roundrobin
            server node-1 127.11.0.1:31380 check send-proxy     # ADDR:PORT; `send-proxy` -> PROXY v1,
            server node-2 127.11.0.2:31380 check send-proxy-v2  # `send-proxy-v2` -> PROXY v2 header;
                                                                # `disabled` servers are skipped
      - path: /etc/keepalived/keepalived.conf
        content: |
          vrrp_instance VI_1 {
            state MASTER                      # MASTER or BACKUP
            interface eth0
            virtual_router_id 51
            priority 101                      # the highest priority among ACTIVE servers holds the VIP
            virtual_ipaddress {
              127.11.0.200/24                 # the VIP port's fixed IP (prefix and `dev ...` optional)
            }
          }

`encoding: b64` (or `base64`) on a write_files entry is decoded; `default-server`
options (in `defaults` or a backend) apply to the backend's servers. Other files,
sections and keywords are ignored. A server holds the VIP when its keepalived
configuration lists that address in a `virtual_ipaddress` block; among the ACTIVE
servers holding it, the one with the highest `priority` (then MASTER, then name)
serves: each `bind` port of its frontends/listens opens on the floating IP of the
VIP port, forwarding round robin to the backend's servers.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass, field

import yaml

HAPROXY_PATH = "/etc/haproxy/haproxy.cfg"
KEEPALIVED_PATH = "/etc/keepalived/keepalived.conf"
SECTIONS = {"global", "defaults", "frontend", "backend", "listen", "resolvers", "peers", "userlist", "program",
            "mailers", "cache", "http-errors", "ring"}


@dataclass
class Backend:
    address: str
    port: int
    proxy: str | None = None  # None, "v1" or "v2"


@dataclass
class Frontend:
    name: str
    binds: list[tuple[str, int]]  # (address or "*", port)
    backend: str | None


@dataclass
class VrrpInstance:
    name: str
    virtual_router_id: int | None = None
    priority: int = 100
    state: str = "BACKUP"
    vips: list[str] = field(default_factory=list)


@dataclass
class TaikunConfig:
    frontends: list[Frontend] = field(default_factory=list)
    backends: dict[str, list[Backend]] = field(default_factory=dict)
    vrrp: list[VrrpInstance] = field(default_factory=list)

    def holds(self, vip: str) -> VrrpInstance | None:
        for inst in self.vrrp:
            if vip in inst.vips:
                return inst
        return None


def _strip_comment(line: str) -> str:
    return re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()


def _split_addr(text: str) -> tuple[str, int] | None:
    text = text.strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    if not port.isdigit():
        return None
    return (host or "*"), int(port)


def _proxy_mode(options: list[str]) -> str | None:
    mode = None
    for opt in options:
        if opt == "send-proxy":
            mode = "v1"
        elif opt.startswith("send-proxy-v2"):
            mode = "v2"
        elif opt in ("no-send-proxy", "no-send-proxy-v2"):
            mode = None
    return mode


def parse_haproxy(text: str, problems: list[str]) -> tuple[list[Frontend], dict[str, list[Backend]]]:
    frontends: list[Frontend] = []
    backends: dict[str, list[Backend]] = {}
    defaults_opts: list[str] = []
    section, name = None, ""
    current_front: Frontend | None = None
    section_defaults: list[str] = []
    pending_servers: list[tuple[str, str, list[str]]] = []  # (backend, addr, options)

    def close_section() -> None:
        nonlocal pending_servers
        for backend, addr, opts in pending_servers:
            parsed = _split_addr(addr)
            if parsed is None or parsed[0] == "*":
                problems.append(f"haproxy: server address {addr!r} in {backend} is not ADDR:PORT")
                continue
            if "disabled" in opts:
                continue
            backends.setdefault(backend, []).append(Backend(parsed[0], parsed[1],
                                                            _proxy_mode(section_defaults + opts)))
        pending_servers = []

    for raw in text.splitlines():
        line = _strip_comment(raw)
        if not line:
            continue
        words = line.split()
        head = words[0]
        if head in SECTIONS:
            close_section()
            section, name = head, (words[1] if len(words) > 1 else "")
            section_defaults = list(defaults_opts) if section in ("backend", "listen") else []
            current_front = None
            if section in ("frontend", "listen"):
                current_front = Frontend(name, [], name if section == "listen" else None)
                frontends.append(current_front)
            if section == "listen":
                backends.setdefault(name, [])
            continue
        if section == "defaults" and head == "default-server":
            defaults_opts.extend(words[1:])
        elif section in ("backend", "listen") and head == "default-server":
            section_defaults.extend(words[1:])
        elif current_front is not None and head == "bind" and len(words) > 1:
            for part in words[1].split(","):
                parsed = _split_addr(part)
                if parsed is None:
                    problems.append(f"haproxy: bind {part!r} in {name} has no port")
                else:
                    current_front.binds.append(parsed)
        elif current_front is not None and section == "frontend" and head == "default_backend" and len(words) > 1:
            current_front.backend = words[1]
        elif current_front is not None and section == "frontend" and head == "use_backend" and len(words) > 1:
            if len(words) == 2 and current_front.backend is None:
                current_front.backend = words[1]
        elif section in ("backend", "listen") and head == "server" and len(words) > 2:
            if section == "backend":
                backends.setdefault(name, [])
            pending_servers.append((name, words[2], words[3:]))
    close_section()
    for front in frontends:
        if front.backend is None:
            problems.append(f"haproxy: frontend {front.name} has no default_backend")
        elif front.backend not in backends:
            problems.append(f"haproxy: frontend {front.name} uses unknown backend {front.backend}")
    return frontends, backends


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    for raw in text.splitlines():
        line = re.split(r"[#!]", raw, maxsplit=1)[0]
        out.extend(line.replace("{", " { ").replace("}", " } ").split())
    return out


def parse_keepalived(text: str, problems: list[str]) -> list[VrrpInstance]:
    toks = _tokens(text)
    instances: list[VrrpInstance] = []
    i = 0
    while i < len(toks):
        if toks[i] == "vrrp_instance" and i + 2 < len(toks) and toks[i + 2] == "{":
            inst = VrrpInstance(toks[i + 1])
            i += 3
            depth = 1
            block: str | None = None
            while i < len(toks) and depth:
                t = toks[i]
                if t == "{":
                    depth += 1
                elif t == "}":
                    depth -= 1
                    if depth == 1:
                        block = None
                elif depth == 1 and t in ("virtual_ipaddress", "virtual_ipaddress_excluded") and \
                        i + 1 < len(toks) and toks[i + 1] == "{":
                    block = t
                elif depth == 2 and block == "virtual_ipaddress":
                    try:
                        inst.vips.append(str(ipaddress.ip_interface(t).ip))
                    except ValueError:
                        pass  # `dev eth0`, `label ...`
                elif depth == 1 and t == "virtual_router_id" and i + 1 < len(toks):
                    inst.virtual_router_id = int(toks[i + 1]) if toks[i + 1].isdigit() else None
                elif depth == 1 and t == "priority" and i + 1 < len(toks) and toks[i + 1].isdigit():
                    inst.priority = int(toks[i + 1])
                elif depth == 1 and t == "state" and i + 1 < len(toks):
                    inst.state = toks[i + 1].upper()
                i += 1
            if inst.virtual_router_id is None:
                problems.append(f"keepalived: vrrp_instance {inst.name} has no virtual_router_id")
            if not inst.vips:
                problems.append(f"keepalived: vrrp_instance {inst.name} has no virtual_ipaddress")
            instances.append(inst)
        else:
            i += 1
    return instances


def parse_user_data(data: bytes) -> tuple[TaikunConfig | None, list[str]]:
    """-> (config or None, problems a cloud-init log would show)."""
    problems: list[str] = []
    text = data.decode("utf-8", "replace")
    if not text.lstrip().startswith("#cloud-config"):
        return None, ["user data is not #cloud-config; nothing to run"]
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        return None, [f"cloud-config is not valid YAML: {e}"]
    files = (doc or {}).get("write_files") if isinstance(doc, dict) else None
    if not isinstance(files, list):
        return None, ["cloud-config has no write_files"]
    contents: dict[str, str] = {}
    for entry in files:
        if not isinstance(entry, dict) or not entry.get("path"):
            continue
        content = entry.get("content") or ""
        encoding = str(entry.get("encoding") or "").lower()
        if encoding in ("b64", "base64"):
            try:
                content = base64.b64decode(content).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                problems.append(f"write_files: {entry['path']} is not valid base64")
                continue
        contents[str(entry["path"])] = str(content)
    if HAPROXY_PATH not in contents:
        return None, problems + [f"write_files has no {HAPROXY_PATH}"]
    config = TaikunConfig()
    config.frontends, config.backends = parse_haproxy(contents[HAPROXY_PATH], problems)
    if KEEPALIVED_PATH in contents:
        config.vrrp = parse_keepalived(contents[KEEPALIVED_PATH], problems)
    else:
        problems.append(f"write_files has no {KEEPALIVED_PATH}: this server never holds a VIP")
    return config, problems
