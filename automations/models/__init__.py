"""Automations' models, one module per area; every model is importable from here.

The migrations name ``automations.models.OrderedJSONField`` and the upload paths
(``document_path``, ``page_image_path``, ``artifact_path``) through this package too.
"""

from automations.models.common import OrderedJSONField, OrgQuerySet
from automations.models.delivery import SentEmail
from automations.models.documents import (
    Document,
    DocumentEmbedding,
    Page,
    document_path,
    page_image_path,
)
from automations.models.runs import Artifact, Run, StepRun, artifact_path
from automations.models.tables import DataTable, TableRow
from automations.models.triggers import Trigger
from automations.models.workflows import Workflow, WorkflowVersion

__all__ = [
    "Artifact",
    "DataTable",
    "Document",
    "DocumentEmbedding",
    "OrderedJSONField",
    "OrgQuerySet",
    "Page",
    "Run",
    "SentEmail",
    "StepRun",
    "TableRow",
    "Trigger",
    "Workflow",
    "WorkflowVersion",
    "artifact_path",
    "document_path",
    "page_image_path",
]
