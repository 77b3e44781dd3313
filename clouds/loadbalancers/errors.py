"""Cloud (openstacksdk, keystoneauth) errors met while building a balancer, as a BalancerFailed in plain words."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from keystoneauth1 import exceptions as ks
from openstack import exceptions as sdk

from clouds.loadbalancers.base import BalancerFailed

logger = logging.getLogger(__name__)

# A cloud that cannot be reached or answers 5xx is usually back in a moment (an API node restarting,
# a proxy timing out, an answer lost): the controller looks again after 5 s, doubling the wait after
# each failure up to its cap, as Kubernetes' own service controller does (5 s to 300 s). Other
# refusals wait longer.
TRANSIENT_RETRY = 5.0


def busy_delay(since, first: float, cap: float) -> float:
    """When to look again at a resource the cloud is still working on (a balancer PENDING_*, a server in
    BUILD or being deleted), `since` being the cloud's time stamp of when that work began: a quarter of
    the time it has been busy so far, at least `first`, at most `cap`. Work just asked for is looked at
    again soon; work that takes long is looked at less and less often (no pass wasted every second on a
    slow cloud), yet never more than `cap` after it is done. No readable stamp: `first`."""
    try:
        began = datetime.fromisoformat(str(since).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return first
    if began.tzinfo is None:
        began = began.replace(tzinfo=UTC)
    busy = (datetime.now(UTC) - began).total_seconds()
    return min(max(first, busy / 4), cap)


def _status(exc: BaseException) -> int | None:
    return getattr(exc, "status_code", None) or getattr(exc, "http_status", None)


def explain_cloud_error(exc: BaseException) -> BalancerFailed:
    """A BalancerFailed for an error the cloud (or reaching it) raised."""
    logger.warning("cloud call failed: %s: %s", type(exc).__name__, _status(exc) or "")
    status = _status(exc)
    if isinstance(exc, ks.SSLError):
        return BalancerFailed("cloud-tls", "The cloud's certificate was not accepted.",
                              "An admin has to check the credential's identity URL and the cloud's certificate.")
    if isinstance(exc, (ks.ConnectFailure, ks.ConnectTimeout, ks.DiscoveryFailure)) and status is None:
        return BalancerFailed("cloud-unreachable", "The cloud cannot be reached right now.",
                              "It is tried again in a moment.", TRANSIENT_RETRY)
    if isinstance(exc, ks.Unauthorized) or status == 401:
        return BalancerFailed("cloud-credential", "The cloud refused the lab's cloud credential.",
                              "An admin has to fix the credential (Test connection says what is wrong).", 120.0)
    if status == 403:
        return BalancerFailed("cloud-forbidden", "The cloud does not allow this project to do that.",
                              "An admin has to check the project's roles and policies.", 120.0)
    if status == 409 and "quota" in str(exc).lower():
        return BalancerFailed("quota", "The cloud project's quota is used up.",
                              "Delete an unused load balancer, or ask an admin to raise the quota.")
    if status in (502, 503, 504) or isinstance(exc, (ks.ServiceUnavailable, ks.GatewayTimeout)):
        return BalancerFailed("cloud-unavailable", "The cloud's service is unavailable right now.",
                              "It is tried again in a moment.", TRANSIENT_RETRY)
    if isinstance(exc, ks.EndpointNotFound) or isinstance(exc, sdk.ServiceDisabledException):
        return BalancerFailed("service-missing", "The cloud project has no such service in its catalog.",
                              "An admin has to choose the load balancer that matches the cloud.", None)
    if isinstance(exc, sdk.SDKException):
        transient = status is None or status >= 500
        return BalancerFailed("cloud-error", f"The cloud answered with an error ({status or 'no status'}).",
                              "It is tried again in a moment.", TRANSIENT_RETRY if transient else 30.0)
    return BalancerFailed("internal", "Something went wrong on our side while talking to the cloud.",
                          "It is tried again in a moment.")
