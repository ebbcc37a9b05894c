from django.urls import path

from api import views

app_name = "api"
urlpatterns = [
    path("documents", views.documents, name="documents"),
    path("documents/<str:uid>", views.document, name="document"),
    path("runs/<str:run_id>", views.run, name="run"),
]
