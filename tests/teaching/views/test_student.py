import pytest

from labs.models import ManifestRevision, Message
from tests.teaching.helpers import cohort_session, make_cohort, other_instructor

pytestmark = pytest.mark.django_db


def test_it_steps_through_the_revisions_with_their_diffs(client, make_user):
    cohort, teacher, (alice, _bob) = make_cohort(make_user)
    session = cohort_session(cohort, alice)
    ManifestRevision.objects.create(session=session, number=1, text="a: 1\n", status="applied")
    ManifestRevision.objects.create(session=session, number=2, text="a: 2\n", status="failed")
    Message.objects.create(cohort=cohort, recipient=alice, sender=teacher, text="hint for alice")
    client.force_login(teacher)
    url = f"/teaching/cohorts/{cohort.pk}/sessions/{session.id}/"
    body = client.get(url).content.decode()
    assert "Revision 2" in body and "+a: 2" in body and "-a: 1" in body and "← rev 1" in body
    assert f'ws-connect="/ws/sessions/{session.id}/"' in body and 'id="liveops-panel"' in body
    assert "hint for alice" in body and 'id="checklist"' in body
    body = client.get(url + "?rev=1").content.decode()
    assert "Revision 1" in body and "rev 2 →" in body
    assert client.get(url + "?rev=zzz").status_code == 200


def test_it_checks_owner(client, make_user):
    cohort, _teacher, (alice, _bob) = make_cohort(make_user)
    session = cohort_session(cohort, alice)
    client.force_login(other_instructor(make_user))
    assert client.get(f"/teaching/cohorts/{cohort.pk}/sessions/{session.id}/").status_code == 404
    client.force_login(alice)
    assert client.get(f"/teaching/cohorts/{cohort.pk}/sessions/{session.id}/").status_code == 404
