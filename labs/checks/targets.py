"""What the server-side probes aim at: the session's LoadBalancer Service, from the observed state."""

from __future__ import annotations

import hashlib
import json

from clouds.kube.objects import is_load_balancer, lb_ingress, name_of, objects, ready_addresses


def lb_target(state: dict | None) -> dict | None:
    """The LoadBalancer Service the probes aim at: the one with an address and ready endpoints first."""
    candidates = []
    for service in objects(state, "services"):
        if not is_load_balancer(service):
            continue
        ip, hostname = lb_ingress(service)
        ports = (service.get("spec") or {}).get("ports") or []
        port = next((p for p in ports if (p.get("protocol") or "TCP") == "TCP"), ports[0] if ports else {})
        addresses = ready_addresses(state, name_of(service))
        target = {
            "service": name_of(service),
            "ip": ip,
            "hostname": hostname,
            "port": port.get("port") or 80,
            "target_port": port.get("targetPort", port.get("port")),
            "ready": len(addresses),
            "addresses": sorted(a.get("ip", "") for a in addresses),
        }
        candidates.append(((bool(ip or hostname), bool(addresses)), target))
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0], reverse=True)
    return candidates[0][1]


def target_signature(target: dict) -> str:
    """What a probe result is about: a result for another address or port no longer counts."""
    raw = json.dumps([target.get(k) for k in ("service", "ip", "hostname", "port", "target_port")])
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


def probe_signature(target: dict) -> str:
    """What makes a new probe worth it: the target or the set of ready endpoints changed."""
    raw = json.dumps([target_signature(target), target.get("addresses")])
    return hashlib.sha1(raw.encode()).hexdigest()[:16]
