"""ASGI entry point: HTTP through Django, WebSocket through Channels."""

import os

from config.startup import boot

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
boot()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.asgi_handler import get_sync_chain_asgi_application  # noqa: E402

django_asgi_app = get_sync_chain_asgi_application()

from sessions_rt.consumers import websocket_urlpatterns  # noqa: E402
from sessions_rt.sockets import PhoneOrBrowserOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": PhoneOrBrowserOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
