from django.urls import path

from api import docs, models_api, runs_api, views, workflows_api

app_name = "api"
urlpatterns = [
    path("openapi.json", docs.openapi_json, name="openapi"),
    path("workflows", workflows_api.workflows, name="workflows"),
    path("workflows/<str:workflow_id>", workflows_api.workflow, name="workflow"),
    path(
        "workflows/<str:workflow_id>/documents",
        workflows_api.workflow_documents,
        name="workflow_documents",
    ),
    path("workflows/<str:workflow_id>/export", workflows_api.workflow_export, name="export"),
    path("runs", runs_api.runs, name="runs"),
    path("runs/<str:run_id>", runs_api.run, name="run"),
    path("documents", views.documents, name="documents"),
    path("documents/<str:uid>", views.document, name="document"),
    path("models", models_api.models, name="models"),
    path("models/<slug:slug>/predict", models_api.predict, name="predict"),
]
