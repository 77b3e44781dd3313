"""Object actions of the live panel, included under sessions/<uuid:session_id>/objects/."""

from django.urls import path

from labs import views_objects

urlpatterns = [
    path("<str:kind>/<str:name>/describe/", views_objects.describe, name="object_describe"),
    path("<str:kind>/<str:name>/yaml/", views_objects.download_yaml, name="object_yaml"),
    path("<str:kind>/<str:name>/edit/", views_objects.edit_in_editor, name="object_edit"),
    path("<str:kind>/<str:name>/delete/", views_objects.delete, name="object_delete"),
    path("deployments/<str:name>/scale/", views_objects.scale, name="object_scale"),
    path("deployments/<str:name>/restart/", views_objects.restart, name="object_restart"),
    path("pods/<str:name>/logs/", views_objects.logs, name="object_logs"),
]
