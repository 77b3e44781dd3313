"""The cloud-config a Taikun LB server boots with: an HAProxy and a keepalived configuration.

Pure functions, no cloud calls. HAProxy gets one frontend per TCP port of the
Service (`bind *:<port>`) forwarding round robin to every node's nodePort, with
health checks (and `send-proxy` when the Service asks for the PROXY protocol);
keepalived holds the VIP on the MASTER (higher priority) and hands it to the
BACKUP when the MASTER stops, talking unicast VRRP to its peer (clouds often
drop multicast).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from ..base import ServicePort

HAPROXY_PATH = "/etc/haproxy/haproxy.cfg"
KEEPALIVED_PATH = "/etc/keepalived/keepalived.conf"
MASTER_PRIORITY = 101
BACKUP_PRIORITY = 100


@dataclass(frozen=True)
class Member:
    """One of the pair: slot 1 is the MASTER, slot 2 the BACKUP."""

    slot: int
    address: str  # the fixed IP of its own port
    peer: str  # the other server's fixed IP ("" when not known)

    @property
    def state(self) -> str:
        return "MASTER" if self.slot == 1 else "BACKUP"

    @property
    def priority(self) -> int:
        return MASTER_PRIORITY if self.slot == 1 else BACKUP_PRIORITY


def balanced_ports(ports: Iterable[ServicePort]) -> list[ServicePort]:
    """The ports HAProxy can serve (TCP), in port order."""
    return sorted((p for p in ports if p.protocol.upper() == "TCP"), key=lambda p: p.port)


def haproxy_config(ports: Iterable[ServicePort], nodes: Iterable[str], proxy_protocol: bool = False) -> str:
    options = "check send-proxy" if proxy_protocol else "check"
    lines = [
        "global",
        "  maxconn 4096",
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 60s",
        "  timeout server 60s",
        "  default-server inter 2s fall 3 rise 2",
    ]
    for port in balanced_ports(ports):
        lines += [
            f"frontend fe_{port.port}",
            f"  bind *:{port.port}",
            f"  default_backend be_{port.port}",
            f"backend be_{port.port}",
            "  balance roundrobin",
        ]
        for i, node in enumerate(sorted(set(nodes)), start=1):
            lines.append(f"  server node-{i} {node}:{port.node_port} {options}")
    return "\n".join(lines) + "\n"


def keepalived_config(vip: str, vrid: int, member: Member) -> str:
    lines = [
        "vrrp_script chk_haproxy {",
        '  script "/usr/bin/killall -0 haproxy"',
        "  interval 2",
        "  weight 2",
        "}",
        "vrrp_instance VI_1 {",
        f"  state {member.state}",
        "  interface eth0",
        f"  virtual_router_id {vrid}",
        f"  priority {member.priority}",
        "  advert_int 1",
    ]
    if member.address and member.peer:
        lines += [f"  unicast_src_ip {member.address}", "  unicast_peer {", f"    {member.peer}", "  }"]
    lines += [
        "  virtual_ipaddress {",
        f"    {vip}",
        "  }",
        "  track_script {",
        "    chk_haproxy",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "".join(pad + line + "\n" for line in text.splitlines())


def render_user_data(*, ports: Iterable[ServicePort], nodes: Iterable[str], proxy_protocol: bool, vip: str,
                     vrid: int, member: Member) -> str:
    """The #cloud-config text (not base64) for one server of the pair."""
    return (
        "#cloud-config\n"
        "write_files:\n"
        f"  - path: {HAPROXY_PATH}\n"
        "    permissions: '0644'\n"
        "    content: |\n"
        + _indent(haproxy_config(ports, nodes, proxy_protocol), 6)
        + f"  - path: {KEEPALIVED_PATH}\n"
        "    permissions: '0644'\n"
        "    content: |\n"
        + _indent(keepalived_config(vip, vrid, member), 6)
        + "runcmd:\n"
        "  - sysctl -w net.ipv4.ip_nonlocal_bind=1\n"
        "  - systemctl restart haproxy keepalived\n"
    )


def config_hash(user_data: str) -> str:
    """A short fingerprint of the user data, kept in the server's metadata to notice changes."""
    return hashlib.sha256(user_data.encode()).hexdigest()[:16]
