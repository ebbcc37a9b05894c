"""tag: label the document and set its type, from fixed values or an earlier step's answer."""

from __future__ import annotations

from typing import ClassVar

from automations.engine.steps import StepContext, StepFailed, StepOutcome, register
from automations.steps._common import ValidatingStep


@register
class TagStep(ValidatingStep):
    name: ClassVar[str] = "tag"
    kind: ClassVar[str] = "deliver"
    label: ClassVar[str] = "Tag and set the type"
    description: ClassVar[str] = (
        "Adds tags to the document and sets its type: fixed values, or the label an earlier "
        "Classify step chose."
    )
    output_hints: ClassVar[list[str]] = ["tags", "doc_type"]
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {
            "tags": {
                "type": "array",
                "maxItems": 20,
                "items": {"type": "string", "minLength": 1, "maxLength": 40},
                "default": [],
            },
            "type_from": {
                "type": ["string", "null"],
                "default": None,
                "title": "Type from step",
                "description": "The id of a Classify step whose label becomes the type.",
            },
            "type": {"type": ["string", "null"], "maxLength": 60, "default": None},
            "tag_with_type": {"type": "boolean", "default": False},
        },
        "additionalProperties": False,
    }

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        config = self.validate(config)
        doc_type = config["type"]
        if config["type_from"]:
            earlier = context.outputs.get(config["type_from"])
            if earlier is None or "label" not in earlier:
                raise StepFailed(
                    f"There is no Classify result called {config['type_from']!r} before this step."
                )
            doc_type = None if earlier["label"] == "none" else earlier["label"]
        tags = list(dict.fromkeys(t.strip() for t in config["tags"] if t.strip()))
        if config["tag_with_type"] and doc_type:
            tags.append(doc_type)
        return StepOutcome(output=context.services.tag_document(tags=tags, doc_type=doc_type))
