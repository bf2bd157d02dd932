import os

from config.startup import boot

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
boot()

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
