"""The email step: its settings, checked when a workflow is saved, and a run that fills the
templates and sends the message through the services."""

from __future__ import annotations

import html
import re
from typing import ClassVar

from automations import exports
from automations.engine.steps import StepConfigError, StepContext, StepFailed, StepOutcome, register
from automations.steps._common import ValidatingStep
from automations.steps.email import remote
from automations.steps.email.remote import remote_content, remote_content_message
from automations.steps.email.templates import (
    check_template,
    csv_filename,
    fields_html,
    fields_text,
    render,
    texts,
)
from automations.steps.table import check_references, map_schema, mapped_values

MAX_RECIPIENTS = 20
# A plain address: no display name, spaces, commas or angle brackets; a dotted domain.
ADDRESS = re.compile(
    r"^[^\s@<>,;:\"()\[\]\\]+@[^\s@<>,;:\"()\[\]\\.]+(\.[^\s@<>,;:\"()\[\]\\.]+)+$"
)
BUILT_INS = ("fields", "document.name", "document.kind", "run.url")
DEFAULT_SUBJECT = "Results for {{ document.name }}"
DEFAULT_TEXT = "Pyq read {{ document.name }}.\n\n{{ fields }}\n\nThe run: {{ run.url }}\n"
TEMPLATE_KEYS = ("subject", "text", "html")


def _address_schema(title: str) -> dict:
    """The JSON Schema of one address field."""
    return {"type": "string", "minLength": 3, "maxLength": 254, "title": title}


@register
class EmailStep(ValidatingStep):
    name: ClassVar[str] = "email"
    kind: ClassVar[str] = "deliver"
    label: ClassVar[str] = "Send by email"
    description: ClassVar[str] = (
        "Emails the results to the addresses you choose, with your subject and text, and "
        "the fields as a CSV file."
    )
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {
            "to": {
                "type": "array",
                "title": "To",
                "minItems": 1,
                "maxItems": MAX_RECIPIENTS,
                "items": _address_schema("Address"),
            },
            "subject": {
                "type": "string",
                "minLength": 1,
                "maxLength": 300,
                "default": DEFAULT_SUBJECT,
                "description": "{{ name }} inserts a field; also {{ document.name }}.",
            },
            "text": {
                "type": "string",
                "minLength": 1,
                "maxLength": 20_000,
                "default": DEFAULT_TEXT,
                "title": "Text",
                "description": "{{ fields }} lists every field; {{ run.url }} links the run.",
            },
            "html": {
                "type": ["string", "null"],
                "maxLength": 50_000,
                "default": None,
                "title": "HTML (optional)",
                "description": "Sent alongside the text for mail programs that show HTML.",
            },
            "attach_csv": {"type": "boolean", "default": True, "title": "Attach a CSV"},
            "fields": map_schema(
                "Name to '<step id>.<path>', for {{ name }} and the CSV; by default every "
                "field the Extract fields step found."
            ),
            "reply_to": {"type": ["string", "null"], "maxLength": 254, "default": None},
        },
        "required": ["to"],
        "additionalProperties": False,
    }
    output_hints: ClassVar[list[str]] = ["to", "subject", "message_id"]

    @classmethod
    def check(cls, config: dict) -> None:
        config["to"] = _check_addresses(cls.label, config["to"])
        if config.get("reply_to"):
            config["reply_to"] = config["reply_to"].strip()
            if not ADDRESS.match(config["reply_to"]):
                raise StepConfigError(
                    f"{cls.label}: reply_to: {config['reply_to']!r} is not an email address."
                )
        if "fields" in config and not config["fields"]:
            del config["fields"]  # an empty map means the default: every extracted field
        check_references(cls.label, "fields", config.get("fields"))
        for name in config.get("fields") or {}:
            if name in BUILT_INS or name.startswith(("document.", "run.")):
                raise StepConfigError(
                    f"{cls.label}: fields.{name}: this name is kept for Pyq's own "
                    "placeholders; choose another."
                )
        known = None if not config.get("fields") else {*config["fields"], *BUILT_INS}
        for key in TEMPLATE_KEYS:
            if config.get(key):
                check_template(cls.label, key, config[key], known)
        if config.get("html") and not remote.remote_content_allowed():
            found = remote_content(config["html"])
            if found:
                raise StepConfigError(f"{cls.label}: html: {remote_content_message(found)}")

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        config = self.validate(config)
        values, warnings = mapped_values(context.outputs, config.get("fields"), "fields")
        values = values or {}
        run_url = context.services.run_url
        builtins = {
            "document.name": context.document.name,
            "document.kind": context.document.kind,
            "run.url": run_url,
        }
        text_values = {**builtins, "fields": fields_text(values), **texts(values)}
        html_values = {k: html.escape(v) for k, v in text_values.items()}
        html_values["fields"] = fields_html(values)
        missing: set[str] = set()
        subject = " ".join(render(config["subject"], text_values, missing).split())[:250]
        text = render(config["text"], text_values, missing)
        body_html = render(config["html"], html_values, missing) if config["html"] else None
        if body_html and not remote.remote_content_allowed():
            found = remote_content(body_html)  # a field's value in an address, say
            if found:
                raise StepFailed(f"The email was not sent: {remote_content_message(found)}")
        warnings += [f"{{{{ {name} }}}} is not a field; it was left empty." for name in missing]
        attachments = []
        if config["attach_csv"] and values:
            data = exports.table_to_csv(list(values), [list(values.values())])
            attachments.append((csv_filename(context.document.name), data, "text/csv"))
        action = context.services.begin_action("email")  # its key makes the Message-ID
        sent = context.services.send_email(
            to=config["to"],
            subject=subject or context.document.name,
            text=text,
            html=body_html,
            reply_to=config["reply_to"],
            attachments=attachments,
            key=action.key,
        )
        output = {
            "to": config["to"],
            "subject": subject,
            "message_id": sent["message_id"],
            "attachments": [name for name, _, _ in attachments],
        }
        if action.repeat:
            output["repeat"] = True  # sent again after a restart, with the same Message-ID
        return StepOutcome(output, warnings)


def _check_addresses(label: str, addresses: list[str]) -> list[str]:
    """Trimmed addresses, each once (ignoring case), or a config error naming the bad one."""
    unique: dict[str, str] = {}
    for index, address in enumerate(addresses):
        address = address.strip()
        if not ADDRESS.match(address):
            raise StepConfigError(f"{label}: to.{index}: {address!r} is not an email address.")
        unique.setdefault(address.lower(), address)
    return list(unique.values())
