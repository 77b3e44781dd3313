"""Taikun LB: a Service's balancer as two servers (HAProxy + keepalived) sharing a VIP port.

- `TaikunProvider`: the Provider (see ..base) the controller drives: ensure, delete, owned, remove.
- `render_user_data`: the cloud-config (haproxy.cfg, keepalived.conf) one server boots with.
"""

from .provider import IMAGE_TAG, TaikunProvider, server_name
from .userdata import Member, config_hash, haproxy_config, keepalived_config, render_user_data

__all__ = ["IMAGE_TAG", "Member", "TaikunProvider", "config_hash", "haproxy_config", "keepalived_config",
           "render_user_data", "server_name"]
