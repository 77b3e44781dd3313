"""Celery tasks of the load-balancer controller: reconcile one Service, sweep for orphans.

A reconcile that must look again later (the cloud is still working, or a
failure is retried with backoff) schedules itself with a countdown rather than
sleeping. Each request starts a new "generation" for the Service: only the
newest chain keeps rescheduling, so bursts of changes never multiply the polls.
A reschedule is a request too, so a task delivered twice (its worker was lost
and Redis handed the message out again) never forks the chain either.
One reconcile per Service runs at a time (a Redis lock held by the task's id:
the same task delivered again after its worker died under it takes the lock
over rather than waiting for it to expire).
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


def _take_lock(r, lock: str, token: str) -> bool:
    """The Service's lock, free or held by this very task (delivered again: its first run died)."""
    if r.set(lock, token, nx=True, ex=LOCK_SECONDS):
        return True
    if r.get(lock) == token.encode():
        r.set(lock, token, ex=LOCK_SECONDS)
        return True
    return False


@shared_task(name="clouds.reconcile_balancer", bind=True, acks_late=True, ignore_result=True)
def reconcile_balancer(self, cluster_id, namespace: str, name: str, generation: int | None = None) -> None:
    r = redis_client()
    lock, token = _key("lock", cluster_id, namespace, name), self.request.id or uuid.uuid4().hex
    if not _take_lock(r, lock, token):
        if _current(cluster_id, namespace, name, generation):
            request_reconcile(cluster_id, namespace, name, countdown=1)
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
        request_reconcile(cluster_id, namespace, name, countdown=delay)


@shared_task(name="clouds.sweep_balancers", ignore_result=True)
def sweep_balancers(remove: bool | None = None) -> dict:
    """Find (and, when told, remove) the cloud resources whose Service is gone, for every credential."""
    from clouds.loadbalancers.sweep import sweep_all

    return sweep_all(remove=remove)


@shared_task(name="clouds.remove_orphans", ignore_result=True)
def remove_orphans(orphan_ids: list[int]) -> None:
    from clouds.loadbalancers.sweep import remove_orphans as remove

    remove(orphan_ids)
