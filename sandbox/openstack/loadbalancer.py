"""Octavia v2 under `/load-balancer` (`/v2/lbaas/...`, `/v2.0/lbaas/...` too):
load balancers, listeners, pools, members, health monitors.

Provisioning as Octavia does it: a new balancer is PENDING_CREATE with a VIP port in
Neutron, then ACTIVE (or ERROR, when the `lb_errors` fault switch says so) after
`delays.os_lb_provision`; a change to a child marks the child PENDING_CREATE/UPDATE/
DELETE and its parents (pool, listeners, balancer) PENDING_UPDATE until it is done.
While a balancer is PENDING_* every change answers 409 "... is immutable and cannot be
updated."; deleting a balancer that has children needs `?cascade=true` (otherwise 400).
The real traffic for an ACTIVE balancer whose VIP port has a floating IP is opened by
traffic.py.
"""

from __future__ import annotations

from aiohttp import web

from .base import ApiError, Service, iso_now, json_response, matches, new_id, page, read_json, select_fields

LISTENER_PROTOCOLS = {"HTTP", "HTTPS", "TCP", "UDP", "TERMINATED_HTTPS", "SCTP", "PROMETHEUS"}
POOL_PROTOCOLS = {
    "HTTP": {"HTTP", "PROXY", "PROXYV2"}, "HTTPS": {"HTTPS", "PROXY", "PROXYV2", "TCP"},
    "TCP": {"TCP", "HTTP", "HTTPS", "PROXY", "PROXYV2"}, "TERMINATED_HTTPS": {"HTTP", "PROXY", "PROXYV2"},
    "UDP": {"UDP"}, "SCTP": {"SCTP"}, "PROMETHEUS": set(),
}
ALGORITHMS = {"ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"}
HM_TYPES = {"HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP"}
PROVIDERS = {"amphora": "The Octavia Amphora driver.", "octavia": "Deprecated alias of the Octavia Amphora "
             "driver."}
LABELS = {"loadbalancers": "Load Balancer", "listeners": "Listener", "pools": "Pool", "members": "Member",
          "healthmonitors": "Health Monitor"}
PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")


def _validation(message: str) -> ApiError:
    return ApiError(400, f"Validation failure: {message}", "Client")


class LoadBalancer(Service):
    type = "load-balancer"
    name = "octavia"
    prefix = "/load-balancer"

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        self.tables: dict[str, dict[str, dict]] = {k: {} for k in LABELS}

    @property
    def lbs(self) -> dict[str, dict]:
        return self.tables["loadbalancers"]

    # ---- plumbing --------------------------------------------------------------------------

    def check_access(self, token) -> None:
        if not self.cloud.octavia_enabled(token.project):
            raise ApiError(403, "Policy does not allow this request to be performed.", "Client")

    def error_body(self, e: ApiError) -> dict:
        return {"faultcode": "Server" if e.status >= 500 else "Client", "faultstring": e.message,
                "debuginfo": None}

    def routes(self):
        out = [("GET", self.prefix, self.versions, False), ("GET", self.prefix + "/", self.versions, False)]
        for v in ("/v2", "/v2.0"):
            p = self.prefix + v + "/lbaas"
            out += [
                ("GET", self.prefix + v, self.versions, False),
                ("GET", p + "/providers", self.providers, True),
                ("GET", p + "/loadbalancers/{id}/status", self.status_tree, True),
                ("GET", p + "/loadbalancers/{id}/stats", self.stats, True),
                ("PUT", p + "/pools/{pool_id}/members", self.batch_members, True),
            ]
            for coll in ("loadbalancers", "listeners", "pools", "healthmonitors"):
                out += [("GET", f"{p}/{coll}", self._lister(coll), True),
                        ("POST", f"{p}/{coll}", self._creator(coll), True),
                        ("GET", f"{p}/{coll}/{{id}}", self._getter(coll), True),
                        ("PUT", f"{p}/{coll}/{{id}}", self._updater(coll), True),
                        ("DELETE", f"{p}/{coll}/{{id}}", self._deleter(coll), True)]
            m = p + "/pools/{pool_id}/members"
            out += [("GET", m, self._lister("members"), True), ("POST", m, self._creator("members"), True),
                    ("GET", m + "/{id}", self._getter("members"), True),
                    ("PUT", m + "/{id}", self._updater("members"), True),
                    ("DELETE", m + "/{id}", self._deleter("members"), True)]
        return out

    async def versions(self, request: web.Request) -> web.Response:
        ids = ["v2.0"] + [f"v2.{i}" for i in range(1, 28)]
        return json_response({"versions": [
            {"id": v, "status": "CURRENT" if v == ids[-1] else "SUPPORTED", "updated": "2023-01-01T00:00:00Z",
             "links": [{"href": self.base_url + "/v2", "rel": "self"}]} for v in ids]})

    async def providers(self, request):
        return json_response({"providers": [{"name": n, "description": d} for n, d in PROVIDERS.items()]})

    # ---- lookups -------------------------------------------------------------------------------

    def _get(self, coll: str, ident: str, project_id: str) -> dict:
        obj = self.tables[coll].get(ident)
        if obj is None or obj["project_id"] != project_id:
            raise ApiError(404, f"{LABELS[coll]} {ident} could not be found.", "Client")
        return obj

    def _lb_of(self, obj: dict, coll: str) -> dict:
        if coll == "loadbalancers":
            return obj
        if coll == "members":
            return self.lbs[self.tables["pools"][obj["pool_id"]]["loadbalancer_id"]]
        if coll == "healthmonitors":
            return self.lbs[self.tables["pools"][obj["pool_id"]]["loadbalancer_id"]]
        return self.lbs[obj["loadbalancer_id"]]

    def _chain(self, obj: dict, coll: str) -> list[dict]:
        """The parents an operation on `obj` locks (PENDING_UPDATE while it runs)."""
        lb = self._lb_of(obj, coll)
        chain = [lb]
        pool = None
        if coll in ("members", "healthmonitors"):
            pool = self.tables["pools"].get(obj["pool_id"])
        elif coll == "pools":
            pool = None
            chain += [self.tables["listeners"][lid] for lid in obj["listener_ids"]
                      if lid in self.tables["listeners"]]
        if pool is not None:
            chain.append(pool)
            chain += [self.tables["listeners"][lid] for lid in pool["listener_ids"]
                      if lid in self.tables["listeners"]]
        return chain

    def _check_mutable(self, lb: dict) -> None:
        if lb["provisioning_status"] in PENDING:
            raise ApiError(409, f"Load Balancer {lb['id']} is immutable and cannot be updated.", "Client")

    def _touch(self, objs: list[dict], status: str | None = None) -> None:
        now = iso_now(z=False)
        for o in objs:
            if status:
                o["provisioning_status"] = status
            o["updated_at"] = now

    def _settle(self, objs: list[dict]) -> None:
        for o in objs:
            if o["provisioning_status"] in PENDING and o["provisioning_status"] != "PENDING_DELETE":
                o["provisioning_status"] = "ACTIVE"
                if o.get("operating_status") == "OFFLINE" and o.get("admin_state_up", True):
                    o["operating_status"] = "ONLINE"
                o["updated_at"] = iso_now(z=False)

    def _lock(self, obj: dict, coll: str, own_status: str, then) -> None:
        """Mark the parents PENDING_UPDATE and `obj` own_status; after the delay run `then()`
        and settle everything back to ACTIVE."""
        chain = self._chain(obj, coll)
        self._check_mutable(chain[0])
        self._touch(chain, "PENDING_UPDATE")
        obj["provisioning_status"] = own_status
        obj["updated_at"] = iso_now(z=False)

        def done() -> None:
            then()
            self._settle([o for o in chain if o is not obj] + ([obj] if own_status != "PENDING_DELETE" else []))

        self.cloud.later(self.config.delays.os_lb_update, done)
        self.cloud.changed()

    # ---- views ----------------------------------------------------------------------------------------

    def view(self, coll: str, obj: dict) -> dict:
        out = {k: v for k, v in obj.items() if not k.startswith("_") and k not in ("listener_ids", "pool_ids")}
        if coll == "loadbalancers":
            out["listeners"] = [{"id": i} for i, lis in self.tables["listeners"].items()
                                if lis["loadbalancer_id"] == obj["id"]]
            out["pools"] = [{"id": i} for i, p in self.tables["pools"].items() if p["loadbalancer_id"] == obj["id"]]
        elif coll == "listeners":
            out["loadbalancers"] = [{"id": obj["loadbalancer_id"]}]
            out.pop("loadbalancer_id", None)
            out["l7policies"] = []
        elif coll == "pools":
            out["loadbalancers"] = [{"id": obj["loadbalancer_id"]}]
            out.pop("loadbalancer_id", None)
            out["listeners"] = [{"id": i} for i in obj["listener_ids"]]
            out["members"] = [{"id": i} for i, m in self.tables["members"].items() if m["pool_id"] == obj["id"]]
        elif coll == "healthmonitors":
            out["pools"] = [{"id": obj["pool_id"]}]
            out.pop("pool_id", None)
        return out

    def _filter_view(self, coll: str, obj: dict) -> dict:
        """What list filters compare against: the view plus the flat parent ids."""
        out = self.view(coll, obj)
        for key in ("loadbalancer_id", "pool_id"):
            if key in obj:
                out[key] = obj[key]
        if "loadbalancer_id" in obj:
            out["load_balancer_id"] = obj["loadbalancer_id"]
        if coll == "pools" and obj["listener_ids"]:
            out["listener_id"] = obj["listener_ids"]
        return out

    # ---- generic handlers ---------------------------------------------------------------------------------

    def _lister(self, coll: str):
        async def handler(request: web.Request) -> web.Response:
            pid = request["token"].project_id
            items = [o for o in self.tables[coll].values() if o["project_id"] == pid]
            if coll == "members":
                pool = self._get("pools", request.match_info["pool_id"], pid)
                items = [m for m in items if m["pool_id"] == pool["id"]]
            views = [(o, self._filter_view(coll, o)) for o in items]
            items = [o for o, v in views if matches(v, request.query)]
            items, more = page(items, request.query)
            body = {coll: [select_fields(self.view(coll, o), request.query) for o in items], f"{coll}_links": []}
            if more and items:
                body[f"{coll}_links"] = [{"rel": "next", "href": f"{request.url.with_query(None)}?limit="
                                          f"{request.query['limit']}&marker={items[-1]['id']}"}]
            return json_response(body)
        return handler

    def _getter(self, coll: str):
        async def handler(request: web.Request) -> web.Response:
            obj = self._get(coll, request.match_info["id"], request["token"].project_id)
            if coll == "members" and obj["pool_id"] != request.match_info["pool_id"]:
                raise ApiError(404, f"Member {obj['id']} could not be found.", "Client")
            return json_response({self.key(coll): self.view(coll, obj)})
        return handler

    @staticmethod
    def key(coll: str) -> str:
        return {"loadbalancers": "loadbalancer", "listeners": "listener", "pools": "pool", "members": "member",
                "healthmonitors": "healthmonitor"}[coll]

    def _creator(self, coll: str):
        create = getattr(self, f"_create_{coll}")

        async def handler(request: web.Request) -> web.Response:
            body = (await read_json(request)).get(self.key(coll))
            if not isinstance(body, dict):
                raise ApiError(400, f"Missing mandatory field: {self.key(coll)}", "Client")
            obj = create(request, body)
            return json_response({self.key(coll): self.view(coll, obj)}, status=201)
        return handler

    def _updater(self, coll: str):
        updatable = {
            "loadbalancers": ("name", "description", "admin_state_up", "tags", "vip_qos_policy_id"),
            "listeners": ("name", "description", "admin_state_up", "tags", "connection_limit", "default_pool_id",
                          "timeout_client_data", "timeout_member_connect", "timeout_member_data",
                          "timeout_tcp_inspect", "allowed_cidrs", "insert_headers"),
            "pools": ("name", "description", "admin_state_up", "tags", "lb_algorithm", "session_persistence"),
            "members": ("name", "admin_state_up", "tags", "weight", "monitor_address", "monitor_port", "backup"),
            "healthmonitors": ("name", "admin_state_up", "tags", "delay", "timeout", "max_retries",
                               "max_retries_down", "http_method", "url_path", "expected_codes"),
        }[coll]

        async def handler(request: web.Request) -> web.Response:
            pid = request["token"].project_id
            obj = self._get(coll, request.match_info["id"], pid)
            body = (await read_json(request)).get(self.key(coll))
            if not isinstance(body, dict):
                raise ApiError(400, f"Missing mandatory field: {self.key(coll)}", "Client")
            changes = {k: v for k, v in body.items() if k in updatable}
            if coll == "listeners" and changes.get("default_pool_id"):
                pool = self._get("pools", changes["default_pool_id"], pid)
                if pool["loadbalancer_id"] != obj["loadbalancer_id"]:
                    raise _validation("Pool must be on the same load balancer as the listener.")
            if coll == "pools" and "lb_algorithm" in changes and changes["lb_algorithm"] not in ALGORITHMS:
                raise ApiError(400, f"Invalid input for field/attribute lb_algorithm. Value: "
                               f"'{changes['lb_algorithm']}'.", "Client")

            def apply() -> None:
                if coll == "listeners" and "default_pool_id" in changes:
                    old = self.tables["pools"].get(obj.get("default_pool_id") or "")
                    if old and obj["id"] in old["listener_ids"]:
                        old["listener_ids"].remove(obj["id"])
                    new = self.tables["pools"].get(changes["default_pool_id"] or "")
                    if new and obj["id"] not in new["listener_ids"]:
                        new["listener_ids"].append(obj["id"])
                obj.update(changes)
                if "admin_state_up" in changes:
                    obj["operating_status"] = "ONLINE" if changes["admin_state_up"] else "OFFLINE"

            if coll == "loadbalancers":
                self._check_mutable(obj)
                self._touch([obj], "PENDING_UPDATE")

                def done() -> None:
                    apply()
                    self._settle([obj])
                self.cloud.later(self.config.delays.os_lb_update, done)
                self.cloud.changed()
            else:
                self._lock(obj, coll, "PENDING_UPDATE", apply)
            return json_response({self.key(coll): {**self.view(coll, obj), **changes}}, status=200)
        return handler

    def _deleter(self, coll: str):
        async def handler(request: web.Request) -> web.Response:
            pid = request["token"].project_id
            obj = self._get(coll, request.match_info["id"], pid)
            if coll == "loadbalancers":
                self._delete_lb(obj, request.query.get("cascade", "").lower() in ("true", "1"))
            else:
                self._lock(obj, coll, "PENDING_DELETE", lambda: self._remove(coll, obj))
            return web.Response(status=204)
        return handler

    # ---- removal -------------------------------------------------------------------------------------------

    def _remove(self, coll: str, obj: dict) -> None:
        self.tables[coll].pop(obj["id"], None)
        if coll == "pools":
            for m in [m for m in self.tables["members"].values() if m["pool_id"] == obj["id"]]:
                self.tables["members"].pop(m["id"], None)
            for hm in [h for h in self.tables["healthmonitors"].values() if h["pool_id"] == obj["id"]]:
                self.tables["healthmonitors"].pop(hm["id"], None)
            for lis in self.tables["listeners"].values():
                if lis.get("default_pool_id") == obj["id"]:
                    lis["default_pool_id"] = None
        elif coll == "listeners":
            for pool in self.tables["pools"].values():
                if obj["id"] in pool["listener_ids"]:
                    pool["listener_ids"].remove(obj["id"])
        elif coll == "healthmonitors":
            pool = self.tables["pools"].get(obj["pool_id"])
            if pool is not None:
                pool["healthmonitor_id"] = None
                for m in self.tables["members"].values():
                    if m["pool_id"] == pool["id"] and m["operating_status"] == "ONLINE":
                        m["operating_status"] = "NO_MONITOR"
        self.cloud.changed()

    def _delete_lb(self, lb: dict, cascade: bool) -> None:
        self._check_mutable(lb)
        children = [o for coll in ("listeners", "pools") for o in self.tables[coll].values()
                    if o["loadbalancer_id"] == lb["id"]]
        if children and not cascade:
            raise ApiError(400, f"Cannot delete Load Balancer {lb['id']} - it has children", "Client")
        lb["provisioning_status"] = "PENDING_DELETE"
        lb["updated_at"] = iso_now(z=False)
        for o in children:
            o["provisioning_status"] = "PENDING_DELETE"

        def done() -> None:
            for pool in [p for p in self.tables["pools"].values() if p["loadbalancer_id"] == lb["id"]]:
                self._remove("pools", pool)
            for lis in [x for x in self.tables["listeners"].values() if x["loadbalancer_id"] == lb["id"]]:
                self._remove("listeners", lis)
            self.lbs.pop(lb["id"], None)
            port = self.cloud.network.ports.get(lb["vip_port_id"] or "")
            if port is not None:
                self.cloud.network.remove_port(port)

        self.cloud.later(self.config.delays.os_lb_delete, done)
        self.cloud.changed()

    # ---- creation ------------------------------------------------------------------------------------------

    @staticmethod
    def _base(body: dict, project_id: str, keys: tuple[str, ...]) -> dict:
        now = iso_now(z=False)
        obj = {"id": new_id(), "project_id": project_id, "tenant_id": project_id,
               "name": body.get("name") or "", "description": body.get("description") or "",
               "admin_state_up": body.get("admin_state_up", True), "provisioning_status": "PENDING_CREATE",
               "operating_status": "OFFLINE", "created_at": now, "updated_at": None,
               "tags": list(body.get("tags") or [])}
        for k in keys:
            obj[k] = body.get(k)
        return obj

    def _create_loadbalancers(self, request: web.Request, body: dict) -> dict:
        token = request["token"]
        pid = token.project_id
        net = self.cloud.network
        provider = body.get("provider") or "amphora"
        if provider not in PROVIDERS:
            raise ApiError(400, f"Provider '{provider}' is not enabled.", "Client")
        if not (body.get("vip_subnet_id") or body.get("vip_network_id") or body.get("vip_port_id")):
            raise _validation("VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")
        subnet = network = port = None
        try:
            if body.get("vip_port_id"):
                port = net.port_of(body["vip_port_id"], pid)
                network = net.networks[port["network_id"]]
                subnet = net.subnets[port["fixed_ips"][0]["subnet_id"]] if port["fixed_ips"] else None
            if body.get("vip_subnet_id"):
                subnet = net.subnet_of(body["vip_subnet_id"], pid)
                network = net.networks[subnet["network_id"]]
        except ApiError as e:
            what = "Port" if "Port" in e.kind else "Subnet"
            ident = body.get("vip_port_id") if what == "Port" else body.get("vip_subnet_id")
            raise ApiError(400, f"{what} {ident} not found.", "Client") from None
        if body.get("vip_network_id"):
            try:
                n = net.network_of(body["vip_network_id"], pid)
            except ApiError:
                raise ApiError(400, f"Network {body['vip_network_id']} not found.", "Client") from None
            if network is not None and n["id"] != network["id"]:
                raise _validation("vip_subnet_id does not belong to vip_network_id.")
            network = n
            if subnet is None:
                if not n["subnets"]:
                    raise _validation("Supplied network does not contain a subnet.")
                subnet = net.subnets[n["subnets"][0]]
        if network.get("router:external"):
            raise _validation("Cannot create a load balancer VIP on an external network.")
        obj = self._base(body, pid, ("availability_zone", "flavor_id"))
        obj.update({"provider": provider, "vip_qos_policy_id": None, "additional_vips": [],
                    "vip_vnic_type": "normal", "vip_network_id": network["id"],
                    "vip_subnet_id": subnet["id"] if subnet else None})
        if port is None:
            fixed = [{"subnet_id": subnet["id"], **({"ip_address": body["vip_address"]}
                                                    if body.get("vip_address") else {})}]
            port = net.new_port(pid, network, fixed, name=f"octavia-lb-{obj['id']}", device_owner="Octavia",
                                device_id=f"lb-{obj['id']}", description="")
        obj["vip_port_id"] = port["id"]
        obj["vip_address"] = port["fixed_ips"][0]["ip_address"] if port["fixed_ips"] else None
        obj["vip_sg_ids"] = []
        self.lbs[obj["id"]] = obj
        fail = self.cloud.faults.take_lb_error()

        def done() -> None:
            if obj["provisioning_status"] != "PENDING_CREATE":
                return
            if fail:
                obj["provisioning_status"] = "ERROR"
                obj["operating_status"] = "ERROR"
                obj["sandbox_fault"] = fail
            else:
                obj["provisioning_status"] = "ACTIVE"
                obj["operating_status"] = "ONLINE" if obj["admin_state_up"] else "OFFLINE"
            obj["updated_at"] = iso_now(z=False)

        self.cloud.later(self.config.delays.os_lb_provision, done)
        self.cloud.changed()
        return obj

    def _create_listeners(self, request: web.Request, body: dict) -> dict:
        pid = request["token"].project_id
        lb_id = body.get("loadbalancer_id")
        if not lb_id:
            raise ApiError(400, "Invalid input for field/attribute loadbalancer_id. Value: 'None'. Mandatory "
                           "field missing.", "Client")
        lb = self._get("loadbalancers", lb_id, pid)
        protocol = body.get("protocol")
        if protocol not in LISTENER_PROTOCOLS:
            raise ApiError(400, f"Invalid input for field/attribute protocol. Value: '{protocol}'. Value should "
                           f"be one of: {sorted(LISTENER_PROTOCOLS)}", "Client")
        port = body.get("protocol_port")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise ApiError(400, f"Invalid input for field/attribute protocol_port. Value: '{port}'. Value "
                           "should be between 1 and 65535", "Client")
        self._check_mutable(lb)
        for other in self.tables["listeners"].values():
            if other["loadbalancer_id"] == lb_id and other["protocol_port"] == port and \
                    (other["protocol"] == "UDP") == (protocol == "UDP"):
                raise ApiError(409, f"Another Listener on this Load Balancer is already using protocol_port "
                               f"{port}", "Client")
        pool = None
        if body.get("default_pool_id"):
            pool = self._get("pools", body["default_pool_id"], pid)
        obj = self._base(body, pid, ("protocol", "protocol_port", "default_pool_id", "default_tls_container_ref",
                                     "sni_container_refs", "insert_headers", "allowed_cidrs", "tls_ciphers",
                                     "tls_versions", "alpn_protocols"))
        obj.update({"loadbalancer_id": lb_id, "connection_limit": body.get("connection_limit", -1),
                    "timeout_client_data": body.get("timeout_client_data", 50000),
                    "timeout_member_connect": body.get("timeout_member_connect", 5000),
                    "timeout_member_data": body.get("timeout_member_data", 50000),
                    "timeout_tcp_inspect": body.get("timeout_tcp_inspect", 0),
                    "insert_headers": body.get("insert_headers") or {},
                    "sni_container_refs": body.get("sni_container_refs") or [],
                    "hsts_max_age": None, "hsts_include_subdomains": False, "hsts_preload": False})
        self.tables["listeners"][obj["id"]] = obj
        if pool is not None:
            pool["listener_ids"].append(obj["id"])
        self._lock(obj, "listeners", "PENDING_CREATE", lambda: None)
        return obj

    def _create_pools(self, request: web.Request, body: dict) -> dict:
        pid = request["token"].project_id
        listener = None
        if body.get("listener_id"):
            listener = self._get("listeners", body["listener_id"], pid)
            lb = self.lbs[listener["loadbalancer_id"]]
        elif body.get("loadbalancer_id"):
            lb = self._get("loadbalancers", body["loadbalancer_id"], pid)
        else:
            raise _validation("Must provide either loadbalancer_id or listener_id.")
        protocol = body.get("protocol")
        if protocol not in {"HTTP", "HTTPS", "TCP", "UDP", "PROXY", "PROXYV2", "SCTP"}:
            raise ApiError(400, f"Invalid input for field/attribute protocol. Value: '{protocol}'.", "Client")
        algorithm = body.get("lb_algorithm")
        if algorithm not in ALGORITHMS:
            raise ApiError(400, f"Invalid input for field/attribute lb_algorithm. Value: '{algorithm}'.",
                           "Client")
        self._check_mutable(lb)
        if listener is not None:
            if listener.get("default_pool_id"):
                raise ApiError(409, "This listener already has a default pool", "Client")
            if protocol not in POOL_PROTOCOLS.get(listener["protocol"], set()):
                raise _validation(f"The pool protocol '{protocol}' is invalid while the listener protocol is "
                                  f"'{listener['protocol']}'.")
        obj = self._base(body, pid, ("protocol", "lb_algorithm", "session_persistence", "tls_enabled",
                                     "tls_container_ref", "ca_tls_container_ref", "crl_container_ref",
                                     "tls_ciphers", "tls_versions", "alpn_protocols"))
        obj.update({"loadbalancer_id": lb["id"], "listener_ids": [listener["id"]] if listener else [],
                    "healthmonitor_id": None, "tls_enabled": bool(body.get("tls_enabled"))})
        self.tables["pools"][obj["id"]] = obj
        if listener is not None:
            listener["default_pool_id"] = obj["id"]
        self._lock(obj, "pools", "PENDING_CREATE", lambda: None)
        return obj

    def _new_member(self, pool: dict, body: dict, pid: str) -> dict:
        address = body.get("address")
        port = body.get("protocol_port")
        if not address:
            raise ApiError(400, "Invalid input for field/attribute address. Value: 'None'. Mandatory field "
                           "missing.", "Client")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise ApiError(400, f"Invalid input for field/attribute protocol_port. Value: '{port}'.", "Client")
        if body.get("subnet_id"):
            try:
                self.cloud.network.subnet_of(body["subnet_id"], pid)
            except ApiError:
                raise ApiError(400, f"Subnet {body['subnet_id']} not found.", "Client") from None
        for m in self.tables["members"].values():
            if m["pool_id"] == pool["id"] and m["address"] == address and m["protocol_port"] == port:
                raise ApiError(409, f"Another member on this pool is already using ip {address} on "
                               f"protocol_port {port}", "Client")
        obj = self._base(body, pid, ("address", "protocol_port", "subnet_id", "monitor_address", "monitor_port"))
        obj.update({"pool_id": pool["id"], "weight": body.get("weight", 1), "backup": bool(body.get("backup")),
                    "operating_status": "NO_MONITOR"})
        return obj

    def _create_members(self, request: web.Request, body: dict) -> dict:
        pid = request["token"].project_id
        pool = self._get("pools", request.match_info["pool_id"], pid)
        self._check_mutable(self.lbs[pool["loadbalancer_id"]])
        obj = self._new_member(pool, body, pid)
        self.tables["members"][obj["id"]] = obj

        def done() -> None:
            obj["operating_status"] = "ONLINE" if pool.get("healthmonitor_id") else "NO_MONITOR"
        self._lock(obj, "members", "PENDING_CREATE", done)
        return obj

    def _create_healthmonitors(self, request: web.Request, body: dict) -> dict:
        pid = request["token"].project_id
        if not body.get("pool_id"):
            raise ApiError(400, "Invalid input for field/attribute pool_id. Value: 'None'. Mandatory field "
                           "missing.", "Client")
        pool = self._get("pools", body["pool_id"], pid)
        hm_type = body.get("type")
        if hm_type not in HM_TYPES:
            raise ApiError(400, f"Invalid input for field/attribute type. Value: '{hm_type}'.", "Client")
        for k in ("delay", "timeout", "max_retries"):
            if not isinstance(body.get(k), int):
                raise ApiError(400, f"Invalid input for field/attribute {k}. Value: '{body.get(k)}'. Mandatory "
                               "field missing.", "Client")
        if body["timeout"] > body["delay"]:
            raise _validation("The request delay value {} should be larger than the request timeout value {}."
                              .format(body["delay"], body["timeout"]))
        self._check_mutable(self.lbs[pool["loadbalancer_id"]])
        if pool.get("healthmonitor_id"):
            raise ApiError(409, "This pool already has a health monitor", "Client")
        obj = self._base(body, pid, ("type", "delay", "timeout", "max_retries"))
        http = hm_type in ("HTTP", "HTTPS")
        obj.update({"pool_id": pool["id"], "max_retries_down": body.get("max_retries_down", 3),
                    "http_method": body.get("http_method", "GET") if http else None,
                    "url_path": body.get("url_path", "/") if http else None,
                    "expected_codes": body.get("expected_codes", "200") if http else None,
                    "http_version": body.get("http_version"), "domain_name": body.get("domain_name")})
        self.tables["healthmonitors"][obj["id"]] = obj
        pool["healthmonitor_id"] = obj["id"]

        def done() -> None:
            for m in self.tables["members"].values():
                if m["pool_id"] == pool["id"] and m["operating_status"] == "NO_MONITOR":
                    m["operating_status"] = "ONLINE"
        self._lock(obj, "healthmonitors", "PENDING_CREATE", done)
        return obj

    async def batch_members(self, request: web.Request) -> web.Response:
        pid = request["token"].project_id
        pool = self._get("pools", request.match_info["pool_id"], pid)
        lb = self.lbs[pool["loadbalancer_id"]]
        body = await read_json(request)
        wanted = body.get("members")
        if not isinstance(wanted, list):
            raise ApiError(400, "Invalid input for field/attribute members.", "Client")
        self._check_mutable(lb)
        current = {(m["address"], m["protocol_port"]): m for m in self.tables["members"].values()
                   if m["pool_id"] == pool["id"]}
        keep = set()
        created = []
        for spec in wanted:
            key = (spec.get("address"), spec.get("protocol_port"))
            if key in current:
                keep.add(key)
                current[key].update({k: v for k, v in spec.items() if k in ("name", "weight", "admin_state_up",
                                                                            "backup", "tags")})
                current[key]["provisioning_status"] = "PENDING_UPDATE"
            else:
                created.append(self._new_member(pool, spec, pid))
        for m in created:
            self.tables["members"][m["id"]] = m
        gone = [m for k, m in current.items() if k not in keep]
        for m in gone:
            m["provisioning_status"] = "PENDING_DELETE"
        chain = self._chain({"pool_id": pool["id"]}, "members")
        self._touch(chain, "PENDING_UPDATE")

        def done() -> None:
            for m in gone:
                self.tables["members"].pop(m["id"], None)
            status = "ONLINE" if pool.get("healthmonitor_id") else "NO_MONITOR"
            for m in self.tables["members"].values():
                if m["pool_id"] == pool["id"]:
                    m["provisioning_status"] = "ACTIVE"
                    if m["operating_status"] in ("OFFLINE", "NO_MONITOR", "ONLINE"):
                        m["operating_status"] = status if m["admin_state_up"] else "OFFLINE"
            self._settle(chain)
        self.cloud.later(self.config.delays.os_lb_update, done)
        self.cloud.changed()
        return web.Response(status=202)

    # ---- status ------------------------------------------------------------------------------------------------

    async def status_tree(self, request: web.Request) -> web.Response:
        lb = self._get("loadbalancers", request.match_info["id"], request["token"].project_id)

        def brief(o: dict, **extra) -> dict:
            return {"id": o["id"], "name": o["name"], "provisioning_status": o["provisioning_status"],
                    "operating_status": o["operating_status"], **extra}

        listeners = []
        for lis in self.tables["listeners"].values():
            if lis["loadbalancer_id"] != lb["id"]:
                continue
            pools = []
            for pool in self.tables["pools"].values():
                if lis["id"] not in pool["listener_ids"]:
                    continue
                members = [brief(m, address=m["address"], protocol_port=m["protocol_port"])
                           for m in self.tables["members"].values() if m["pool_id"] == pool["id"]]
                extra = {"members": members}
                hm = self.tables["healthmonitors"].get(pool.get("healthmonitor_id") or "")
                if hm:
                    extra["health_monitor"] = brief(hm, type=hm["type"])
                pools.append(brief(pool, **extra))
            listeners.append(brief(lis, pools=pools))
        return json_response({"statuses": {"loadbalancer": brief(lb, listeners=listeners)}})

    async def stats(self, request: web.Request) -> web.Response:
        self._get("loadbalancers", request.match_info["id"], request["token"].project_id)
        return json_response({"stats": {"active_connections": 0, "bytes_in": 0, "bytes_out": 0,
                                        "request_errors": 0, "total_connections": 0}})
