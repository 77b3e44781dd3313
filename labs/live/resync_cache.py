"""A session's resync drawn once and kept in Redis, so that the sockets reconnecting after a web restart
(every lab page at once) are sent it without drawing it again.

An entry is used only while everything it was drawn from is the same, so it cannot be stale. It holds
the stamp of:
- the session's version (labs.notify), replaced by every notify_session and by every save or deletion of
  a row the fragments read (follow_changes below), once more when its transaction committed;
- the session's row as read for the drawing, with its cluster's name and balancer setting and its
  student's name: a row changed by a queryset update shows here without a signal;
- the namespace's observed state (a digest of its Redis hash, read anyway for the panel) and the DNS
  form's last outcome (kept in Redis by labs.checks.dns);
- the cluster's nodes (the resync holds the Nodes section);
- the view: an instructor watching, a page drawn after the lab ended;
- the epoch, renewed whenever a web process sees Redis come back (labs.live.redis_watch): versions could
  not be renewed while it was away;
- the release: the code, templates, lab content and LIVEOPS_ settings that draw it (read once per
  process).
What changes with the time alone is not in the stamp (a restart comes minutes after the drawings it
reuses): the page keeps it right itself (static/js/ages.js: the objects' ages and the lab's minutes left).
The Nodes section is the same for every page of a cluster: kept once per cluster, keyed by its nodes.
Entries live ENTRY_TTL, so ended sessions leave nothing behind. Without Redis, callers draw as before.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models.signals import m2m_changed, post_delete, post_save

from clouds.models import ServiceBalancer
from clouds.watch import state as observed
from labs.checks.dns import outcome_key
from labs.live import nodes
from labs.live.redis_watch import EPOCH_KEY
from labs.models import CheckResult, Cohort, DnsRecord, HelpRequest, LabSession, ManifestRevision, Message
from labs.notify import VERSION_TTL, session_changed, version_key

logger = logging.getLogger(__name__)

ENTRY_TTL = 15 * 60
PREFIX = "liveops:resync"
# What draws a resync: a new release (code, templates, lab content) draws it again.
RELEASE_PACKAGES = ("clouds", "labs", "liveops", "teaching")


_release_lock = threading.Lock()


@functools.cache
def _release() -> str:
    digest = hashlib.sha1()
    base = Path(settings.BASE_DIR)
    for package in RELEASE_PACKAGES:
        for path in sorted((base / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(f"{path.relative_to(base)}\0".encode() + path.read_bytes() + b"\0")
    # The product's own settings (the DNS zone, resolvers...) come from the environment, read at start.
    digest.update(repr(sorted((name, repr(getattr(settings, name))) for name in dir(settings)
                              if name.startswith("LIVEOPS_"))).encode())
    return digest.hexdigest()


def release() -> str:
    """A digest of the files that draw a resync (their names and contents: the same release gives the same
    digest in every process), read once per process, by one thread while the others wait."""
    with _release_lock:
        return _release()


def entry_key(session_id, watching: bool, ended: bool) -> str:
    return f"{PREFIX}:{session_id.hex}:{int(watching)}{int(ended)}"


def nodes_key(cluster_id) -> str:
    return f"{PREFIX}:nodes:{cluster_id}"


def _digest(*parts) -> str:
    digest = hashlib.sha1()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else repr(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _raw_digest(raw: dict[bytes, bytes]) -> bytes:
    """A digest of a Redis hash as HGETALL returned it (its order is not stable: sorted)."""
    digest = hashlib.sha1()
    for name in sorted(raw):
        digest.update(name + b"\0" + raw[name] + b"\0")
    return digest.digest()


def row_stamp(session: LabSession) -> tuple:
    """What the fragments read of the session's own row and of the rows loaded with it."""
    cluster = session.cluster
    return (
        tuple(getattr(session, f.attname) for f in session._meta.concrete_fields),
        cluster.name, cluster.load_balancers_by, cluster.cloud_credential_id, session.user.get_username(),
    )


@dataclass
class Lookup:
    """What a resync read from Redis: the state it draws from, and the kept drawings when still good."""

    raw_state: dict
    raw_nodes: dict
    raw_outcome: bytes | None = None  # the DNS form's last outcome, as kept in Redis
    payload: bytes | None = None  # what was kept after the stamp (None: nothing, or drawn from other facts)
    html: str | None = None  # the kept resync (None: draw it)
    ended: bool = False  # the kept resync turned the page read-only
    nodes_html: str | None = None  # the kept Nodes section (None: draw it)
    stamp: str = ""
    nodes_stamp: str = ""
    key: str = ""
    cluster_id: object = None

    @functools.cached_property
    def state(self) -> dict:
        """The namespace's observed state (parsed only when something is drawn)."""
        return observed.state_from_raw(self.raw_state)

    @functools.cached_property
    def loaded_nodes(self) -> dict:
        return nodes.decode(self.raw_nodes)


def lookup(session: LabSession, watching: bool, ended: bool, *, key: str | None = None, facts: tuple = ()) -> Lookup:
    """Read, in one round trip, the session's observed state and what was kept of its resync.
    Raises when Redis cannot be reached (the caller draws without it).

    Another drawing of the session kept under the same stamp (the lab page: labs.views.kept_pages)
    gives its own `key` and the `facts` it also shows (who looks at it...)."""
    r = observed.client()
    version = version_key(session.pk)
    pipe = r.pipeline(transaction=False)
    pipe.hgetall(observed.namespace_key(session.cluster_id, session.namespace))
    pipe.get(version)
    pipe.get(outcome_key(session.pk))
    pipe.get(key or entry_key(session.pk, watching, ended))
    pipe.hgetall(nodes.redis_key(session.cluster_id))
    pipe.get(nodes_key(session.cluster_id))
    pipe.get(EPOCH_KEY)
    raw_state, current, outcome, entry, raw_nodes, nodes_entry, epoch = pipe.execute()
    if current is None:
        # No version yet (or it expired): one from now on; nothing kept before it can match it.
        pipe = r.pipeline(transaction=False)
        pipe.set(version, secrets.token_hex(8), nx=True, ex=VERSION_TTL)
        pipe.get(version)
        current = pipe.execute()[1]
    nodes_stamp = _digest(release(), _raw_digest(raw_nodes))
    stamp = _digest(release(), current, row_stamp(session), _raw_digest(raw_state), outcome, nodes_stamp, watching,
                    ended, epoch, *facts)
    found = Lookup(raw_state=raw_state, raw_nodes=raw_nodes, raw_outcome=outcome, stamp=stamp, nodes_stamp=nodes_stamp,
                   key=key or entry_key(session.pk, watching, ended), cluster_id=session.cluster_id)
    if entry is not None and entry[:40].decode() == stamp:
        found.payload = entry[40:]
        if key is None:
            found.ended, found.html = entry[40:41] == b"1", entry[41:].decode()
    if nodes_entry is not None and nodes_entry[:40].decode() == nodes_stamp:
        found.nodes_html = nodes_entry[40:].decode()
    return found


def keep(found: Lookup, html: str, ended: bool, nodes_html: str) -> None:
    """Keep what was drawn under the stamps it was drawn at (a failure only costs the next a drawing)."""
    try:
        pipe = observed.client().pipeline(transaction=False)
        pipe.set(found.key, f"{found.stamp}{int(ended)}{html}", ex=ENTRY_TTL)
        pipe.set(nodes_key(found.cluster_id), f"{found.nodes_stamp}{nodes_html}", ex=ENTRY_TTL)
        pipe.execute()
    except Exception:  # noqa: BLE001
        logger.exception("could not keep the resync of %s", found.key)


def keep_payload(found: Lookup, payload: str) -> None:
    """Keep another drawing (lookup's `key`) under the stamp it was drawn at."""
    try:
        observed.client().set(found.key, f"{found.stamp}{payload}", ex=ENTRY_TTL)
    except Exception:  # noqa: BLE001
        logger.exception("could not keep %s", found.key)


# ---------------------------------------------------------------- rows whose change a resync shows


def _sessions_of_users(user_ids) -> list:
    return list(LabSession.objects.filter(user_id__in=list(user_ids)).values_list("pk", flat=True))


def _session_row_changed(sender, instance, **kwargs) -> None:
    session_changed(instance.session_id)


def _message_changed(sender, instance: Message, **kwargs) -> None:
    """A message shows on the pages of its student, or of every student of its cohort."""
    if instance.recipient_id is not None:
        users = [instance.recipient_id]
    else:
        users = Cohort.students.through.objects.filter(cohort_id=instance.cohort_id).values_list("user_id", flat=True)
    session_changed(*_sessions_of_users(users))


def _cohort_students_changed(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    """Joining or leaving a cohort changes the messages a student's pages show."""
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if reverse:  # user.cohorts.add(...): instance is the student
        users = [instance.pk]
    elif action == "pre_clear":
        users = list(instance.students.values_list("pk", flat=True))
    else:
        users = list(pk_set or ())
    session_changed(*_sessions_of_users(users))


def _balancer_changed(sender, instance: ServiceBalancer, **kwargs) -> None:
    """A cloud balancer shows on the page of the session whose namespace it serves."""
    session_changed(*LabSession.objects.filter(cluster_id=instance.cluster_id, namespace=instance.namespace)
                    .values_list("pk", flat=True))


def follow_changes() -> None:
    """Connect the receivers that give a session a new version when a row its page shows is saved or
    deleted (registered by labs.apps). LabSession rows need none: the stamp holds the row itself. (The
    session's history shows only on the lab page, which adds its newest line to the facts it is kept
    under: a signal would put a Redis round trip inside every start's transaction, which holds SQLite's
    write lock: at a class start, starts then waited past the lock's timeout.)"""
    for name, signal in (("saved", post_save), ("deleted", post_delete)):
        for model in (CheckResult, DnsRecord, HelpRequest, ManifestRevision):
            signal.connect(_session_row_changed, sender=model, dispatch_uid=f"resync_cache.{model.__name__}.{name}")
        signal.connect(_message_changed, sender=Message, dispatch_uid=f"resync_cache.Message.{name}")
        signal.connect(_balancer_changed, sender=ServiceBalancer, dispatch_uid=f"resync_cache.ServiceBalancer.{name}")
    m2m_changed.connect(_cohort_students_changed, sender=Cohort.students.through,
                        dispatch_uid="resync_cache.Cohort.students")
