"""How many more floating IPs a credential's project can have (Neutron's quota details)."""

from __future__ import annotations

from clouds.openstack.connection import shared


def floating_ip_headroom(credential, conn=None) -> int | None:
    """Floating IPs the project may still allocate; None when the quota is unlimited (-1)."""
    conn = conn or shared(credential)
    details = conn.network.get_quota(conn.current_project_id, details=True)
    floating = details.floating_ips or {}
    limit = int(floating.get("limit", -1))
    if limit < 0:
        return None
    return max(limit - int(floating.get("used", 0)) - int(floating.get("reserved", 0)), 0)
