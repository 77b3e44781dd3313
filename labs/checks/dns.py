"""DNS for the lab: resolving names for the checks and the student's own A record.

The resolvers, the zone and the update server come from settings
(LIVEOPS_DNS_RESOLVERS, LIVEOPS_DNS_ZONE, LIVEOPS_DNS_UPDATE_SERVER,
LIVEOPS_DNS_TSIG_KEY). Errors carry a message written for a learner.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re

import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.query
import dns.rcode
import dns.resolver
import dns.tsigkeyring
import dns.update
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from clouds.watch.state import client
from labs.models import DnsRecord, LabSession, SessionLog
from labs.notify import session_changed

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT = 2.0
UPDATE_TIMEOUT = 2.0
RECORD_TTL = 30
SSLIP_DOMAIN = "sslip.io"
LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class DnsLookupError(Exception):
    """A name did not resolve; `message` says why in a learner's words."""

    def __init__(self, name: str, code: str, message: str):
        super().__init__(message)
        self.name = name
        self.code = code  # "nxdomain" | "no-answer" | "timeout" | "no-nameservers" | "invalid-name"
        self.message = message


class DnsRecordError(Exception):
    """A student's record could not be set; `message` names the problem."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field  # "label" | "address" | "" (server side)


def _host_port(value: str, default_port: int = 53) -> tuple[str, int]:
    value = value.strip()
    if value.startswith("["):  # [::1]:53
        host, _, rest = value[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, int(port)
    return value, default_port


def resolver() -> dns.resolver.Resolver:
    """A resolver using LIVEOPS_DNS_RESOLVERS ("host:port" list), or the system's when empty."""
    configured = [r for r in getattr(settings, "LIVEOPS_DNS_RESOLVERS", []) if r.strip()]
    if configured:
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = [dns.nameserver.Do53Nameserver(*_host_port(r)) for r in configured]
    else:
        res = dns.resolver.Resolver()
    res.timeout = LOOKUP_TIMEOUT
    res.lifetime = LOOKUP_TIMEOUT
    res.cache = None
    return res


def resolve_a(name: str) -> list[str]:
    """The IPv4 addresses `name` resolves to, or DnsLookupError saying why not."""
    name = name.strip().rstrip(".")
    try:
        answer = resolver().resolve(name, "A", search=False)
    except dns.resolver.NXDOMAIN:
        raise DnsLookupError(name, "nxdomain", f"The name {name} does not exist (NXDOMAIN): "
                                               "no DNS server knows it yet.") from None
    except dns.resolver.NoAnswer:
        raise DnsLookupError(name, "no-answer", f"The name {name} exists but has no A record (IPv4 address).") from None
    except dns.resolver.LifetimeTimeout:
        raise DnsLookupError(name, "timeout", f"No DNS server answered for {name} within "
                                              f"{LOOKUP_TIMEOUT:g} seconds.") from None
    except dns.resolver.NoNameservers as exc:
        raise DnsLookupError(name, "no-nameservers", f"The DNS servers could not answer for {name} ({exc}).") from None
    except (dns.name.LabelTooLong, dns.name.EmptyLabel, dns.name.NameTooLong) as exc:
        raise DnsLookupError(name, "invalid-name", f"{name} is not a valid DNS name ({exc}).") from None
    except dns.exception.DNSException as exc:
        raise DnsLookupError(name, "error", f"Looking up {name} failed: {exc}") from None
    return sorted({rr.address for rr in answer})


def sslip_names(ip: str) -> list[str]:
    """The sslip.io-style names of an IPv4 address: dotted and dashed forms."""
    return [f"{ip}.{SSLIP_DOMAIN}", f"{ip.replace('.', '-')}.{SSLIP_DOMAIN}"]


def zone() -> str:
    return (getattr(settings, "LIVEOPS_DNS_ZONE", "") or "").strip().rstrip(".")


def records_enabled() -> bool:
    return bool(zone() and getattr(settings, "LIVEOPS_DNS_UPDATE_SERVER", ""))


def suggested_label(session: LabSession) -> str:
    """The default label: the student's username as a DNS label."""
    label = slugify(session.user.get_username()).replace("_", "-").strip("-")[:63].strip("-")
    return label or "student"


# Names the zone's own infrastructure uses: no student may take them over.
RESERVED_LABELS = frozenset({"ns", "ns1", "ns2", "ns3", "dns", "mail", "smtp", "mx", "www", "localhost", "admin"})


def validate_label(label: str) -> str:
    """The label, lower-cased, or DnsRecordError naming what breaks the DNS label rules."""
    label = (label or "").strip().lower()
    zone_suffix = "." + zone() if zone() else None
    if zone_suffix and label.endswith(zone_suffix):
        label = label[: -len(zone_suffix)]
    if not label:
        raise DnsRecordError("Enter a name (a DNS label such as your username).", "label")
    if "." in label:
        raise DnsRecordError(f"“{label}” contains a dot: enter one label only, the zone .{zone()} "
                             "is added for you.", "label")
    if len(label) > 63:
        raise DnsRecordError(f"“{label[:20]}…” is {len(label)} characters long: a DNS label has at most 63.", "label")
    bad = sorted({c for c in label if not (c.isascii() and (c.isalnum() or c == "-"))})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise DnsRecordError(f"“{label}” contains {shown}: a DNS label may only use letters a-z, digits "
                             "and hyphens.", "label")
    if label.startswith("-") or label.endswith("-"):
        raise DnsRecordError(f"“{label}” starts or ends with a hyphen, which DNS labels may not.", "label")
    if label in RESERVED_LABELS:
        raise DnsRecordError(f"“{label}” is reserved for the zone's own servers: choose another name.", "label")
    if not LABEL_RE.match(label):  # pragma: no cover - the rules above cover every case
        raise DnsRecordError(f"“{label}” is not a valid DNS label.", "label")
    return label


def validate_address(address: str) -> str:
    address = (address or "").strip()
    if not address:
        raise DnsRecordError("Enter the IPv4 address the name should point to (your external IP).", "address")
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        raise DnsRecordError(f"“{address}” is not an IPv4 address (four numbers 0-255 separated by dots, "
                             "e.g. 203.0.113.10).", "address") from None
    return str(ip)


def _keyring():
    key = (getattr(settings, "LIVEOPS_DNS_TSIG_KEY", "") or "").strip()
    if not key:
        return None, None
    name, _, secret = key.partition(":")
    keyring = dns.tsigkeyring.from_text({name: secret})
    return keyring, dns.name.from_text(name)


def _send_update(update: dns.update.UpdateMessage, what: str) -> None:
    host, port = _host_port(settings.LIVEOPS_DNS_UPDATE_SERVER)
    try:
        response = dns.query.tcp(update, host, port=port, timeout=UPDATE_TIMEOUT)
    except (dns.exception.Timeout, TimeoutError):
        raise DnsRecordError(f"The DNS server did not answer within {UPDATE_TIMEOUT:g} seconds while {what}; "
                             "try again in a moment.") from None
    except (OSError, dns.exception.DNSException) as exc:
        log.warning("DNS update to %s:%s failed: %s", host, port, exc)
        raise DnsRecordError(f"The DNS server could not be reached while {what}; try again in a moment.") from None
    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        raise DnsRecordError(f"The DNS server refused the change while {what} ({dns.rcode.to_text(rcode)}).")


def _update_message() -> dns.update.UpdateMessage:
    keyring, keyname = _keyring()
    if keyring:
        return dns.update.UpdateMessage(zone() + ".", keyring=keyring, keyname=keyname)
    return dns.update.UpdateMessage(zone() + ".")


def set_student_record(session: LabSession, label: str, ip: str) -> DnsRecord:
    """Point `<label>.<zone>` at `ip` (RFC 2136 UPDATE), remember it and log it.

    Only a running session may set its record. Claiming the name and writing
    it are one transaction: the name is unique among records, so of two
    students racing for one name one gets it and the other a clear message,
    and a rename removes only the session's own previous name.
    Raises DnsRecordError with a learner message on bad input or a server problem.
    """
    if not records_enabled():
        raise DnsRecordError("Setting your own DNS record is not available on this server.")
    label = validate_label(label)
    ip = validate_address(ip)
    name = f"{label}.{zone()}"
    _count_update(session)
    try:
        with transaction.atomic():
            # Lock the session row (PostgreSQL; SQLite serialises write transactions) so an end
            # racing this write either comes first (and we refuse) or removes what we write.
            current = LabSession.objects.select_for_update().filter(pk=session.pk).first()
            if current is None or current.state != LabSession.State.READY:
                raise DnsRecordError("Your lab is not running, so it cannot set a DNS record.")
            previous = DnsRecord.objects.filter(session=session).first()
            if DnsRecord.objects.filter(name=name).exclude(session=session).exists():
                raise DnsRecordError(f"{name} is already used by another student; choose another name.", "label")
            if previous is None:
                DnsRecord.objects.create(session=session, name=name, address=ip)
            else:
                DnsRecord.objects.filter(pk=previous.pk).update(name=name, address=ip)
            update = _update_message()
            if previous and previous.name != name:
                update.delete(relative_label(previous.name), "A")
            update.replace(label, RECORD_TTL, "A", ip)
            _send_update(update, f"setting {name}")
            SessionLog.objects.create(session=session, kind="dns", message=f"DNS record {name} A {ip} set")
    except IntegrityError:
        raise DnsRecordError(f"{name} is already used by another student; choose another name.", "label") from None
    return DnsRecord.objects.get(session=session)


UPDATES_PER_MINUTE = 10  # each update reaches the DNS server and starts a probe of the name


def _count_update(session: LabSession) -> None:
    """At most UPDATES_PER_MINUTE record changes per session and minute (the DNS server is shared)."""
    key = f"liveops:dns-updates:{session.pk.hex}"
    try:
        pipe = client().pipeline()
        pipe.incr(key)
        pipe.expire(key, 60, nx=True)
        count = pipe.execute()[0]
    except Exception:  # noqa: BLE001 - without Redis, no limit rather than no DNS step
        log.warning("the DNS update limit is unavailable")
        return
    if count > UPDATES_PER_MINUTE:
        raise DnsRecordError(f"You changed your DNS record {UPDATES_PER_MINUTE} times in the last minute: "
                             "wait a minute, then set it again.")


def relative_label(name: str) -> str:
    suffix = "." + zone()
    return name[: -len(suffix)] if name.endswith(suffix) else name


def delete_student_record(session: LabSession) -> bool:
    """Remove the session's record from the zone (session end). True when the server removed it.

    Never raises: a DNS server that cannot be reached is written to the session
    log, and the record is forgotten all the same so the name is free again.
    """
    record = DnsRecord.objects.filter(session=session).first()
    if record is None:
        return False
    removed = False
    if records_enabled():
        update = _update_message()
        update.delete(relative_label(record.name), "A")
        try:
            _send_update(update, f"removing {record.name}")
            removed = True
        except DnsRecordError as exc:
            SessionLog.objects.create(session=session, kind="dns",
                                      message=f"DNS record {record.name} could not be removed: {exc.message}")
    record.delete()
    if removed:
        SessionLog.objects.create(session=session, kind="dns", message=f"DNS record {record.name} removed")
    return removed


OUTCOME_TTL = 24 * 3600


def _outcome_key(session: LabSession) -> str:
    return outcome_key(session.pk)


def outcome_key(session_id) -> str:
    """Where the form's last outcome is kept (the session's cached resync reads it: it is part of the panel)."""
    return f"liveops:dns-outcome:{session_id.hex}"


def remember_outcome(session: LabSession, *, message: str = "", error: str = "", error_field: str = "",
                     label: str = "", address: str = "") -> None:
    """Keep the form's last outcome, so that a redraw of the DNS panel (over the socket, right after the
    answer) shows it until the student's next action replaces it."""
    outcome = {"message": message, "error": error, "error_field": error_field}
    if error:  # what the student typed stays in the form with its error
        outcome.update(label=label, address=address)
    try:
        client().set(_outcome_key(session), json.dumps(outcome), ex=OUTCOME_TTL)
    except Exception:  # noqa: BLE001 - without Redis, the answer itself still shows the outcome
        log.warning("could not keep the DNS form's outcome of session %s", session.pk)
    session_changed(session.pk)  # a resync drawn while it changed is not kept as the present


def last_outcome(session: LabSession) -> dict:
    """The form's last outcome ({} when none, or when it cannot be read)."""
    try:
        raw = client().get(_outcome_key(session))
    except Exception:  # noqa: BLE001
        return {}
    return outcome_from_raw(raw)


def outcome_from_raw(raw: bytes | None) -> dict:
    """The outcome kept under outcome_key, as Redis returned it (for a reader that fetched it with other keys)."""
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def student_resolver() -> tuple[str, int] | None:
    """The resolver a student can ask: LIVEOPS_DNS_STUDENT_RESOLVER when set ("" for the student's own),
    else the first of LIVEOPS_DNS_RESOLVERS (the lab's own resolver, e.g. the sandbox's)."""
    chosen = getattr(settings, "LIVEOPS_DNS_STUDENT_RESOLVER", None)
    if chosen is None:
        chosen = next((r for r in getattr(settings, "LIVEOPS_DNS_RESOLVERS", []) if r.strip()), "")
    return _host_port(chosen) if chosen.strip() else None


def student_dig_command(name: str) -> str:
    """The command that asks, from where the student is, what `name` resolves to."""
    server = student_resolver()
    if server is None:
        return f"dig +short {name}"
    host, port = server
    return f"dig @{host}{'' if port == 53 else f' -p {port}'} +short {name}"
