from django.urls import path

from sessions_rt.consumers import RideConsumer

websocket_urlpatterns = [
    path("ws/rooms/<str:code>/", RideConsumer.as_asgi()),
]
