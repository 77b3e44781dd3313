from django.urls import path

from labs.live.consumer import SessionConsumer
from labs.live.pod_logs import PodLogConsumer

websocket_urlpatterns = [
    path("ws/sessions/<uuid:session_id>/", SessionConsumer.as_asgi()),
    path("ws/sessions/<uuid:session_id>/pods/<str:name>/logs/", PodLogConsumer.as_asgi()),
]
