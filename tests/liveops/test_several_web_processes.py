"""Several web processes behind one Redis behave as one: a change reaches the sockets on every process."""

import asyncio

import pytest
import websockets
from django.contrib.auth import get_user_model
from django.db import connection

from labs.notify import notify_session
from tests.labs.helpers import make_session
from tests.services import PYTHON, Service, database_env, free_port, wait_for_port

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(client, user) -> str:
    client.force_login(user)
    return client.cookies["sessionid"].value


async def receive_until(ws, text: str, timeout: float = 15.0) -> str:
    async def wait():
        while True:
            message = await ws.recv()
            if text in message:
                return message
    return await asyncio.wait_for(wait(), timeout)


def test_it_reaches_sockets_on_two_web_processes(client, redis_url):
    student = get_user_model().objects.create_user("twoweb")
    session = make_session(student)
    cookie = session_cookie(client, student)
    env = {**database_env(connection.settings_dict), "LIVEOPS_REDIS_URL": redis_url}
    ports = [free_port(), free_port()]
    webs = [Service(f"web-{port}", [PYTHON, "-m", "uvicorn", "liveops.asgi:application", "--host", "127.0.0.1",
                                    "--port", str(port)], env=env) for port in ports]
    try:
        for port in ports:
            wait_for_port(port, timeout=60)

        async def scenario():
            sockets = [await websockets.connect(
                f"ws://127.0.0.1:{port}/ws/sessions/{session.id}/",
                additional_headers={"Cookie": f"sessionid={cookie}", "Origin": f"http://127.0.0.1:{port}"})
                for port in ports]
            try:
                for ws in sockets:  # each resyncs on connect
                    await receive_until(ws, 'id="session-status"')
                from labs.models import LabSession

                await asyncio.to_thread(
                    lambda: (LabSession.objects.filter(pk=session.pk).update(progress="Told on both processes"),
                             notify_session(session.pk, "status")))
                return [await receive_until(ws, "Told on both processes") for ws in sockets]
            finally:
                for ws in sockets:
                    await ws.close()

        frames = asyncio.run(scenario())
        assert len(frames) == 2 and all('id="session-status"' in f for f in frames)
    finally:
        for web in webs:
            web.stop()
