import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveops.settings")

app = Celery("liveops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
