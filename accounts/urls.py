from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("welcome/", views.no_organization, name="no_organization"),
    path("switch/<slug:slug>/", views.switch_organization, name="switch_organization"),
    path("settings/api-keys/", views.api_keys, name="api_keys"),
    path("settings/api-keys/<int:pk>/revoke/", views.revoke_api_key, name="revoke_api_key"),
]
