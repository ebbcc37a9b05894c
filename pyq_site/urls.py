from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("allauth.urls")),
    path("org/", include("accounts.urls")),
    path("api/v1/", include("api.urls")),
    path("catalog/", include("catalog.urls")),
    path("admin/", admin.site.urls),
    path("", include("automations.urls")),
]
