from django.urls import path

from teaching.consumer import DashboardConsumer

websocket_urlpatterns = [
    path("ws/teaching/cohorts/<int:cohort_id>/", DashboardConsumer.as_asgi()),
]
