"""The clean-up check: the Service is gone, its load balancer decommissioned, and its former address
no longer answers when the server tries it from the outside.

It is due only once every other required check has been reached: before that, an
empty namespace would pass it at the start of the lab. The former address is the
one the external-IP check saw when it last passed (kept in its row as `last_passed`).
"""

from __future__ import annotations

from clouds.kube.objects import is_load_balancer, name_of, objects
from clouds.models import ServiceBalancer
from labs.checks.definitions import CLEANUP_KEY, FAILING, PASSED, WAITING

EXTERNAL_IP_KEY = "external-ip"


def former_address(rows: dict) -> dict | None:
    """The Service and the address its balancer had when the external-IP check last passed."""
    row = rows.get(EXTERNAL_IP_KEY)
    last = ((row.detail or {}).get("last_passed") if row is not None else None) or {}
    if not (last.get("ip") or last.get("hostname")):
        return None
    return {"service": last.get("service", ""), "ip": last.get("ip") or "", "hostname": last.get("hostname") or "",
            "port": int(last.get("port") or 80)}


def reached_keys(rows: dict) -> set[str]:
    """The checks reached once, from their stored rows."""
    return {key for key, row in rows.items() if row.passed_at is not None}


def earlier_reached(reached: set[str], required_keys: list[str]) -> bool:
    """Every required check but this one was reached once."""
    others = [k for k in required_keys if k != CLEANUP_KEY]
    return bool(others) and all(k in reached for k in others)


def load_balancer_services(state: dict) -> list[dict]:
    return [s for s in objects(state, "services") if is_load_balancer(s)]


def cleaning_up(state: dict, reached: set[str], required_keys: list[str]) -> bool:
    """The lab was done and its LoadBalancer Service is gone: what no longer passes is expected to."""
    return earlier_reached(reached, required_keys) and not load_balancer_services(state)


def _decommissioning(session, service: str) -> ServiceBalancer | None:
    """A cloud balancer of the session's namespace (for `service`) not deleted yet."""
    balancers = ServiceBalancer.objects.filter(cluster_id=session.cluster_id, namespace=session.namespace).exclude(
        state=ServiceBalancer.State.DELETED)
    if service:
        balancers = balancers.filter(service=service)
    return balancers.first()


def release_target(session, state: dict, rows: dict, required_keys: list[str]) -> dict | None:
    """The former address to try from the outside, once the Service is gone and its balancer
    decommissioned; None while that is not (yet) the case."""
    if not cleaning_up(state, reached_keys(rows), required_keys):
        return None
    former = former_address(rows)
    if former is None or not former["ip"] or _decommissioning(session, former["service"]) is not None:
        return None
    return former


def cleanup_check(session, state: dict, rows: dict, reached: set[str],
                  required_keys: list[str]) -> tuple[str, str, dict]:
    """(state, message, detail) of the clean-up check; `reached`: the checks reached once, or passing now."""
    if not earlier_reached(reached, required_keys):
        return WAITING, ("When the checks above are reached, delete your Service: this check then follows its "
                         "load balancer until its address is released."), {}
    services = load_balancer_services(state)
    former = former_address(rows) or {"service": "", "ip": "", "hostname": "", "port": 80}
    if services:
        service = next((s for s in services if name_of(s) == former["service"]), services[0])
        return WAITING, (f"When you are done, delete the Service {name_of(service)}: Kubernetes then has its load "
                         "balancer decommissioned."), {"service": name_of(service)}
    name = former["service"] or "your Service"
    balancer = _decommissioning(session, former["service"])
    if balancer is not None:
        return WAITING, (f"{name} is deleted; the cloud is decommissioning its load balancer {balancer.name} "
                         f"({balancer.get_state_display().lower()})…"), {"service": former["service"]}
    address = former["ip"] or former["hostname"]
    detail = {"service": former["service"], "ip": address, "port": former["port"]}
    if not former["ip"]:
        return PASSED, f"{name} is gone and its load balancer decommissioned.", detail
    probe = ((rows.get(CLEANUP_KEY).detail or {}).get("probe") or {}) if rows.get(CLEANUP_KEY) else {}
    if probe.get("ip") != former["ip"] or probe.get("port") != former["port"]:
        return WAITING, (f"{name} is gone and its load balancer decommissioned; checking from the outside that "
                         f"{address} no longer answers…"), detail
    if probe.get("released"):
        return PASSED, (f"{name} is gone, its load balancer decommissioned, and {address} no longer answers "
                        f"({probe.get('error', 'no answer')})."), detail
    answer = f"HTTP {probe['status']}" if probe.get("status") else "a connection"
    if probe.get("final"):
        return FAILING, (f"{name} is gone, but {address} still answers on port {former['port']} ({answer}): the "
                         "cloud has not released the address. Ask your instructor."), detail
    return WAITING, (f"{name} is gone, but {address} still answers on port {former['port']} ({answer}); "
                     "trying again in a moment…"), detail
