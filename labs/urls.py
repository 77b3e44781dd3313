from django.urls import include, path

from labs import views

app_name = "labs"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("labs/<slug:slug>/start/", views.start, name="start"),
    path("sessions/<uuid:session_id>/", views.session_page, name="session"),
    path("sessions/<uuid:session_id>/status/", views.status_fragment, name="status"),
    path("sessions/<uuid:session_id>/validate/", views.validate, name="validate"),
    path("sessions/<uuid:session_id>/apply/", views.apply, name="apply"),
    path("sessions/<uuid:session_id>/revisions/<int:number>/", views.revision_detail, name="revision"),
    path("sessions/<uuid:session_id>/end/", views.end, name="end"),
    path("sessions/<uuid:session_id>/extend/", views.extend, name="extend"),
    path("sessions/<uuid:session_id>/dns/", views.dns_record, name="dns_record"),
    path("sessions/<uuid:session_id>/objects/", include("labs.urls_objects")),
]
