"""Access to a session's Kubernetes cluster through the official client."""

from __future__ import annotations

import threading

import yaml
from kubernetes import client, config

from clouds.models import Cluster

_lock = threading.Lock()
_clients: dict[tuple[int, str], client.ApiClient] = {}


def _kubeconfig_dict(cluster: Cluster) -> dict:
    if cluster.kubeconfig:
        return yaml.safe_load(cluster.kubeconfig)
    with open(cluster.kubeconfig_path) as fh:
        return yaml.safe_load(fh)


def api_client(cluster: Cluster) -> client.ApiClient:
    """One pooled ApiClient per cluster and kubeconfig content, per process."""
    data = _kubeconfig_dict(cluster)
    key = (cluster.pk, yaml.safe_dump(data, sort_keys=True))
    with _lock:
        api = _clients.get(key)
        if api is None:
            for old in [k for k in _clients if k[0] == cluster.pk]:
                _clients.pop(old).close()
            api = config.new_client_from_config_dict(data, context=cluster.context or None)
            _clients[key] = api
        return api


def core(cluster: Cluster) -> client.CoreV1Api:
    return client.CoreV1Api(api_client(cluster))


def apps(cluster: Cluster) -> client.AppsV1Api:
    return client.AppsV1Api(api_client(cluster))


def reset_clients():
    with _lock:
        for api in _clients.values():
            api.close()
        _clients.clear()
