"""kube-proxy's nodePorts: every node address answers a NodePort/LoadBalancer Service's
nodePort with its ready pods."""

from __future__ import annotations

from .conftest import http_get, wait_for


def test_it_serves_a_node_port_on_every_node(web_app):
    _, node_port, nodes = web_app
    assert len(nodes) == 3
    for ip in nodes:
        status, headers, body = wait_for(lambda ip=ip: http_get(ip, node_port), message=f"{ip}:{node_port}")
        assert status == 200 and headers["X-Pod-Name"].startswith("web-")


def test_it_closes_node_ports_when_the_service_stops_wanting_them(cloud):
    from kubernetes import client

    api = cloud.kube()
    core = client.CoreV1Api(api)
    ns = "np-close"
    core.create_namespace({"metadata": {"name": ns}})
    try:
        svc = core.create_namespaced_service(ns, {"metadata": {"name": "np"}, "spec": {
            "type": "NodePort", "selector": {"app": "none"}, "ports": [{"port": 80}]}})
        node_port = svc.spec.ports[0].node_port
        node = next(a.address for n in core.list_node().items for a in n.status.addresses if a.type == "InternalIP")

        def listening() -> bool:
            import socket

            with socket.socket() as s:
                s.settimeout(0.5)
                return s.connect_ex((node, node_port)) == 0
        wait_for(listening, message="the nodePort listener")
        core.delete_namespaced_service("np", ns)
        wait_for(lambda: not listening(), message="the nodePort listener closed")
    finally:
        core.delete_namespace(ns)
        api.close()
