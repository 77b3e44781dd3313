from clouds.openstack.routing import websocket_urlpatterns as cloud_patterns
from labs.routing import websocket_urlpatterns as lab_patterns

websocket_urlpatterns = [*lab_patterns, *cloud_patterns]
