"""Fault switches of the sandbox's Kubernetes API server, for drills (the cloud has its own:
sandbox/openstack/faults.py). Authenticated like every API call (the kubeconfig's token):

    GET  /sandbox/faults                     -> {"slow_answers": [...], "held": n}
    POST /sandbox/faults {"slow_answers": [...]}   (sandbox/slow.py: calls done, answered late)
    POST /sandbox/restart {"down_seconds": s}

A restart is what a kube-apiserver restart looks like to its clients while etcd keeps the data:
every open connection (watches included) is cut, the port refuses connections for `down_seconds`,
then the same port serves again the same objects, resourceVersions going on from where they were.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from .slow import SlowAnswers

log = logging.getLogger("sandbox.faults")

MAX_DOWN = 60.0


class ApiFaults:
    def __init__(self, listener, server) -> None:
        self.listener = listener
        self.server = server  # the aiohttp low-level server: its open connections
        self.slow = SlowAnswers()
        self.restarts = 0
        self._restarting: asyncio.Task | None = None

    def routes(self) -> dict:
        return {"/sandbox/faults": self.faults, "/sandbox/restart": self.restart}

    async def after_call(self, request: web.Request) -> None:
        await self.slow.hold(request)

    async def _body(self, request: web.Request) -> dict:
        body = json.loads(await request.read() or b"{}")
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body

    async def faults(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                body = await self._body(request)
                unknown = set(body) - {"slow_answers"}
                if unknown:
                    raise ValueError(f"unknown switch {sorted(unknown)[0]!r}")
                if "slow_answers" in body:
                    self.slow.set(body["slow_answers"])
            except ValueError as e:
                return web.json_response({"error": str(e)}, status=400)
        elif request.method != "GET":
            return web.json_response({"error": "GET or POST"}, status=405)
        return web.json_response({**self.slow.view(), "restarts": self.restarts})

    async def restart(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.json_response({"error": "POST"}, status=405)
        try:
            down = (await self._body(request)).get("down_seconds", 1.0)
            if isinstance(down, bool) or not isinstance(down, (int, float)) or not 0 <= down <= MAX_DOWN:
                raise ValueError(f"down_seconds must be a number of seconds from 0 to {MAX_DOWN:g}")
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)
        if self._restarting is not None and not self._restarting.done():
            return web.json_response({"error": "a restart is under way"}, status=409)
        # The caller hears that the restart starts before its connection is cut with the others.
        response = web.json_response({"restarting": True, "down_seconds": down}, status=202)
        await response.prepare(request)
        await response.write_eof()
        self._restarting = asyncio.get_running_loop().create_task(self._restart(float(down)))
        return response

    async def _restart(self, down: float) -> None:
        log.warning("restarting the API server: down for %.1fs", down)
        await self.listener.stop()
        for handler in self.server.connections:
            transport = getattr(handler, "transport", None)
            if transport is not None:
                transport.abort()
        await asyncio.sleep(down)
        await self.listener.start()
        self.restarts += 1
        log.warning("the API server is back")
