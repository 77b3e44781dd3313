from unittest import mock

import pytest
from django.test import RequestFactory

from labs.checks import dns as labdns
from labs.live import fragments
from labs.models import DnsRecord, LabSession, SessionLog
from labs.views.dns import set_dns_record
from tests.labs import state_builders as sb

pytestmark = pytest.mark.django_db


def test_it_resolves_sslip_names_in_both_forms(dns_settings):
    dotted, dashed = labdns.sslip_names("127.20.0.5")
    assert dotted == "127.20.0.5.sslip.io" and dashed == "127-20-0-5.sslip.io"
    assert labdns.resolve_a(dotted) == ["127.20.0.5"]
    assert labdns.resolve_a(dashed) == ["127.20.0.5"]


def test_it_explains_a_name_that_does_not_exist(dns_settings):
    with pytest.raises(labdns.DnsLookupError) as info:
        labdns.resolve_a("nobody-here.lab.test")
    assert info.value.code == "nxdomain"
    assert "nobody-here.lab.test does not exist" in info.value.message


def test_it_explains_a_resolver_that_does_not_answer(settings):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as quiet:  # bound, never answers
        quiet.bind(("127.0.0.1", 0))
        settings.LIVEOPS_DNS_RESOLVERS = [f"127.0.0.1:{quiet.getsockname()[1]}"]
        with pytest.raises(labdns.DnsLookupError) as info:
            labdns.resolve_a("x.lab.test")
    assert info.value.code == "timeout"
    assert "within 2 seconds" in info.value.message


def test_it_sets_a_students_record_by_dns_update_and_resolves_it(dns_settings):
    session = sb.make_session("carol")
    record = labdns.set_student_record(session, "Carol-Web", "127.31.129.5")
    assert record.name == "carol-web.lab.test"
    assert labdns.resolve_a("carol-web.lab.test") == ["127.31.129.5"]
    assert SessionLog.objects.filter(session=session, kind="dns", message__contains="carol-web.lab.test").exists()

    labdns.set_student_record(session, "carol-web", "127.31.129.6")  # replaced, not added
    assert labdns.resolve_a("carol-web.lab.test") == ["127.31.129.6"]

    labdns.set_student_record(session, "carol2", "127.31.129.6")  # renamed: the old name goes away
    assert labdns.resolve_a("carol2.lab.test") == ["127.31.129.6"]
    with pytest.raises(labdns.DnsLookupError):
        labdns.resolve_a("carol-web.lab.test")
    assert DnsRecord.objects.get(session=session).name == "carol2.lab.test"


def test_it_deletes_the_record_at_session_end(dns_settings):
    session = sb.make_session("dave")
    labdns.set_student_record(session, "dave", "127.31.129.7")
    assert labdns.delete_student_record(session) is True
    with pytest.raises(labdns.DnsLookupError) as info:
        labdns.resolve_a("dave.lab.test")
    assert info.value.code == "nxdomain"
    assert not DnsRecord.objects.filter(session=session).exists()
    assert labdns.delete_student_record(session) is False


@pytest.mark.parametrize("label, problem", [
    ("", "Enter a name"),
    ("my.name", "contains a dot"),
    ("a" * 64, "at most 63"),
    ("bob_smith", "contains '_'"),
    ("bób", "contains 'ó'"),
    ("-bob", "starts or ends with a hyphen"),
    ("bob-", "starts or ends with a hyphen"),
    ("ns", "reserved for the zone"),
    ("WWW", "reserved for the zone"),
])
def test_it_refuses_bad_labels_with_a_message(dns_settings, label, problem):
    session = sb.make_session("erin")
    with pytest.raises(labdns.DnsRecordError) as info:
        labdns.set_student_record(session, label, "127.31.129.5")
    assert problem in info.value.message
    assert info.value.field == "label"
    assert not DnsRecord.objects.exists()


def test_it_accepts_the_full_name_in_the_zone(dns_settings):
    assert labdns.validate_label("Frank.lab.test") == "frank"


def test_it_refuses_a_bad_address(dns_settings):
    session = sb.make_session("gina")
    with pytest.raises(labdns.DnsRecordError) as info:
        labdns.set_student_record(session, "gina", "300.1.2.3")
    assert "not an IPv4 address" in info.value.message and info.value.field == "address"


def test_it_refuses_a_name_another_student_uses(dns_settings):
    labdns.set_student_record(sb.make_session("hank"), "shared", "127.31.129.5")
    with pytest.raises(labdns.DnsRecordError) as info:
        labdns.set_student_record(sb.make_session("ivan"), "shared", "127.31.129.8")
    assert "already used by another student" in info.value.message
    assert labdns.resolve_a("shared.lab.test") == ["127.31.129.5"]


def test_it_suggests_the_username_as_label():
    session = sb.make_session("Jo_Ann.Smith")
    assert labdns.suggested_label(session) == "jo-annsmith"
    labdns.validate_label(labdns.suggested_label(session))


def test_it_answers_the_form_with_the_fragment_and_the_problem(dns_settings):
    session = sb.make_session("kim")
    request = RequestFactory().post("/", {"label": "kim_", "address": "127.31.129.5"})
    request.user = session.user
    response = set_dns_record(request, session)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="dns-panel"' in html
    assert "contains &#x27;_&#x27;" in html
    assert 'value="kim_"' in html


def test_it_sets_the_record_from_the_form(dns_settings, monkeypatch):
    from labs.checks import refresh

    monkeypatch.setattr(refresh, "notify_session", lambda *a: None)
    session = sb.make_session("lee")
    request = RequestFactory().post("/", {"label": "lee", "address": "127.31.129.5"})
    request.user = session.user
    response = set_dns_record(request, session)
    assert response.status_code == 200
    assert "lee.lab.test now points to 127.31.129.5" in response.content.decode()
    assert labdns.resolve_a("lee.lab.test") == ["127.31.129.5"]


def test_it_says_when_the_dns_server_cannot_be_reached(dns_settings):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    dns_settings.LIVEOPS_DNS_UPDATE_SERVER = f"127.0.0.1:{closed_port}"
    session = sb.make_session("mo")
    with pytest.raises(labdns.DnsRecordError) as info:
        labdns.set_student_record(session, "mo", "127.31.129.5")
    assert "could not be reached" in info.value.message
    assert not DnsRecord.objects.exists()


def test_it_forgets_the_record_when_the_server_is_away_at_session_end(dns_settings):
    import socket

    session = sb.make_session("ola")
    labdns.set_student_record(session, "ola", "127.31.129.5")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dns_settings.LIVEOPS_DNS_UPDATE_SERVER = f"127.0.0.1:{s.getsockname()[1]}"
    assert labdns.delete_student_record(session) is False
    assert not DnsRecord.objects.filter(session=session).exists()
    assert SessionLog.objects.filter(session=session, message__contains="could not be removed").exists()


def test_it_builds_the_dns_panel_with_the_sslip_link():
    from django.template.loader import render_to_string

    session = sb.make_session("nia")
    html = render_to_string("labs/fragments/dns.html", fragments.dns_context(session, state=sb.healthy()))
    assert 'id="dns-panel"' in html
    assert 'href="http://127.31.129.5.sslip.io/"' in html
    assert 'value="nia"' in html and 'value="127.31.129.5"' in html


def test_it_refuses_a_record_from_a_lab_that_is_not_running(dns_settings):
    session = sb.make_session("pat")
    for state in ("ended", "ending", "failed", "provisioning"):
        LabSession.objects.filter(pk=session.pk).update(state=state)
        with pytest.raises(labdns.DnsRecordError) as info:
            labdns.set_student_record(session, "pat", "127.31.129.5")
        assert "not running" in info.value.message
    assert not DnsRecord.objects.exists()
    with pytest.raises(labdns.DnsLookupError):
        labdns.resolve_a("pat.lab.test")


def test_it_never_lets_an_ended_lab_take_or_delete_another_students_name(dns_settings):
    from labs.lifecycle import end_session, teardown_session

    quinn = sb.make_session("quinn")
    labdns.set_student_record(quinn, "shared-name", "127.31.129.5")
    with mock.patch("labs.lifecycle.end.teardown_session.delay"):
        end_session(quinn)
    with mock.patch("labs.lifecycle.namespace.teardown"):
        teardown_session.run(str(quinn.pk))
    assert not DnsRecord.objects.filter(session=quinn).exists()  # an end removes the record

    rita = sb.make_session("rita")
    labdns.set_student_record(rita, "shared-name", "127.31.129.9")
    # The ended lab can neither rename (which used to delete the old name) nor take the name back.
    for label in ("other-name", "shared-name"):
        with pytest.raises(labdns.DnsRecordError):
            labdns.set_student_record(quinn, label, "127.31.129.5")
    assert labdns.resolve_a("shared-name.lab.test") == ["127.31.129.9"]
    assert DnsRecord.objects.get(name="shared-name.lab.test").session == rita


@pytest.mark.django_db(transaction=True)
def test_it_gives_a_name_to_one_of_two_students_racing_for_it(dns_settings):
    import threading

    from django.db import connection

    sessions = [sb.make_session("sam"), sb.make_session("tia")]
    start = threading.Barrier(2)
    outcomes = {}

    def claim(session, ip):
        try:
            start.wait(5)
            labdns.set_student_record(session, "race", ip)
            outcomes[session.user.username] = "won"
        except labdns.DnsRecordError as exc:
            outcomes[session.user.username] = exc.message
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(s, ip))
               for s, ip in zip(sessions, ("127.31.129.5", "127.31.129.6"), strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(outcomes.values(), key=lambda o: o != "won")[0] == "won"
    loser = next(o for o in outcomes.values() if o != "won")
    assert "already used by another student" in loser
    winner = DnsRecord.objects.get(name="race.lab.test")
    assert labdns.resolve_a("race.lab.test") == [winner.address]
    assert DnsRecord.objects.count() == 1


def test_it_limits_how_often_a_session_changes_its_record(dns_settings):
    session = sb.make_session("wes")
    for i in range(labdns.UPDATES_PER_MINUTE):
        labdns.set_student_record(session, f"wes{i % 2}", "127.31.129.5")
    with pytest.raises(labdns.DnsRecordError) as info:
        labdns.set_student_record(session, "wes-again", "127.31.129.5")
    assert "wait a minute" in info.value.message
    assert DnsRecord.objects.get(session=session).name == "wes1.lab.test"  # nothing already set was lost
    labdns.set_student_record(sb.make_session("xena"), "xena", "127.31.129.6")  # another session is not held
