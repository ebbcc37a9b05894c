from django.urls import path

from api import models_api, views

app_name = "api"
urlpatterns = [
    path("documents", views.documents, name="documents"),
    path("documents/<str:uid>", views.document, name="document"),
    path("runs/<str:run_id>", views.run, name="run"),
    path("models", models_api.models, name="models"),
    path("models/<slug:slug>/predict", models_api.predict, name="predict"),
]
