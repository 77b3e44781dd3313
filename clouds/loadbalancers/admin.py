"""Admin pages of the balancers this product built, and of the sweep's orphans."""

from django.contrib import admin, messages

from clouds.loadbalancers.tasks import remove_orphans, sweep_balancers
from clouds.models import OrphanedResource, ServiceBalancer


@admin.register(ServiceBalancer)
class ServiceBalancerAdmin(admin.ModelAdmin):
    list_display = ("name", "cluster", "namespace", "service", "provider", "state", "address", "cause", "updated")
    list_filter = ("state", "provider", "cluster")
    search_fields = ("name", "namespace", "service", "address")
    readonly_fields = [f.name for f in ServiceBalancer._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(OrphanedResource)
class OrphanedResourceAdmin(admin.ModelAdmin):
    list_display = ("kind", "name", "cloud_id", "credential", "detail", "found", "removed")
    list_filter = ("kind", "credential", ("removed", admin.EmptyFieldListFilter))
    readonly_fields = [f.name for f in OrphanedResource._meta.fields]
    actions = ["remove_from_cloud", "sweep_now"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Remove the selected resources from the cloud")
    def remove_from_cloud(self, request, queryset):
        ids = list(queryset.filter(removed__isnull=True).values_list("pk", flat=True))
        remove_orphans.delay(ids)
        self.message_user(request, f"Removing {len(ids)} resource(s) in the background; each is checked to be "
                                   "still orphaned first. Reload to see them marked removed.", messages.INFO)

    @admin.action(description="Sweep every cloud now (report only)")
    def sweep_now(self, request, queryset):
        sweep_balancers.delay(remove=False)
        self.message_user(request, "The sweep runs in the background; reload to see what it found.", messages.INFO)
