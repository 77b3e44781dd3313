import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveops.settings")

app = Celery("liveops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def task_ids_in_logs(**_kwargs):
    from liveops.logs import connect_celery_signals

    connect_celery_signals()


@worker_init.connect
def preload_cluster_clients(**_kwargs):
    """Import the Kubernetes client's API classes once in the parent process, before
    the pool forks: each child otherwise pays seconds of imports on its first task."""
    import kubernetes.client

    for name in ("CoreV1Api", "AppsV1Api", "ApiClient", "V1Namespace", "V1Service", "V1Deployment"):
        getattr(kubernetes.client, name)
    from django.conf import settings

    for module in settings.CELERY_IMPORTS:
        __import__(module)
