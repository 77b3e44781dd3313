import pytest

from labs.lifecycle import reprovision_missing_namespaces
from labs.models import LabSession
from tests.labs.helpers import make_session, tasks_queued

pytestmark = pytest.mark.django_db


def test_it_prepares_again_a_namespace_the_cluster_lost(make_user, django_capture_on_commit_callbacks):
    lost = make_session(make_user("alice"))
    kept = make_session(make_user("bob"))
    unknown = make_session(make_user("carol"))
    answers = {lost.pk: False, kept.pk: True, unknown.pk: None}
    with django_capture_on_commit_callbacks() as callbacks:
        redone = reprovision_missing_namespaces(lambda s: answers[s.pk])
    assert [s.pk for s in redone] == [lost.pk]
    assert LabSession.objects.get(pk=lost.pk).state == "provisioning"
    assert LabSession.objects.get(pk=kept.pk).state == "ready"
    assert LabSession.objects.get(pk=unknown.pk).state == "ready"
    assert len(tasks_queued(callbacks)) == 1  # one provisioning task, for the lost namespace only


def test_it_checks_the_real_cluster(sandbox, cluster, make_user):
    from labs.lifecycle import provision_session
    from labs.management.commands.reprovision_sessions import namespace_exists

    session = make_session(make_user(), cluster=cluster, state="provisioning")
    provision_session.run(str(session.id))
    session.refresh_from_db()
    assert namespace_exists(session) is True
    sandbox.kubectl("delete", "namespace", session.namespace, "--wait=true", timeout=60)
    assert namespace_exists(session) is False
