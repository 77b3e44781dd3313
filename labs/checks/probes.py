"""Probes the server makes itself: HTTP to the external IP, and DNS names that should lead there.

An answer counts only when it comes from one of the session's own pods (the
pod names itself in the `X-Pod-Name` header, or in the page it serves).
`probe_session` is triggered by namespace changes (labs.checks.hook)
and by the student setting a DNS record; while a probe fails it retries a few
times with a growing delay, then waits for the next change. No polling loop.
"""

from __future__ import annotations

import http.client
import logging
import time

from celery import shared_task
from django.utils import timezone

from clouds.kube import list_namespace
from clouds.kube.objects import name_of, objects
from clouds.watch import state as observed
from labs.checks import dns as labdns
from labs.checks.cleanup import release_target
from labs.checks.definitions import CLEANUP_KEY, check_definitions
from labs.checks.evaluation import load_state, save_probe
from labs.checks.refresh import refresh_checks
from labs.checks.targets import lb_target, probe_signature, target_signature
from labs.content_loader import lab_or_none
from labs.models import CheckResult, DnsRecord, LabSession

log = logging.getLogger(__name__)

HTTP_TIMEOUT = 3.0
MAX_BODY = 64 * 1024
PROBE_MIN_INTERVAL = 5  # seconds between two probes of the same target for one session
RETRY_DELAYS = (2, 5, 10)  # seconds; then the next namespace change triggers a new probe
WELCOME = "Welcome to nginx!"


def http_get(ip: str, port: int, host: str | None = None, pods: list[str] | None = None,
             timeout: float = HTTP_TIMEOUT) -> dict:
    """GET http://ip:port/ with Host `host`; what answered and how fast, or why nothing did.

    With `pods` (the session's pod names), an answer from any other server does not count.
    """
    host_header = host or (ip if port == 80 else f"{ip}:{port}")
    url = f"http://{host or ip}{'' if port == 80 else f':{port}'}/"
    result = {"url": url, "ok": False}
    started = time.monotonic()
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Host": host_header, "User-Agent": "liveops-labs-probe",
                                          "Connection": "close"})
        response = conn.getresponse()
        body = response.read(MAX_BODY).decode("utf-8", "replace")
        result["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
        result["status"] = response.status
        pod = response.getheader("X-Pod-Name") or ""
        if not pod:
            pod = next((p for p in sorted(pods or [], key=len, reverse=True) if p in body), "")
        result["pod"] = pod
        result["welcome"] = WELCOME in body
        result["ok"] = 200 <= response.status < 400
        if not result["ok"]:
            result["error_kind"] = "http-status"
            result["error"] = f"the server answered with HTTP status {response.status} {response.reason}"
        elif pods is not None and pod not in pods:
            result["ok"] = False
            result["error_kind"] = "foreign-pod"
            result["error"] = (f"the answer came from pod {pod}, which is not one of your pods" if pod
                               else "the answer did not come from one of your pods")
    except ConnectionRefusedError:
        result.update(error_kind="refused", error=f"connection refused on port {port}: nothing listens there")
    except TimeoutError:
        result.update(error_kind="timeout", error=f"no answer within {timeout:g} seconds")
    except ConnectionResetError:
        result.update(error_kind="reset", error="the connection was reset before an answer came")
    except http.client.RemoteDisconnected:
        result.update(error_kind="reset", error="the connection was closed without an answer")
    except (OSError, http.client.HTTPException) as exc:
        result.update(error_kind="error", error=f"the request failed ({exc.__class__.__name__}: {exc})")
    finally:
        conn.close()
    if "latency_ms" not in result:
        result["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def _summary(http: dict) -> str:
    if http.get("ok"):
        who = f" from pod {http['pod']}" if http.get("pod") else ""
        return f"HTTP {http['status']}{who} in {http['latency_ms']:g} ms."
    return (http.get("error") or "no answer").capitalize() + "."


def probe_http(target: dict, pods: list[str]) -> dict:
    result = http_get(target["ip"], int(target["port"]), pods=pods)
    result["summary"] = _summary(result)
    return result


def probe_name(name: str, ip: str, port: int, pods: list[str]) -> dict:
    """Resolve `name`; when it gives `ip`, GET through it (connecting to the IP, Host set to the name)."""
    result = {"name": name, "ok": False}
    try:
        resolved = labdns.resolve_a(name)
    except labdns.DnsLookupError as exc:
        result.update(dns_error=exc.message, dns_error_kind=exc.code, summary=exc.message)
        return result
    result["resolved"] = resolved
    if ip not in resolved:
        result["summary"] = f"{name} resolves to {', '.join(resolved)}, not to {ip}."
        return result
    http = http_get(ip, port, host=name, pods=pods)
    ok = http.pop("ok", False)
    result.update(http)
    result["ok"] = ok
    result["summary"] = (f"{name} → {ip}; " + _summary({**http, "ok": result["ok"]})) if result["ok"] else \
        f"{name} resolves to {ip}, but " + (http.get("error") or "the request failed") + "."
    return result


def probe_sslip(target: dict, pods: list[str]) -> dict:
    """Both sslip.io forms must resolve to the IP; the app must answer through the dotted one."""
    dotted, dashed = labdns.sslip_names(target["ip"])
    result = probe_name(dotted, target["ip"], int(target["port"]), pods)
    try:
        dashed_resolved = labdns.resolve_a(dashed)
        result["dashed"] = {"name": dashed, "resolved": dashed_resolved, "ok": target["ip"] in dashed_resolved}
    except labdns.DnsLookupError as exc:
        result["dashed"] = {"name": dashed, "ok": False, "error": exc.message}
    return result


def run_probes(session: LabSession, state: dict) -> dict[str, dict]:
    """Probe the session's load balancer (and names) now; store and return the results by check key."""
    target = lb_target(state)
    if not target or not target.get("ip"):
        return {}
    signature = target_signature(target)
    pods = [name_of(p) for p in objects(state, "pods")]
    at = timezone.now().isoformat()
    results = {"http-external-ip": probe_http(target, pods)}
    results["dns-sslip"] = probe_sslip(target, pods)
    record = DnsRecord.objects.filter(session=session).first()
    if record is not None:
        results["dns-record"] = probe_name(record.name, target["ip"], int(target["port"]), pods)
    for key, result in results.items():
        result.update(signature=signature, ip=target["ip"], port=target["port"], at=at)
        save_probe(session, key, result)
    return results


def observed_state(session: LabSession) -> dict:
    """The watcher's state of the namespace; read from the API once when the watcher has none."""
    state = load_state(session)
    if any(state.get(k) for k in ("services", "pods")):
        return state
    try:
        return list_namespace(session.cluster, session.namespace)
    except Exception:  # noqa: BLE001 - the cluster being away is not a probe failure
        log.exception("could not list namespace %s", session.namespace)
        return state


@shared_task(name="labs.probes.probe_session", ignore_result=True)
def probe_session(session_id: str, attempt: int = 0) -> dict:
    """Probe a session's external IP and names, update its checks and notify its page."""
    try:
        session = LabSession.objects.select_related("cluster", "user").get(pk=session_id)
    except (LabSession.DoesNotExist, ValueError):
        return {}
    if not session.is_active:
        return {}
    state = observed_state(session)
    results = run_probes(session, state)
    refresh_checks(session, state)
    required_failed = [k for k in ("http-external-ip", "dns-record") if k in results and not results[k].get("ok")]
    if required_failed and attempt < len(RETRY_DELAYS):
        probe_session.apply_async((str(session.id), attempt + 1), countdown=RETRY_DELAYS[attempt])
    return {k: {"ok": v.get("ok"), "summary": v.get("summary")} for k, v in results.items()}


def maybe_enqueue_probe(session: LabSession, state: dict, force: bool = False) -> bool:
    """Enqueue a probe when a LoadBalancer has an address and ready endpoints.

    At most once per PROBE_MIN_INTERVAL seconds per session for the same target;
    at once when the target (IP, port, endpoints) changed.
    """
    target = lb_target(state)
    if not target or not target.get("ip") or not target.get("ready"):
        return False
    signature = probe_signature(target)
    key = f"liveops:probe:{session.id.hex}"
    try:
        r = observed.client()
        previous = r.get(key)
        if not force and previous is not None and previous.decode() == signature:
            return False
        r.set(key, signature, ex=PROBE_MIN_INTERVAL)
    except Exception:  # noqa: BLE001
        log.exception("probe de-duplication unavailable")
    probe_session.delay(str(session.id))
    return True


# A former address still answering with any of these has something listening there.
SILENT_KINDS = ("refused", "timeout", "error")


def probe_released(ip: str, port: int) -> dict:
    """Try the former external IP from the outside: released when nothing answers there any more."""
    result = http_get(ip, port)
    released = "status" not in result and result.get("error_kind") in SILENT_KINDS
    result["released"] = released
    result["ok"] = released
    return result


def _release_target(session: LabSession, state: dict) -> dict | None:
    if session.state != LabSession.State.READY:
        return None  # the end's own cleanup deleting the Service is not the student's clean-up
    rows = {r.key: r for r in CheckResult.objects.filter(session=session)}
    if rows.get(CLEANUP_KEY) is not None and rows[CLEANUP_KEY].passed_at is not None:
        return None  # reached once: the record stays, nothing left to try
    required = [d["key"] for d in check_definitions(lab_or_none(session.lab_slug)) if not d.get("optional")]
    if CLEANUP_KEY not in required:
        return None
    return release_target(session, state, rows, required)


@shared_task(name="labs.probes.probe_cleanup", ignore_result=True)
def probe_cleanup(session_id: str, attempt: int = 0) -> dict:
    """After the clean-up: try the former external IP, store the answer in the clean-up check, notify the page.

    While something still answers there, try again a few times with a growing delay.
    """
    try:
        session = LabSession.objects.select_related("cluster", "user").get(pk=session_id)
    except (LabSession.DoesNotExist, ValueError):
        return {}
    if session.state != LabSession.State.READY:
        return {}
    state = observed_state(session)
    target = _release_target(session, state)
    if target is None:
        return {}
    result = probe_released(target["ip"], target["port"])
    result.update(ip=target["ip"], port=target["port"], at=timezone.now().isoformat(),
                  final=attempt >= len(RETRY_DELAYS))
    save_probe(session, CLEANUP_KEY, result)
    refresh_checks(session, state)
    if not result["released"] and attempt < len(RETRY_DELAYS):
        probe_cleanup.apply_async((str(session.id), attempt + 1), countdown=RETRY_DELAYS[attempt])
    return {"released": result["released"], "error": result.get("error", "")}


def maybe_enqueue_cleanup_probe(session: LabSession, state: dict) -> bool:
    """Enqueue the outside try of the former address once the Service is gone and its balancer decommissioned
    (once per address, or again after PROBE_MIN_INTERVAL seconds)."""
    target = _release_target(session, state)
    if target is None:
        return False
    key = f"liveops:cleanup-probe:{session.id.hex}"
    try:
        if not observed.client().set(key, f"{target['ip']}:{target['port']}", ex=PROBE_MIN_INTERVAL, nx=True):
            return False
    except Exception:  # noqa: BLE001
        log.exception("clean-up probe de-duplication unavailable")
    probe_cleanup.delay(str(session.id))
    return True
