"""The admin's "Test connection": a Celery task that checks a credential step by step.

Each step (authentication, the catalog's load-balancer service, the floating
network, the floating-IP quota, Taikun LB's image and flavor) is recorded in
ConnectionTest.steps as it happens, and every change is published to the
channel-layer group of the test (the admin page redraws from the database).
The task takes the ConnectionTest id only: secrets are read from the database
by the worker and never appear in task arguments, logs or messages.
"""

from __future__ import annotations

import logging
import re
import ssl
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone
from keystoneauth1 import exceptions as ks
from openstack import exceptions as sdk

from clouds.models import CloudCredential, ConnectionTest
from clouds.openstack.connection import connect

logger = logging.getLogger(__name__)

PENDING, RUNNING, OK, FAILED, SKIPPED = "pending", "running", "ok", "failed", "skipped"
TAIKUN_IMAGE_TAG = "taikun-lb"
TAIKUN_MIN_VCPUS, TAIKUN_MIN_RAM_MB = 1, 1024
KEEP_TESTS = 10  # per credential; older runs are deleted when a new one starts
CHANGED = "connection_test.changed"  # the channel-layer message type (whole state is read from the database)

STEP_TITLES = {
    "authentication": "Authentication",
    "load-balancer-service": "Load-balancer service (Octavia) in the catalog",
    "floating-network": "Public (floating) network",
    "floating-ip-quota": "Floating-IP quota",
    "taikun-image": f"Taikun LB image (tagged {TAIKUN_IMAGE_TAG})",
    "taikun-flavor": "Taikun LB flavor",
}


# The service each step calls, to name it in an error.
STEP_SERVICES = {"authentication": "identity", "load-balancer-service": "identity", "floating-network": "network",
                 "floating-ip-quota": "network", "taikun-image": "image", "taikun-flavor": "compute"}


class StepFailed(Exception):
    """A step's failure: what was found and what to fix."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message, self.fix = message, fix


def planned_steps(credential: CloudCredential) -> list[dict]:
    keys = ["authentication", "load-balancer-service", "floating-network", "floating-ip-quota"]
    if credential.load_balancers == CloudCredential.LoadBalancers.TAIKUN:
        keys += ["taikun-image", "taikun-flavor"]
    return [{"key": k, "title": STEP_TITLES[k], "state": PENDING, "message": "", "fix": ""} for k in keys]


def start_connection_test(credential: CloudCredential) -> ConnectionTest:
    """A new ConnectionTest with its steps pending; the task starts once the transaction commits."""
    test = ConnectionTest.objects.create(credential=credential, steps=planned_steps(credential))
    old = ConnectionTest.objects.filter(credential=credential).values_list("pk", flat=True)[KEEP_TESTS:]
    ConnectionTest.objects.filter(pk__in=list(old)).delete()
    transaction.on_commit(lambda: _enqueue(test))
    return test


def _enqueue(test: ConnectionTest) -> None:
    publish(test)
    try:
        test_connection.delay(test.pk)
    except Exception:  # the broker is down: say so on the page rather than fail the request
        logger.exception("could not queue connection test %s", test.pk)
        test.steps = [{**s, "state": FAILED if i == 0 else SKIPPED,
                       "message": "Could not start the test: the task queue is unreachable." if i == 0 else "",
                       "fix": "Check that Redis and the Celery workers run, then test again." if i == 0 else ""}
                      for i, s in enumerate(test.steps)]
        test.finished, test.ok = timezone.now(), False
        test.save(update_fields=["steps", "finished", "ok"])
        publish(test)


def publish(test: ConnectionTest) -> None:
    """Tell the admin pages showing this credential to redraw its latest test."""
    try:
        async_to_sync(get_channel_layer().group_send)(test.group_name, {"type": CHANGED, "test": test.pk})
    except Exception:  # a page heals on the next message or when it reconnects
        logger.exception("could not publish connection test %s", test.pk)


@shared_task(name="clouds.test_connection", ignore_result=True)
def test_connection(test_id: int) -> None:
    test = ConnectionTest.objects.select_related("credential").filter(pk=test_id).first()
    if test is None:
        logger.info("connection test %s is gone", test_id)
        return
    ConnectionTestRun(test).run()


class ConnectionTestRun:
    """One run of the steps against the cloud, saving and publishing each change."""

    def __init__(self, test: ConnectionTest) -> None:
        self.test = test
        self.credential = test.credential
        if not test.steps:
            test.steps = planned_steps(self.credential)
        self.conn = None
        self.access = None

    # ---- recording ---------------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        return [s for s in (self.credential.password, self.credential.application_credential_secret) if s]

    def scrub(self, text: str) -> str:
        """Never let a secret reach a message, even if a library put it in an error."""
        for secret in self._secrets():
            text = text.replace(secret, "•••")
        return text

    def set(self, key: str, state: str, message: str = "", fix: str = "") -> None:
        for step in self.test.steps:
            if step["key"] == key:
                step.update(state=state, message=self.scrub(message), fix=self.scrub(fix))
        self.test.save(update_fields=["steps"])
        logger.info("connection test %s: %s %s", self.test.pk, key, state)
        publish(self.test)

    def run(self) -> None:
        self.test.finished, self.test.ok = None, None
        for step in self.test.steps:
            step.update(state=PENDING, message="", fix="")
        self.test.save(update_fields=["steps", "finished", "ok"])
        try:
            self.step("authentication", self.authenticate)
            for step in self.test.steps[1:]:
                if self.access is None:
                    self.set(step["key"], SKIPPED, "Not checked: authentication failed.")
                else:
                    self.step(step["key"], getattr(self, "check_" + step["key"].replace("-", "_")))
        finally:
            if self.conn is not None:
                self.conn.close()
            self.test.finished = timezone.now()
            self.test.ok = all(s["state"] in (OK, SKIPPED) for s in self.test.steps)
            self.test.save(update_fields=["steps", "finished", "ok"])
            publish(self.test)

    def step(self, key: str, check) -> None:
        self.set(key, RUNNING)
        try:
            outcome = check()
        except StepFailed as failure:
            self.set(key, FAILED, failure.message, failure.fix)
        except Exception as exc:  # an unexpected answer: say what it was, never crash the run
            logger.info("connection test %s: %s raised %s", self.test.pk, key, type(exc).__name__)
            message, fix = describe_error(exc, self.credential, STEP_SERVICES.get(key, ""))
            self.set(key, FAILED, message, fix)
        else:
            state, message = outcome if isinstance(outcome, tuple) else (OK, outcome)
            self.set(key, state, message)

    # ---- steps -------------------------------------------------------------------------------

    def authenticate(self) -> str:
        cred = self.credential
        if cred.uses_application_credential:
            self.conn = connect(cred)
            try:
                self.access = self.conn.session.auth.get_access(self.conn.session)
            except ks.Unauthorized:
                raise StepFailed(
                    f"Keystone refused the application credential {cred.application_credential_id}.",
                    "Check the application credential's id and secret: it may have expired or been deleted "
                    "(openstack application credential show).") from None
            return (f"Application credential accepted for project {self.access.project_name} "
                    f"({self.access.project_id}).")
        unscoped = connect(cred, unscoped=True)
        try:
            unscoped.session.auth.get_access(unscoped.session)
        except ks.Unauthorized:
            raise StepFailed(
                f"Keystone refused the user name or password of “{cred.username}” "
                f"(domain {cred.user_domain_name or 'Default'}).",
                "Check the user name, the password and the user domain.") from None
        finally:
            unscoped.close()
        self.conn = connect(cred)
        try:
            self.access = self.conn.session.auth.get_access(self.conn.session)
        except ks.Unauthorized:
            raise StepFailed(
                f"The user name and password are right, but “{cred.username}” cannot work in project "
                f"“{cred.project_name}” (domain {cred.project_domain_name or 'Default'}): it has no role there, "
                "or the project does not exist.",
                "Check the project's name and domain, or ask the cloud's admin to give the user a role "
                "(member) on it.") from None
        return f"Signed in as {cred.username} to project {self.access.project_name} ({self.access.project_id})."

    def _endpoints(self, service_type: str) -> list:
        found = self.access.service_catalog.get_endpoints(
            service_type=service_type, interface="public", region_name=self.credential.region_name or None)
        return found.get(service_type) or []

    def check_load_balancer_service(self):
        cred = self.credential
        if not self._endpoints("network"):
            regions = sorted({e.get("region_id") or e.get("region") or "?"
                              for s in self.access.service_catalog.catalog for e in s.get("endpoints", [])})
            raise StepFailed(
                f"The catalog has no network endpoint in region “{cred.region_name}”.",
                f"Choose one of the catalog's regions: {', '.join(regions) or 'none'}.")
        octavia = bool(self._endpoints("load-balancer"))
        choice = cred.load_balancers
        if choice == CloudCredential.LoadBalancers.OCTAVIA and not octavia:
            raise StepFailed(
                "Octavia (service type load-balancer) is not in this project's catalog.",
                "Choose Taikun LB, which needs no Octavia, or ask the cloud's admin to enable Octavia "
                "for this project.")
        if choice == CloudCredential.LoadBalancers.TAIKUN and octavia:
            raise StepFailed(
                "Octavia is in this project's catalog: Taikun LB is for projects without it.",
                "Choose Octavia for this credential, or use a project where Octavia is not offered.")
        if choice == CloudCredential.LoadBalancers.OCTAVIA:
            return "Octavia is in the catalog."
        if choice == CloudCredential.LoadBalancers.TAIKUN:
            return "Octavia is not in the catalog, as Taikun LB expects."
        return f"Octavia is {'' if octavia else 'not '}in the catalog (not used: load balancers “None”)."

    def _floating_network(self):
        if not self.credential.floating_network:
            return None
        return _find(self.conn.network.find_network, self.credential.floating_network)

    def check_floating_network(self):
        wanted = self.credential.floating_network
        if not wanted:
            return SKIPPED, "No public network given: balancers get no floating IP."
        network = self._floating_network()
        external = [n.name for n in self.conn.network.networks(is_router_external=True)]
        hint = f"External networks here: {', '.join(sorted(external))}." if external else \
            "This project sees no external network."
        if network is None:
            raise StepFailed(f"No network named or with id “{wanted}” in this project.",
                             f"Give the name or id of the external network floating IPs come from. {hint}")
        if not network.is_router_external:
            raise StepFailed(f"“{network.name}” is not an external network (router:external is false).",
                             f"Give the network floating IPs come from. {hint}")
        return f"{network.name} ({network.id}), external."

    def check_floating_ip_quota(self):
        if not self.credential.floating_network:
            return SKIPPED, "No public network given: no floating IPs needed."
        project_id = self.access.project_id
        quota = self.conn.network.get_quota(project_id, details=True)
        details = quota.floating_ips
        if isinstance(details, dict):
            limit, used = int(details.get("limit", -1)), int(details.get("used", 0)) + int(details.get("reserved", 0))
        else:  # a cloud without quota details: count the project's floating IPs
            limit, used = int(details), sum(1 for _ in self.conn.network.ips(project_id=project_id))
        if limit < 0:
            return f"Unlimited ({used} in use)."
        left = max(limit - used, 0)
        if left == 0:
            raise StepFailed(f"No floating IP left: {used} of {limit} in use.",
                             "Release floating IPs the project no longer needs, or ask the cloud's admin "
                             "for a higher floating-IP quota.")
        return f"{left} of {limit} left ({used} in use)."

    def check_taikun_image(self):
        images = list(self.conn.image.images(tag=TAIKUN_IMAGE_TAG))
        active = [i for i in images if i.status == "active"]
        if not active:
            more = f" ({len(images)} found, none active)" if images else ""
            raise StepFailed(f"No active image tagged {TAIKUN_IMAGE_TAG}{more}.",
                             f"Upload the Taikun LB image and tag it: openstack image set --tag "
                             f"{TAIKUN_IMAGE_TAG} <image>.")
        return f"{active[0].name} ({active[0].id})."

    def check_taikun_flavor(self):
        name = self.credential.taikun_flavor
        if not name:
            raise StepFailed("No flavor given.", "Give the Taikun LB flavor (at least 1 vCPU and 1 GB RAM).")
        flavor = _find(self.conn.compute.find_flavor, name)
        big_enough = sorted(
            (f for f in self.conn.compute.flavors() if f.vcpus >= TAIKUN_MIN_VCPUS and f.ram >= TAIKUN_MIN_RAM_MB),
            key=lambda f: (f.vcpus, f.ram))
        suggestion = (f" Big enough here: {', '.join(f'{f.name} ({_size(f)})' for f in big_enough[:4])}."
                      if big_enough else "")
        if flavor is None:
            raise StepFailed(f"No flavor named or with id “{name}”.", f"Give one of the cloud's flavors.{suggestion}")
        if flavor.vcpus < TAIKUN_MIN_VCPUS or flavor.ram < TAIKUN_MIN_RAM_MB:
            raise StepFailed(f"{flavor.name} has {_size(flavor)}: Taikun LB needs at least 1 vCPU and 1 GB RAM.",
                             f"Choose a bigger flavor.{suggestion}")
        return f"{flavor.name}: {_size(flavor)}."


def _find(finder, name_or_id):
    """A resource by name or id, or None."""
    try:
        return finder(name_or_id, ignore_missing=False)
    except sdk.NotFoundException:
        return None


def _size(flavor) -> str:
    ram = f"{flavor.ram // 1024} GB" if flavor.ram % 1024 == 0 else f"{flavor.ram} MB"
    return f"{flavor.vcpus} vCPU{'s' if flavor.vcpus != 1 else ''}, {ram} RAM"


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def describe_error(exc: Exception, credential: CloudCredential, service: str = "") -> tuple[str, str]:
    """(message, fix) for an error from keystoneauth or openstacksdk (calling `service`), without secrets."""
    who = f"The cloud's {service} service" if service else "The cloud"
    url = credential.auth_url
    host = urlsplit(url).netloc or url
    chain = list(_chain(exc))
    text = " ".join(str(e) for e in chain)
    if any(isinstance(e, (ks.SSLError, ssl.SSLError)) for e in chain) or "SSL exception" in text:
        reason = "the certificate is not trusted" if "CERTIFICATE_VERIFY_FAILED" in text else "the TLS handshake failed"
        detail = ""
        if "CERTIFICATE_VERIFY_FAILED" in text and "certificate verify failed:" in text:
            detail = " (" + text.split("certificate verify failed:", 1)[1].split("(")[0].strip(" )'\"") + ")"
        return (f"TLS error talking to {host}: {reason}{detail}.",
                "Use the URL with the certificate the cloud publishes, or have its certificate signed by a CA "
                "this server trusts.")
    if any(isinstance(e, ks.ConnectTimeout) for e in chain):
        return (f"{host} did not answer in time.",
                "Check the identity URL's host and port, and that this server may reach it (firewall, proxy).")
    if "NameResolutionError" in text or "Name or service not known" in text or "nodename nor servname" in text:
        return (f"The host name {urlsplit(url).hostname} does not resolve.",
                "Check the identity URL's host name.")
    if any(isinstance(e, ks.ConnectFailure) for e in chain) or "Unable to establish connection" in text:
        refused = "refused" in text.lower()
        return (f"Could not connect to {host}{': connection refused' if refused else ''}.",
                "Check the identity URL (host and port), and that this server can reach it.")
    status = next((getattr(e, "http_status", None) or getattr(e, "status_code", None) for e in chain
                   if getattr(e, "http_status", None) or getattr(e, "status_code", None)), None)
    if status is None and (found := re.search(r"\(HTTP (\d{3})\)", text)):
        status = int(found.group(1))
    if status and status >= 500:
        return (f"{who} answered {status}{' Service Unavailable' if status == 503 else ''}.",
                "The service is down or overloaded: test again later; if it persists, ask the cloud's admin.")
    if any(isinstance(e, ks.DiscoveryFailure) for e in chain):
        return (f"No Keystone v3 API answers at {url}.",
                "Give the identity URL the cloud publishes, e.g. https://keystone.example.com:5000/v3.")
    if any(isinstance(e, (ks.EndpointNotFound, sdk.ServiceDisabledException)) for e in chain):
        region = f" in region {credential.region_name}" if credential.region_name else ""
        return (f"The catalog has no {service or 'needed'} endpoint{region}.",
                "Check the region (empty: the cloud's only region).")
    if status in (401, 403):
        return (f"{who} refused the call ({status}): the user lacks a role or a policy forbids it.",
                "Ask the cloud's admin for the member role on the project.")
    if status:
        return (f"{who} answered HTTP {status}.", "Test again; if it persists, ask the cloud's admin.")
    return (f"Unexpected error: {type(exc).__name__}.", "Test again; if it persists, check the server's logs.")
