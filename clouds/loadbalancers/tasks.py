"""Celery tasks of the load-balancer controller: reconcile one Service, sweep for orphans.

A reconcile that must look again later (the cloud is still working, or a
failure is retried with backoff) schedules itself with a countdown rather than
sleeping. Each request starts a new "generation" for the Service: only the
newest chain keeps rescheduling, so bursts of changes never multiply the polls.
One reconcile per Service runs at a time (a Redis lock).
"""

from __future__ import annotations

import logging
import uuid

from celery import shared_task

from clouds.loadbalancers.controller import reconcile
from clouds.watch.state import client as redis_client

logger = logging.getLogger(__name__)

LOCK_SECONDS = 120
ERROR_RETRY = 30.0


def _key(kind: str, cluster_id, namespace: str, name: str) -> str:
    return f"liveops:lb:{kind}:{cluster_id}:{namespace}:{name}"


def request_reconcile(cluster_id, namespace: str, name: str, countdown: float = 0) -> None:
    """Ask for a reconcile of one Service (a new generation: older retry chains stop)."""
    generation = redis_client().incr(_key("generation", cluster_id, namespace, name))
    reconcile_balancer.apply_async((cluster_id, namespace, name, generation), countdown=countdown)


def _current(cluster_id, namespace: str, name: str, generation: int | None) -> bool:
    if generation is None:
        return True
    value = redis_client().get(_key("generation", cluster_id, namespace, name))
    return value is None or int(value) == generation


@shared_task(name="clouds.reconcile_balancer", acks_late=True, ignore_result=True)
def reconcile_balancer(cluster_id, namespace: str, name: str, generation: int | None = None) -> None:
    r = redis_client()
    lock, token = _key("lock", cluster_id, namespace, name), uuid.uuid4().hex
    if not r.set(lock, token, nx=True, ex=LOCK_SECONDS):
        if _current(cluster_id, namespace, name, generation):
            reconcile_balancer.apply_async((cluster_id, namespace, name, generation), countdown=1)
        return
    try:
        delay = reconcile(cluster_id, namespace, name)
    except Exception:
        logger.exception("reconciling the balancer of %s/%s failed", namespace, name)
        delay = ERROR_RETRY
    finally:
        if r.get(lock) == token.encode():
            r.delete(lock)
    if delay is not None and _current(cluster_id, namespace, name, generation):
        reconcile_balancer.apply_async((cluster_id, namespace, name, generation), countdown=delay)


@shared_task(name="clouds.sweep_balancers", ignore_result=True)
def sweep_balancers(remove: bool | None = None) -> dict:
    """Find (and, when told, remove) the cloud resources whose Service is gone, for every credential."""
    from clouds.loadbalancers.sweep import sweep_all

    return sweep_all(remove=remove)


@shared_task(name="clouds.remove_orphans", ignore_result=True)
def remove_orphans(orphan_ids: list[int]) -> None:
    from clouds.loadbalancers.sweep import remove_orphans as remove

    remove(orphan_ids)
