from django.urls import path

from labs.views import cohorts, objects, pages

app_name = "labs"

urlpatterns = [
    path("", pages.catalogue, name="catalogue"),
    path("labs/<slug:slug>/start/", pages.start, name="start"),
    path("sessions/<uuid:session_id>/", pages.session_page, name="session"),
    path("sessions/<uuid:session_id>/status/", pages.status_fragment, name="status"),
    path("sessions/<uuid:session_id>/validate/", pages.validate, name="validate"),
    path("sessions/<uuid:session_id>/apply/", pages.apply, name="apply"),
    path("sessions/<uuid:session_id>/revisions/<int:number>/", pages.revision_detail, name="revision"),
    path("sessions/<uuid:session_id>/end/", pages.end, name="end"),
    path("sessions/<uuid:session_id>/extend/", pages.extend, name="extend"),
    path("sessions/<uuid:session_id>/help/", pages.raise_hand, name="raise_hand"),
    path("join/", cohorts.join_with_code, name="join"),
    path("join/<str:token>/", cohorts.join_with_link, name="join_link"),
    path("sessions/<uuid:session_id>/dns/", pages.dns_record, name="dns_record"),
    # The live panel's object actions.
    path("sessions/<uuid:session_id>/objects/<str:kind>/<str:name>/describe/", objects.describe,
         name="object_describe"),
    path("sessions/<uuid:session_id>/objects/<str:kind>/<str:name>/yaml/", objects.download_yaml, name="object_yaml"),
    path("sessions/<uuid:session_id>/objects/<str:kind>/<str:name>/edit/", objects.edit_in_editor,
         name="object_edit"),
    path("sessions/<uuid:session_id>/objects/<str:kind>/<str:name>/delete/", objects.delete, name="object_delete"),
    path("sessions/<uuid:session_id>/objects/deployments/<str:name>/scale/", objects.scale, name="object_scale"),
    path("sessions/<uuid:session_id>/objects/deployments/<str:name>/restart/", objects.restart,
         name="object_restart"),
    path("sessions/<uuid:session_id>/objects/pods/<str:name>/logs/", objects.logs, name="object_logs"),
    path("sessions/<uuid:session_id>/objects/deployments/<str:name>/pause/", objects.pause, name="object_pause"),
    path("sessions/<uuid:session_id>/objects/deployments/<str:name>/resume/", objects.resume, name="object_resume"),
    path("sessions/<uuid:session_id>/objects/deployments/<str:name>/rollback/", objects.rollback,
         name="object_rollback"),
]
