"""Octavia load balancers for LoadBalancer Services, built as cloud-provider-openstack builds them."""

from .provider import OctaviaProvider

__all__ = ["OctaviaProvider"]
