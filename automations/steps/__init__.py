"""Built-in steps: importing a module registers its step (automations.engine.steps.register)."""

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
