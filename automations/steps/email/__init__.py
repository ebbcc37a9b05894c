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

By role: ``templates`` (checking and filling them, the fields as text, HTML and a CSV's
name), ``remote`` (what in an HTML body loads content from elsewhere, and the
``remote_content_allowed`` hook the app sets there) and ``step`` (EmailStep, registered
when this package is imported).
"""

from automations.steps.email.remote import remote_content, remote_content_message
from automations.steps.email.step import EmailStep
from automations.steps.email.templates import csv_filename, fields_html, fields_text, render

__all__ = [
    "EmailStep",
    "csv_filename",
    "fields_html",
    "fields_text",
    "remote_content",
    "remote_content_message",
    "render",
]
