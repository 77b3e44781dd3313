"""The sandbox DNS server, queried with dnspython over UDP and TCP."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.update


def query(sandbox, name: str, rdtype: str = "A", tcp: bool = False):
    q = dns.message.make_query(name, rdtype)
    send = dns.query.tcp if tcp else dns.query.udp
    response = send(q, "127.0.0.1", port=sandbox.dns_port, timeout=3)
    assert response.id == q.id
    assert response.question == q.question
    return response


def addresses(response) -> list[str]:
    return sorted(rd.address for rrset in response.answer for rd in rrset)


def update(sandbox, message) -> int:
    return dns.query.tcp(message, "127.0.0.1", port=sandbox.dns_port, timeout=3).rcode()


def test_it_resolves_sslip_names_to_the_embedded_ip(sandbox):
    for name in ("127.20.0.5.sslip.io", "127-20-0-5.sslip.io", "www.127-20-0-5.sslip.io",
                 "app-127-20-0-5.sslip.io", "www.127.20.0.5.sslip.io"):
        for tcp in (False, True):
            response = query(sandbox, name, tcp=tcp)
            assert response.rcode() == dns.rcode.NOERROR, name
            assert addresses(response) == ["127.20.0.5"], name
            assert response.answer[0].ttl == 60


def test_it_sets_and_deletes_a_record_with_dns_update(sandbox):
    u = dns.update.Update("lab.test")
    u.replace("alice", 300, "A", "127.20.0.9")
    assert update(sandbox, u) == dns.rcode.NOERROR
    assert addresses(query(sandbox, "alice.lab.test")) == ["127.20.0.9"]

    u = dns.update.Update("lab.test")
    u.replace("alice", 300, "A", "127.20.0.10")
    assert update(sandbox, u) == dns.rcode.NOERROR
    assert addresses(query(sandbox, "alice.lab.test", tcp=True)) == ["127.20.0.10"]

    u = dns.update.Update("lab.test")
    u.delete("alice", "A")
    assert update(sandbox, u) == dns.rcode.NOERROR
    assert query(sandbox, "alice.lab.test").rcode() == dns.rcode.NXDOMAIN


def test_it_is_authoritative_for_its_zone_only(sandbox):
    soa = query(sandbox, "lab.test", "SOA")
    assert soa.rcode() == dns.rcode.NOERROR
    assert soa.flags & dns.flags.AA
    assert soa.answer[0].rdtype == dns.rdatatype.SOA
    assert query(sandbox, "lab.test", "NS").answer

    missing = query(sandbox, "nobody.lab.test")
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert missing.authority and missing.authority[0].rdtype == dns.rdatatype.SOA

    assert query(sandbox, "example.com").rcode() == dns.rcode.REFUSED

    u = dns.update.Update("example.com")
    u.add("www", 60, "A", "127.0.0.1")
    assert update(sandbox, u) == dns.rcode.NOTAUTH


def test_it_honours_update_prerequisites(sandbox):
    u = dns.update.Update("lab.test")
    u.add("bob", 60, "A", "127.20.0.11")
    assert update(sandbox, u) == dns.rcode.NOERROR

    u = dns.update.Update("lab.test")
    u.absent("bob")
    u.add("bob", 60, "A", "127.20.0.12")
    assert update(sandbox, u) == dns.rcode.YXDOMAIN
    assert addresses(query(sandbox, "bob.lab.test")) == ["127.20.0.11"]
