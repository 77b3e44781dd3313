from django.apps import AppConfig


class LabsConfig(AppConfig):
    name = "labs"
    verbose_name = "Labs"

    def ready(self):
        from labs.live import resync_cache
        from labs.live.path import follow_checks
        from labs.live.watching import follow_balancers, subscribe_sessions

        subscribe_sessions()
        follow_balancers()
        follow_checks()
        resync_cache.follow_changes()
