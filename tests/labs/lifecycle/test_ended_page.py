"""An open lab page turns read-only, without a reload, when its lab ends (over its WebSocket)."""

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter

from labs.models import LabSession
from labs.notify import notify_session
from labs.routing import websocket_urlpatterns
from tests.labs.helpers import make_session
from tests.labs.ws import WebsocketCommunicator

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def connected(session, user):
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/sessions/{session.id}/")
    communicator.scope["user"] = user
    assert (await communicator.connect())[0]
    return communicator, await communicator.receive_from(timeout=5)


async def test_it_turns_an_open_page_read_only_when_the_lab_ends(make_user, dns_settings):
    user = await sync_to_async(make_user)("alice")
    session = await sync_to_async(make_session)(user, draft="kind: Service # typed before the end\n")
    communicator, first = await connected(session, user)
    assert 'class="dns-form"' in first and "outerHTML:#manifest-form" not in first

    # What the end's cleanup task does once it is done.
    await sync_to_async(LabSession.objects.filter(pk=session.pk).update)(state=LabSession.State.ENDED)
    await sync_to_async(notify_session)(session.id, "status")
    html = await communicator.receive_from(timeout=5)
    assert 'hx-swap-oob="outerHTML:#manifest-form"' in html and "kind: Service # typed before the end" in html
    assert 'hx-swap-oob="delete:[data-while-running]"' in html
    assert 'data-ended="true"' in html and 'class="dns-form"' not in html and "End lab" not in html

    # Once is enough: later redraws are the fragments alone.
    await sync_to_async(notify_session)(session.id, "status")
    html = await communicator.receive_from(timeout=5)
    assert 'id="session-status"' in html and "outerHTML:#manifest-form" not in html
    await communicator.disconnect()

    # A page opened after the end was drawn read-only: its socket sends no swaps either.
    communicator, first = await connected(session, user)
    assert "outerHTML:#manifest-form" not in first and 'class="dns-form"' not in first
    await communicator.disconnect()
