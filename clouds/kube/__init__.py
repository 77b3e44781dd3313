"""Reaching a Kubernetes cluster: the kubeconfig and clients, the one table of kinds,
pure readers of API objects, and API errors turned into messages."""

from clouds.kube.connect import api_client, apps, config_key, core, kubeconfig_of, new_api_client, reset_clients
from clouds.kube.errors import api_message, is_not_found
from clouds.kube.kinds import KINDS, NAMESPACED_KINDS, PANEL_KINDS, Kind, kind
from clouds.kube.listing import list_namespace, list_namespace_with

__all__ = [
    "KINDS", "NAMESPACED_KINDS", "PANEL_KINDS", "Kind", "api_client", "api_message", "apps", "config_key", "core",
    "is_not_found", "kind", "kubeconfig_of", "list_namespace", "list_namespace_with", "new_api_client",
    "reset_clients",
]
