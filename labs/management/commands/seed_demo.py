"""Create the demo accounts (once) and print their logins."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from clouds.models import Cluster
from labs.models import Cohort, LabSession

ACCOUNTS = (
    ("admin", "admin"),
    ("instructor", "instructor"),
    ("student1", "student"),
    ("student2", "student"),
)


class Command(BaseCommand):
    help = "Create the demo admin, instructor and students with generated passwords (kept in var/demo-logins.txt)."

    def handle(self, *args, **options):
        path = settings.VAR_DIR / "demo-logins.txt"
        User = get_user_model()
        known = {}
        if path.exists():
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[0] in dict(ACCOUNTS):
                    known[parts[0]] = parts[2]
        lines = []
        cohort, _ = Cohort.objects.get_or_create(name="Demo cohort")
        for username, role in ACCOUNTS:
            password = known.get(username) or secrets.token_urlsafe(9)
            user, created = User.objects.get_or_create(username=username)
            if created or username not in known:
                user.set_password(password)
            user.is_staff = user.is_superuser = role == "admin"
            user.save()
            group, _ = Group.objects.get_or_create(name=role)
            user.groups.add(group)
            if role == "instructor":
                cohort.instructors.add(user)
            elif role == "student":
                cohort.students.add(user)
            lines.append(f"{username:<11} {role:<11} {password}")
        self._give_instructor_permission()
        # Demo students' sessions started before the cohort existed show on its dashboard too.
        LabSession.objects.filter(user__in=cohort.students.all(), cohort=None, lab_slug=cohort.lab_slug).update(
            cohort=cohort)
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        cluster = Cluster.default()
        if cluster.kubeconfig_path and cluster.kubeconfig_path != settings.LIVEOPS_KUBECONFIG and not cluster.kubeconfig:
            cluster.kubeconfig_path = settings.LIVEOPS_KUBECONFIG
            cluster.save(update_fields=["kubeconfig_path"])
        self.stdout.write("Logins (user, role, password):\n" + "\n".join("  " + line for line in lines))
        self.stdout.write(f"Demo cohort: join code {cohort.code}; the instructor's dashboard is at /teaching/cohorts/{cohort.pk}/")

    def _give_instructor_permission(self):
        """The instructor and admin groups may teach cohorts (the teaching app adds the rest at migrate)."""
        from django.contrib.auth.models import Permission

        teach = Permission.objects.filter(content_type__app_label="labs", codename="teach_cohort").first()
        if teach:
            for name in ("instructor", "admin"):
                Group.objects.get_or_create(name=name)[0].permissions.add(teach)
