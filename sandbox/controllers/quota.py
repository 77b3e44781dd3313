"""ResourceQuota controller: keeps status.hard and status.used current."""

from __future__ import annotations

from .base import Controller, Key
from .quantity import format_quantity, parse


class QuotaController(Controller):
    name = "resourcequota-controller"
    primary = "resourcequotas"
    watches = ("resourcequotas", "pods", "services", "configmaps", "deployments", "replicasets")

    def keys_for(self, resource, event_type, obj):
        ns = obj["metadata"].get("namespace", "")
        if resource == "resourcequotas":
            yield (ns, obj["metadata"]["name"])
            return
        for q in self.store.scan("resourcequotas", ns):
            yield (ns, q["metadata"]["name"])

    async def reconcile(self, key: Key) -> None:
        ns, name = key
        quota = self.store.peek("resourcequotas", ns, name)
        if quota is None:
            return
        from ..admission import namespace_usage  # admission imports this package

        hard = dict((quota.get("spec") or {}).get("hard") or {})
        used = namespace_usage(self.store, ns, hard)
        used_text = {k: format_quantity(k, v) for k, v in used.items()}
        hard_text = {}
        for k, v in hard.items():
            try:
                parse(v)
                hard_text[k] = str(v)
            except ValueError:
                hard_text[k] = str(v)

        def apply(o: dict) -> None:
            o["status"] = {"hard": hard_text, "used": used_text}

        await self.store.mutate("resourcequotas", ns, name, apply)
