"""What the models share: JSON kept in its key order, and querysets by organization."""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from accounts.models import Organization


class OrderedJSONField(models.TextField):
    """JSON stored as text, so that the order of an object's keys survives: PostgreSQL's
    jsonb sorts them, and in a workflow's steps order is meaning (a webhook's payload, a
    table's columns, an email's fields are shown and sent in the order the person chose)."""

    # For django-stubs (mypy): the attribute holds any JSON value, not the column's str.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def from_db_value(self, value, expression, connection):
        return None if value is None else json.loads(value)

    def get_prep_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))


class OrgQuerySet(models.QuerySet):
    def for_org(self, org: Organization):
        return self.filter(organization=org)
