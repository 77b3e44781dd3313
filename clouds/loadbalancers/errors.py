"""Cloud (openstacksdk, keystoneauth) errors met while building a balancer, as a BalancerFailed in plain words."""

from __future__ import annotations

import logging

from keystoneauth1 import exceptions as ks
from openstack import exceptions as sdk

from clouds.loadbalancers.base import BalancerFailed

logger = logging.getLogger(__name__)


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
                              "It is tried again in a moment.")
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
                              "It is tried again in a moment.")
    if isinstance(exc, ks.EndpointNotFound) or isinstance(exc, sdk.ServiceDisabledException):
        return BalancerFailed("service-missing", "The cloud project has no such service in its catalog.",
                              "An admin has to choose the load balancer that matches the cloud.", None)
    if isinstance(exc, sdk.SDKException):
        return BalancerFailed("cloud-error", f"The cloud answered with an error ({status or 'no status'}).",
                              "It is tried again in a moment.")
    return BalancerFailed("internal", "Something went wrong on our side while talking to the cloud.",
                          "It is tried again in a moment.")
