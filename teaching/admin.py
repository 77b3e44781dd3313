from django.contrib import admin

from teaching.models import Action


@admin.register(Action)
class ActionAdmin(admin.ModelAdmin):
    """The audit log: what instructors did, to whom and when (read-only)."""

    list_display = ("at", "actor", "kind", "cohort", "student", "status", "detail")
    list_filter = ("kind", "status", "cohort")
    search_fields = ("actor__username", "student__username", "detail")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
