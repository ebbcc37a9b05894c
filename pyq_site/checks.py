"""System checks that turn a wrong configuration into a clear message at start.

Ids are stable: pyq.E001 a malformed PYQ_* value, pyq.E002 DATABASE_URL, pyq.E003
PYQ_BROKER_URL, pyq.E004 S3 storage.
"""

from __future__ import annotations

import importlib.util

from django.conf import settings
from django.core.checks import Error, Tags, register

from pyq_site.env import CONFIG_ERRORS


@register(Tags.compatibility, deploy=False)
def check_environment(app_configs, **kwargs):
    return [
        Error(err.message, hint=f"Fix or unset {err.variable}.", id=err.id) for err in CONFIG_ERRORS
    ]


@register(Tags.compatibility)
def check_storage(app_configs, **kwargs):
    backend = settings.STORAGES["default"]["BACKEND"]
    if not backend.startswith("storages."):
        return []
    errors = []
    if importlib.util.find_spec("storages") is None:
        errors.append(
            Error(
                "PYQ_STORAGE=s3 needs django-storages with boto3.",
                hint="pip install 'django-storages[s3]'",
                id="pyq.E004",
            )
        )
    if not settings.STORAGES["default"]["OPTIONS"].get("bucket_name"):
        errors.append(
            Error("PYQ_STORAGE=s3 needs PYQ_S3_BUCKET.", hint="Set PYQ_S3_BUCKET.", id="pyq.E004")
        )
    return errors
