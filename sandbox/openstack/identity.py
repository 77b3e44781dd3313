"""Keystone v3 under `/identity`: version discovery, tokens (password and application
credential), the service catalog per project, and the few read calls a client makes
about itself (its catalog, its projects).

Projects: `lab` (full catalog), `lab-taikun` (no load-balancer endpoint, as endpoint
filtering gives a project where Octavia is disabled) and `service` (the sandbox user
has no role there: scoping to it answers 401, as Keystone does).
"""

from __future__ import annotations

import secrets
import time
import uuid

from aiohttp import web

from .base import AUTH_REQUIRED, ApiError, Service, Token, iso_now, json_response, read_json

DOMAIN = {"id": "default", "name": "Default"}
ROLES = [{"id": uuid.uuid5(uuid.NAMESPACE_DNS, "member.sandbox").hex, "name": "member"},
         {"id": uuid.uuid5(uuid.NAMESPACE_DNS, "reader.sandbox").hex, "name": "reader"},
         {"id": uuid.uuid5(uuid.NAMESPACE_DNS, "lbmember.sandbox").hex, "name": "load-balancer_member"}]
TOKEN_TTL = 24 * 3600


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(t))


class Identity(Service):
    type = "identity"
    name = "keystone"
    prefix = "/identity"

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        self.projects = {}
        for name, desc in (("lab", "Sandbox lab project (Octavia enabled)"),
                           ("lab-taikun", "Sandbox lab project without Octavia (Taikun LB)"),
                           ("service", "Service project")):
            pid = uuid.uuid4().hex
            self.projects[pid] = {"id": pid, "name": name, "domain_id": "default", "description": desc,
                                  "enabled": True, "is_domain": False, "parent_id": "default", "tags": [],
                                  "options": {}}
        user_id = uuid.uuid4().hex
        self.user = {"id": user_id, "name": "sandbox", "domain": dict(DOMAIN), "password_expires_at": None}
        self.password = secrets.token_urlsafe(18)
        self.role_projects = {self.project_id("lab"), self.project_id("lab-taikun")}
        self.app_creds = {}
        for project in ("lab", "lab-taikun"):
            cid = uuid.uuid4().hex
            self.app_creds[cid] = {"id": cid, "name": f"sandbox-{project}", "secret": secrets.token_urlsafe(24),
                                   "project_id": self.project_id(project), "user_id": user_id,
                                   "roles": ROLES, "unrestricted": False, "expires_at": None,
                                   "description": f"Sandbox application credential for {project}"}
        self.tokens: dict[str, Token] = {}

    # ---- lookups ------------------------------------------------------------------------

    def project_id(self, name: str) -> str:
        return next(p["id"] for p in self.projects.values() if p["name"] == name)

    def app_cred_for(self, project: str) -> dict:
        pid = self.project_id(project)
        return next(c for c in self.app_creds.values() if c["project_id"] == pid)

    def check(self, token_id: str | None) -> Token:
        token = self.tokens.get(token_id or "")
        if token is None or token.expires < time.time():
            raise ApiError(401, AUTH_REQUIRED, "Unauthorized")
        return token

    # ---- catalog ------------------------------------------------------------------------------

    def catalog(self, project_id: str) -> list[dict]:
        project = self.projects.get(project_id)
        out = []
        for service in self.cloud.services:
            if service.type == "load-balancer" and not self.cloud.octavia_enabled(project):
                continue
            url = service.catalog_url() if hasattr(service, "catalog_url") else service.base_url
            sid = uuid.uuid5(uuid.NAMESPACE_URL, service.type).hex
            out.append({"id": sid, "type": service.type, "name": service.name, "endpoints": [
                {"id": uuid.uuid5(uuid.NAMESPACE_URL, f"{service.type}/{iface}").hex, "interface": iface,
                 "region": "RegionOne", "region_id": "RegionOne", "url": url}
                for iface in ("public", "internal", "admin")]})
        return out

    def token_body(self, token: Token) -> dict:
        body = {"methods": token.methods, "user": token.user, "audit_ids": [secrets.token_urlsafe(16)[:22]],
                "expires_at": _stamp(token.expires), "issued_at": _stamp(token.expires - TOKEN_TTL),
                "is_domain": False}
        if token.project:
            body["project"] = {"id": token.project["id"], "name": token.project["name"],
                               "domain": dict(DOMAIN)}
            body["roles"] = [{"id": r["id"], "name": r["name"]} for r in ROLES]
            body["catalog"] = self.catalog(token.project["id"])
        if token.app_cred:
            body["application_credential"] = {"id": token.app_cred["id"], "name": token.app_cred["name"],
                                              "restricted": True}
        return {"token": body}

    # ---- routes -------------------------------------------------------------------------------

    def routes(self):
        p = self.prefix
        return [
            ("GET", "/", self.versions, False),
            ("GET", p, self.versions, False),
            ("GET", p + "/", self.versions, False),
            ("GET", p + "/v3", self.version, False),
            ("GET", p + "/v3/", self.version, False),
            ("POST", p + "/v3/auth/tokens", self.issue, False),
            ("GET", p + "/v3/auth/tokens", self.validate, True),
            ("HEAD", p + "/v3/auth/tokens", self.validate, True),
            ("DELETE", p + "/v3/auth/tokens", self.revoke, True),
            ("GET", p + "/v3/auth/catalog", self.auth_catalog, True),
            ("GET", p + "/v3/auth/projects", self.auth_projects, True),
            ("GET", p + "/v3/projects/{project_id}", self.get_project, True),
            ("GET", p + "/v3/users/{user_id}", self.get_user, True),
        ]

    def error_body(self, e: ApiError) -> dict:
        titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                  409: "Conflict", 500: "Internal Server Error"}
        return {"error": {"code": e.status, "title": titles.get(e.status, "Error"), "message": e.message}}

    def version_doc(self) -> dict:
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": self.base_url + "/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-v3+json"}]}

    async def versions(self, request: web.Request) -> web.Response:
        return json_response({"versions": {"values": [self.version_doc()]}}, status=300)

    async def version(self, request: web.Request) -> web.Response:
        return json_response({"version": self.version_doc()})

    def _domain_ok(self, domain: dict | None) -> bool:
        domain = domain or {}
        return domain.get("id") == "default" or domain.get("name") in ("Default", "default")

    def _password_user(self, ident: dict) -> dict:
        user = (ident.get("password") or {}).get("user") or {}
        if not isinstance(user, dict) or "password" not in user:
            raise ApiError(400, "Invalid input for field 'identity/password/user': 'password' is a required "
                           "property", "BadRequest")
        if user.get("id"):
            known = user["id"] == self.user["id"]
        else:
            known = user.get("name") == self.user["name"] and self._domain_ok(user.get("domain"))
        if not known or not secrets.compare_digest(str(user["password"]), self.password):
            raise ApiError(401, AUTH_REQUIRED, "Unauthorized")
        return self.user

    def _app_cred(self, ident: dict) -> dict:
        ac = ident.get("application_credential") or {}
        if not isinstance(ac, dict) or "secret" not in ac:
            raise ApiError(400, "Invalid input for field 'identity/application_credential': 'secret' is a "
                           "required property", "BadRequest")
        cred = None
        if ac.get("id"):
            cred = self.app_creds.get(ac["id"])
        elif ac.get("name"):
            user = ac.get("user") or {}
            if user.get("id") == self.user["id"] or (user.get("name") == self.user["name"]
                                                     and self._domain_ok(user.get("domain"))):
                cred = next((c for c in self.app_creds.values() if c["name"] == ac["name"]), None)
        if cred is None or not secrets.compare_digest(str(ac["secret"]), cred["secret"]):
            raise ApiError(401, AUTH_REQUIRED, "Unauthorized")
        return cred

    def _scope(self, scope: dict | None) -> dict | None:
        if not scope:
            return None
        project = scope.get("project") if isinstance(scope, dict) else None
        if not isinstance(project, dict):
            raise ApiError(401, AUTH_REQUIRED, "Unauthorized")  # domain/system scope: no role there
        if project.get("id"):
            found = self.projects.get(project["id"])
        else:
            found = next((p for p in self.projects.values() if p["name"] == project.get("name")
                          and self._domain_ok(project.get("domain"))), None)
        if found is None or found["id"] not in self.role_projects:
            raise ApiError(401, AUTH_REQUIRED, "Unauthorized")
        return found

    async def issue(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        auth = body.get("auth")
        ident = (auth or {}).get("identity") if isinstance(auth, dict) else None
        methods = (ident or {}).get("methods") if isinstance(ident, dict) else None
        if not isinstance(methods, list) or not methods:
            raise ApiError(400, "Invalid input for field 'identity': 'methods' is a required property",
                           "BadRequest")
        app_cred = None
        if "application_credential" in methods:
            if auth.get("scope"):
                raise ApiError(401, "Application credentials cannot request a scope.", "Unauthorized")
            app_cred = self._app_cred(ident)
            project = self.projects[app_cred["project_id"]]
        elif "password" in methods:
            self._password_user(ident)
            project = self._scope(auth.get("scope"))
        elif "token" in methods:
            self.check((ident.get("token") or {}).get("id"))
            project = self._scope(auth.get("scope"))
        else:
            raise ApiError(401, f"Attempted to authenticate with an unsupported method: {methods}",
                           "Unauthorized")
        token_id = "gAAAAA" + secrets.token_urlsafe(96)
        token = Token(token_id, self.user, project, methods, time.time() + TOKEN_TTL, app_cred)
        self.tokens[token_id] = token
        return json_response(self.token_body(token), status=201, headers={"X-Subject-Token": token_id})

    async def validate(self, request: web.Request) -> web.Response:
        subject = self.tokens.get(request.headers.get("X-Subject-Token", ""))
        if subject is None or subject.expires < time.time():
            raise ApiError(404, f"Could not find token: {request.headers.get('X-Subject-Token', '')}.")
        return json_response(self.token_body(subject), headers={"X-Subject-Token": subject.id})

    async def revoke(self, request: web.Request) -> web.Response:
        if self.tokens.pop(request.headers.get("X-Subject-Token", ""), None) is None:
            raise ApiError(404, f"Could not find token: {request.headers.get('X-Subject-Token', '')}.")
        return web.Response(status=204)

    async def auth_catalog(self, request: web.Request) -> web.Response:
        token: Token = request["token"]
        if not token.project:
            raise ApiError(403, "A project-scoped token is required to produce a service catalog.")
        return json_response({"catalog": self.catalog(token.project_id),
                              "links": {"self": self.base_url + "/v3/auth/catalog", "next": None,
                                        "previous": None}})

    def _project_view(self, p: dict) -> dict:
        return {**p, "links": {"self": f"{self.base_url}/v3/projects/{p['id']}"}}

    async def auth_projects(self, request: web.Request) -> web.Response:
        items = [self._project_view(p) for p in self.projects.values() if p["id"] in self.role_projects]
        return json_response({"projects": items, "links": {"self": self.base_url + "/v3/auth/projects",
                                                           "next": None, "previous": None}})

    async def get_project(self, request: web.Request) -> web.Response:
        token: Token = request["token"]
        pid = request.match_info["project_id"]
        if pid != token.project_id:
            raise ApiError(403, "You are not authorized to perform the requested action: "
                                "identity:get_project.")
        return json_response({"project": self._project_view(self.projects[pid])})

    async def get_user(self, request: web.Request) -> web.Response:
        uid = request.match_info["user_id"]
        if uid != self.user["id"]:
            raise ApiError(403, "You are not authorized to perform the requested action: identity:get_user.")
        return json_response({"user": {**self.user, "domain_id": "default", "enabled": True,
                                       "options": {}, "created_at": iso_now(),
                                       "links": {"self": f"{self.base_url}/v3/users/{uid}"}}})
