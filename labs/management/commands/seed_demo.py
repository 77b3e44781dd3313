"""Create the demo accounts (once) and print their logins."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from clouds.models import Cluster
from labs.models import Cohort

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
            if role == "instructor":
                cohort.instructors.add(user)
            elif role == "student":
                cohort.students.add(user)
            lines.append(f"{username:<11} {role:<11} {password}")
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        cluster = Cluster.default()
        if cluster.kubeconfig_path and cluster.kubeconfig_path != settings.LIVEOPS_KUBECONFIG and not cluster.kubeconfig:
            cluster.kubeconfig_path = settings.LIVEOPS_KUBECONFIG
            cluster.save(update_fields=["kubeconfig_path"])
        self.stdout.write("Logins (user, role, password):\n" + "\n".join("  " + line for line in lines))
