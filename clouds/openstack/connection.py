"""A connection to a credential's OpenStack project through openstacksdk (no clouds.yaml, no environment).

The secrets go to openstacksdk only; they are never logged, put in task
arguments or in messages. Error messages name what to fix, not the secret.
"""

from __future__ import annotations

import hashlib
import threading
import time

import openstack

API_TIMEOUT = 20  # seconds for one API call
SHARED_FOR = 600  # seconds a process keeps a shared connection (its token renews itself meanwhile)


def auth_of(credential) -> tuple[str, dict]:
    """(auth_type, auth) for openstacksdk: an application credential when one is set, else a password."""
    if credential.application_credential_id:
        return "v3applicationcredential", {
            "auth_url": credential.auth_url,
            "application_credential_id": credential.application_credential_id,
            "application_credential_secret": credential.application_credential_secret,
        }
    return "password", {
        "auth_url": credential.auth_url,
        "username": credential.username,
        "password": credential.password,
        "user_domain_name": credential.user_domain_name or "Default",
        "project_name": credential.project_name,
        "project_domain_name": credential.project_domain_name or "Default",
    }


def connect(credential, *, unscoped: bool = False, timeout: float = API_TIMEOUT) -> openstack.connection.Connection:
    """A Connection to the credential's project (`unscoped`: authenticate the user alone, no project)."""
    auth_type, auth = auth_of(credential)
    if unscoped and auth_type == "password":
        auth = {k: v for k, v in auth.items() if k not in ("project_name", "project_domain_name")}
    return openstack.connect(
        load_yaml_config=False, load_envvars=False, app_name="liveops-labs",
        auth_type=auth_type, auth=auth, region_name=credential.region_name or None,
        interface="public", identity_api_version="3", api_timeout=timeout,
    )


_shared: dict[str, tuple[float, openstack.connection.Connection]] = {}
_shared_lock = threading.Lock()


def _shared_key(credential) -> str:
    """What the login depends on, hashed: an edited credential gets a new connection, no secret is kept as a key."""
    auth_type, auth = auth_of(credential)
    text = repr((credential.pk, auth_type, sorted(auth.items()), credential.region_name or ""))
    return hashlib.sha256(text.encode()).hexdigest()


def shared(credential) -> openstack.connection.Connection:
    """The process's connection to the credential's project, for the balancer controller and the sweep.

    One Keystone login serves every pass of the controller in this process for
    SHARED_FOR seconds, instead of a login per pass (each pass is a Celery task).
    Not for the admin's connection test, which must log in afresh (`connect`).
    """
    key = _shared_key(credential)
    now = time.monotonic()
    with _shared_lock:
        hit = _shared.get(key)
        if hit is not None and now - hit[0] < SHARED_FOR:
            return hit[1]
    conn = connect(credential)
    with _shared_lock:
        for old in [k for k, (at, _) in _shared.items() if now - at >= SHARED_FOR]:
            del _shared[old]
        _shared[key] = (now, conn)
    return conn
