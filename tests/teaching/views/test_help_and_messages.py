import pytest

from labs.models import HelpRequest, Message
from tests.teaching.helpers import cohort_session, make_cohort, other_instructor

pytestmark = pytest.mark.django_db


@pytest.fixture
def raised(make_user):
    cohort, teacher, (alice, bob) = make_cohort(make_user)
    session = cohort_session(cohort, alice)
    help_request = HelpRequest.objects.create(session=session, question="why pending?",
                                              diagnosis="The Service's selector matches no pod")
    return cohort, teacher, help_request


def test_it_lists_open_hands_with_the_diagnosis(client, raised):
    cohort, teacher, _ = raised
    client.force_login(teacher)
    body = client.get(f"/teaching/cohorts/{cohort.pk}/").content.decode()
    assert "why pending?" in body and "Sees: The Service&#x27;s selector matches no pod" in body


def test_it_answers_a_hand(client, raised):
    cohort, teacher, help_request = raised
    client.force_login(teacher)
    r = client.post(f"/teaching/cohorts/{cohort.pk}/help/{help_request.pk}/answer/", {"answer": "Check the labels"},
                    HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and "No hand raised." in r.content.decode()
    help_request.refresh_from_db()
    assert help_request.state == "answered" and help_request.answer == "Check the labels"
    assert help_request.answered_by == teacher


def test_it_names_the_field_of_an_empty_answer(client, raised):
    cohort, teacher, help_request = raised
    client.force_login(teacher)
    r = client.post(f"/teaching/cohorts/{cohort.pk}/help/{help_request.pk}/answer/", {"answer": " "},
                    HTTP_HX_REQUEST="true")
    assert "Answer: write 1 to" in r.content.decode()


def test_it_dismisses_a_hand(client, raised):
    cohort, teacher, help_request = raised
    client.force_login(teacher)
    client.post(f"/teaching/cohorts/{cohort.pk}/help/{help_request.pk}/dismiss/")
    help_request.refresh_from_db()
    assert help_request.state == "dismissed"


def test_it_checks_owner_of_a_hand(client, raised, make_user):
    cohort, _teacher, help_request = raised
    client.force_login(other_instructor(make_user))
    assert client.post(f"/teaching/cohorts/{cohort.pk}/help/{help_request.pk}/answer/",
                       {"answer": "x"}).status_code == 404
    # Their own cohort's id with a hand of another cohort: refused too.
    from labs.models import Cohort

    theirs = Cohort.objects.get(name="cohort of intruder")
    assert client.post(f"/teaching/cohorts/{theirs.pk}/help/{help_request.pk}/dismiss/").status_code == 404
    help_request.refresh_from_db()
    assert help_request.state == "open"


def test_it_sends_a_message_to_everyone_and_to_one(client, make_user):
    cohort, teacher, (alice, bob) = make_cohort(make_user)
    client.force_login(teacher)
    r = client.post(f"/teaching/cohorts/{cohort.pk}/messages/", {"text": "Break at 11"}, HTTP_HX_REQUEST="true")
    assert "Sent to everyone." in r.content.decode()
    client.post(f"/teaching/cohorts/{cohort.pk}/messages/", {"text": "Look at the selector", "student": bob.pk})
    assert Message.objects.get(text="Break at 11").recipient is None
    assert Message.objects.get(text="Look at the selector").recipient == bob


def test_it_names_the_field_of_a_bad_message(client, make_user):
    cohort, teacher, _ = make_cohort(make_user)
    client.force_login(teacher)
    r = client.post(f"/teaching/cohorts/{cohort.pk}/messages/", {"text": "hi", "student": "999999"},
                    HTTP_HX_REQUEST="true")
    assert "Student: choose a student of this cohort." in r.content.decode()
    r = client.post(f"/teaching/cohorts/{cohort.pk}/messages/", {"text": ""}, HTTP_HX_REQUEST="true")
    assert "Message: write 1 to" in r.content.decode()
    assert not Message.objects.exists()


def test_it_checks_owner_of_messages(client, make_user):
    cohort, _teacher, (alice, _bob) = make_cohort(make_user)
    for user in (other_instructor(make_user), alice):
        client.force_login(user)
        assert client.post(f"/teaching/cohorts/{cohort.pk}/messages/", {"text": "x"}).status_code == 404
    assert not Message.objects.exists()
