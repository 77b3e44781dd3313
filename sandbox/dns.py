"""The sandbox DNS server (UDP and TCP).

- sslip.io-style names resolve to the IPv4 address they embed, dotted or dashed
  (`127.20.0.5.sslip.io`, `www.127-20-0-5.sslip.io`, `app-127-20-0-5.sslip.io`),
  TTL 60, like the real sslip.io (nip.io too).
- The zone `dns_zone` (default lab.test) is authoritative: SOA and NS at the apex,
  records held in memory, NXDOMAIN for unknown names, and RFC 2136 UPDATE (add,
  replace, delete) so the product can set a student's record.
- Anything else is REFUSED.
"""

from __future__ import annotations

import asyncio
import logging
import re
import struct

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.update

log = logging.getLogger("sandbox.dns")

SSLIP_TTL = 60
SSLIP_DOMAINS = ("sslip.io.", "nip.io.")
_EMBEDDED = re.compile(r"(?<![0-9])(\d{1,3})[.-](\d{1,3})[.-](\d{1,3})[.-](\d{1,3})(?![0-9])")


def sslip_address(name: dns.name.Name) -> tuple[str | None, dns.name.Name | None]:
    """(embedded IPv4 or None, the sslip domain) if the name is under an sslip domain."""
    text = name.to_text().lower()
    for domain in SSLIP_DOMAINS:
        if text == domain or text.endswith("." + domain):
            prefix = text[: -len(domain)].rstrip(".")
            for m in reversed(list(_EMBEDDED.finditer(prefix))):
                octets = [int(x) for x in m.groups()]
                if all(0 <= o <= 255 for o in octets):
                    return ".".join(map(str, octets)), dns.name.from_text(domain)
            return None, dns.name.from_text(domain)
    return None, None


def _class_of(rrset) -> int:
    """The class an UPDATE rrset was sent with (dnspython keeps ANY/NONE in .deleting)."""
    deleting = getattr(rrset, "deleting", None)
    return deleting if deleting is not None else rrset.rdclass


class Zone:
    """An in-memory authoritative zone: {name: {rdtype: Rdataset}}."""

    def __init__(self, origin: str, ns_address: str) -> None:
        self.origin = dns.name.from_text(origin)
        self.serial = 1
        self.nodes: dict[dns.name.Name, dict[int, dns.rdataset.Rdataset]] = {}
        ns_name = dns.name.from_text("ns1", self.origin)
        self._put(self.origin, "NS", 3600, [ns_name.to_text()])
        self._put(ns_name, "A", 3600, [ns_address])

    def _put(self, name, rdtype, ttl, values) -> None:
        rdtype = dns.rdatatype.RdataType.make(rdtype)
        rds = dns.rdataset.Rdataset(dns.rdataclass.IN, rdtype, ttl=ttl)
        for v in values:
            rds.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, v, origin=self.origin, relativize=False))
        self.nodes.setdefault(name, {})[rdtype] = rds

    def soa(self) -> dns.rdataset.Rdataset:
        rds = dns.rdataset.Rdataset(dns.rdataclass.IN, dns.rdatatype.SOA, ttl=3600)
        rds.add(dns.rdata.from_text(
            dns.rdataclass.IN, dns.rdatatype.SOA,
            f"ns1.{self.origin} hostmaster.{self.origin} {self.serial} 3600 600 86400 60"))
        return rds

    def rdatasets(self, name: dns.name.Name) -> dict[int, dns.rdataset.Rdataset]:
        out = dict(self.nodes.get(name, {}))
        if name == self.origin:
            out[dns.rdatatype.SOA] = self.soa()
        return out

    def name_exists(self, name: dns.name.Name) -> bool:
        if name == self.origin or self.nodes.get(name):
            return True
        return any(n.is_subdomain(name) and n != name and rds for n, rds in self.nodes.items())

    def records(self) -> dict[str, list[str]]:
        """name -> A addresses (for inspection)."""
        return {n.to_text(): [r.address for r in rds[dns.rdatatype.A]]
                for n, rds in self.nodes.items() if dns.rdatatype.A in rds}

    # ---- RFC 2136 ----------------------------------------------------------------------

    def _prerequisites_ok(self, msg) -> int:
        for rrset in msg.prerequisite:
            name = rrset.name
            if not name.is_subdomain(self.origin):
                return dns.rcode.NOTZONE
            existing = self.rdatasets(name)
            cls = _class_of(rrset)
            if cls == dns.rdataclass.ANY:
                if rrset.rdtype == dns.rdatatype.ANY:
                    if not self.name_exists(name):
                        return dns.rcode.NXDOMAIN
                elif rrset.rdtype not in existing:
                    return dns.rcode.NXRRSET
            elif cls == dns.rdataclass.NONE:
                if rrset.rdtype == dns.rdatatype.ANY:
                    if self.name_exists(name):
                        return dns.rcode.YXDOMAIN
                elif rrset.rdtype in existing:
                    return dns.rcode.YXRRSET
            elif cls == dns.rdataclass.IN:
                have = existing.get(rrset.rdtype)
                if have is None or set(have) != set(rrset):
                    return dns.rcode.NXRRSET
            else:
                return dns.rcode.FORMERR
        return dns.rcode.NOERROR

    def apply_update(self, msg) -> int:
        rcode = self._prerequisites_ok(msg)
        if rcode != dns.rcode.NOERROR:
            return rcode
        for rrset in msg.update:
            if not rrset.name.is_subdomain(self.origin):
                return dns.rcode.NOTZONE
            if _class_of(rrset) not in (dns.rdataclass.IN, dns.rdataclass.ANY, dns.rdataclass.NONE):
                return dns.rcode.FORMERR
        changed = False
        for rrset in msg.update:
            name, rdtype = rrset.name, rrset.rdtype
            apex = name == self.origin
            node = self.nodes.setdefault(name, {})
            cls = _class_of(rrset)
            if cls == dns.rdataclass.IN:
                if rdtype in (dns.rdatatype.SOA, dns.rdatatype.ANY) or dns.rdatatype.is_metatype(rdtype):
                    continue
                rds = node.get(rdtype)
                if rds is None:
                    rds = node[rdtype] = dns.rdataset.Rdataset(dns.rdataclass.IN, rdtype, ttl=rrset.ttl)
                for rd in rrset:
                    rds.add(rd, rrset.ttl)
                rds.update_ttl(rrset.ttl)
                rds.ttl = rrset.ttl
                changed = True
            elif cls == dns.rdataclass.ANY:
                if rdtype == dns.rdatatype.ANY:
                    for t in list(node):
                        if not (apex and t in (dns.rdatatype.SOA, dns.rdatatype.NS)):
                            del node[t]
                            changed = True
                elif not (apex and rdtype in (dns.rdatatype.SOA, dns.rdatatype.NS)) and rdtype in node:
                    del node[rdtype]
                    changed = True
            else:  # NONE: delete one record
                rds = node.get(rdtype)
                if rds is not None and not (apex and rdtype == dns.rdatatype.SOA):
                    for rd in rrset:
                        if rd in rds:
                            rds.remove(rd)
                            changed = True
                    if not rds:
                        del node[rdtype]
            if not node:
                del self.nodes[name]
        if changed:
            self.serial += 1
        return dns.rcode.NOERROR


class DNSServer:
    def __init__(self, host: str, port: int, zone: str = "lab.test") -> None:
        self.host, self.port = host, port
        self.zone = Zone(zone, host)
        self._udp = None
        self._tcp: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        server = self

        class UDP(asyncio.DatagramProtocol):
            def connection_made(self, transport):
                self.transport = transport

            def datagram_received(self, data, addr):
                reply = server.handle(data, max_size=512)
                if reply:
                    self.transport.sendto(reply, addr)

        self._udp, _ = await loop.create_datagram_endpoint(UDP, local_addr=(self.host, self.port))
        self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port, reuse_address=True)

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            for t in list(self._conns):
                t.cancel()
            await asyncio.gather(*self._conns, return_exceptions=True)
            self._tcp = None

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._conns.add(task)
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), 30)
                    data = await asyncio.wait_for(reader.readexactly(struct.unpack("!H", head)[0]), 30)
                except (TimeoutError, asyncio.IncompleteReadError):
                    break
                reply = self.handle(data, max_size=65535)
                if reply:
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(task)
            writer.close()

    # ---- message handling -----------------------------------------------------------------

    def handle(self, wire: bytes, max_size: int = 512) -> bytes | None:
        try:
            msg = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            if len(wire) < 12:
                return None
            # FORMERR with the query's id, no sections
            qid = struct.unpack("!H", wire[:2])[0]
            flags = dns.flags.QR | dns.rcode.FORMERR
            return struct.pack("!HHHHHH", qid, flags, 0, 0, 0, 0)
        if msg.flags & dns.flags.QR:
            return None
        try:
            response = self.respond(msg)
        except Exception:
            log.exception("DNS query failed")
            response = dns.message.make_response(msg)
            response.set_rcode(dns.rcode.SERVFAIL)
        try:
            return response.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            response.answer = []
            response.authority = []
            response.additional = []
            response.flags |= dns.flags.TC
            return response.to_wire(max_size=max_size)
        except Exception:
            log.exception("DNS reply could not be encoded")
            response = dns.message.make_response(msg)
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire(max_size=max_size)

    def respond(self, msg) -> dns.message.Message:
        opcode = msg.opcode()
        response = dns.message.make_response(msg)
        if opcode == dns.opcode.UPDATE:
            return self._update(msg, response)
        if opcode != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(msg.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        q = msg.question[0]
        if q.rdclass not in (dns.rdataclass.IN, dns.rdataclass.ANY):
            response.set_rcode(dns.rcode.REFUSED)
            return response
        ip, domain = sslip_address(q.name)
        if domain is not None:
            response.flags |= dns.flags.AA
            if ip is not None and q.rdtype in (dns.rdatatype.A, dns.rdatatype.ANY):
                response.answer.append(dns.rrset.from_text(q.name, SSLIP_TTL, "IN", "A", ip))
            elif ip is None and q.name != domain:
                response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        if q.name.is_subdomain(self.zone.origin):
            response.flags |= dns.flags.AA
            self._answer_zone(q.name, q.rdtype, response)
            return response
        response.set_rcode(dns.rcode.REFUSED)
        return response

    def _answer_zone(self, name: dns.name.Name, rdtype: int, response, depth: int = 0) -> None:
        zone = self.zone
        rdatasets = zone.rdatasets(name)
        if rdtype == dns.rdatatype.ANY and rdatasets:
            for _t, rds in rdatasets.items():
                response.answer.append(self._rrset(name, rds))
            return
        if rdtype in rdatasets:
            response.answer.append(self._rrset(name, rdatasets[rdtype]))
            return
        cname = rdatasets.get(dns.rdatatype.CNAME)
        if cname is not None and depth < 8:
            response.answer.append(self._rrset(name, cname))
            target = cname[0].target
            if target.is_subdomain(zone.origin):
                self._answer_zone(target, rdtype, response, depth + 1)
            return
        if depth == 0 and not zone.name_exists(name):
            response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(self._rrset(zone.origin, zone.soa()))

    @staticmethod
    def _rrset(name, rds) -> dns.rrset.RRset:
        rrset = dns.rrset.RRset(name, rds.rdclass, rds.rdtype)
        rrset.update(rds)
        return rrset

    def _update(self, msg, response) -> dns.message.Message:
        zone_q = msg.zone
        if len(zone_q) != 1 or zone_q[0].rdtype != dns.rdatatype.SOA:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        if zone_q[0].name != self.zone.origin:
            response.set_rcode(dns.rcode.NOTAUTH)
            return response
        response.set_rcode(self.zone.apply_update(msg))
        return response
