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
    list_display = ("user", "lab_slug", "state", "namespace", "cluster", "created", "expires_at")
    list_filter = ("state", "lab_slug", "cluster")
    search_fields = ("user__username", "namespace")
    readonly_fields = ("id", "namespace", "created", "ready_at", "ended_at")
    inlines = [SessionLogInline]


@admin.register(ManifestRevision)
class ManifestRevisionAdmin(admin.ModelAdmin):
    list_display = ("session", "number", "status", "created")
    list_filter = ("status",)
