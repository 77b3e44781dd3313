import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from clouds.models import Cluster


def new_join_code() -> str:
    """A short code students type to join a cohort (no look-alike letters)."""
    import secrets

    return "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6))


def new_join_token() -> str:
    import secrets

    return secrets.token_urlsafe(12)


class Cohort(models.Model):
    """A class of students doing one lab, taught by instructors (their live dashboard builds on it).

    Students join with the link (join_token) or the short code; they may start the lab only within
    the optional window, and their sessions last session_minutes (the lab's default when empty).
    """

    name = models.CharField(max_length=100, unique=True)
    lab_slug = models.SlugField(max_length=100, default="loadbalancer")
    instructors = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teaching_cohorts", blank=True)
    students = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="cohorts", blank=True)
    code = models.CharField(max_length=12, unique=True, default=new_join_code)
    join_token = models.CharField(max_length=40, unique=True, default=new_join_token)
    opens_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    session_minutes = models.PositiveIntegerField(null=True, blank=True)
    # A student with no new check reached for this long is shown as stuck.
    stuck_minutes = models.PositiveIntegerField(default=10)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created"]
        permissions = [("teach_cohort", "Can create and teach cohorts")]

    def __str__(self):
        return self.name

    @property
    def group_name(self):
        """The channel-layer group of the cohort's dashboards."""
        return f"cohort-{self.pk}"

    def window_problem(self, now=None) -> str:
        """Why a student cannot start the lab now ("" when they can)."""
        now = now or timezone.now()
        local = timezone.localtime
        if self.opens_at and now < self.opens_at:
            return f"The lab of {self.name} opens at {local(self.opens_at):%Y-%m-%d %H:%M}."
        if self.closes_at and now >= self.closes_at:
            return f"The lab of {self.name} closed at {local(self.closes_at):%Y-%m-%d %H:%M}."
        return ""

    @property
    def is_open(self) -> bool:
        return not self.window_problem()


class LabSession(models.Model):
    """One student's run of one lab, in its own namespace on a cluster."""

    class State(models.TextChoices):
        PROVISIONING = "provisioning", "Provisioning"
        READY = "ready", "Ready"
        ENDING = "ending", "Ending"
        ENDED = "ended", "Ended"
        FAILED = "failed", "Failed"

    # Sessions whose namespace may exist on the cluster.
    ACTIVE_STATES = (State.PROVISIONING, State.READY, State.ENDING)
    # Sessions a student works in: one at most per student and lab.
    RUNNING_STATES = (State.PROVISIONING, State.READY)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lab_sessions")
    lab_slug = models.SlugField(max_length=100)
    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT)
    # The cohort the student started the lab in (its window and session length applied).
    cohort = models.ForeignKey(Cohort, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions")
    namespace = models.CharField(max_length=63, unique=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PROVISIONING)
    progress = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    extended = models.BooleanField(default=False)
    warned = models.BooleanField(default=False)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=100, blank=True)
    # Failed cleanups: how many, and when the next try is due (the delay grows).
    cleanup_attempts = models.PositiveIntegerField(default=0)
    cleanup_retry_at = models.DateTimeField(null=True, blank=True)
    # The editor's text as last seen by the server, so nothing typed is lost on reload.
    draft = models.TextField(blank=True)
    # When every required check had been reached (the lab is done; the session runs on until ended).
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "lab_slug"],
                condition=models.Q(state__in=["provisioning", "ready"]),
                name="one_running_session_per_lab",
            )
        ]

    def __str__(self):
        return f"{self.user} / {self.lab_slug} ({self.state})"

    @property
    def is_active(self):
        return self.state in self.ACTIVE_STATES

    @property
    def is_running(self):
        return self.state in self.RUNNING_STATES

    @property
    def accepts_changes(self):
        """Only a running lab takes edits, applies, DNS records and object actions; an ended one is read-only."""
        return self.state in self.RUNNING_STATES

    @property
    def started_at(self):
        """Where the lab's clock starts: the namespace ready (the creation while it was never ready)."""
        return self.ready_at or self.created

    @property
    def group_name(self):
        """The channel-layer group that receives this session's live updates."""
        return f"session-{self.id.hex}"

    def record(self, kind: str, message: str) -> "SessionLog":
        """Write what happened to the session's history."""
        return SessionLog.objects.create(session=self, kind=kind, message=message)


class SessionLog(models.Model):
    """What happened in a session and why, in the order it happened."""

    session = models.ForeignKey(LabSession, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=30)
    message = models.TextField()

    class Meta:
        ordering = ["at", "id"]


class ManifestRevision(models.Model):
    """A text the student submitted, kept with what became of it."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        INVALID = "invalid", "Invalid"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"

    session = models.ForeignKey(LabSession, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    text = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    problems = models.JSONField(default=list, blank=True)
    result = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["session", "number"], name="unique_revision_number")]


class CheckResult(models.Model):
    """The current state of one check of a session, and when it was first reached."""

    session = models.ForeignKey(LabSession, on_delete=models.CASCADE, related_name="checks")
    key = models.CharField(max_length=50)
    passed = models.BooleanField(default=False)
    passed_at = models.DateTimeField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session", "key"], name="unique_check_per_session")]


class DnsRecord(models.Model):
    """The A record a student set in the lab's DNS zone (a name belongs to one session at a time)."""

    session = models.OneToOneField(LabSession, on_delete=models.CASCADE, related_name="dns_record")
    name = models.CharField(max_length=253, unique=True)
    address = models.GenericIPAddressField(protocol="IPv4")
    updated = models.DateTimeField(auto_now=True)


class HelpRequest(models.Model):
    """A student's raised hand, with what the checks told them then, until an instructor answers or dismisses it."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ANSWERED = "answered", "Answered"
        DISMISSED = "dismissed", "Dismissed"

    session = models.ForeignKey(LabSession, on_delete=models.CASCADE, related_name="help_requests")
    question = models.TextField(blank=True)
    diagnosis = models.CharField(max_length=300, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.OPEN)
    answer = models.TextField(blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]


class Message(models.Model):
    """An instructor's message or hint to one student (recipient) or to the whole cohort (no recipient)."""

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="messages")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="lab_messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created"]

    @property
    def to_everyone(self) -> bool:
        return self.recipient_id is None
