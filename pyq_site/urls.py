from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from api.docs import docs_page

urlpatterns = [
    path("accounts/", include("allauth.urls")),
    path("org/", include("accounts.urls")),
    path("api/v1/", include("api.urls")),
    path("api/docs", docs_page, name="api_docs"),
    path("catalog/", include("catalog.urls")),
    path("", include("automations.web.urls")),
]
if settings.PYQ_ADMIN_ENABLED:  # off by default; its login is rate-limited (accounts/admin.py)
    urlpatterns.insert(-1, path("admin/", admin.site.urls))

# Errors that say what was wrong; JSON under /api/ (pyq_site/errors.py).
handler400 = "pyq_site.errors.bad_request"
handler403 = "pyq_site.errors.permission_denied"
handler404 = "pyq_site.errors.page_not_found"
handler500 = "pyq_site.errors.server_error"
