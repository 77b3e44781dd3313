"""What every sandbox OpenStack service shares: the error a service answers with,
token checking, fault switches (503), ids and timestamps, list filtering and paging.

A service is a `Service` subclass: `type` (its catalog type), `prefix` (its path on
the cloud port, as devstack mounts it), `routes()` and `error_body()` (the shape of
its error documents, which differ per project: Neutron, Octavia, Nova, Keystone).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from . import Cloud

log = logging.getLogger("sandbox.openstack")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# query parameters that are not filters
NOT_FILTERS = {"limit", "marker", "sort_key", "sort_dir", "fields", "page_reverse", "cascade", "detail",
               "tags", "tags-any", "not-tags", "not-tags-any", "all_tenants", "all_projects",
               "member_status", "visibility", "sort"}


class ApiError(Exception):
    """An error answer; the service renders it in its own format."""

    def __init__(self, status: int, message: str, kind: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind  # Neutron's error type (e.g. "OverQuota"), Nova's key (e.g. "itemNotFound")
        self.detail = detail


def new_id() -> str:
    return str(uuid.uuid4())


def iso_now(z: bool = True) -> str:
    """Neutron/Keystone style (`2024-05-01T10:00:00Z`) or Octavia style (no zone)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ("Z" if z else "")


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=json.dumps(body), status=status, content_type="application/json",
                        headers=headers)


async def read_json(request: web.Request) -> dict:
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "Malformed request body", "BadRequest") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Malformed request body", "BadRequest")
    return body


def _norm(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def matches(item: dict, query, skip: Iterable[str] = ()) -> bool:
    """True if `item` matches every filter of the query (a MultiDict): a key given
    several times matches any of its values; booleans compare as true/false."""
    skip = set(skip) | NOT_FILTERS
    for key in set(query.keys()):
        if key in skip:
            continue
        values = [v.lower() if v.lower() in ("true", "false") else v for v in query.getall(key)]
        if key not in item:
            continue  # unknown filters are ignored, like the services do for most
        have = item[key]
        if isinstance(have, list):
            if not any(_norm(v) in values for v in have):
                return False
        elif _norm(have) not in values:
            return False
    tags = set(item.get("tags") or [])
    for key, test in (("tags", all), ("tags-any", any)):
        for raw in query.getall(key, []):
            wanted = [t for t in raw.split(",") if t]
            if wanted and not test(t in tags for t in wanted):
                return False
    for key, test in (("not-tags", all), ("not-tags-any", any)):
        for raw in query.getall(key, []):
            wanted = [t for t in raw.split(",") if t]
            if wanted and test(t in tags for t in wanted):
                return False
    return True


def page(items: list[dict], query) -> tuple[list[dict], bool]:
    """Apply marker/limit: -> (page, more)."""
    marker = query.get("marker")
    if marker:
        ids = [i.get("id") for i in items]
        if marker in ids:
            items = items[ids.index(marker) + 1:]
    limit = query.get("limit")
    if limit and limit.isdigit() and int(limit) > 0:
        n = int(limit)
        return items[:n], len(items) > n
    return items, False


def select_fields(item: dict, query) -> dict:
    fields = query.getall("fields", [])
    if not fields:
        return item
    wanted = {f for raw in fields for f in raw.split(",")}
    return {k: v for k, v in item.items() if k in wanted}


AUTH_REQUIRED = "The request you have made requires authentication."


def unauthorized(message: str, identity_url: str) -> web.Response:
    return json_response({"error": {"code": 401, "title": "Unauthorized", "message": message}}, status=401,
                         headers={"WWW-Authenticate": f'Keystone uri="{identity_url}"'})


class Token:
    def __init__(self, token_id: str, user: dict, project: dict | None, methods: list[str],
                 expires: float, app_cred: dict | None = None) -> None:
        self.id = token_id
        self.user = user
        self.project = project
        self.methods = methods
        self.expires = expires
        self.app_cred = app_cred

    @property
    def project_id(self) -> str:
        return (self.project or {}).get("id", "")

    @property
    def project_name(self) -> str:
        return (self.project or {}).get("name", "")


class Service:
    """One OpenStack service mounted under `prefix` on the cloud port."""

    type = ""  # catalog type: identity, image, network, load-balancer, compute
    name = ""  # catalog name: keystone, glance, neutron, octavia, nova
    prefix = ""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.config = cloud.config

    # ---- to override ---------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        return []

    def error_body(self, e: ApiError) -> Any:
        return {"error": {"code": e.status, "message": e.message}}

    # ---- helpers -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.cloud.base_url + self.prefix

    def error_response(self, e: ApiError) -> web.Response:
        if e.kind == "Unauthorized":  # keystonemiddleware answers for every service the same way
            return unauthorized(e.message, self.cloud.base_url + "/identity")
        return json_response(self.error_body(e), status=e.status)

    def unavailable(self) -> web.Response:
        body = ("<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1>"
                "<p>The server is temporarily unable to service your request due to maintenance downtime or "
                "capacity problems. Please try again later.</p></body></html>\n")
        return web.Response(text=body, status=503, content_type="text/html")

    def wrap(self, handler: Handler, auth: bool = True) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            if self.type in self.cloud.faults.unavailable:
                return self.unavailable()
            if self.cloud.faults.take_error(self.type):
                return self.error_response(ApiError(500, "Internal Server Error", "InternalServerError"))
            try:
                if auth:
                    request["token"] = self.cloud.check_token(request.headers.get("X-Auth-Token"))
                    self.check_access(request["token"])
                response = await handler(request)
            except ApiError as e:
                response = self.error_response(e)
            except web.HTTPException:
                raise
            except Exception:
                log.exception("%s %s failed", request.method, request.path)
                response = self.error_response(ApiError(500, "Internal Server Error", "InternalServerError"))
            self.decorate(request, response)
            if await self.cloud.faults.after_call(self.type, request) and request.transport is not None:
                request.transport.abort()  # done, but the client never hears it
            return response
        return run

    def check_access(self, token: Token) -> None:
        """Refuse a valid token this service does not serve (overridden by Octavia)."""

    def decorate(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("X-Openstack-Request-Id", "req-" + new_id())
