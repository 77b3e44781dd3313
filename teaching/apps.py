from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TeachingConfig(AppConfig):
    name = "teaching"
    verbose_name = "Teaching"

    def ready(self):
        from labs.signals import checklist_evaluated, session_notified
        from teaching.publish import on_checklist_evaluated, on_session_notified
        from teaching.roles import ensure_roles

        session_notified.connect(on_session_notified, dispatch_uid="teaching.session_notified")
        checklist_evaluated.connect(on_checklist_evaluated, dispatch_uid="teaching.checklist_evaluated")
        post_migrate.connect(lambda **kw: ensure_roles(), sender=self, weak=False, dispatch_uid="teaching.roles")
