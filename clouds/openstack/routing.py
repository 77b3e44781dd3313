from django.urls import path

from clouds.openstack.consumer import ConnectionTestConsumer

websocket_urlpatterns = [
    path("ws/admin/credentials/<int:credential_id>/test/", ConnectionTestConsumer.as_asgi()),
]
