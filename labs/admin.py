from django.contrib import admin

from labs.models import Cohort, LabSession, ManifestRevision, SessionLog


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    filter_horizontal = ("instructors", "students")


class SessionLogInline(admin.TabularInline):
    model = SessionLog
    extra = 0
    readonly_fields = ("at", "kind", "message")


@admin.register(LabSession)
class LabSessionAdmin(admin.ModelAdmin):
    list_display = ("user", "lab_slug", "state", "namespace", "cluster", "created", "expires_at", "problem")
    list_filter = ("state", "lab_slug", "cluster")
    search_fields = ("user__username", "namespace")
    readonly_fields = ("id", "namespace", "created", "ready_at", "ended_at", "error", "progress",
                       "cleanup_attempts", "cleanup_retry_at")
    inlines = [SessionLogInline]

    @admin.display(description="Why it is stuck")
    def problem(self, session):
        """A failed provisioning or a cleanup that keeps failing, with its next try."""
        if not session.error:
            return ""
        if session.state == LabSession.State.ENDING and session.cleanup_retry_at:
            return (f"{session.error} (cleanup attempt {session.cleanup_attempts}; "
                    f"next try {session.cleanup_retry_at:%H:%M:%S} UTC)")
        return session.error


@admin.register(ManifestRevision)
class ManifestRevisionAdmin(admin.ModelAdmin):
    list_display = ("session", "number", "status", "created")
    list_filter = ("status",)
