"""Taikun LB: a Service's balancer as two servers running HAProxy and keepalived.

For a balancer named N (balancer_name(...)) the project holds, all marked as ours:

- the VIP port `N` on the nodes' subnet (its fixed IP is what keepalived moves);
- the server ports `N-1` and `N-2` on the same subnet, each allowing the VIP
  (allowed_address_pairs);
- the servers `N-1` (MASTER) and `N-2` (BACKUP), booted from the image tagged
  `taikun-lb` with the credential's flavor and the cloud-config of userdata.py,
  the fingerprint of that user data in their metadata;
- a floating IP on the VIP port (none when the balancer is internal).

Everything is found by name first (ids are never trusted alone), so a run
killed halfway and run again ends with exactly one of each. When the user data
a server should run differs from what it was booted with (nodes, ports, PROXY
protocol, VIP), the servers are replaced one at a time, the BACKUP first, and
only while the other one serves, so traffic keeps flowing.

When to look again. The ports, the security group and the floating IP are made
by Neutron at once (they have no state to wait for); only the servers keep the
build waiting. A Taikun LB server is a whole Nova server booted on demand: the
scheduler places it, the hypervisor fetches the image (unless cached) and boots
its system, which takes tens of seconds to minutes on a real cloud, where most
of Octavia's waits are a listener, pool or members updated on an amphora that
already runs (seconds; octavia/balancer.py looks again after 1 s, up to 15 s).
So a server in BUILD is looked at again after 5 s, then after a quarter of the
time it has been building, up to 30 s (errors.busy_delay): a two-minute boot
costs about a dozen passes and is seen at most 30 s late. A server being
deleted frees its port in seconds: after 2 s, up to 15 s. A cloud that cannot
be reached or answers 5xx is retried as every provider does it (5 s, doubled by
the controller up to 300 s: errors.TRANSIENT_RETRY).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from contextlib import contextmanager

from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as os_exc

from ..base import OWNER_TAG, BalancerFailed, BalancerSpec, Ensured, Orphan, Progress, Retry
from ..errors import TRANSIENT_RETRY, busy_delay
from .userdata import Member, balanced_ports, config_hash, render_user_data

IMAGE_TAG = "taikun-lb"
KIND_TAG = "taikun-lb"  # beside OWNER_TAG: tells Taikun resources from the Octavia provider's
TAGS = [OWNER_TAG, KIND_TAG]
# Server metadata (Nova cannot filter by it for users, so servers are found by name and checked with it).
META_OWNER = OWNER_TAG  # value: KIND_TAG
META_BALANCER = f"{OWNER_TAG}-balancer"  # the balancer name
META_CONFIG = f"{OWNER_TAG}-config"  # config_hash() of the user data the server was booted with
# Descriptions say what a resource is and mark it as ours where tags are not kept.
VIP_DESCRIPTION = f"{OWNER_TAG} {KIND_TAG} VIP"
SERVER_PORT_DESCRIPTION = f"{OWNER_TAG} {KIND_TAG} server port"
SECURITY_GROUP_DESCRIPTION = f"{OWNER_TAG} {KIND_TAG} security group"
FIP_DESCRIPTION = f"{OWNER_TAG} {KIND_TAG} floating IP of "  # + balancer name
SLOTS = (1, 2)
MIN_RAM_MB = 1024
# When to look again at a server (seconds; see the module's docstring): the first look, and the longest wait.
BOOT_FIRST, BOOT_CAP = 5.0, 30.0
DELETE_FIRST, DELETE_CAP = 2.0, 15.0


def server_name(balancer: str, slot: int) -> str:
    return f"{balancer[:253]}-{slot}"


def _fip_description(balancer: str) -> str:
    return (FIP_DESCRIPTION + balancer)[:255]


def _ours(resource) -> bool:
    tags = getattr(resource, "tags", None) or []
    return (OWNER_TAG in tags and KIND_TAG in tags) or (getattr(resource, "description", None) or "").startswith(
        f"{OWNER_TAG} {KIND_TAG}")


def _is_vip_port(port) -> bool:
    return (port.description or "").startswith(VIP_DESCRIPTION)


def _server_ours(server) -> bool:
    return (server.metadata or {}).get(META_OWNER) == KIND_TAG


def _deleting(server) -> bool:
    return (server.task_state or "") == "deleting" or server.status == "DELETED"


def _server_delay(server, just_asked: bool = False) -> float:
    """When to look again at a server the cloud is working on (booting, starting, being deleted).
    `just_asked`: this pass asked for that work, so the server's stamps predate it."""
    if _deleting(server):
        return DELETE_FIRST if just_asked else busy_delay(server.updated_at, DELETE_FIRST, DELETE_CAP)
    if just_asked:
        return BOOT_FIRST
    return busy_delay(server.created_at if server.status == "BUILD" else server.updated_at, BOOT_FIRST, BOOT_CAP)


def _address(port) -> str:
    return port.fixed_ips[0]["ip_address"] if port.fixed_ips else ""


def _cloud_message(e: Exception) -> str:
    """What the cloud said, short (API error messages name resources, never a secret)."""
    text = getattr(e, "details", None) or getattr(e, "message", None) or ""
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", str(text))).strip()
    return text[:300]


def _find(find, name_or_id: str, what: str):
    """find_*(name_or_id) -> the resource or None (several with that name: BalancerFailed)."""
    try:
        return find(name_or_id, ignore_missing=False)
    except os_exc.NotFoundException:
        return None
    except os_exc.DuplicateResource:
        raise BalancerFailed("ambiguous", f"Several {what}s are named '{name_or_id}' in the project.",
                             f"Give the {what} by its id instead of its name.", retry_after=None) from None


@contextmanager
def _cloud_errors(doing: str) -> Iterator[None]:
    """openstacksdk and keystoneauth errors as BalancerFailed in plain words (Retry passes through)."""
    try:
        yield
    except (BalancerFailed, Retry):
        raise
    except ks_exc.Unauthorized:
        raise BalancerFailed("cloud-credential", f"The cloud refused the credential while {doing}.",
                             "Check the user, password or application credential of the cloud credential in the "
                             "admin, and test the connection.", retry_after=None) from None
    except ks_exc.SSLError:
        raise BalancerFailed("cloud-tls", f"The cloud's certificate was not accepted while {doing}.",
                             "Check the credential's identity URL and the cloud's certificate.") from None
    except (ks_exc.ConnectionError, ks_exc.DiscoveryFailure) as e:
        raise BalancerFailed("cloud-unreachable", f"The cloud could not be reached while {doing} "
                             f"({type(e).__name__}).", "Wait a little; if it lasts, check the credential's "
                             "identity URL and the cloud's status.", retry_after=TRANSIENT_RETRY) from None
    except ks_exc.EndpointNotFound:
        raise BalancerFailed("service-missing", f"The cloud's catalog lacks a service needed while {doing}.",
                             "Check that the project has compute, network and image services.",
                             retry_after=None) from None
    except os_exc.HttpException as e:
        status = e.status_code or 0
        said = _cloud_message(e)
        if status == 401:
            raise BalancerFailed("cloud-credential", f"The cloud refused the credential while {doing}.",
                                 "Check the cloud credential in the admin and test the connection.",
                                 retry_after=None) from None
        if status == 403:
            raise BalancerFailed("cloud-forbidden", f"The cloud did not allow {doing}: {said}",
                                 "Ask the cloud's admin for the missing permission (role) in the project.",
                                 retry_after=None) from None
        if status == 409 and "quota" in said.lower():
            raise BalancerFailed("quota", f"The project's quota is exhausted ({doing}): {said}",
                                 "Free unused resources in the project or ask the cloud's admin for more quota.",
                                 retry_after=60.0) from None
        if status >= 500 or status == 0:
            request = getattr(e, "request_id", None)
            raise BalancerFailed("cloud-unavailable", f"A service of the cloud failed while {doing} (HTTP {status}"
                                 + (f", request {request}" if request else "") + ").",
                                 "Wait a little: this is retried.", retry_after=TRANSIENT_RETRY) from None
        raise BalancerFailed("cloud-error", f"The cloud refused {doing} (HTTP {status}): {said}",
                             "Check the cloud credential's settings (subnet, flavor, floating network).",
                             retry_after=30.0) from None
    except os_exc.SDKException as e:
        raise BalancerFailed("cloud-error", f"Talking to the cloud failed while {doing}: {_cloud_message(e)}",
                             "Check the cloud credential and the cloud's status.", retry_after=30.0) from None


class TaikunProvider:
    """The Provider (base.py) for Taikun LB. `image_tag` is the Glance tag of the HAProxy image."""

    name = "taikun"

    def __init__(self, image_tag: str = IMAGE_TAG):
        self.image_tag = image_tag

    # ---- ensure -----------------------------------------------------------------------------------

    def ensure(self, conn, spec: BalancerSpec, progress: Progress) -> Ensured:
        with _cloud_errors("building the Taikun load balancer"):
            self._refuse_with_octavia(conn)
            if spec.vrid is None or not 1 <= spec.vrid <= 255:
                raise BalancerFailed(
                    "vrid", "No keepalived virtual router id (1 to 255) was allocated for this balancer.",
                    "Widen the credential's virtual router id range, or delete balancers no longer used.",
                    retry_after=None)
            if not balanced_ports(spec.ports):
                raise BalancerFailed("protocol", "Taikun LB balances TCP ports only, and the Service has none.",
                                     "Use TCP ports in the Service.", retry_after=None)
            image = self._image(conn)
            flavor = self._flavor(conn, spec.flavor)
            subnet = self._subnet(conn, spec.subnet)
            public = self._floating_network(conn, spec.floating_network) if spec.floating_network else None

            vip = self._ensure_vip_port(conn, spec, subnet, progress)
            vip_ip = _address(vip)
            group = self._ensure_security_group(conn, spec)
            ports = {slot: self._ensure_server_port(conn, spec, subnet, slot, vip_ip, group) for slot in SLOTS}
            data = {slot: render_user_data(
                ports=spec.ports, nodes=spec.nodes, proxy_protocol=spec.proxy_protocol, vip=vip_ip, vrid=spec.vrid,
                member=Member(slot, _address(ports[slot]), _address(ports[3 - slot]))) for slot in SLOTS}
            servers = self._ensure_servers(conn, spec, image, flavor, ports, data, progress)
            self._mark_active(conn, spec, vip, servers, data, progress)
            fip = self._ensure_floating_ip(conn, spec, vip, public, progress)
        address = fip.floating_ip_address if fip is not None else vip_ip
        return Ensured(address=address, balancer_id=vip.id, cloud={
            "vip_port_id": vip.id, "vip_address": vip_ip,
            "servers": [servers[slot].id for slot in SLOTS], "ports": [ports[slot].id for slot in SLOTS],
            "floating_ip_id": fip.id if fip is not None else None,
            "floating_ip": fip.floating_ip_address if fip is not None else None,
            "vrid": spec.vrid, "image_id": image.id, "flavor_id": flavor.id, "security_group_id": group.id,
        })

    def _refuse_with_octavia(self, conn) -> None:
        catalog = conn.session.auth.get_access(conn.session).service_catalog
        if any(catalog.get_endpoints(service_type="load-balancer").values()):
            raise BalancerFailed(
                "octavia-enabled", "Taikun LB is only allowed when Octavia is disabled: this project's cloud "
                "offers Octavia.", "Use Octavia for this project (choose Octavia on the cloud credential).",
                retry_after=None)

    def _image(self, conn):
        images = [i for i in conn.image.images(tag=self.image_tag) if (i.status or "active") == "active"]
        if not images:
            raise BalancerFailed(
                "image-missing", f"No image tagged '{self.image_tag}' is available in the project, so the "
                "load-balancer servers cannot boot.", f"Ask the cloud's admin to upload the Taikun LB image and tag "
                f"it '{self.image_tag}', or use Octavia.", retry_after=None)
        return sorted(images, key=lambda i: (i.created_at or "", i.id))[-1]

    def _flavor(self, conn, name: str):
        fix = "Set a flavor with at least 1 vCPU and 1 GB of RAM as the credential's Taikun LB flavor."
        if not name:
            raise BalancerFailed("flavor", "No Taikun LB flavor is set on the cloud credential.", fix,
                                 retry_after=None)
        flavor = _find(conn.compute.find_flavor, name, "flavor")
        if flavor is None:
            raise BalancerFailed("flavor", f"The flavor '{name}' does not exist in the project.", fix,
                                 retry_after=None)
        if (flavor.vcpus or 0) < 1 or (flavor.ram or 0) < MIN_RAM_MB:
            raise BalancerFailed("flavor", f"The flavor '{flavor.name}' is too small for a Taikun LB server "
                                 f"({flavor.vcpus} vCPU, {flavor.ram} MB of RAM).", fix, retry_after=None)
        return flavor

    def _subnet(self, conn, name: str):
        subnet = _find(conn.network.find_subnet, name, "subnet") if name else None
        if subnet is None:
            raise BalancerFailed("no-subnet", f"The nodes' subnet '{name}' was not found in the project.",
                                 "Set the subnet of the cluster's nodes (name or id) on the cluster in the admin.",
                                 retry_after=None)
        return subnet

    def _floating_network(self, conn, name: str):
        net = _find(conn.network.find_network, name, "network")
        if net is None or not net.is_router_external:
            raise BalancerFailed(
                "no-floating-network", f"The floating (public) network '{name}' was not found in the project.",
                "Set an external network on the cloud credential, or leave it empty for internal balancers.",
                retry_after=None)
        return net

    # -- ports

    def _named_ports(self, conn, name: str, vip: bool) -> list:
        found = [p for p in conn.network.ports(name=name) if p.name == name and _ours(p) and _is_vip_port(p) == vip]
        return sorted(found, key=lambda p: (not p.device_id, p.created_at or "", p.id))

    def _one(self, conn, ports: list):
        """Keep the first of ports with the same name (a create whose answer was lost); drop unbound extras."""
        for extra in ports[1:]:
            if not extra.device_id and not list(conn.network.ips(port_id=extra.id)):
                conn.network.delete_port(extra, ignore_missing=True)
        return ports[0] if ports else None

    def _ensure_vip_port(self, conn, spec: BalancerSpec, subnet, progress: Progress):
        vip = self._one(conn, self._named_ports(conn, spec.name, vip=True))
        if vip is None:
            vip = conn.network.create_port(
                network_id=subnet.network_id, fixed_ips=[{"subnet_id": subnet.id}], name=spec.name,
                description=VIP_DESCRIPTION, tags=TAGS)
            progress("vip-port", f"VIP {_address(vip)} reserved on subnet {subnet.name or subnet.id}")
        return vip

    def _ensure_server_port(self, conn, spec: BalancerSpec, subnet, slot: int, vip_ip: str, group):
        name = server_name(spec.name, slot)
        port = self._one(conn, self._named_ports(conn, name, vip=False))
        pair = {"ip_address": vip_ip}
        if port is None:
            return conn.network.create_port(
                network_id=subnet.network_id, fixed_ips=[{"subnet_id": subnet.id}], name=name,
                description=SERVER_PORT_DESCRIPTION, tags=TAGS, allowed_address_pairs=[pair],
                security_group_ids=[group.id])
        if not any(p.get("ip_address") == vip_ip for p in port.allowed_address_pairs or []):
            port = conn.network.update_port(port, allowed_address_pairs=[pair])
        if group.id not in (port.security_group_ids or []):
            port = conn.network.update_port(port, security_group_ids=[*(port.security_group_ids or []), group.id])
        return port

    # -- security group: the Service's ports open to clients, VRRP between the pair

    def _groups(self, conn, name: str) -> list:
        return [g for g in conn.network.security_groups(name=name)
                if g.name == name and (g.description or "").startswith(SECURITY_GROUP_DESCRIPTION)]

    def _ensure_security_group(self, conn, spec: BalancerSpec):
        groups = self._groups(conn, spec.name)
        group = groups[0] if groups else conn.network.create_security_group(
            name=spec.name, description=SECURITY_GROUP_DESCRIPTION)
        wanted = {("tcp", p.port, p.port, "0.0.0.0/0", None) for p in balanced_ports(spec.ports)}
        wanted.add(("vrrp", None, None, None, group.id))
        have = {}
        for rule in conn.network.security_group_rules(security_group_id=group.id):
            if rule.direction != "ingress":
                continue
            have[(rule.protocol, rule.port_range_min, rule.port_range_max, rule.remote_ip_prefix,
                  rule.remote_group_id)] = rule
        for key, rule in have.items():
            if key not in wanted:
                conn.network.delete_security_group_rule(rule, ignore_missing=True)
        for protocol, low, high, prefix, remote in wanted - set(have):
            conn.network.create_security_group_rule(
                security_group_id=group.id, direction="ingress", ethertype="IPv4", protocol=protocol,
                port_range_min=low, port_range_max=high, remote_ip_prefix=prefix, remote_group_id=remote,
                description=f"{OWNER_TAG} {KIND_TAG}")
        return group

    # -- servers

    def _servers(self, conn, balancer: str) -> dict[int, list]:
        names = {server_name(balancer, slot): slot for slot in SLOTS}
        out: dict[int, list] = {slot: [] for slot in SLOTS}
        for server in conn.compute.servers(details=True, name=re.escape(balancer[:253])):
            if server.name in names and _server_ours(server):
                out[names[server.name]].append(server)
        return out

    def _ensure_servers(self, conn, spec, image, flavor, ports, data, progress) -> dict:
        found = self._servers(conn, spec.name)
        current: dict[int, object] = {}
        for slot in SLOTS:
            live = sorted((s for s in found[slot] if not _deleting(s)),
                          key=lambda s: (ports[slot].device_id != s.id, s.status != "ACTIVE", s.created_at or ""))
            for extra in live[1:]:
                conn.compute.delete_server(extra, ignore_missing=True)
            current[slot] = live[0] if live else None

        for server in current.values():
            if server is not None and server.status == "ERROR":
                fault = server.fault.get("message", "") if isinstance(server.fault, dict) else ""
                conn.compute.delete_server(server, ignore_missing=True)
                raise BalancerFailed(
                    "server-error", f"The load-balancer server {server.name} failed to boot"
                    + (f": {fault}" if fault else "") + ". It was deleted and is built again on the next attempt.",
                    "If it keeps failing, check the Taikun LB image and flavor with the cloud's admin.")

        missing = [slot for slot in SLOTS if current[slot] is None]
        booted = []
        for slot in missing:
            port = conn.network.get_port(ports[slot].id)
            if port.device_id:  # the server being replaced still holds it
                continue
            current[slot] = self._boot(conn, spec, image, flavor, port, slot, data[slot])
            booted.append(current[slot].name)
        if booted:
            progress("servers", f"booting {' and '.join(booted)} from image {image.name} with flavor {flavor.name}")
        if missing:
            held = len(booted) < len(missing)  # a port still held by the server it replaces
            raise Retry("the load-balancer servers are booting", DELETE_FIRST if held else BOOT_FIRST)

        started = set()
        for server in current.values():
            if server.status == "SHUTOFF":
                conn.compute.start_server(server)
                started.add(server.id)
        waiting = [s for s in current.values() if s.status != "ACTIVE"]
        if waiting:
            raise Retry(f"waiting for {', '.join(s.name for s in waiting)} to become ACTIVE",
                        min(_server_delay(s, just_asked=s.id in started) for s in waiting))

        stale = [slot for slot in (2, 1)  # the BACKUP first: the MASTER keeps serving meanwhile
                 if (current[slot].metadata or {}).get(META_CONFIG) != config_hash(data[slot])
                 or ports[slot].device_id != current[slot].id]
        if stale:
            server = current[stale[0]]
            conn.compute.delete_server(server, ignore_missing=True)
            progress("servers", f"replacing {server.name} with the new configuration (the other server serves)")
            raise Retry(f"replacing {server.name}", DELETE_FIRST)
        return current

    def _boot(self, conn, spec: BalancerSpec, image, flavor, port, slot: int, user_data: str):
        extra = {"availability_zone": spec.availability_zone} if spec.availability_zone else {}
        return conn.compute.create_server(
            name=server_name(spec.name, slot), image_id=image.id, flavor_id=flavor.id,
            networks=[{"port": port.id}], user_data=base64.b64encode(user_data.encode()).decode(),
            metadata={META_OWNER: KIND_TAG, META_BALANCER: spec.name[:255], META_CONFIG: config_hash(user_data)},
            **extra)

    def _mark_active(self, conn, spec, vip, servers, data, progress) -> None:
        """Report "active" once per pair of servers and configuration: their fingerprint is kept in the VIP
        port's description (the provider keeps no state of its own)."""
        marker = f"{VIP_DESCRIPTION} (active {config_hash(data[1] + data[2] + servers[1].id + servers[2].id)})"
        if vip.description != marker:
            progress("active", f"{servers[1].name} (MASTER) and {servers[2].name} (BACKUP) run HAProxy and "
                     f"keepalived; the MASTER holds the VIP {_address(vip)}")
            conn.network.update_port(vip, description=marker)
            vip.description = marker

    # -- floating IP

    def _our_fips(self, conn, spec: BalancerSpec, vip) -> list:
        by_port = list(conn.network.ips(port_id=vip.id)) if vip is not None else []
        loose = [f for f in conn.network.ips(description=_fip_description(spec.name))
                 if _ours(f) and f.description == _fip_description(spec.name) and not f.port_id]
        return by_port + loose

    def _ensure_floating_ip(self, conn, spec: BalancerSpec, vip, public, progress: Progress):
        fips = self._our_fips(conn, spec, vip)
        if public is None:
            for fip in fips:
                conn.network.delete_ip(fip, ignore_missing=True)
                progress("floating-ip", f"released {fip.floating_ip_address}: the balancer is internal")
            return None
        fips.sort(key=lambda f: (f.floating_network_id != public.id, f.port_id != vip.id))
        keep = fips[0] if fips and fips[0].floating_network_id == public.id else None
        for extra in fips[1:] if keep is not None else fips:
            if _ours(extra):
                conn.network.delete_ip(extra, ignore_missing=True)
        if keep is not None and keep.port_id != vip.id:
            keep = conn.network.update_ip(keep, port_id=vip.id)
            progress("floating-ip", f"{keep.floating_ip_address} attached to the VIP {_address(vip)}")
        if keep is None:
            try:
                keep = conn.network.create_ip(floating_network_id=public.id, port_id=vip.id,
                                              description=_fip_description(spec.name), tags=TAGS)
            except os_exc.ConflictException as e:
                if "quota" not in _cloud_message(e).lower():
                    raise
                raise BalancerFailed(
                    "floating-ip-quota", "The project's floating-IP quota is used up, so the balancer gets no "
                    "public address.", "Release a floating IP you no longer use in the project, or ask the cloud's "
                    "admin for a higher floating-IP quota.", retry_after=60.0) from None
            progress("floating-ip", f"{keep.floating_ip_address} attached to the VIP {_address(vip)}")
        return keep

    # ---- delete -----------------------------------------------------------------------------------------

    def delete(self, conn, spec: BalancerSpec, progress: Progress) -> None:
        with _cloud_errors("deleting the Taikun load balancer"):
            vips = self._named_ports(conn, spec.name, vip=True)
            fips = {f.id: f for vip in vips or [None] for f in self._our_fips(conn, spec, vip) if _ours(f)}
            for fip in fips.values():
                conn.network.delete_ip(fip, ignore_missing=True)
                progress("floating-ip", f"released {fip.floating_ip_address}")
            found = self._servers(conn, spec.name)
            live = [s for slot in SLOTS for s in found[slot]]
            asked = [s.name for s in live if not _deleting(s)]
            for server in live:
                if not _deleting(server):
                    conn.compute.delete_server(server, ignore_missing=True)
            if asked:
                progress("servers", f"deleting {' and '.join(asked)}")
            if live:
                raise Retry("the load-balancer servers are being deleted",
                            min(DELETE_FIRST if s.name in asked else _server_delay(s) for s in live))
            for slot in SLOTS:
                for port in self._named_ports(conn, server_name(spec.name, slot), vip=False):
                    conn.network.delete_port(port, ignore_missing=True)
            for vip in vips:
                conn.network.delete_port(vip, ignore_missing=True)
                progress("vip-port", f"released the VIP {_address(vip)}")
            for group in self._groups(conn, spec.name):
                conn.network.delete_security_group(group, ignore_missing=True)

    # ---- sweep ------------------------------------------------------------------------------------------

    def owned(self, conn) -> list[tuple[str, Orphan]]:
        """Ours, in the order they are best removed: floating IPs, servers, ports, security groups."""
        fips, servers, ports, groups = [], [], [], []
        with _cloud_errors("listing the Taikun load balancers"):
            vip_names: dict[str, str] = {}
            for port in conn.network.ports():
                if not _ours(port):
                    continue
                if _is_vip_port(port):
                    vip_names[port.id] = port.name
                    ports.append((port.name, Orphan("port", port.id, port.name, f"VIP {_address(port)}")))
                else:
                    balancer = port.name.rsplit("-", 1)[0]
                    ports.append((balancer, Orphan("port", port.id, port.name, f"server port {_address(port)}")))
            for server in conn.compute.servers(details=True):
                if _server_ours(server):
                    balancer = (server.metadata or {}).get(META_BALANCER) or server.name.rsplit("-", 1)[0]
                    servers.append((balancer, Orphan("server", server.id, server.name, f"status {server.status}")))
            for group in conn.network.security_groups():
                if (group.description or "").startswith(SECURITY_GROUP_DESCRIPTION):
                    groups.append((group.name, Orphan("security group", group.id, group.name, "Taikun LB")))
            for fip in conn.network.ips():
                if not _ours(fip):
                    continue
                balancer = vip_names.get(fip.port_id or "") or (fip.description or "").removeprefix(FIP_DESCRIPTION)
                fips.append((balancer, Orphan("floating ip", fip.id, fip.floating_ip_address,
                                              f"on port {fip.port_id}" if fip.port_id else "not attached")))
        return fips + servers + ports + groups

    def remove(self, conn, orphan: Orphan) -> None:
        with _cloud_errors(f"removing the {orphan.kind} {orphan.name or orphan.cloud_id}"):
            if orphan.kind == "server":
                server = _find(conn.compute.find_server, orphan.cloud_id, "server")
                if server is not None and _server_ours(server) and not _deleting(server):
                    conn.compute.delete_server(server, ignore_missing=True)
            elif orphan.kind == "floating ip":
                fip = _find(conn.network.find_ip, orphan.cloud_id, "floating IP")
                if fip is not None and _ours(fip):
                    conn.network.delete_ip(fip, ignore_missing=True)
            elif orphan.kind == "port":
                port = _find(conn.network.find_port, orphan.cloud_id, "port")
                if port is not None and _ours(port):
                    for fip in conn.network.ips(port_id=port.id):
                        if _ours(fip):
                            conn.network.delete_ip(fip, ignore_missing=True)
                    conn.network.delete_port(port, ignore_missing=True)
            elif orphan.kind == "security group":
                group = _find(conn.network.find_security_group, orphan.cloud_id, "security group")
                if group is not None and (group.description or "").startswith(SECURITY_GROUP_DESCRIPTION):
                    try:
                        conn.network.delete_security_group(group, ignore_missing=True)
                    except os_exc.ConflictException:
                        pass  # still used by a port being removed: the next sweep finds it again
