"""The one way to reach a cluster: its kubeconfig, read and turned into API clients.

Tasks and views share one pooled ApiClient per cluster and kubeconfig content,
per process (`api_client`); the watcher builds its own long-lived client with
`new_api_client`, sized for its watches. Both read the kubeconfig through
`kubeconfig_of`, which refuses what must never run on the server.
"""

from __future__ import annotations

import hashlib
import json
import threading

import yaml
from kubernetes import client, config

from clouds.kubeconfigs import KubeconfigError, check_kubeconfig, read_kubeconfig_file

_lock = threading.Lock()
_clients: dict[tuple[int, str], client.ApiClient] = {}


def kubeconfig_of(cluster) -> dict:
    """The cluster's kubeconfig as a dict (the stored text, or the file under the allowed directory).

    KubeconfigError when it cannot be read or asks the client to run a command.
    """
    if cluster.kubeconfig:
        try:
            data = yaml.safe_load(cluster.kubeconfig)
        except yaml.YAMLError as exc:
            raise KubeconfigError("kubeconfig", f"the stored kubeconfig is not valid YAML ({exc})") from None
        check_kubeconfig(data, "kubeconfig")
        return data
    return read_kubeconfig_file(cluster.kubeconfig_path)


def config_key(cluster) -> str:
    """Changes whenever the way to reach the cluster changes (e.g. the sandbox restarted)."""
    data = kubeconfig_of(cluster)
    return hashlib.sha256(json.dumps([data, cluster.context], sort_keys=True).encode()).hexdigest()


def new_api_client(kubeconfig: dict, context: str | None, pool_size: int | None = None,
                   retries: bool = True) -> client.ApiClient:
    """A fresh ApiClient for a kubeconfig dict (the caller closes it)."""
    configuration = client.Configuration()
    config.load_kube_config_from_dict(kubeconfig, context=context or None, client_configuration=configuration)
    if pool_size:
        configuration.connection_pool_maxsize = pool_size
    if not retries:
        configuration.retries = False
    return client.ApiClient(configuration)


def api_client(cluster) -> client.ApiClient:
    """One pooled ApiClient per cluster and kubeconfig content, per process."""
    data = kubeconfig_of(cluster)
    key = (cluster.pk, json.dumps([data, cluster.context], sort_keys=True))
    with _lock:
        api = _clients.get(key)
        if api is None:
            for old in [k for k in _clients if k[0] == cluster.pk]:
                _clients.pop(old).close()
            api = new_api_client(data, cluster.context)
            _clients[key] = api
        return api


def core(cluster) -> client.CoreV1Api:
    return client.CoreV1Api(api_client(cluster))


def apps(cluster) -> client.AppsV1Api:
    return client.AppsV1Api(api_client(cluster))


def reset_clients() -> None:
    with _lock:
        for api in _clients.values():
            api.close()
        _clients.clear()
