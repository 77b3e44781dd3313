"""Taikun LB: two servers from the image tagged `taikun-lb` running the HAProxy and
keepalived configuration of their cloud-config user data, a VIP port in both servers'
allowed_address_pairs, and a floating IP on the VIP port forwarding real traffic."""

from __future__ import annotations

import base64

from .conftest import WAIT, Backend, exchange, http_get, refused, wait_for


def _user_data(vip: str, backends: list[tuple[str, int]], priority: int, state: str, options: str = "check",
               port: int = 80) -> str:
    servers = "\n".join(f"        server node-{i} {ip}:{p} {options}" for i, (ip, p) in enumerate(backends))
    text = f"""#cloud-config
package_update: false
write_files:
  - path: /etc/haproxy/haproxy.cfg
    permissions: '0644'
    content: |
      global
        maxconn 4096
      defaults
        mode tcp
        timeout connect 5s
      frontend fe_{port}
        bind *:{port}
        default_backend be_{port}
      backend be_{port}
        balance roundrobin
{servers}
  - path: /etc/keepalived/keepalived.conf
    content: |
      vrrp_instance VI_1 {{
        state {state}
        interface eth0
        virtual_router_id 51
        priority {priority}
        virtual_ipaddress {{
          {vip}/24 dev eth0
        }}
      }}
runcmd:
  - systemctl restart haproxy keepalived
"""
    return base64.b64encode(text.encode()).decode()


def _pair(conn, name: str, backends, options: str = "check", port: int = 80):
    """-> (servers, vip port, floating IP)."""
    image = next(iter(conn.image.images(tag="taikun-lb")))
    flavor = conn.compute.find_flavor("m1.small")
    net = conn.network.find_network("lab-net")
    public = conn.network.find_network("public")
    vip = conn.network.create_port(network_id=net.id, name=f"{name}-vip", device_owner="taikun:vip")
    vip_ip = vip.fixed_ips[0]["ip_address"]
    servers = []
    for i, (priority, state) in enumerate(((101, "MASTER"), (100, "BACKUP"))):
        nic = conn.network.create_port(network_id=net.id, name=f"{name}-{i}",
                                       allowed_address_pairs=[{"ip_address": vip_ip}])
        servers.append(conn.compute.create_server(
            name=f"{name}-{i}", image_id=image.id, flavor_id=flavor.id, networks=[{"port": nic.id}],
            user_data=_user_data(vip_ip, backends, priority, state, options, port),
            metadata={"taikun-lb": name}))
    servers = [conn.compute.wait_for_server(s, interval=0.05, wait=WAIT) for s in servers]
    fip = conn.network.create_ip(floating_network_id=public.id, port_id=vip.id)
    return servers, vip, fip


def _cleanup(conn, servers, vip, fip):
    for s in servers:
        conn.compute.delete_server(s, ignore_missing=True)
    for s in servers:
        conn.compute.wait_for_delete(s, interval=0.05, wait=WAIT)
    conn.network.delete_ip(fip, ignore_missing=True)
    prefix = vip.name.removesuffix("-vip")
    for p in list(conn.network.ports()):
        if p.name in (f"{prefix}-0", f"{prefix}-1", vip.name):
            conn.network.delete_port(p)


def test_it_forwards_through_a_taikun_pair_and_fails_over(cloud, web_app):
    _, node_port, nodes = web_app
    conn = cloud.connect("sandbox-taikun")
    servers, vip, fip = _pair(conn, "tk-web", [(ip, node_port) for ip in nodes])
    try:
        status, headers, body = wait_for(lambda: http_get(fip.floating_ip_address, 80),
                                         message="HTTP through the Taikun floating IP")
        assert status == 200 and "Welcome to nginx!" in body and headers["X-Pod-Name"].startswith("web-")
        # the MASTER stops: the BACKUP takes the VIP and keeps serving
        conn.compute.stop_server(servers[0])
        conn.compute.wait_for_server(servers[0], status="SHUTOFF", interval=0.05, wait=WAIT)
        assert wait_for(lambda: http_get(fip.floating_ip_address, 80), message="served by the backup")[0] == 200
        # both gone: nothing listens any more
        conn.compute.stop_server(servers[1])
        wait_for(lambda: refused(fip.floating_ip_address, 80), message="listener closed")
    finally:
        _cleanup(conn, servers, vip, fip)


def test_it_sends_the_proxy_protocol_header_haproxy_is_told_to(cloud):
    backend = Backend(lambda data: b"\r\n" in data)
    conn = cloud.connect("sandbox-taikun")
    servers, vip, fip = _pair(conn, "tk-proxy", [("127.0.0.1", backend.port)], "check send-proxy", port=8443)
    try:
        answer = wait_for(lambda: exchange(fip.floating_ip_address, 8443, b"hello\r\n"),
                          message="an answer through the PROXY listener")
        assert answer == b"ok"
        assert backend.received
        for data in backend.received:
            line = data.split(b"\r\n")[0].decode()
            assert line.startswith("PROXY TCP4 ")
            assert line.split()[3] == fip.floating_ip_address and line.split()[5] == "8443"
    finally:
        backend.close()
        _cleanup(conn, servers, vip, fip)


def test_it_closes_the_listener_when_the_servers_are_deleted(cloud, web_app):
    _, node_port, nodes = web_app
    conn = cloud.connect("sandbox-taikun")
    servers, vip, fip = _pair(conn, "tk-gone", [(ip, node_port) for ip in nodes])
    try:
        wait_for(lambda: http_get(fip.floating_ip_address, 80),
                 message="HTTP through the Taikun floating IP")
        for s in servers:
            conn.compute.delete_server(s)
        wait_for(lambda: refused(fip.floating_ip_address, 80), message="listener closed")
        for s in servers:
            conn.compute.wait_for_delete(s, interval=0.05, wait=WAIT)
        # the ports the servers were booted on stay, unbound
        ports = [p for p in conn.network.ports() if p.name in ("tk-gone-0", "tk-gone-1")]
        assert len(ports) == 2 and all(p.device_id == "" for p in ports)
    finally:
        _cleanup(conn, servers, vip, fip)
