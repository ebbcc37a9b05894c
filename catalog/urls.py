from django.urls import path

from catalog import views

app_name = "catalog"
urlpatterns = [
    path("", views.catalog_list, name="list"),
    path("<slug:slug>/", views.model_detail, name="model"),
    path("<slug:slug>/try/", views.try_model, name="try"),
]
