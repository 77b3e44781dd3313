from clouds.openstack.routing import websocket_urlpatterns as cloud_patterns
from labs.routing import websocket_urlpatterns as lab_patterns
from teaching.routing import websocket_urlpatterns as teaching_patterns

websocket_urlpatterns = [*lab_patterns, *teaching_patterns, *cloud_patterns]
