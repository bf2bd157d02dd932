"""ASGI entry point: HTTP through Django, WebSocket through Channels."""

import os

from config.startup import boot

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
boot()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

application = ProtocolTypeRouter({"http": django_asgi_app})
