"""openstacksdk and keystoneauth errors turned into `BalancerFailed` (or `Retry`) in plain words.

Messages name the service and what to do; they never carry the credential's secrets or a token
(whatever a cloud echoes back is scrubbed of them)."""

from __future__ import annotations

import contextlib
import re

import requests
from keystoneauth1 import exceptions as ks
from openstack import exceptions as sdk

from ..base import BalancerFailed, Retry
from ..errors import TRANSIENT_RETRY

_VERSION = re.compile(r"/v\d+(\.\d+)?$")
SECRET_KEYS = ("password", "secret", "token")
CREDENTIAL_FIX = ("Check the cloud credential in the admin (user name and password, or the application "
                  "credential, and the project), then run Test connection.")


def _secrets(conn) -> list[str]:
    try:
        auth = conn.config.auth or {}
    except Exception:  # noqa: BLE001 - a broken config has nothing to hide
        return []
    return [str(v) for k, v in auth.items() if v and any(s in k for s in SECRET_KEYS)]


def scrub(conn, text: str, limit: int = 300) -> str:
    for secret in _secrets(conn):
        text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def service_of(conn, url: str | None) -> str:
    """Which of the cloud's services answered `url` ("load-balancer", "network", "identity")."""
    if url:
        for attr, name in (("load_balancer", "load-balancer"), ("network", "network")):
            try:
                endpoint = getattr(conn, attr).get_endpoint()
            except Exception:  # noqa: BLE001 - no catalog: cannot tell
                continue
            if endpoint and url.startswith(_VERSION.sub("", endpoint.rstrip("/"))):
                return name
        if "/identity" in url or "/auth/tokens" in url or ":5000" in url:
            return "identity"
    return "cloud"


def details_of(e: Exception) -> str:
    details = getattr(e, "details", None) or ""
    if not details:
        response = getattr(e, "response", None)
        try:
            body = response.json() if response is not None else {}
        except ValueError:
            body = {}
        if isinstance(body, dict):
            inner = body.get("NeutronError") or body
            details = (inner.get("message") or inner.get("faultstring") or "") if isinstance(inner, dict) else ""
    return str(details)


def neutron_type(e: Exception) -> str:
    response = getattr(e, "response", None)
    try:
        body = response.json() if response is not None else {}
    except ValueError:
        return ""
    inner = body.get("NeutronError") if isinstance(body, dict) else None
    return inner.get("type", "") if isinstance(inner, dict) else ""


def failure_of(conn, e: Exception) -> Exception:
    """The BalancerFailed (or Retry) an exception from the cloud means."""
    if isinstance(e, sdk.ServiceDisabledException):
        if "load-balancer" in str(e):
            return BalancerFailed(
                "no-octavia", "The cloud project has no Octavia load-balancer service in its catalog.",
                "Choose Taikun LB for this cloud credential, or ask the cloud's administrator to enable Octavia.",
                retry_after=None)
        return BalancerFailed("cloud-service-missing", "A service this balancer needs is missing from the cloud's "
                              "catalog.", "Ask the cloud's administrator which services the project has.",
                              retry_after=None)
    if isinstance(e, sdk.DuplicateResource):
        return BalancerFailed("cloud-ambiguous", f"More than one resource in the cloud answers to that name: "
                              f"{scrub(conn, str(e))}", "Use the id instead of the name in the admin.",
                              retry_after=None)
    if isinstance(e, ks.Unauthorized) or getattr(e, "status_code", None) == 401 or \
            getattr(e, "http_status", None) == 401:
        return BalancerFailed("cloud-auth", "The cloud credential was refused.", CREDENTIAL_FIX, retry_after=None)
    if isinstance(e, (ks.ConnectFailure, ks.DiscoveryFailure, ks.ConnectTimeout, requests.ConnectionError,
                      requests.Timeout)):
        return BalancerFailed("cloud-unreachable", "The cloud could not be reached.",
                              "Check the credential's Identity URL; if it is right, the cloud may be down for a "
                              "while.", retry_after=TRANSIENT_RETRY)
    if isinstance(e, ks.HttpError):
        status = e.http_status or 0
        service, details = service_of(conn, getattr(e, "url", None)), scrub(conn, e.message or "")
    elif isinstance(e, sdk.HttpException):
        status = e.status_code or 0
        service, details = service_of(conn, e.url), scrub(conn, details_of(e))
    else:
        return BalancerFailed("cloud-error", f"The cloud answered in a way this product does not understand: "
                              f"{scrub(conn, str(e))}", retry_after=60)
    what = f"The cloud's {service} service" if service != "cloud" else "The cloud"
    if status == 409 and "immutable" in details:
        return Retry(f"{what} is busy with the balancer: {details}", delay=2.0)
    if status in (403, 409) and "quota" in details.lower() and service == "load-balancer":
        return BalancerFailed("balancer-quota", "The cloud has no load balancer left for this project",
                              "Delete a load balancer the project no longer needs, or ask the cloud's administrator "
                              "for a larger load-balancer quota.", retry_after=60)
    if status == 403:
        return BalancerFailed("cloud-forbidden", f"{what} refused this request for the project (HTTP 403)"
                              + (f": {details}" if details else "."),
                              "Ask the cloud's administrator to allow it for the credential's project (its role "
                              "or policy).", retry_after=None)
    if status in (413, 429):
        return BalancerFailed("cloud-rate-limited", f"{what} asked to slow down (HTTP {status}).", retry_after=30)
    if status >= 500:
        return BalancerFailed("cloud-unavailable", f"{what} is unavailable (HTTP {status}).",
                              "Nothing to change here: it is tried again shortly. If it lasts, ask the cloud's "
                              "administrator.", retry_after=TRANSIENT_RETRY)
    return BalancerFailed("cloud-refused", f"{what} refused the request (HTTP {status})"
                          + (f": {details}" if details else "."),
                          "Check the cluster's subnet and the credential's floating network in the admin.",
                          retry_after=60)


@contextlib.contextmanager
def cloud_errors(conn):
    """Turn whatever the cloud raises inside the block into BalancerFailed / Retry."""
    try:
        yield
    except (Retry, BalancerFailed):
        raise
    except (sdk.SDKException, ks.ClientException, requests.RequestException) as e:
        raise failure_of(conn, e) from e
