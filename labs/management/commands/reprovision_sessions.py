"""Prepare again the namespaces of running sessions that the cluster no longer has."""

from django.core.management.base import BaseCommand
from kubernetes.client import ApiException
from urllib3.exceptions import HTTPError

from clouds import kube
from labs.lifecycle import reprovision_missing_namespaces


def namespace_exists(session):
    try:
        kube.core(session.cluster).read_namespace(session.namespace, _request_timeout=5)
        return True
    except ApiException as exc:
        return False if exc.status == 404 else None
    except (OSError, HTTPError):
        return None


class Command(BaseCommand):
    help = "Re-provision running lab sessions whose namespace is missing on their cluster (e.g. after a sandbox restart)."

    def handle(self, *args, **options):
        redone = reprovision_missing_namespaces(namespace_exists)
        if redone:
            self.stdout.write(f"Preparing again {len(redone)} session namespace(s) the cluster no longer had.")
