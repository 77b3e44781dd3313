"""The DNS panel: its form's outcome survives redraws, a stale record says so, and how to try a name."""

import pytest
from django.template.loader import render_to_string

from labs.checks import dns as labdns
from labs.live import fragments
from labs.models import DnsRecord
from tests.labs import state_builders as sb
from tests.labs.helpers import make_session

pytestmark = pytest.mark.django_db


def redrawn(session):
    """The DNS panel as the page's socket redraws it after every change (labs.live.consumer)."""
    return fragments.render_session_fragment("dns", session)


def test_it_keeps_the_message_when_the_panel_is_redrawn(client, make_user, dns_settings):
    user = make_user("lee")
    session = make_session(user)
    client.force_login(user)
    response = client.post(f"/sessions/{session.id}/dns/", {"label": "lee", "address": "127.31.129.5"})
    assert "lee.lab.test now points to 127.31.129.5." in response.content.decode()
    # The socket redraws the panel right after the answer: the message stays.
    assert "lee.lab.test now points to 127.31.129.5." in redrawn(session)

    # The next action replaces it, and what was typed stays with its error.
    response = client.post(f"/sessions/{session.id}/dns/", {"label": "lee_", "address": "127.31.129.5"})
    html = redrawn(session)
    assert "contains &#x27;_&#x27;" in html and 'value="lee_"' in html and 'aria-invalid="true"' in html
    assert "now points to" not in html


def test_it_says_when_the_record_no_longer_points_at_the_balancer(make_user, dns_settings):
    session = make_session(make_user("ola"))
    DnsRecord.objects.create(session=session, name="ola.lab.test", address="127.1.2.3")
    html = fragments.render_session_fragment("dns", session)  # no external IP yet
    assert ("ola.lab.test points at 127.1.2.3, but your Service has no external IP now: that address is not your "
            "load balancer's.") in html

    context = fragments.dns_context(session, state=sb.healthy(ip="127.31.129.7"))
    html = render_to_string(fragments.DNS_TEMPLATE, context)
    assert ("ola.lab.test points at 127.1.2.3, but your Service's external IP is now 127.31.129.7 — update "
            "the record.") in html

    DnsRecord.objects.filter(session=session).update(address="127.31.129.7")
    context = fragments.dns_context(session, state=sb.healthy(ip="127.31.129.7"))
    assert 'data-testid="dns-record-stale"' not in render_to_string(fragments.DNS_TEMPLATE, context)


def test_it_tells_how_to_ask_the_labs_own_resolver(make_user, dns_settings):
    dns_settings.LIVEOPS_DNS_RESOLVERS = ["127.0.0.1:15353"]
    session = make_session(make_user("kim"))
    context = fragments.dns_context(session, state=sb.healthy())
    html = render_to_string(fragments.DNS_TEMPLATE, context)
    assert "<code data-testid=\"dns-try-sslip\">dig @127.0.0.1 -p 15353 +short 127.31.129.5.sslip.io</code>" in html
    assert "dig @127.0.0.1 -p 15353 +short kim.lab.test</code> <span class=\"muted\">(once your record is set)" in html

    DnsRecord.objects.create(session=session, name="kim.lab.test", address="127.31.129.5")
    html = render_to_string(fragments.DNS_TEMPLATE, fragments.dns_context(session, state=sb.healthy()))
    assert "dig @127.0.0.1 -p 15353 +short kim.lab.test</code></li>" in html
    assert "curl --resolve kim.lab.test:80:127.31.129.5 http://kim.lab.test/" in html


def test_it_tells_how_to_ask_a_public_resolver_or_the_students_own():
    from django.test import override_settings

    with override_settings(LIVEOPS_DNS_STUDENT_RESOLVER="9.9.9.9"):
        assert labdns.student_dig_command("kim.labs.example") == "dig @9.9.9.9 +short kim.labs.example"
    with override_settings(LIVEOPS_DNS_STUDENT_RESOLVER=""):
        assert labdns.student_dig_command("kim.labs.example") == "dig +short kim.labs.example"
    with override_settings(LIVEOPS_DNS_STUDENT_RESOLVER=None, LIVEOPS_DNS_RESOLVERS=[]):
        assert labdns.student_dig_command("kim.labs.example") == "dig +short kim.labs.example"
