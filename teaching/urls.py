from django.urls import path

from teaching.views import cohorts, control, dashboard, export, student

app_name = "teaching"

urlpatterns = [
    path("", cohorts.home, name="home"),
    path("cohorts/new/", cohorts.create, name="create"),
    path("cohorts/<int:cohort_id>/", dashboard.dashboard, name="dashboard"),
    path("cohorts/<int:cohort_id>/edit/", cohorts.edit, name="edit"),
    path("cohorts/<int:cohort_id>/messages/", dashboard.send_message, name="send_message"),
    path("cohorts/<int:cohort_id>/help/<int:request_id>/answer/", dashboard.answer_help, name="answer_help"),
    path("cohorts/<int:cohort_id>/help/<int:request_id>/dismiss/", dashboard.dismiss_help, name="dismiss_help"),
    path("cohorts/<int:cohort_id>/end-all/", control.end_all, name="end_all"),
    path("cohorts/<int:cohort_id>/export.csv", export.export_csv, name="export"),
    path("cohorts/<int:cohort_id>/sessions/<uuid:session_id>/", student.student, name="student"),
    path("cohorts/<int:cohort_id>/sessions/<uuid:session_id>/<str:kind>/", control.session_action,
         name="session_action"),
]
