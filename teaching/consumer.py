"""The dashboard's WebSocket: the whole dashboard on connect, then the fragments each change sends.

Only an instructor of the cohort (or an admin) is let in. Every minute the grid is redrawn from the
database (time on step, time left, "no progress for N minutes"): no request reaches the cluster.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async

from labs.live import redis_watch
from labs.live.consumer import LiveSocket
from labs.models import Cohort
from teaching.access import teaches
from teaching.fragments import render_dashboard

logger = logging.getLogger(__name__)

FORBIDDEN = 4403
REDRAW_EVERY = 60.0


def _allowed_cohort(user, cohort_id):
    cohort = Cohort.objects.filter(pk=cohort_id).first()
    return cohort if cohort is not None and user is not None and teaches(user, cohort) else None


def _render(cohort_id) -> str:
    cohort = Cohort.objects.filter(pk=cohort_id).first()
    return render_dashboard(cohort) if cohort else ""


class DashboardConsumer(LiveSocket):
    """ws/teaching/cohorts/<id>/"""

    group = None
    ticker = None

    async def connect(self):
        self.cohort_id = self.scope["url_route"]["kwargs"]["cohort_id"]
        cohort = await database_sync_to_async(_allowed_cohort)(self.scope.get("user"), self.cohort_id)
        await self.accept()
        if cohort is None:
            await self.close(code=FORBIDDEN)
            return
        self.group = cohort.group_name
        await self.channel_layer.group_add(self.group, self.channel_name)
        redis_watch.register(self, "resync")  # after a Redis outage, not only at the next minute's redraw
        await self.resync()
        self.ticker = asyncio.ensure_future(self._tick())

    async def disconnect(self, code):
        redis_watch.unregister(self)
        if self.ticker:
            self.ticker.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if self.group and text_data and "resync" in text_data:
            await self.resync()

    async def resync(self):
        html = await database_sync_to_async(_render, thread_sensitive=False)(self.cohort_id)
        await self.send(text_data=html)

    async def _tick(self):
        while True:
            await asyncio.sleep(REDRAW_EVERY)
            try:
                await self.resync()
            except Exception:  # the next tick or change heals it
                logger.exception("could not redraw the dashboard of cohort %s", self.cohort_id)

    async def grid_update(self, event):
        if self.group and event.get("html"):
            await self.send(text_data=event["html"])
