from labs.routing import websocket_urlpatterns as lab_patterns

websocket_urlpatterns = [*lab_patterns]
