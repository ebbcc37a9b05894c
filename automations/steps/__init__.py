"""Built-in steps: importing a module registers its step (automations.engine.steps.register).

The automations app imports this package in its `ready()`; code without Django (bench scripts)
imports it before it asks the registry for a step."""

from automations.steps import (  # noqa: F401
    classify,
    email,
    extract_fields,
    extract_text,
    redact,
    similar_documents,
    summarize,
    table,
    tag,
    webhook,
)
