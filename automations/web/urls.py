"""Every page and endpoint of automations, under the ``automations`` namespace."""

from django.urls import path

from automations.web import (
    builder,
    builder_test,
    documents,
    hooks,
    runs,
    tables,
    workflow_export,
    workflow_history,
    workflows,
)

app_name = "automations"
urlpatterns = [
    # --- documents (documents.py) and the run list (runs.py) ---
    path("", documents.document_list, name="documents"),
    path("documents/<uuid:uid>/", documents.document_detail, name="document"),
    path("documents/<uuid:uid>/file", documents.document_file, name="document_file"),
    path("documents/<uuid:uid>/pages/<int:number>.jpg", documents.page_image, name="page_image"),
    path("documents/<uuid:uid>/files/<uuid:artifact>", documents.artifact_file, name="artifact"),
    path("documents/<uuid:uid>/reprocess/", documents.document_reprocess, name="reprocess"),
    path("documents/<uuid:uid>/delete/", documents.document_delete, name="delete"),
    path("runs/", runs.run_list, name="runs"),
    path("runs/<int:pk>/progress/", runs.run_progress, name="run_progress"),
    # --- workflows (workflows.py), their history (workflow_history.py) and export ---
    path("workflows/", workflows.workflow_list, name="workflows"),
    path("workflows/<int:pk>/", workflows.workflow_detail, name="workflow"),
    path("workflows/<int:pk>/history/", workflow_history.workflow_history, name="workflow_history"),
    path(
        "workflows/<int:pk>/history/<int:number>/restore/",
        workflow_history.workflow_restore,
        name="workflow_restore",
    ),
    path("workflows/<int:pk>/export/", workflow_export.workflow_export, name="workflow_export"),
    path("workflows/<int:pk>/rerun/", workflows.workflow_rerun, name="workflow_rerun"),
    path("workflows/<int:pk>/rename/", workflows.workflow_rename, name="workflow_rename"),
    path("workflows/<int:pk>/delete/", workflows.workflow_delete, name="workflow_delete"),
    # --- a workflow's ways in: its secret web address and the page's buttons (hooks.py) ---
    path("hooks/<str:token>", hooks.hook, name="hook"),
    path("hooks/<str:token>/test", hooks.hook_test, name="hook_test"),
    path("workflows/<int:pk>/triggers/add/", hooks.trigger_add, name="trigger_add"),
    path(
        "workflows/<int:pk>/triggers/<int:trigger_pk>/pause/",
        hooks.trigger_pause,
        name="trigger_pause",
    ),
    path(
        "workflows/<int:pk>/triggers/<int:trigger_pk>/resume/",
        hooks.trigger_resume,
        name="trigger_resume",
    ),
    path(
        "workflows/<int:pk>/triggers/<int:trigger_pk>/rotate/",
        hooks.trigger_rotate,
        name="trigger_rotate",
    ),
    # --- one run: the page, its live parts, and what people do with it (runs.py) ---
    path("runs/<int:pk>/", runs.run_detail, name="run"),
    path("runs/<int:pk>/row/", runs.run_row, name="run_row"),
    path("runs/<int:pk>/cancel/", runs.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/retry/", runs.run_retry, name="run_retry"),
    path("runs/<int:pk>/rerun/", runs.run_rerun, name="run_rerun"),
    # --- the builder (builder.py; testing a draft: builder_test.py) ---
    path("workflows/new/", builder.builder_new, name="builder_new"),
    path("workflows/<int:pk>/builder/", builder.builder, name="builder"),
    path("workflows/<int:pk>/builder/draft", builder.builder_draft, name="builder_draft"),
    path("workflows/<int:pk>/builder/library", builder.builder_library, name="builder_library"),
    path(
        "workflows/<int:pk>/builder/references",
        builder.builder_references,
        name="builder_references",
    ),
    path("workflows/<int:pk>/builder/test", builder_test.builder_test, name="builder_test"),
    path(
        "workflows/<int:pk>/builder/test/<int:run_pk>",
        builder_test.builder_test_run,
        name="builder_test_run",
    ),
    path("workflows/<int:pk>/builder/publish", builder.builder_publish, name="builder_publish"),
    # --- tables (tables.py) ---
    path("tables/", tables.table_list, name="tables"),
    path("tables/<int:pk>/", tables.table_detail, name="table"),
    path("tables/<int:pk>/delete/", tables.table_delete, name="table_delete"),
    path("tables/<int:pk>/export.<str:fmt>", tables.table_export, name="table_export"),
    path("tables/<int:pk>/rows/<int:row>/", tables.row_detail, name="table_row"),
    path("tables/<int:pk>/rows/<int:row>/edit/", tables.row_edit, name="table_row_edit"),
    path("tables/<int:pk>/rows/<int:row>/delete/", tables.row_delete, name="table_row_delete"),
]
