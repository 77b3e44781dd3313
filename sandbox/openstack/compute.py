"""Nova v2.1 under `/compute/v2.1`: flavors and servers.

A server boots (BUILD, then ACTIVE after `delays.os_server_boot`) on the ports it is
given (`networks: [{"port": id}]`) or on new ports of the networks it names
(`[{"uuid": id}]`, default `lab-net`); its ports are bound to it (device_id,
device_owner `compute:nova`, status ACTIVE). A server booted from the image tagged
`taikun-lb` "runs" its cloud-config user data (see userdata.py). `os-stop`,
`os-start`, `reboot` and `os-getConsoleOutput` actions are served (stopping the
keepalived MASTER of a Taikun pair hands the VIP to the BACKUP).
Microversions 2.1 to 2.96 are accepted and echoed in `OpenStack-API-Version`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets

from aiohttp import web

from .base import ApiError, Service, iso_now, json_response, new_id, read_json
from .userdata import parse_user_data

MIN_VERSION, MAX_VERSION = (2, 1), (2, 96)
FLAVORS = (
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
)
HOSTS = ("compute-1", "compute-2", "compute-3")


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor)


class Compute(Service):
    type = "compute"
    name = "nova"
    prefix = "/compute"

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        self.flavors = {fid: {"id": fid, "name": name, "vcpus": cpus, "ram": ram, "disk": disk,
                              "OS-FLV-EXT-DATA:ephemeral": 0, "swap": 0, "rxtx_factor": 1.0,
                              "os-flavor-access:is_public": True, "OS-FLV-DISABLED:disabled": False,
                              "description": None, "extra_specs": {}}
                        for fid, name, cpus, ram, disk in FLAVORS}
        self.servers: dict[str, dict] = {}
        self._next_host = 0

    def catalog_url(self) -> str:
        return self.base_url + "/v2.1"

    # ---- plumbing -------------------------------------------------------------------------

    def routes(self):
        p = self.prefix + "/v2.1"
        return [
            ("GET", self.prefix, self.versions, False),
            ("GET", self.prefix + "/", self.versions, False),
            ("GET", p, self.version, False),
            ("GET", p + "/", self.version, False),
            ("GET", p + "/flavors", self.list_flavors, True),
            ("GET", p + "/flavors/detail", self.list_flavors_detail, True),
            ("GET", p + "/flavors/{id}", self.get_flavor, True),
            ("GET", p + "/servers", self.list_servers, True),
            ("GET", p + "/servers/detail", self.list_servers_detail, True),
            ("POST", p + "/servers", self.create_server, True),
            ("GET", p + "/servers/{id}", self.get_server, True),
            ("DELETE", p + "/servers/{id}", self.delete_server, True),
            ("POST", p + "/servers/{id}/action", self.action, True),
            ("GET", p + "/servers/{id}/metadata", self.get_metadata, True),
        ]

    def error_body(self, e: ApiError) -> dict:
        key = e.kind or {400: "badRequest", 403: "forbidden", 404: "itemNotFound", 409: "conflictingRequest",
                         406: "computeFault"}.get(e.status, "computeFault")
        return {key: {"code": e.status, "message": e.message}}

    def wrap(self, handler, auth: bool = True):
        inner = super().wrap(self._versioned(handler), auth)
        return inner

    def _versioned(self, handler):
        async def run(request: web.Request):
            header = request.headers.get("OpenStack-API-Version", "")
            raw = header.split()[-1] if header.lower().startswith("compute") else \
                request.headers.get("X-OpenStack-Nova-API-Version", "")
            if not raw:
                version = MIN_VERSION
            elif raw == "latest":
                version = MAX_VERSION
            else:
                try:
                    version = _version(raw)
                except ValueError:
                    raise ApiError(400, f"Invalid API version request string {raw}.") from None
                if not MIN_VERSION <= version <= MAX_VERSION:
                    raise ApiError(406, f"Version {raw} is not supported by the API. Minimum is 2.1 and "
                                   "maximum is 2.96.", "computeFault")
            request["microversion"] = version
            response = await handler(request)
            text = f"{version[0]}.{version[1]}"
            response.headers["OpenStack-API-Version"] = f"compute {text}"
            response.headers["X-OpenStack-Nova-API-Version"] = text
            response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
            return response
        return run

    def _version_doc(self) -> dict:
        return {"id": "v2.1", "status": "CURRENT", "version": "2.96", "min_version": "2.1",
                "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": self.base_url + "/v2.1/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.compute+json;version=2.1"}]}

    async def versions(self, request):
        return json_response({"versions": [
            {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
             "updated": "2011-01-21T11:33:21Z", "links": [{"rel": "self", "href": self.base_url + "/v2/"}]},
            self._version_doc()]})

    async def version(self, request):
        return json_response({"version": self._version_doc()})

    # ---- flavors ----------------------------------------------------------------------------------

    def _flavor_links(self, fid: str) -> list[dict]:
        return [{"rel": "self", "href": f"{self.base_url}/v2.1/flavors/{fid}"},
                {"rel": "bookmark", "href": f"{self.base_url}/flavors/{fid}"}]

    def _flavor_view(self, flavor: dict, version) -> dict:
        out = {**flavor, "links": self._flavor_links(flavor["id"])}
        if version < (2, 75):
            out["swap"] = ""
        if version < (2, 61):
            out.pop("extra_specs")
        if version < (2, 55):
            out.pop("description")
        return out

    async def list_flavors(self, request):
        return json_response({"flavors": [{"id": f["id"], "name": f["name"], "links": self._flavor_links(f["id"])}
                                          for f in self.flavors.values()]})

    async def list_flavors_detail(self, request):
        return json_response({"flavors": [self._flavor_view(f, request["microversion"])
                                          for f in self.flavors.values()]})

    async def get_flavor(self, request):
        flavor = self.flavors.get(request.match_info["id"])
        if flavor is None:
            raise ApiError(404, f"Flavor {request.match_info['id']} could not be found.")
        return json_response({"flavor": self._flavor_view(flavor, request["microversion"])})

    # ---- servers ---------------------------------------------------------------------------------------

    def server_of(self, ident: str, project_id: str) -> dict:
        server = self.servers.get(ident)
        if server is None or server["tenant_id"] != project_id:
            raise ApiError(404, f"Instance {ident} could not be found.")
        return server

    def _links(self, sid: str) -> list[dict]:
        return [{"rel": "self", "href": f"{self.base_url}/v2.1/servers/{sid}"},
                {"rel": "bookmark", "href": f"{self.base_url}/servers/{sid}"}]

    def _addresses(self, server: dict) -> dict:
        out: dict[str, list] = {}
        net = self.cloud.network
        for pid in server["_ports"]:
            port = net.ports.get(pid)
            if port is None:
                continue
            name = net.networks[port["network_id"]]["name"]
            for ip in port["fixed_ips"]:
                out.setdefault(name, []).append({"version": 4, "addr": ip["ip_address"], "OS-EXT-IPS:type": "fixed",
                                                 "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
            for fip in net.floatingips.values():
                if fip["port_id"] == pid:
                    out.setdefault(name, []).append({"version": 4, "addr": fip["floating_ip_address"],
                                                     "OS-EXT-IPS:type": "floating",
                                                     "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
        return out

    def view(self, server: dict, version) -> dict:
        out = {k: v for k, v in server.items() if not k.startswith("_")}
        flavor = self.flavors[server["_flavor"]]
        if version >= (2, 47):
            out["flavor"] = {"vcpus": flavor["vcpus"], "ram": flavor["ram"], "disk": flavor["disk"],
                             "ephemeral": 0, "swap": 0, "original_name": flavor["name"], "extra_specs": {}}
        else:
            out["flavor"] = {"id": flavor["id"], "links": [{"rel": "bookmark",
                                                            "href": f"{self.base_url}/flavors/{flavor['id']}"}]}
        out["addresses"] = self._addresses(server)
        out["links"] = self._links(server["id"])
        return out

    async def list_servers(self, request):
        items = self._filtered(request)
        return json_response({"servers": [{"id": s["id"], "name": s["name"], "links": self._links(s["id"])}
                                          for s in items]})

    async def list_servers_detail(self, request):
        return json_response({"servers": [self.view(s, request["microversion"]) for s in self._filtered(request)]})

    def _filtered(self, request) -> list[dict]:
        pid = request["token"].project_id
        q = request.query
        items = [s for s in self.servers.values() if s["tenant_id"] == pid]
        if q.get("name"):
            try:
                pattern = re.compile(q["name"])
            except re.error:
                pattern = re.compile(re.escape(q["name"]))
            items = [s for s in items if pattern.search(s["name"])]
        if q.get("status"):
            items = [s for s in items if s["status"] == q["status"].upper()]
        if q.get("image"):
            items = [s for s in items if s["image"]["id"] == q["image"]]
        if q.get("flavor"):
            items = [s for s in items if s["_flavor"] == q["flavor"]]
        for raw in q.getall("tags", []):
            items = [s for s in items if all(t in s["tags"] for t in raw.split(","))]
        return items

    async def get_server(self, request):
        server = self.server_of(request.match_info["id"], request["token"].project_id)
        return json_response({"server": self.view(server, request["microversion"])})

    async def get_metadata(self, request):
        server = self.server_of(request.match_info["id"], request["token"].project_id)
        return json_response({"metadata": server["metadata"]})

    def _ports_for(self, networks, project_id: str) -> list[tuple[dict, bool]]:
        """-> [(port, created_here)] for the request's `networks`."""
        net = self.cloud.network
        if networks in (None, "auto") or networks == []:
            networks = [{"uuid": net.lab_net["id"]}]
        if networks == "none":
            return []
        if not isinstance(networks, list):
            raise ApiError(400, "Invalid input for field/attribute networks.")
        wanted = []
        for spec in networks:
            if not isinstance(spec, dict):
                raise ApiError(400, "Invalid input for field/attribute networks.")
            if spec.get("port"):
                try:
                    port = net.port_of(spec["port"], project_id)
                except ApiError:
                    raise ApiError(400, f"Port id {spec['port']} could not be found.") from None
                if port["device_id"]:
                    raise ApiError(409, f"Port {port['id']} is still in use.")
                wanted.append((port, None))
            elif spec.get("uuid"):
                try:
                    network = net.network_of(spec["uuid"], project_id)
                except ApiError:
                    raise ApiError(400, f"Network {spec['uuid']} could not be found.") from None
                if network.get("router:external"):
                    raise ApiError(403, f"It is not allowed to create an interface on external network "
                                   f"{network['id']}", "forbidden")
                fixed = [{"ip_address": spec["fixed_ip"]}] if spec.get("fixed_ip") else None
                wanted.append((network, fixed))
            else:
                raise ApiError(400, "Invalid input for field/attribute networks.")
        out: list[tuple[dict, bool]] = []
        try:
            for item, fixed in wanted:
                if "network_id" in item:
                    out.append((item, False))
                else:
                    out.append((net.new_port(project_id, item, fixed), True))
        except ApiError as e:
            for port, created in out:
                if created:
                    net.remove_port(port)
            raise ApiError(400 if e.status < 500 else e.status, e.message) from None
        return out

    async def create_server(self, request):
        body = (await read_json(request)).get("server")
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid input for field/attribute server. Value: None. None is not of type "
                           "'object'")
        token = request["token"]
        pid = token.project_id
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, f"Invalid input for field/attribute server. Value: {body}. 'name' is a required "
                           "property")
        flavor_ref = str(body.get("flavorRef") or "").rstrip("/").rsplit("/", 1)[-1]
        flavor = self.flavors.get(flavor_ref) or next((f for f in self.flavors.values() if f["name"] == flavor_ref),
                                                      None)
        if flavor is None:
            raise ApiError(400, f"Flavor {flavor_ref} could not be found.")
        image_ref = str(body.get("imageRef") or "").rstrip("/").rsplit("/", 1)[-1]
        image = self.cloud.image.images.get(image_ref)
        if image is None or not self.cloud.image._visible(image, pid):
            raise ApiError(400, f"Image {image_ref} could not be found.")
        user_data = body.get("user_data")
        decoded = b""
        if user_data is not None:
            try:
                decoded = base64.b64decode(user_data, validate=True)
            except (binascii.Error, ValueError, TypeError):
                raise ApiError(400, f"Invalid input for field/attribute user_data. Value: {user_data}. "
                               f"'{user_data}' is not a 'base64'") from None
            if len(user_data) > 65535:
                raise ApiError(400, "Invalid input for field/attribute user_data. Value too long.")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise ApiError(400, "Invalid input for field/attribute metadata.")
        ports = self._ports_for(body.get("networks"), pid)
        sid = new_id()
        host = HOSTS[self._next_host % len(HOSTS)]
        self._next_host += 1
        now = iso_now()
        groups = body.get("security_groups") or [{"name": "default"}]
        server = {
            "id": sid, "name": name, "status": "BUILD", "tenant_id": pid, "user_id": token.user["id"],
            "metadata": dict(metadata), "hostId": hashlib.sha224((pid + host).encode()).hexdigest(),
            "image": {"id": image["id"], "links": [{"rel": "bookmark",
                                                    "href": f"{self.base_url}/images/{image['id']}"}]},
            "created": now, "updated": now, "accessIPv4": "", "accessIPv6": "", "progress": 0,
            "OS-DCF:diskConfig": "MANUAL", "OS-EXT-AZ:availability_zone": body.get("availability_zone") or "nova",
            "OS-EXT-STS:task_state": "spawning", "OS-EXT-STS:vm_state": "building", "OS-EXT-STS:power_state": 0,
            "OS-SRV-USG:launched_at": None, "OS-SRV-USG:terminated_at": None, "config_drive": "",
            "key_name": body.get("key_name"), "security_groups": [{"name": g.get("name", "default")} for g in groups],
            "os-extended-volumes:volumes_attached": [], "locked": False, "locked_reason": None,
            "description": body.get("description"), "tags": list(body.get("tags") or []),
            "trusted_image_certificates": None, "host_status": "UP", "server_groups": [],
            "pinned_availability_zone": None,
            "_flavor": flavor["id"], "_ports": [p["id"] for p, _ in ports],
            "_created_ports": [p["id"] for p, created in ports if created], "_host": host,
            "_user_data": decoded, "_taikun": None, "_console": [],
        }
        if "taikun-lb" in image["tags"]:
            config, problems = parse_user_data(decoded)
            server["_taikun"] = config
            server["_console"] = [f"cloud-init: {p}" for p in problems]
        for port, _ in ports:
            self.cloud.network.bind_port(port, sid, host)
        self.servers[sid] = server
        admin_pass = secrets.token_urlsafe(9)

        def booted() -> None:
            if server["status"] == "BUILD":
                server.update({"status": "ACTIVE", "OS-EXT-STS:task_state": None, "OS-EXT-STS:vm_state": "active",
                               "OS-EXT-STS:power_state": 1, "OS-SRV-USG:launched_at": iso_now(z=False),
                               "updated": iso_now(), "progress": 100})
                server["_console"].append("Cloud-init finished; services started.")

        self.cloud.later(self.config.delays.os_server_boot, booted)
        self.cloud.changed()
        return json_response({"server": {"id": sid, "links": self._links(sid), "OS-DCF:diskConfig": "MANUAL",
                                         "security_groups": server["security_groups"], "adminPass": admin_pass}},
                             status=202)

    async def delete_server(self, request):
        server = self.server_of(request.match_info["id"], request["token"].project_id)
        if server["OS-EXT-STS:task_state"] == "deleting":
            return web.Response(status=204)
        server["OS-EXT-STS:task_state"] = "deleting"
        server["updated"] = iso_now()

        def gone() -> None:
            self.servers.pop(server["id"], None)
            net = self.cloud.network
            for pid in server["_ports"]:
                port = net.ports.get(pid)
                if port is None:
                    continue
                if pid in server["_created_ports"]:
                    net.remove_port(port)
                else:
                    net.unbind_port(port)

        self.cloud.later(self.config.delays.os_server_delete, gone)
        self.cloud.changed()
        return web.Response(status=204)

    async def action(self, request):
        server = self.server_of(request.match_info["id"], request["token"].project_id)
        body = await read_json(request)
        if "os-getConsoleOutput" in body:
            lines = ["[    0.000000] Linux version 6.8.0-sandbox", *server["_console"]]
            length = (body["os-getConsoleOutput"] or {}).get("length")
            if isinstance(length, int) and length > 0:
                lines = lines[-length:]
            return json_response({"output": "\n".join(lines) + "\n"})
        if "os-stop" in body:
            if server["status"] != "ACTIVE":
                raise ApiError(409, f"Cannot 'stop' instance {server['id']} while it is in vm_state "
                               f"{server['OS-EXT-STS:vm_state']}")
            server.update({"status": "SHUTOFF", "OS-EXT-STS:vm_state": "stopped", "OS-EXT-STS:power_state": 4,
                           "updated": iso_now()})
        elif "os-start" in body:
            if server["status"] != "SHUTOFF":
                raise ApiError(409, f"Cannot 'start' instance {server['id']} while it is in vm_state "
                               f"{server['OS-EXT-STS:vm_state']}")
            server.update({"status": "ACTIVE", "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1,
                           "updated": iso_now()})
        elif "reboot" in body:
            if server["status"] not in ("ACTIVE", "SHUTOFF"):
                raise ApiError(409, f"Cannot 'reboot' instance {server['id']} while it is in vm_state "
                               f"{server['OS-EXT-STS:vm_state']}")
            server.update({"status": "REBOOT", "OS-EXT-STS:task_state": "rebooting", "updated": iso_now()})

            def up() -> None:
                if server["status"] == "REBOOT":
                    server.update({"status": "ACTIVE", "OS-EXT-STS:task_state": None,
                                   "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1})
            self.cloud.later(self.config.delays.os_server_boot, up)
        else:
            raise ApiError(400, f"There is no such action: {', '.join(body) or '(none)'}")
        self.cloud.changed()
        return web.Response(status=202)
