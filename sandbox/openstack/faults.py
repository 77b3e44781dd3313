"""Fault switches of the sandbox cloud, set at start (CLI) and at runtime through

    GET  /sandbox/faults            -> the current switches
    POST /sandbox/faults  {...}     -> change some, answer the current switches

authenticated by the header `X-Sandbox-Admin-Token: <sandbox.admin_token from
clouds.yaml>` (or `Authorization: Bearer <same>`). Keys of the JSON body:

- `floating_ip_quota` (int >= 0): the floating-IP limit of every project; at or
  under the number in use, creating one answers 409 OverQuota.
- `lb_errors` (int >= 0): the next N load balancers created go to ERROR
  (provisioning_status and operating_status ERROR, `sandbox_fault` gives the reason);
  `lb_error_reason` (str) sets that reason.
- `unavailable` (list of service types among identity, image, network,
  load-balancer, compute): those answer 503 to everything.
- `octavia_disabled` (bool): the `lab` project loses Octavia too (no load-balancer
  in new tokens' catalogs; calls answer 403). `lab-taikun` never has it.
- `delays` (object of seconds): `os_lb_provision`, `os_lb_update`, `os_lb_delete`,
  `os_server_boot`, `os_server_delete` (how long balancers and servers stay PENDING_*
  / BUILD); the answer shows them under `delays`.
- `error_rates` (object: service type -> share 0..1): that share of the service's calls,
  spread evenly (every 1/share-th call), answer 500 without doing anything.
- `lost_answer_rates` (object: service type -> share 0..1): that share of the calls is
  done, then the connection is closed without an answer (a client whose timeout struck
  after the cloud acted).
- `slow_answers` (list of {"method", "path", "seconds", "count"}): the next `count`
  calls whose method and path (a prefix of the request's path) match are done, then
  answered `seconds` late; the answer shows `held`, the answers held right now
  (sandbox/slow.py).
"""

from __future__ import annotations

import hmac
import json
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from ..slow import SlowAnswers
from ..slow import parse as parse_slow_answers

SERVICES = ("identity", "image", "network", "load-balancer", "compute")
DELAYS = ("os_lb_provision", "os_lb_update", "os_lb_delete", "os_server_boot", "os_server_delete")


@dataclass
class Faults:
    floating_ip_quota: int = 10
    lb_errors: int = 0
    lb_error_reason: str = "Sandbox fault: amphora failed to boot (compute instance went to ERROR)"
    unavailable: set[str] = field(default_factory=set)
    octavia_disabled: bool = False
    error_rates: dict[str, float] = field(default_factory=dict)
    lost_answer_rates: dict[str, float] = field(default_factory=dict)
    slow: SlowAnswers = field(default_factory=SlowAnswers)
    _calls: Counter = field(default_factory=Counter)
    injected: Counter = field(default_factory=Counter)  # "error" / "lost" -> calls failed so far

    @classmethod
    def from_config(cls, config) -> Faults:
        return cls(floating_ip_quota=config.cloud_fip_quota, lb_errors=config.cloud_lb_errors,
                   unavailable=set(config.cloud_unavailable), octavia_disabled=config.cloud_octavia_disabled)

    def take_lb_error(self) -> str | None:
        if self.lb_errors > 0:
            self.lb_errors -= 1
            return self.lb_error_reason
        return None

    def _due(self, rates: dict[str, float], what: str, service_type: str) -> bool:
        """True for `rate` of the calls, spread evenly (deterministic: every 1/rate-th call)."""
        rate = rates.get(service_type, 0.0)
        if rate <= 0:
            return False
        key = (what, service_type)
        self._calls[key] += 1
        n = self._calls[key]
        due = int(n * rate) > int((n - 1) * rate)
        if due:
            self.injected[what] += 1
        return due

    def take_error(self, service_type: str) -> bool:
        return self._due(self.error_rates, "error", service_type)

    async def after_call(self, service_type: str, request) -> bool:
        """Once the call is done: hold its answer if a slow answer matches; True if the answer is to be lost."""
        await self.slow.hold(request)
        return self._due(self.lost_answer_rates, "lost", service_type)

    def view(self) -> dict:
        return {"floating_ip_quota": self.floating_ip_quota, "lb_errors": self.lb_errors,
                "lb_error_reason": self.lb_error_reason, "unavailable": sorted(self.unavailable),
                "octavia_disabled": self.octavia_disabled, "error_rates": dict(self.error_rates),
                "lost_answer_rates": dict(self.lost_answer_rates), "injected": dict(self.injected),
                **self.slow.view()}

    def update(self, body: dict) -> None:
        """Validate everything first, then apply (ValueError names the bad key)."""
        changes = {}
        for key, value in body.items():
            if key in ("floating_ip_quota", "lb_errors"):
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"{key} must be an integer >= 0")
            elif key == "lb_error_reason":
                if not isinstance(value, str) or not value:
                    raise ValueError("lb_error_reason must be a non-empty string")
            elif key == "unavailable":
                if not isinstance(value, list) or any(v not in SERVICES for v in value):
                    raise ValueError(f"unavailable must be a list of service types among {', '.join(SERVICES)}")
                value = set(value)
            elif key == "octavia_disabled":
                if not isinstance(value, bool):
                    raise ValueError("octavia_disabled must be true or false")
            elif key in ("error_rates", "lost_answer_rates"):
                if not isinstance(value, dict) or any(
                        k not in SERVICES or isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1
                        for k, v in value.items()):
                    raise ValueError(f"{key} must map some of {', '.join(SERVICES)} to a share between 0 and 1")
                value = {k: float(v) for k, v in value.items()}
            elif key == "slow_answers":
                value = parse_slow_answers(value)
            else:
                raise ValueError(f"unknown switch {key!r}")
            changes[key] = value
        for key, value in changes.items():
            if key == "slow_answers":
                self.slow.rules = value
            else:
                setattr(self, key, value)


class FaultsEndpoint:
    def __init__(self, cloud) -> None:
        self.cloud = cloud

    def _view(self) -> dict:
        return {**self.cloud.faults.view(),
                "delays": {k: getattr(self.cloud.config.delays, k) for k in DELAYS}}

    def routes(self):
        return [("GET", "/sandbox/faults", self.get), ("POST", "/sandbox/faults", self.post)]

    def _authorized(self, request: web.Request) -> bool:
        given = request.headers.get("X-Sandbox-Admin-Token", "")
        auth = request.headers.get("Authorization", "")
        if not given and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return bool(given) and hmac.compare_digest(given, self.cloud.admin_token)

    def _deny(self) -> web.Response:
        return web.json_response({"error": "X-Sandbox-Admin-Token missing or wrong"}, status=401)

    async def get(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._deny()
        return web.json_response(self._view())

    async def post(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._deny()
        try:
            body = json.loads(await request.read() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            delays = body.pop("delays", None) or {}
            if not isinstance(delays, dict) or any(
                    k not in DELAYS or isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
                    for k, v in delays.items()):
                raise ValueError(f"delays must map some of {', '.join(DELAYS)} to seconds >= 0")
            self.cloud.faults.update(body)
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)
        for key, value in delays.items():
            setattr(self.cloud.config.delays, key, float(value))
        self.cloud.changed()
        return web.json_response(self._view())
