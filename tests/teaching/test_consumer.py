import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from django.contrib.auth.models import AnonymousUser

from labs.models import HelpRequest
from labs.notify import notify_session
from teaching.routing import websocket_urlpatterns
from tests.labs.ws import WebsocketCommunicator
from tests.teaching.helpers import cohort_session, make_cohort, other_instructor

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def connect(cohort, user):
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/teaching/cohorts/{cohort.pk}/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.fixture
def cohort_with_session(make_user):
    cohort, teacher, (alice, _bob) = make_cohort(make_user)
    return cohort, teacher, cohort_session(cohort, alice)


async def test_it_sends_the_whole_dashboard_on_connect(cohort_with_session):
    cohort, teacher, session = cohort_with_session
    communicator = await connect(cohort, teacher)
    html = await communicator.receive_from(timeout=10)
    assert 'id="grid"' in html and 'id="funnel"' in html and 'id="help-requests"' in html
    assert f'id="student-{session.user_id}"' in html
    await communicator.disconnect()


async def test_it_sends_the_row_when_a_session_changes(cohort_with_session):
    cohort, teacher, session = cohort_with_session
    communicator = await connect(cohort, teacher)
    await communicator.receive_from(timeout=10)
    await sync_to_async(HelpRequest.objects.create)(session=session, question="help me")
    await sync_to_async(notify_session)(session.id, "messages")
    html = await communicator.receive_from(timeout=10)
    assert html.startswith(f'<tr id="student-{session.user_id}"') and 'hx-swap-oob="true"' in html
    assert "help me" in await communicator.receive_from(timeout=10)  # then the help list
    await communicator.disconnect()


async def test_it_checks_owner(cohort_with_session, make_user):
    cohort, _teacher, session = cohort_with_session
    intruder = await sync_to_async(other_instructor)(make_user)
    student = await sync_to_async(lambda: session.user)()
    for user in (intruder, student, AnonymousUser()):
        communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/teaching/cohorts/{cohort.pk}/")
        communicator.scope["user"] = user
        await communicator.send_input({"type": "websocket.connect"})
        assert (await communicator.receive_output(5))["type"] == "websocket.accept"
        closed = await communicator.receive_output(5)
        assert closed == {"type": "websocket.close", "code": 4403}, user
