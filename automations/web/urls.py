from django.urls import path

from automations import builder_views, table_views, views, workflow_views

app_name = "automations"
urlpatterns = [
    path("", views.document_list, name="documents"),
    path("documents/<uuid:uid>/", views.document_detail, name="document"),
    path("documents/<uuid:uid>/file", views.document_file, name="document_file"),
    path("documents/<uuid:uid>/pages/<int:number>.jpg", views.page_image, name="page_image"),
    path("documents/<uuid:uid>/files/<uuid:artifact>", views.artifact_file, name="artifact"),
    path("documents/<uuid:uid>/reprocess/", views.document_reprocess, name="reprocess"),
    path("documents/<uuid:uid>/delete/", views.document_delete, name="delete"),
    path("runs/", views.run_list, name="runs"),
    path("runs/<int:pk>/progress/", views.run_progress, name="run_progress"),
    # --- workflows, their history and runs (workflow_views.py) ---
    *workflow_views.urlpatterns,
    # --- the builder (builder_views.py) ---
    *builder_views.urlpatterns,
    # --- tables (table_views.py) ---
    *table_views.urlpatterns,
]
