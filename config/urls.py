from django.contrib import admin
from django.urls import include, path

from config.health import healthz, readyz
from config.metrics import metrics_view
from riders.account_pages import reset_password_page, verify_email_page

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/", include("config.api.urls")),
    path("admin/", admin.site.urls),
    # The pages at the paths of the mailed links (riders.account_mail.LINK_PATHS), for a
    # rider without the app, which claims the same paths.
    path("account/verify-email/", verify_email_page, name="account-verify-email"),
    path("account/reset-password/", reset_password_page, name="account-reset-password"),
]
