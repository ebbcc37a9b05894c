"""email: send the results to people, with a subject, a text and an HTML body and a CSV.

Templates are plain text with ``{{ name }}`` placeholders, nothing else (no tags, no
filters: people who are not programmers write them, and a template must not be able to
run anything). The names are the mapped fields (``fields``: name -> reference, by default
every field Extract fields found) and:

- ``{{ fields }}``: every field, one "name: value" line each (a table in the HTML body);
- ``{{ document.name }}``, ``{{ document.kind }}``, ``{{ run.url }}`` (the run's page).

Values are escaped in the HTML body. The worker sends the message through its
``send_email`` service (automations/delivery.py, Django's mail backend): a mail server that
cannot be reached is a transient failure the engine retries; an address it refuses is not.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import PurePath
from typing import ClassVar

from automations import exports
from automations.engine.steps import StepConfigError, StepContext, StepFailed, StepOutcome, register
from automations.steps._common import ValidatingStep
from automations.steps.table import check_references, map_schema, mapped_values

MAX_RECIPIENTS = 20
PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.DOTALL)
TAG = re.compile(r"\{%|\{#")
# A plain address: no display name, spaces, commas or angle brackets; a dotted domain.
ADDRESS = re.compile(
    r"^[^\s@<>,;:\"()\[\]\\]+@[^\s@<>,;:\"()\[\]\\.]+(\.[^\s@<>,;:\"()\[\]\\.]+)+$"
)
BUILT_INS = ("fields", "document.name", "document.kind", "run.url")
DEFAULT_SUBJECT = "Results for {{ document.name }}"
DEFAULT_TEXT = "Pyq read {{ document.name }}.\n\n{{ fields }}\n\nThe run: {{ run.url }}\n"
TEMPLATE_KEYS = ("subject", "text", "html")

# Remote content in an HTML body (an image, a style sheet, a frame from another site) is
# fetched by the reader's mail program when the message is opened: it tells that site who
# read which document when, and can show something else than what was sent. Refused unless
# the operator allows it (PYQ_EMAIL_ALLOW_REMOTE_CONTENT); pyq_site sets this hook.
remote_content_allowed: Callable[[], bool] = lambda: False  # noqa: E731

# Elements that load or run something by themselves, whatever their attributes.
ACTIVE_TAGS = frozenset(
    {
        "script",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "link",
        "base",
        "meta",
        "portal",
        "noscript",
        "template",
        "import",
    }
)
# Attributes whose value a mail program fetches without a click.
LOADING_ATTRIBUTES = frozenset(
    {
        "src",
        "srcset",
        "background",
        "poster",
        "data",
        "dynsrc",
        "lowsrc",
        "codebase",
        "archive",
        "manifest",
        "longdesc",
        "icon",
        "profile",
        "ping",
        "xlink:href",
        "imagesrcset",
    }
)
LINK_TAGS = frozenset({"a", "area"})  # their href is followed only when a person clicks
EMBEDDED = ("data:", "cid:", "#")  # inside the message itself
CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)
CSS_URL_START = re.compile(r"url\(", re.IGNORECASE)
CSS_LOADERS = re.compile(r"@import|image-set\(|image\(|expression\(|behavior", re.IGNORECASE)


def _address_schema(title: str) -> dict:
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
                _check_template(cls.label, key, config[key], known)
        if config.get("html") and not remote_content_allowed():
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
        text_values = {**builtins, "fields": fields_text(values), **_texts(values)}
        html_values = {k: html.escape(v) for k, v in text_values.items()}
        html_values["fields"] = fields_html(values)
        missing: set[str] = set()
        subject = " ".join(render(config["subject"], text_values, missing).split())[:250]
        text = render(config["text"], text_values, missing)
        body_html = render(config["html"], html_values, missing) if config["html"] else None
        if body_html and not remote_content_allowed():
            found = remote_content(body_html)  # a field's value in an address, say
            if found:
                raise StepFailed(f"The email was not sent: {remote_content_message(found)}")
        warnings += [f"{{{{ {name} }}}} is not a field; it was left empty." for name in missing]
        attachments = []
        if config["attach_csv"] and values:
            data = exports.table_to_csv(list(values), [list(values.values())])
            attachments.append((csv_filename(context.document.name), data, "text/csv"))
        sent = context.services.send_email(
            to=config["to"],
            subject=subject or context.document.name,
            text=text,
            html=body_html,
            reply_to=config["reply_to"],
            attachments=attachments,
        )
        output = {
            "to": config["to"],
            "subject": subject,
            "message_id": sent["message_id"],
            "attachments": [name for name, _, _ in attachments],
        }
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


def _check_template(label: str, key: str, template: str, known: set[str] | None) -> None:
    if TAG.search(template):
        raise StepConfigError(
            f"{label}: {key}: only {{{{ name }}}} placeholders can be used, not {{% %}} tags "
            "or {# #} comments."
        )
    for match in PLACEHOLDER.finditer(template):
        name = match.group(1)
        if not name or any(c in name for c in "|{}%"):
            raise StepConfigError(
                f"{label}: {key}: {match.group(0)!r} is not a placeholder; write {{{{ name }}}} "
                "with the name of a field (filters are not supported)."
            )
        if known is not None and name not in known:
            choices = ", ".join(sorted(known))
            raise StepConfigError(
                f"{label}: {key}: {{{{ {name} }}}} is not a field; use one of {choices}."
            )


class _RemoteContentFinder(HTMLParser):
    """Finds the first element, attribute or style in an HTML body that a mail program
    would fetch from elsewhere by itself; conditional comments (read by Outlook) too."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: str | None = None
        self._in_style = False

    def _note(self, what: str) -> None:
        if self.found is None:
            self.found = what

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if tag in ACTIVE_TAGS:
            self._note(f"a <{tag}> element")
        self._in_style = tag == "style"
        for name, value in attrs:
            name, value = name.lower(), (value or "").strip()
            if name.startswith("on"):
                self._note(f"the {name} attribute of <{tag}>")
            elif name == "style":
                self._check_css(value, f"the style of <{tag}>")
            elif (name in LOADING_ATTRIBUTES or (name == "href" and tag not in LINK_TAGS)) and (
                not _embedded(value) or name.endswith("srcset")
            ):
                self._note(f'<{tag} {name}="{_short(value)}">')

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag.lower() == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._check_css(data, "a <style> element")

    def handle_comment(self, data: str) -> None:
        if "[if" in data.lower() or "<" in data:
            inner = remote_content(data.split("]>", 1)[-1])
            if inner:
                self._note(f"{inner} in a conditional comment")

    def _check_css(self, css: str, where: str) -> None:
        css = CSS_COMMENT.sub("", css)
        if "\\" in css or CSS_LOADERS.search(css):
            self._note(f"{where} ({_short(css)})")
            return
        urls = CSS_URL.findall(css)
        if len(urls) != len(CSS_URL_START.findall(css)):  # one left open runs to the end
            self._note(f"{where} ({_short(css)})")
        for _quote, url in urls:
            if not _embedded(url.strip()):
                self._note(f"{where} (url({_short(url)}))")


def _embedded(value: str) -> bool:
    return value == "" or value.lower().startswith(EMBEDDED)


def _short(value: str) -> str:
    value = " ".join(value.split())
    return value if len(value) <= 80 else value[:77] + "..."


def remote_content(body: str) -> str | None:
    """What in ``body`` (HTML) a mail program would fetch from elsewhere, or None."""
    finder = _RemoteContentFinder()
    finder.feed(body)
    finder.close()
    return finder.found


def remote_content_message(found: str) -> str:
    return (
        f"it loads content from elsewhere ({found}). Mail from Pyq may not load images, "
        "styles, frames or scripts from other sites; put images in as data: addresses or "
        "link to them instead."
    )


def render(template: str, values: dict[str, str], missing: set[str]) -> str:
    """Replace each ``{{ name }}`` by its value ("" and a note in ``missing`` if unknown)."""

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            missing.add(name)
            return ""
        return values[name]

    return PLACEHOLDER.sub(substitute, template)


def _texts(values: dict[str, str | None]) -> dict[str, str]:
    return {name: "" if value is None else value for name, value in values.items()}


def fields_text(values: dict[str, str | None]) -> str:
    return "\n".join(f"{name}: {'' if v is None else v}" for name, v in values.items())


def fields_html(values: dict[str, str | None]) -> str:
    rows = "".join(
        f'<tr><th align="left">{html.escape(name)}</th><td>{html.escape(v or "")}</td></tr>'
        for name, v in values.items()
    )
    return f"<table>{rows}</table>" if rows else ""


def csv_filename(document_name: str) -> str:
    stem = re.sub(r"[^\w.-]+", "-", PurePath(document_name).stem).strip(".-")[:80]
    return f"{stem or 'document'}-fields.csv"
