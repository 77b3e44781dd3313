"""Neutron v2.0 under `/network`: networks, subnets, ports, floating IPs, routers,
security groups, quotas and extensions.

Seeded: the external network `public` (its subnet is the floating-IP range, a
127.0.0.0/8 network), the shared tenant network `lab-net` whose subnet is the
sandbox's node network (so load-balancer VIPs and members sit on the cluster's
subnet; fixed IPs are handed out from its upper half, never a node's address), and
`lab-router` joining them. Every address handed out is checked free on the machine
and claimed by the pools the cluster side uses too (sandbox/net/ipam.py), which also
skip the nodes' InternalIPs. The floating-IP quota is a live switch
(`cloud.faults.floating_ip_quota`); exhausted, a create answers 409 OverQuota.
"""

from __future__ import annotations

import ipaddress
import random

from aiohttp import web

from ..net.ipam import AddressPool, PoolExhausted
from .base import ApiError, Service, iso_now, json_response, matches, new_id, page, read_json, select_fields

EXTENSIONS = (
    ("router", "Neutron L3 Router"), ("external-net", "Neutron external network"),
    ("quotas", "Quota management support"), ("quota_details", "Quota details management support"),
    ("allowed-address-pairs", "Allowed Address Pairs"), ("security-group", "security-group"),
    ("binding", "Port Binding"), ("port-security", "Port Security"),
    ("standard-attr-description", "standard-attr-description"), ("standard-attr-tag", "Tag support"),
    ("standard-attr-timestamp", "Resource timestamps"), ("fip-port-details", "Floating IP Port Details Extension"),
    ("extraroute", "Neutron Extra Route"), ("network_availability_zone", "Network Availability Zone"),
    ("project-id", "project_id field enabled"), ("subnet_allocation", "Subnet Allocation"),
)

DEFAULT_QUOTA = {"network": 100, "subnet": 100, "subnetpool": -1, "port": 500, "router": 10,
                 "security_group": 10, "security_group_rule": 100, "rbac_policy": 10}


def _not_found(kind: str, label: str, ident: str) -> ApiError:
    return ApiError(404, f"{label} {ident} could not be found.", f"{kind}NotFound")


def _mac() -> str:
    return "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


class Network(Service):
    type = "network"
    name = "neutron"
    prefix = "/network"

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        cfg = cloud.config
        self.networks: dict[str, dict] = {}
        self.subnets: dict[str, dict] = {}
        self.ports: dict[str, dict] = {}
        self.floatingips: dict[str, dict] = {}
        self.routers: dict[str, dict] = {}
        self.security_groups: dict[str, dict] = {}
        self.sg_rules: dict[str, dict] = {}
        service_project = cloud.identity.project_id("service")
        lab_project = cloud.identity.project_id("lab")

        fnet = ipaddress.IPv4Network(cfg.floating_cidr)
        self.public = self._seed_network("public", service_project, external=True, shared=False)
        self.public_subnet = self._seed_subnet(self.public, "public-subnet", fnet, fnet.network_address + 1,
                                               2, fnet.num_addresses - 2)
        self.floating_pool = AddressPool(fnet, first=2, avoid=cloud.node_addresses)

        nnet = ipaddress.IPv4Network(cfg.node_cidr)
        size = nnet.num_addresses
        first = max(size // 2, 2) if size >= 8 else 1
        last = size - 3 if size >= 8 else size - 2
        self.lab_net = self._seed_network("lab-net", lab_project, external=False, shared=True)
        self.lab_subnet = self._seed_subnet(self.lab_net, "lab-subnet", nnet, nnet.network_address + size - 2,
                                            first, last)
        self.fixed_pool = AddressPool(nnet, first=first, last=last, avoid=cloud.node_addresses)
        self.pools = {self.public_subnet["id"]: self.floating_pool, self.lab_subnet["id"]: self.fixed_pool}

        rid = new_id()
        self.router = self.routers[rid] = self._stamp({
            "id": rid, "name": "lab-router", "tenant_id": lab_project, "project_id": lab_project,
            "admin_state_up": True, "status": "ACTIVE", "description": "", "tags": [],
            "external_gateway_info": {"network_id": self.public["id"], "enable_snat": True, "external_fixed_ips": [
                {"subnet_id": self.public_subnet["id"], "ip_address": self.public_subnet["gateway_ip"]}]},
            "routes": [], "distributed": False, "ha": False, "availability_zones": ["nova"],
            "availability_zone_hints": [], "flavor_id": None,
        })

    # ---- seeding ---------------------------------------------------------------------------

    @staticmethod
    def _stamp(obj: dict) -> dict:
        now = iso_now()
        obj.setdefault("created_at", now)
        obj["updated_at"] = now
        obj["revision_number"] = obj.get("revision_number", -1) + 1
        return obj

    def _seed_network(self, name: str, project: str, external: bool, shared: bool) -> dict:
        nid = new_id()
        net = self._stamp({
            "id": nid, "name": name, "tenant_id": project, "project_id": project, "admin_state_up": True,
            "status": "ACTIVE", "subnets": [], "shared": shared, "router:external": external, "mtu": 1450,
            "availability_zones": ["nova"], "availability_zone_hints": [], "ipv4_address_scope": None,
            "ipv6_address_scope": None, "port_security_enabled": True, "is_default": external,
            "description": "", "tags": [], "l2_adjacency": True, "qos_policy_id": None, "dns_domain": "",
        })
        self.networks[nid] = net
        return net

    def _seed_subnet(self, net: dict, name: str, cidr: ipaddress.IPv4Network, gateway, first: int,
                     last: int) -> dict:
        sid = new_id()
        base = int(cidr.network_address)
        subnet = self._stamp({
            "id": sid, "name": name, "network_id": net["id"], "tenant_id": net["tenant_id"],
            "project_id": net["project_id"], "cidr": str(cidr), "ip_version": 4, "gateway_ip": str(gateway),
            "enable_dhcp": not net["router:external"],
            "allocation_pools": [{"start": str(ipaddress.IPv4Address(base + first)),
                                  "end": str(ipaddress.IPv4Address(base + last))}],
            "dns_nameservers": [], "host_routes": [], "subnetpool_id": None, "ipv6_ra_mode": None,
            "ipv6_address_mode": None, "service_types": [], "description": "", "tags": [],
            "dns_publish_fixed_ip": False, "segment_id": None,
        })
        self.subnets[sid] = subnet
        net["subnets"].append(sid)
        return subnet

    # ---- routes -------------------------------------------------------------------------------

    def routes(self):
        p = self.prefix + "/v2.0"
        r = [
            ("GET", self.prefix, self.versions, False),
            ("GET", self.prefix + "/", self.versions, False),
            ("GET", p, self.resources, True),
            ("GET", p + "/", self.resources, True),
            ("GET", p + "/extensions", self.extensions, True),
            ("GET", p + "/networks", self.list_networks, True),
            ("GET", p + "/networks/{id}", self.get_network, True),
            ("GET", p + "/subnets", self.list_subnets, True),
            ("GET", p + "/subnets/{id}", self.get_subnet, True),
            ("GET", p + "/routers", self.list_routers, True),
            ("GET", p + "/routers/{id}", self.get_router, True),
            ("GET", p + "/ports", self.list_ports, True),
            ("POST", p + "/ports", self.create_port, True),
            ("GET", p + "/ports/{id}", self.get_port, True),
            ("PUT", p + "/ports/{id}", self.update_port, True),
            ("DELETE", p + "/ports/{id}", self.delete_port, True),
            ("GET", p + "/floatingips", self.list_fips, True),
            ("POST", p + "/floatingips", self.create_fip, True),
            ("GET", p + "/floatingips/{id}", self.get_fip, True),
            ("PUT", p + "/floatingips/{id}", self.update_fip, True),
            ("DELETE", p + "/floatingips/{id}", self.delete_fip, True),
            ("GET", p + "/security-groups", self.list_sgs, True),
            ("POST", p + "/security-groups", self.create_sg, True),
            ("GET", p + "/security-groups/{id}", self.get_sg, True),
            ("DELETE", p + "/security-groups/{id}", self.delete_sg, True),
            ("GET", p + "/security-group-rules", self.list_sg_rules, True),
            ("POST", p + "/security-group-rules", self.create_sg_rule, True),
            ("DELETE", p + "/security-group-rules/{id}", self.delete_sg_rule, True),
            ("GET", p + "/quotas/{project_id}", self.get_quota, True),
            ("GET", p + "/quotas/{project_id}/details", self.get_quota_details, True),
            ("GET", p + "/quotas/{project_id}/default", self.get_quota_default, True),
            ("PUT", p + "/quotas/{project_id}", self.forbidden_quota, True),
        ]
        return r

    def error_body(self, e: ApiError) -> dict:
        return {"NeutronError": {"type": e.kind or "HTTPError", "message": e.message, "detail": e.detail}}

    async def versions(self, request: web.Request) -> web.Response:
        return json_response({"versions": [{"status": "CURRENT", "id": "v2.0", "links": [
            {"href": self.base_url + "/v2.0/", "rel": "self"}]}]})

    async def resources(self, request: web.Request) -> web.Response:
        names = [("network", "networks"), ("subnet", "subnets"), ("port", "ports"),
                 ("floatingip", "floatingips"), ("router", "routers"), ("security_group", "security-groups")]
        return json_response({"resources": [
            {"name": n, "collection": c, "links": [{"href": f"{self.base_url}/v2.0/{c}", "rel": "self"}]}
            for n, c in names]})

    async def extensions(self, request: web.Request) -> web.Response:
        return json_response({"extensions": [
            {"alias": a, "name": n, "description": n, "updated": "2019-01-01T00:00:00-00:00", "links": []}
            for a, n in EXTENSIONS]})

    # ---- helpers ------------------------------------------------------------------------------

    def _list(self, request: web.Request, key: str, items: list[dict], skip=()) -> web.Response:
        items = [i for i in items if matches(i, request.query, skip)]
        items, more = page(items, request.query)
        body = {key: [select_fields(i, request.query) for i in items]}
        if more and items:
            body[f"{key}_links"] = [{"rel": "next", "href": f"{self.base_url}/v2.0/{key}?limit="
                                     f"{request.query['limit']}&marker={items[-1]['id']}"}]
        return json_response(body)

    def _visible(self, obj: dict, project_id: str) -> bool:
        return (obj.get("project_id") == project_id or obj.get("shared") or obj.get("router:external")
                or obj.get("project_id") == "")

    def _own(self, table: dict, ident: str, kind: str, label: str, project_id: str) -> dict:
        obj = table.get(ident)
        if obj is None or not self._visible(obj, project_id):
            raise _not_found(kind, label, ident)
        return obj

    def network_of(self, ident: str, project_id: str) -> dict:
        return self._own(self.networks, ident, "Network", "Network", project_id)

    def subnet_of(self, ident: str, project_id: str) -> dict:
        subnet = self.subnets.get(ident)
        if subnet is None or not self._visible(self.networks[subnet["network_id"]], project_id):
            raise _not_found("Subnet", "Subnet", ident)
        return subnet

    def port_of(self, ident: str, project_id: str) -> dict:
        port = self.ports.get(ident)
        if port is None or port["project_id"] != project_id:
            raise _not_found("Port", "Port", ident)
        return port

    def _allocate_ip(self, subnet: dict, ip: str | None, owner: str) -> str:
        """An address of `subnet` for `owner` (the requested `ip`, or the pool's next free one)."""
        pool = self.pools[subnet["id"]]
        if ip:
            if ipaddress.IPv4Address(ip) not in ipaddress.IPv4Network(subnet["cidr"]):
                raise ApiError(400, f"IP address {ip} is not a valid IP for the specified subnet.",
                               "InvalidIpForSubnet")
            if not pool.reserve(ip, owner):
                raise ApiError(409, f"IP address {ip} already allocated in subnet {subnet['id']}",
                               "IpAddressAlreadyAllocated")
            return ip
        try:
            return pool.allocate(owner)
        except PoolExhausted:
            raise ApiError(409, f"No more IP addresses available on network {subnet['network_id']}.",
                           "IpAddressGenerationFailure") from None

    def _release_ip(self, subnet_id: str, ip: str) -> None:
        pool = self.pools.get(subnet_id)
        if pool is not None:
            pool.release(ip)

    @staticmethod
    def _port_owner(port_id: str, index: int) -> str:
        """Who holds a port's index-th fixed IP in the pools (a port may have several on one subnet)."""
        return f"port {port_id} #{index}"

    def _fixed_ips(self, net: dict, wanted, project_id: str, port_id: str) -> list[dict]:
        out: list[dict] = []
        if wanted is None:
            wanted = [{"subnet_id": net["subnets"][0]}] if net["subnets"] else []
        if not isinstance(wanted, list):
            raise ApiError(400, "Invalid input for fixed_ips. Reason: Invalid data format for fixed IP.",
                           "HTTPBadRequest")
        try:
            for index, entry in enumerate(wanted):
                sid = entry.get("subnet_id")
                ip = entry.get("ip_address")
                if sid is None and ip:
                    sid = next((s for s in net["subnets"] if ipaddress.IPv4Address(ip)
                                in ipaddress.IPv4Network(self.subnets[s]["cidr"])), None)
                    if sid is None:
                        raise ApiError(400, f"IP address {ip} is not a valid IP for the specified subnet.",
                                       "InvalidIpForNetwork")
                subnet = self.subnet_of(sid, project_id)
                if subnet["network_id"] != net["id"]:
                    raise ApiError(400, f"Invalid input for operation: Failed to create port on network "
                                   f"{net['id']}, because fixed_ips included invalid subnet {sid}.",
                                   "InvalidInput")
                out.append({"subnet_id": sid,
                            "ip_address": self._allocate_ip(subnet, ip, self._port_owner(port_id, index))})
        except ApiError:
            for ip in out:
                self._release_ip(ip["subnet_id"], ip["ip_address"])
            raise
        return out

    def default_sg(self, project_id: str) -> dict:
        for sg in self.security_groups.values():
            if sg["project_id"] == project_id and sg["name"] == "default":
                return sg
        sgid = new_id()
        sg = self.security_groups[sgid] = self._stamp({
            "id": sgid, "name": "default", "description": "Default security group", "tenant_id": project_id,
            "project_id": project_id, "security_group_rules": [], "tags": [], "stateful": True, "shared": False})
        for direction in ("ingress", "egress"):
            self._add_rule(sg, {"direction": direction, "ethertype": "IPv4",
                                "remote_group_id": sgid if direction == "ingress" else None})
        return sg

    def _add_rule(self, sg: dict, spec: dict) -> dict:
        rid = new_id()
        rule = self._stamp({
            "id": rid, "security_group_id": sg["id"], "tenant_id": sg["project_id"],
            "project_id": sg["project_id"], "direction": spec.get("direction", "ingress"),
            "ethertype": spec.get("ethertype", "IPv4"), "protocol": spec.get("protocol"),
            "port_range_min": spec.get("port_range_min"), "port_range_max": spec.get("port_range_max"),
            "remote_ip_prefix": spec.get("remote_ip_prefix"), "remote_group_id": spec.get("remote_group_id"),
            "remote_address_group_id": None, "normalized_cidr": spec.get("remote_ip_prefix"),
            "description": spec.get("description") or "", "tags": [], "belongs_to_default_sg": sg["name"] == "default"})
        self.sg_rules[rid] = rule
        sg["security_group_rules"].append(rule)
        return rule

    # ---- internal API (Octavia, Nova) --------------------------------------------------------------------

    def new_port(self, project_id: str, net: dict, fixed_ips=None, **attrs) -> dict:
        pid = new_id()
        ips = self._fixed_ips(net, fixed_ips, project_id, pid)
        port = self._stamp({
            "id": pid, "name": attrs.get("name") or "", "network_id": net["id"], "tenant_id": project_id,
            "project_id": project_id, "mac_address": attrs.get("mac_address") or _mac(),
            "admin_state_up": attrs.get("admin_state_up", True), "status": "DOWN",
            "device_id": attrs.get("device_id") or "", "device_owner": attrs.get("device_owner") or "",
            "fixed_ips": ips, "allowed_address_pairs": [], "extra_dhcp_opts": [],
            "security_groups": [], "description": attrs.get("description") or "", "tags": [],
            "binding:vnic_type": attrs.get("binding:vnic_type") or "normal", "binding:host_id": "",
            "binding:profile": {}, "binding:vif_type": "unbound", "binding:vif_details": {},
            "port_security_enabled": attrs.get("port_security_enabled", True), "dns_name": "",
            "dns_assignment": [], "qos_policy_id": None, "qos_network_policy_id": None,
            "propagate_uplink_status": False, "ip_allocation": "immediate", "resource_request": None,
        })
        if port["port_security_enabled"]:
            sgs = attrs.get("security_groups")
            port["security_groups"] = list(sgs) if sgs is not None else [self.default_sg(project_id)["id"]]
        if attrs.get("allowed_address_pairs"):
            port["allowed_address_pairs"] = self._pairs(port, attrs["allowed_address_pairs"])
        self.ports[pid] = port
        self.cloud.changed()
        return port

    def _pairs(self, port: dict, pairs) -> list[dict]:
        if not isinstance(pairs, list):
            raise ApiError(400, "Invalid input for allowed_address_pairs.", "HTTPBadRequest")
        if pairs and not port.get("port_security_enabled", True):
            raise ApiError(409, "Port Security must be enabled in order to have allowed address pairs on a "
                           "port.", "AddressPairAndPortSecurityRequired")
        out = []
        for pair in pairs:
            if not isinstance(pair, dict) or "ip_address" not in pair:
                raise ApiError(400, "AllowedAddressPair must contain ip_address", "AllowedAddressPairsMissingIP")
            try:
                ipaddress.ip_network(pair["ip_address"], strict=False)
            except ValueError:
                raise ApiError(400, f"Invalid input for ip_address. Reason: '{pair['ip_address']}' is not a "
                               "valid IP address.", "HTTPBadRequest") from None
            out.append({"ip_address": pair["ip_address"], "mac_address": pair.get("mac_address")
                        or port["mac_address"]})
        return out

    def remove_port(self, port: dict) -> None:
        self.ports.pop(port["id"], None)
        for ip in port["fixed_ips"]:
            self._release_ip(ip["subnet_id"], ip["ip_address"])
        for fip in self.floatingips.values():
            if fip["port_id"] == port["id"]:
                self._disassociate(fip)
        self.cloud.changed()

    def bind_port(self, port: dict, server_id: str, host: str) -> None:
        port.update({"device_id": server_id, "device_owner": "compute:nova", "binding:host_id": host,
                     "binding:vif_type": "ovs", "status": "ACTIVE"})
        self._stamp(port)
        self.cloud.changed()

    def unbind_port(self, port: dict) -> None:
        port.update({"device_id": "", "device_owner": "", "binding:host_id": "", "binding:vif_type": "unbound",
                     "status": "DOWN"})
        self._stamp(port)
        self.cloud.changed()

    def port_address(self, port_id: str | None) -> str | None:
        port = self.ports.get(port_id or "")
        if port and port["fixed_ips"]:
            return port["fixed_ips"][0]["ip_address"]
        return None

    # ---- networks, subnets, routers -----------------------------------------------------------------------

    async def list_networks(self, request):
        pid = request["token"].project_id
        return self._list(request, "networks", [n for n in self.networks.values() if self._visible(n, pid)])

    async def get_network(self, request):
        return json_response({"network": select_fields(
            self.network_of(request.match_info["id"], request["token"].project_id), request.query)})

    async def list_subnets(self, request):
        pid = request["token"].project_id
        return self._list(request, "subnets", [s for s in self.subnets.values()
                                               if self._visible(self.networks[s["network_id"]], pid)])

    async def get_subnet(self, request):
        return json_response({"subnet": select_fields(
            self.subnet_of(request.match_info["id"], request["token"].project_id), request.query)})

    async def list_routers(self, request):
        pid = request["token"].project_id
        return self._list(request, "routers", [r for r in self.routers.values()
                                               if r["project_id"] == pid or r is self.router])

    async def get_router(self, request):
        router = self.routers.get(request.match_info["id"])
        if router is None:
            raise _not_found("Router", "Router", request.match_info["id"])
        return json_response({"router": router})

    # ---- ports ----------------------------------------------------------------------------------------------------

    def _port_filter(self, port: dict, query) -> bool:
        for raw in query.getall("fixed_ips", []):
            want = dict(part.split("=", 1) for part in raw.split("&") if "=" in part)
            if not any(all(ip.get(k) == v for k, v in want.items()) for ip in port["fixed_ips"]):
                return False
        return True

    async def list_ports(self, request):
        pid = request["token"].project_id
        items = [p for p in self.ports.values() if p["project_id"] == pid and self._port_filter(p, request.query)]
        return self._list(request, "ports", items, skip=("fixed_ips",))

    async def get_port(self, request):
        return json_response({"port": select_fields(
            self.port_of(request.match_info["id"], request["token"].project_id), request.query)})

    async def create_port(self, request):
        body = (await read_json(request)).get("port")
        if not isinstance(body, dict):
            raise ApiError(400, "Resource body required", "HTTPBadRequest")
        pid = request["token"].project_id
        if not body.get("network_id"):
            raise ApiError(400, "Failed to parse request. Required attribute 'network_id' not specified",
                           "HTTPBadRequest")
        net = self.network_of(body["network_id"], pid)
        attrs = {k: v for k, v in body.items() if k not in ("network_id", "fixed_ips")}
        port = self.new_port(pid, net, body.get("fixed_ips"), **attrs)
        if body.get("tags"):
            port["tags"] = list(body["tags"])
        return json_response({"port": port}, status=201)

    async def update_port(self, request):
        body = (await read_json(request)).get("port")
        if not isinstance(body, dict):
            raise ApiError(400, "Resource body required", "HTTPBadRequest")
        pid = request["token"].project_id
        port = self.port_of(request.match_info["id"], pid)
        if "network_id" in body and body["network_id"] != port["network_id"]:
            raise ApiError(400, "Cannot update read-only attribute network_id", "HTTPBadRequest")
        if "port_security_enabled" in body:
            port["port_security_enabled"] = bool(body["port_security_enabled"])
        if "allowed_address_pairs" in body:
            port["allowed_address_pairs"] = self._pairs(port, body["allowed_address_pairs"] or [])
        if "fixed_ips" in body:
            old = port["fixed_ips"]
            for ip in old:
                self._release_ip(ip["subnet_id"], ip["ip_address"])
            try:
                port["fixed_ips"] = self._fixed_ips(self.networks[port["network_id"]], body["fixed_ips"], pid,
                                                    port["id"])
            except ApiError:
                for index, ip in enumerate(old):
                    self.pools[ip["subnet_id"]].reserve(ip["ip_address"], self._port_owner(port["id"], index))
                raise
        for key in ("name", "description", "admin_state_up", "device_id", "device_owner", "security_groups",
                    "binding:host_id", "binding:profile", "binding:vnic_type", "dns_name", "qos_policy_id"):
            if key in body:
                port[key] = body[key]
        self._stamp(port)
        self.cloud.changed()
        return json_response({"port": port})

    async def delete_port(self, request):
        port = self.port_of(request.match_info["id"], request["token"].project_id)
        owner = port.get("device_owner") or ""
        if owner.startswith("network:router") or owner == "network:floatingip":
            raise ApiError(409, f"Port {port['id']} cannot be deleted directly via the port API: has device "
                           f"owner {owner}.", "ServicePortInUse")
        self.remove_port(port)
        return web.Response(status=204)

    # ---- floating IPs -------------------------------------------------------------------------------------------

    def _fip_view(self, fip: dict) -> dict:
        out = dict(fip)
        port = self.ports.get(fip["port_id"] or "")
        out["port_details"] = None if port is None else {
            "name": port["name"], "network_id": port["network_id"], "mac_address": port["mac_address"],
            "admin_state_up": port["admin_state_up"], "status": port["status"], "device_id": port["device_id"],
            "device_owner": port["device_owner"]}
        return out

    def fip_of(self, ident: str, project_id: str) -> dict:
        fip = self.floatingips.get(ident)
        if fip is None or fip["project_id"] != project_id:
            raise ApiError(404, f"Floating IP {ident} could not be found", "FloatingIPNotFound")
        return fip

    def fip_limit(self, project_id: str) -> int:
        return int(self.cloud.faults.floating_ip_quota)

    def _associate(self, fip: dict, port_id: str | None, fixed_ip: str | None, project_id: str) -> None:
        if not port_id:
            self._disassociate(fip)
            return
        port = self.port_of(port_id, project_id)
        ips = [ip["ip_address"] for ip in port["fixed_ips"]]
        if not ips:
            raise ApiError(400, f"Bad floatingip request: Port {port_id} does not have any IPv4 address.",
                           "BadRequest")
        if fixed_ip and fixed_ip not in ips:
            raise ApiError(400, f"Bad floatingip request: Port {port_id} does not have fixed ip {fixed_ip}.",
                           "BadRequest")
        fixed_ip = fixed_ip or ips[0]
        net = self.networks[port["network_id"]]
        if net is not self.lab_net:
            subnet = next(ip["subnet_id"] for ip in port["fixed_ips"] if ip["ip_address"] == fixed_ip)
            raise ApiError(404, f"External network {fip['floating_network_id']} is not reachable from subnet "
                           f"{subnet}.  Therefore, cannot associate Port {port_id} with a Floating IP.",
                           "ExternalGatewayForFloatingIPNotFound")
        for other in self.floatingips.values():
            if other is not fip and other["port_id"] == port_id and other["fixed_ip_address"] == fixed_ip:
                raise ApiError(409, f"Cannot associate floating IP {fip['floating_ip_address']} ({fip['id']}) "
                               f"with port {port_id} using fixed IP {fixed_ip}, as that fixed IP already has a "
                               f"floating IP on external network {fip['floating_network_id']}.",
                               "FloatingIPPortAlreadyAssociated")
        fip.update({"port_id": port_id, "fixed_ip_address": fixed_ip, "router_id": self.router["id"],
                    "status": "ACTIVE"})

    def _disassociate(self, fip: dict) -> None:
        fip.update({"port_id": None, "fixed_ip_address": None, "router_id": None, "status": "DOWN"})
        self._stamp(fip)
        self.cloud.changed()

    async def list_fips(self, request):
        pid = request["token"].project_id
        items = [self._fip_view(f) for f in self.floatingips.values() if f["project_id"] == pid]
        return self._list(request, "floatingips", items)

    async def get_fip(self, request):
        fip = self.fip_of(request.match_info["id"], request["token"].project_id)
        return json_response({"floatingip": select_fields(self._fip_view(fip), request.query)})

    async def create_fip(self, request):
        body = (await read_json(request)).get("floatingip")
        if not isinstance(body, dict):
            raise ApiError(400, "Resource body required", "HTTPBadRequest")
        pid = request["token"].project_id
        net_id = body.get("floating_network_id")
        if not net_id:
            raise ApiError(400, "Failed to parse request. Required attribute 'floating_network_id' not "
                           "specified", "HTTPBadRequest")
        net = self.networks.get(net_id)
        if net is None:
            raise _not_found("Network", "Network", net_id)
        if not net["router:external"]:
            raise ApiError(400, f"Bad floatingip request: Network {net_id} is not a valid external network.",
                           "BadRequest")
        used = sum(1 for f in self.floatingips.values() if f["project_id"] == pid)
        if used >= self.fip_limit(pid):
            raise ApiError(409, "Quota exceeded for resources: ['floatingip'].", "OverQuota")
        fid = new_id()
        fip = {"id": fid, "tenant_id": pid, "project_id": pid, "floating_network_id": net_id,
               "floating_ip_address": None, "router_id": None, "port_id": None, "fixed_ip_address": None,
               "status": "DOWN", "description": body.get("description") or "", "tags": list(body.get("tags") or []),
               "dns_domain": "", "dns_name": "", "port_forwardings": [], "qos_policy_id": None,
               "qos_network_policy_id": None}
        subnet_id = body.get("subnet_id") or net["subnets"][0]
        subnet = self.subnets[subnet_id]
        fip["floating_ip_address"] = self._allocate_ip(subnet, body.get("floating_ip_address"), f"floatingip {fid}")
        try:
            self._associate(fip, body.get("port_id"), body.get("fixed_ip_address"), pid)
        except ApiError:
            self._release_ip(subnet_id, fip["floating_ip_address"])
            raise
        fip["subnet_id"] = subnet_id
        self.floatingips[fid] = self._stamp(fip)
        self.cloud.changed()
        return json_response({"floatingip": self._fip_view(fip)}, status=201)

    async def update_fip(self, request):
        body = (await read_json(request)).get("floatingip")
        if not isinstance(body, dict):
            raise ApiError(400, "Resource body required", "HTTPBadRequest")
        pid = request["token"].project_id
        fip = self.fip_of(request.match_info["id"], pid)
        if "port_id" in body:
            self._associate(fip, body["port_id"], body.get("fixed_ip_address"), pid)
        if "description" in body:
            fip["description"] = body["description"] or ""
        self._stamp(fip)
        self.cloud.changed()
        return json_response({"floatingip": self._fip_view(fip)})

    async def delete_fip(self, request):
        fip = self.fip_of(request.match_info["id"], request["token"].project_id)
        del self.floatingips[fip["id"]]
        self._release_ip(fip["subnet_id"], fip["floating_ip_address"])
        self.cloud.changed()
        return web.Response(status=204)

    # ---- security groups ----------------------------------------------------------------------------------------

    async def list_sgs(self, request):
        pid = request["token"].project_id
        self.default_sg(pid)
        return self._list(request, "security_groups",
                          [s for s in self.security_groups.values() if s["project_id"] == pid])

    async def get_sg(self, request):
        sg = self.security_groups.get(request.match_info["id"])
        if sg is None or sg["project_id"] != request["token"].project_id:
            raise _not_found("SecurityGroup", "Security group", request.match_info["id"])
        return json_response({"security_group": sg})

    async def create_sg(self, request):
        body = (await read_json(request)).get("security_group") or {}
        pid = request["token"].project_id
        self.default_sg(pid)
        sgid = new_id()
        sg = self.security_groups[sgid] = self._stamp({
            "id": sgid, "name": body.get("name") or "", "description": body.get("description") or "",
            "tenant_id": pid, "project_id": pid, "security_group_rules": [], "tags": [], "stateful": True,
            "shared": False})
        self._add_rule(sg, {"direction": "egress", "ethertype": "IPv4"})
        return json_response({"security_group": sg}, status=201)

    async def delete_sg(self, request):
        sg = self.security_groups.get(request.match_info["id"])
        if sg is None or sg["project_id"] != request["token"].project_id:
            raise _not_found("SecurityGroup", "Security group", request.match_info["id"])
        if any(sg["id"] in p["security_groups"] for p in self.ports.values()):
            raise ApiError(409, f"Security Group {sg['id']} in use.", "SecurityGroupInUse")
        del self.security_groups[sg["id"]]
        for rule in sg["security_group_rules"]:
            self.sg_rules.pop(rule["id"], None)
        return web.Response(status=204)

    async def list_sg_rules(self, request):
        pid = request["token"].project_id
        return self._list(request, "security_group_rules",
                          [r for r in self.sg_rules.values() if r["project_id"] == pid])

    async def create_sg_rule(self, request):
        body = (await read_json(request)).get("security_group_rule") or {}
        sg = self.security_groups.get(body.get("security_group_id") or "")
        if sg is None or sg["project_id"] != request["token"].project_id:
            raise _not_found("SecurityGroup", "Security group", body.get("security_group_id") or "")
        return json_response({"security_group_rule": self._add_rule(sg, body)}, status=201)

    async def delete_sg_rule(self, request):
        rule = self.sg_rules.get(request.match_info["id"])
        if rule is None or rule["project_id"] != request["token"].project_id:
            raise _not_found("SecurityGroupRule", "Security group rule", request.match_info["id"])
        del self.sg_rules[rule["id"]]
        sg = self.security_groups.get(rule["security_group_id"])
        if sg:
            sg["security_group_rules"] = [r for r in sg["security_group_rules"] if r["id"] != rule["id"]]
        return web.Response(status=204)

    # ---- quotas ---------------------------------------------------------------------------------------------------

    def _quota_project(self, request) -> str:
        pid = request.match_info["project_id"]
        if pid != request["token"].project_id:
            raise ApiError(403, "Non-admin is not authorised to access quotas for another project",
                           "HTTPForbidden")
        return pid

    def _limits(self, pid: str) -> dict:
        return {**DEFAULT_QUOTA, "floatingip": self.fip_limit(pid)}

    async def get_quota(self, request):
        pid = self._quota_project(request)
        return json_response({"quota": self._limits(pid)})

    async def get_quota_default(self, request):
        pid = self._quota_project(request)
        return json_response({"quota": {**DEFAULT_QUOTA, "floatingip": self.config.cloud_fip_quota,
                                        "project_id": pid}})

    async def get_quota_details(self, request):
        pid = self._quota_project(request)
        used = {
            "floatingip": sum(1 for f in self.floatingips.values() if f["project_id"] == pid),
            "port": sum(1 for p in self.ports.values() if p["project_id"] == pid),
            "network": sum(1 for n in self.networks.values() if n["project_id"] == pid),
            "subnet": sum(1 for s in self.subnets.values() if s["project_id"] == pid),
            "router": sum(1 for r in self.routers.values() if r["project_id"] == pid),
            "security_group": sum(1 for s in self.security_groups.values() if s["project_id"] == pid),
            "security_group_rule": sum(1 for r in self.sg_rules.values() if r["project_id"] == pid),
        }
        return json_response({"quota": {k: {"limit": v, "used": used.get(k, 0), "reserved": 0}
                                        for k, v in self._limits(pid).items()}})

    async def forbidden_quota(self, request):
        raise ApiError(403, "Policy doesn't allow update_quota to be performed.", "PolicyNotAuthorized")

