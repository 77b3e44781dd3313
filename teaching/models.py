from django.conf import settings
from django.db import models
from django.utils import timezone

from labs.models import Cohort, LabSession


class Action(models.Model):
    """What an instructor did, to whom and when (the audit log), and how far the work has got."""

    class Kind(models.TextChoices):
        EXTEND = "extend", "Extend session"
        RESET = "reset", "Reset session"
        END = "end", "End session"
        END_ALL = "end_all", "End every session"
        MESSAGE = "message", "Send message"
        ANSWER = "answer", "Answer help request"
        DISMISS = "dismiss", "Dismiss help request"
        CREATE_COHORT = "create_cohort", "Create cohort"
        EDIT_COHORT = "edit_cohort", "Change cohort"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    cohort = models.ForeignKey(Cohort, null=True, blank=True, on_delete=models.SET_NULL, related_name="actions")
    session = models.ForeignKey(LabSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    detail = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DONE)
    progress = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        whom = self.student or self.cohort or ""
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.get_kind_display()} {whom}"


class DiagnosisTrack(models.Model):
    """What the checklist has been telling a student, to see them stuck on the same diagnosis."""

    session = models.OneToOneField(LabSession, on_delete=models.CASCADE, related_name="diagnosis_track")
    code = models.CharField(max_length=60, blank=True)
    title = models.CharField(max_length=300, blank=True)
    since = models.DateTimeField(null=True, blank=True)
    # code -> how many times that diagnosis appeared
    shown = models.JSONField(default=dict, blank=True)
