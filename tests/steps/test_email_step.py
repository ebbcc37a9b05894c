"""The email step: templates with {{ name }} placeholders only, HTML escaped, a CSV of the
fields with formulas escaped, sent through Django's mail backend (locmem here, and a real
SMTP listener on loopback for the server's answers)."""

from __future__ import annotations

import csv
import io
import socket
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.core import mail
from django.utils import timezone

from automations import delivery
from automations.engine.pipeline import parse_pipeline
from automations.engine.steps import StepConfigError, StepFailed, StepTransient, get_step
from automations.models import Run, SentEmail, StepRun
from automations.runs.execute import execute_run
from tests import files
from tests.automations.helpers import make_document
from tests.steps.fakes import FakeServices

INVOICE = [
    "ACME SUPPLIES LTD",
    "Invoice number: INV-4721",
    "Invoice date: 2026-03-14",
    "Due date: 2026-04-14",
    "Subtotal 100.00",
    "VAT 18.00",
    "Total due 118.00 EUR",
]
INVOICE_FIELDS = {
    "vendor": "ACME SUPPLIES LTD",
    "vendor_address": "",
    "invoice_number": "INV-4721",
    "date": "2026-03-14",
    "due_date": "2026-04-14",
    "total": "118.00",
    "subtotal": "100.00",
    "tax": "18.00",
    "currency": "EUR",
}


def invoice_steps(config: dict) -> list[dict]:
    return [
        {"id": "text", "step": "extract_text"},
        {"id": "fields", "step": "extract_fields", "config": {"preset": "invoice"}},
        {"id": "mail", "step": "email", "config": config},
    ]


def run_invoice(org, config: dict, name: str = "inv-4721.pdf") -> Run:
    document = make_document(org, name, files.text_pdf(["\n".join(INVOICE)]))
    run = document.runs.get()
    Run.objects.filter(pk=run.pk).update(pipeline=invoice_steps(config))
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def attachment_rows(message) -> list[list[str]]:
    [(_filename, data, content_type)] = message.attachments
    assert content_type == "text/csv"
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def test_an_invoice_is_mailed_with_its_fields_and_a_csv(owner, settings) -> None:
    # Given a workflow that mails an invoice's fields to two people (default templates)
    settings.SITE_URL = "https://pyq.example"
    settings.DEFAULT_FROM_EMAIL = "Pyq <robot@pyq.example>"
    config = {"to": ["ann@acme.example", " bob@acme.example", "ANN@acme.example"]}
    # When an invoice runs through it
    run = run_invoice(owner.org, config)
    # Then one message went to both (once each), from the configured sender
    assert (run.status, run.error) == (Run.Status.SUCCEEDED, "")
    [message] = mail.outbox
    assert message.to == ["ann@acme.example", "bob@acme.example"]
    assert message.from_email == "Pyq <robot@pyq.example>"
    assert message.subject == "Results for inv-4721.pdf"
    # And the text lists every field and links the run
    assert message.body.startswith("Pyq read inv-4721.pdf.\n\nvendor: ACME SUPPLIES LTD\n")
    assert "\ntotal: 118.00\n" in message.body
    assert "https://pyq.example/" in message.body
    assert message.alternatives == []
    # And the CSV has a header and the one row of fields
    assert attachment_rows(message) == [list(INVOICE_FIELDS), list(INVOICE_FIELDS.values())]
    assert message.attachments[0][0] == "inv-4721-fields.csv"
    # And the step's output names the message, which carries that id
    step = run.steps.get(step_id="mail")
    assert step.status == StepRun.Status.SUCCEEDED
    assert step.output == {
        "to": ["ann@acme.example", "bob@acme.example"],
        "subject": "Results for inv-4721.pdf",
        "message_id": message.extra_headers["Message-ID"],
        "attachments": ["inv-4721-fields.csv"],
    }
    assert step.output["message_id"].endswith("@pyq.example>")
    assert message.extra_headers["X-Pyq-Run"] == str(run.pk)


def test_templates_use_mapped_fields_and_html_escapes_them(owner) -> None:
    config = {
        "to": ["ann@acme.example"],
        "subject": "Invoice {{ number }} from {{vendor}}: {{ total }}",
        "text": "Pay {{ total }} to {{ vendor }}.\nFile: {{ document.name }}",
        "html": "<p>Pay <b>{{ total }}</b> to {{ vendor }} ({{ document.name }}).</p>{{ fields }}",
        "fields": {
            "vendor": "fields.fields.vendor.value",
            "number": "fields.fields.invoice_number.value",
            "total": "fields.fields.total.value",
        },
        "attach_csv": False,
        "reply_to": "books@acme.example",
    }
    run = run_invoice(owner.org, config, name="R&D q1.pdf")
    assert run.status == Run.Status.SUCCEEDED
    [message] = mail.outbox
    assert message.subject == "Invoice INV-4721 from ACME SUPPLIES LTD: 118.00"
    assert message.body == "Pay 118.00 to ACME SUPPLIES LTD.\nFile: R&D q1.pdf"
    [(html, mime)] = message.alternatives
    assert mime == "text/html"
    assert html == (
        "<p>Pay <b>118.00</b> to ACME SUPPLIES LTD (R&amp;D q1.pdf).</p><table>"
        '<tr><th align="left">vendor</th><td>ACME SUPPLIES LTD</td></tr>'
        '<tr><th align="left">number</th><td>INV-4721</td></tr>'
        '<tr><th align="left">total</th><td>118.00</td></tr></table>'
    )
    assert message.attachments == []
    assert message.reply_to == ["books@acme.example"]


def run_with_outputs(make_context, config: dict, outputs: dict, name: str = "in.pdf"):
    services = FakeServices(run_url="https://pyq.example/runs/9/")
    context = make_context("x", services=services, name=name, kind="pdf")
    context.outputs = outputs
    [spec] = parse_pipeline([{"id": "mail", "step": "email", "config": config}])
    return get_step("email").run(context, spec.config), services.sent


HOSTILE = {
    "fields": {
        "fields": {
            "vendor": {"value": '<script>alert("x")</script> & Co', "confidence": 0.9},
            "note": {"value": '=HYPERLINK("http://evil","x")', "confidence": 0.5},
            "total": {"value": "-12.50", "confidence": 0.9},
            "po": {"value": None, "confidence": 0.0},
        },
        "order": ["vendor", "note", "total", "po"],
    }
}


def test_values_are_escaped_in_html_and_csv_but_not_in_text(make_context) -> None:
    config = {
        "to": ["a@b.example"],
        "subject": "From {{ vendor }}\r\nBcc: evil@x.example",
        "text": "{{ vendor }} / {{ note }} / {{ run.url }}",
        "html": "<p>{{ vendor }}</p>",
        "fields": {
            "vendor": "fields.fields.vendor.value",
            "note": "fields.fields.note.value",
            "total": "fields.fields.total.value",
            "po": "fields.fields.po.value",
        },
    }
    outcome, [sent] = run_with_outputs(make_context, config, HOSTILE)
    # The subject is one line: a value or template cannot add headers
    assert sent["subject"] == 'From <script>alert("x")</script> & Co Bcc: evil@x.example'
    assert sent["text"] == (
        '<script>alert("x")</script> & Co / =HYPERLINK("http://evil","x") / '
        "https://pyq.example/runs/9/"
    )
    assert sent["html"] == "<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co</p>"
    [(filename, data, content_type)] = sent["attachments"]
    assert (filename, content_type) == ("in-fields.csv", "text/csv")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [
        ["vendor", "note", "total", "po"],
        ['<script>alert("x")</script> & Co', '\'=HYPERLINK("http://evil","x")', "-12.50", ""],
    ]
    assert outcome.output["message_id"] == "<1@pyq.test>"
    assert outcome.warnings == []


def test_an_unknown_placeholder_is_left_empty_with_a_warning(make_context) -> None:
    # Without a mapping the names are only known at run time (the extracted fields)
    config = {"to": ["a@b.example"], "subject": "{{ total }} {{ due }}", "attach_csv": False}
    outcome, [sent] = run_with_outputs(make_context, config, HOSTILE)
    assert sent["subject"] == "-12.50"
    assert sent["attachments"] == []
    assert outcome.warnings == ["{{ due }} is not a field; it was left empty."]


def test_without_fields_the_message_is_sent_without_a_csv(make_context) -> None:
    outcome, [sent] = run_with_outputs(make_context, {"to": ["a@b.example"]}, {})
    assert sent["attachments"] == []
    assert sent["text"] == "Pyq read in.pdf.\n\n\n\nThe run: https://pyq.example/runs/9/\n"
    assert outcome.output["attachments"] == []


def test_outside_a_workflow_the_step_says_it_needs_the_worker(make_context) -> None:
    with pytest.raises(StepFailed, match="needs the worker's mail settings"):
        get_step("email").run(make_context("x"), {"to": ["a@b.example"]})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "Send by email: configuration: 'to' is a required property"),
        ({"to": []}, "Send by email: to: [] should be non-empty"),
        (
            {"to": [f"p{i}@acme.example" for i in range(21)]},
            "Send by email: to: ['p0@acme.example', 'p1@acme.example', 'p2@acme.example', "
            "'p3@acme.example', 'p4@acme.example', 'p5@acme.example', 'p6@acme.example', "
            "'p7@acme.example', 'p8@acme.example', 'p9@acme.example', 'p10@acme.example', "
            "'p11@acme.example', 'p12@acme.example', 'p13@acme.example', 'p14@acme.example', "
            "'p15@acme.example', 'p16@acme.example', 'p17@acme.example', 'p18@acme.example', "
            "'p19@acme.example', 'p20@acme.example'] is too long",
        ),
        (
            {"to": ["ann@acme.example", "bob@acme"]},
            "Send by email: to.1: 'bob@acme' is not an email address.",
        ),
        (
            {"to": ["Ann <ann@acme.example>"]},
            "Send by email: to.0: 'Ann <ann@acme.example>' is not an email address.",
        ),
        (
            {"to": ["a@b.example, c@d.example"]},
            "Send by email: to.0: 'a@b.example, c@d.example' is not an email address.",
        ),
        (
            {"to": ["a@b.example"], "reply_to": "nobody"},
            "Send by email: reply_to: 'nobody' is not an email address.",
        ),
        (
            {"to": ["a@b.example"], "text": "{% load static %}{{ total }}"},
            "Send by email: text: only {{ name }} placeholders can be used, not {% %} tags "
            "or {# #} comments.",
        ),
        (
            {"to": ["a@b.example"], "html": "{# hidden #}"},
            "Send by email: html: only {{ name }} placeholders can be used, not {% %} tags "
            "or {# #} comments.",
        ),
        (
            {"to": ["a@b.example"], "subject": "{{ total|upper }}"},
            "Send by email: subject: '{{ total|upper }}' is not a placeholder; write "
            "{{ name }} with the name of a field (filters are not supported).",
        ),
        (
            {
                "to": ["a@b.example"],
                "subject": "{{ totl }}",
                "fields": {"total": "fields.fields.total.value"},
            },
            "Send by email: subject: {{ totl }} is not a field; use one of document.kind, "
            "document.name, fields, run.url, total.",
        ),
        (
            {"to": ["a@b.example"], "fields": {"run.url": "fields.fields.total.value"}},
            "Send by email: fields.run.url: this name is kept for Pyq's own placeholders; "
            "choose another.",
        ),
        (
            {"to": ["a@b.example"], "fields": {"total": "total"}},
            "Send by email: fields.total: 'total' is not a reference like "
            "'fields.fields.total.value' (a step id, then keys, joined by dots).",
        ),
    ],
)
def test_configuration_is_checked_when_the_pipeline_is_parsed(config, message) -> None:
    with pytest.raises(StepConfigError) as refused:
        parse_pipeline([{"step": "email", "config": config}])
    assert str(refused.value) == message


def test_configuration_defaults() -> None:
    [spec] = parse_pipeline([{"step": "email", "config": {"to": ["a@b.example"]}}])
    assert spec.config == {
        "to": ["a@b.example"],
        "subject": "Results for {{ document.name }}",
        "text": "Pyq read {{ document.name }}.\n\n{{ fields }}\n\nThe run: {{ run.url }}\n",
        "html": None,
        "attach_csv": True,
        "reply_to": None,
    }
    assert get_step("email").config_schema["properties"]["fields"]["x-ref"] == "map"


# --- a real SMTP server on loopback: what the mail server answers ---------------------------


@pytest.fixture
def a_run(owner) -> Run:
    document = make_document(owner.org, "note.txt", b"hello")
    return document.runs.get()


def send(run: Run, to: list[str]) -> dict:
    return delivery.send_email(
        run,
        to=to,
        subject="Results",
        text="Total: 118.00",
        html="<p>Total: <b>118.00</b></p>",
        attachments=[("f.csv", b"total\r\n118.00\r\n", "text/csv")],
    )


def test_the_message_goes_over_smtp_with_its_parts(smtp, a_run) -> None:
    sent = send(a_run, ["ann@acme.example"])
    [(sender, recipients, data)] = smtp.messages
    assert (sender, recipients) == ("robot@pyq.example", ["ann@acme.example"])
    message = message_from_bytes(data, policy=policy.default)
    assert message["Message-ID"] == sent["message_id"]
    assert message["Subject"] == "Results"
    assert message.get_body(("plain",)).get_content().strip() == "Total: 118.00"
    assert message.get_body(("html",)).get_content().strip() == "<p>Total: <b>118.00</b></p>"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "f.csv"
    assert attachment.get_content() in ("total\r\n118.00\r\n", b"total\r\n118.00\r\n")


def test_a_refused_address_is_a_permanent_failure(smtp, a_run) -> None:
    smtp.rcpt_answers["gone@acme.example"] = "550 5.1.1 no such user"
    with pytest.raises(StepFailed) as failed:
        send(a_run, ["gone@acme.example"])
    assert not isinstance(failed.value, StepTransient)
    assert str(failed.value) == "The mail server refused the address gone@acme.example."
    assert smtp.messages == []


def test_a_try_later_answer_is_transient_and_a_rejection_is_not(smtp, a_run) -> None:
    smtp.data_answer = "451 4.3.0 mailbox busy, try later"
    with pytest.raises(StepTransient) as busy:
        send(a_run, ["ann@acme.example"])
    assert str(busy.value) == "The mail server answered 451: 4.3.0 mailbox busy, try later"
    smtp.data_answer = "554 5.7.1 message rejected as spam"
    with pytest.raises(StepFailed) as rejected:
        send(a_run, ["ann@acme.example"])
    assert not isinstance(rejected.value, StepTransient)
    assert str(rejected.value) == "The mail server answered 554: 5.7.1 message rejected as spam"


def test_an_unreachable_mail_server_is_transient(settings, a_run) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    with pytest.raises(StepTransient) as failed:
        send(a_run, ["ann@acme.example"])
    assert str(failed.value).startswith("Could not reach 127.0.0.1 to send the email: ")
    assert "refused" in str(failed.value).lower()


def test_a_run_whose_mail_server_is_down_fails_the_email_step(smtp, owner, settings) -> None:
    # Given an SMTP server that keeps answering "try later", and no pause between tries
    settings.PYQ_STEP_RETRY_BASE = 0
    smtp.data_answer = "421 4.3.2 service not available"
    # When an invoice runs through a workflow that mails it
    run = run_invoice(owner.org, {"to": ["ann@acme.example"]})
    # Then the email step failed with the server's answer and nothing was delivered
    assert run.status == Run.Status.FAILED
    step = run.steps.get(step_id="mail")
    assert step.status == StepRun.Status.FAILED
    assert "The mail server answered 421: 4.3.2 service not available" in step.error
    assert smtp.messages == []
    assert run.steps.get(step_id="fields").status == StepRun.Status.SUCCEEDED


# --- remote content in HTML and the organization's sending quota ---------------------------


REMOTE_HTML = [
    ('<p>Hi</p><img src="https://track.example/open.gif">', "<img src="),
    ('<img srcset="https://cdn.example/a.png 2x">', "<img srcset="),
    ('<link rel="stylesheet" href="https://cdn.example/mail.css">', "a <link> element"),
    ('<table background="http://cdn.example/bg.png"><tr><td>x</td></tr></table>', "background"),
    ("<div style=\"background-image: url('//cdn.example/bg.png')\">x</div>", "url(//cdn"),
    ('<style>@import "https://cdn.example/a.css";</style>', "a <style> element"),
    ('<div style="background: u\\72l(https://cdn.example/x)">x</div>', "the style of <div>"),
    ('<iframe src="https://evil.example/"></iframe>', "a <iframe> element"),
    ("<script>document.title = 1</script>", "a <script> element"),
    ('<!--[if mso]><v:image src="https://cdn.example/a.png" /><![endif]-->', "conditional"),
    ('<svg><image href="https://cdn.example/a.svg"/></svg>', "<image href="),
    ('<img src="{{ logo }}">', "<img src="),
]


@pytest.mark.parametrize(("html", "named"), REMOTE_HTML)
def test_html_that_loads_remote_content_is_refused_when_saved(html, named) -> None:
    # Given an HTML body that a mail program would fetch something for when it is opened
    config = {"to": ["a@b.example"], "html": html}
    # When the workflow is saved (its pipeline parsed) Then it is refused, naming the part
    with pytest.raises(StepConfigError) as refused:
        parse_pipeline([{"step": "email", "config": config}])
    message = str(refused.value)
    assert message.startswith("Send by email: html: it loads content from elsewhere (")
    assert named in message
    assert message.endswith(
        "Mail from Pyq may not load images, styles, frames or scripts from other sites; put "
        "images in as data: addresses or link to them instead."
    )


def test_html_with_links_embedded_images_and_styles_is_accepted() -> None:
    html = (
        '<style>p { color: #333; background: url("data:image/png;base64,AAAA") }</style>'
        '<p style="font-weight: bold">Total {{ total }}</p><img src="cid:logo" alt="">'
        '<img src="data:image/png;base64,AAAA" alt=""><a href="https://pyq.example/runs/">run</a>'
    )
    [spec] = parse_pipeline([{"step": "email", "config": {"to": ["a@b.example"], "html": html}}])
    assert spec.config["html"] == html


def test_the_operator_may_allow_remote_content(settings) -> None:
    settings.PYQ_EMAIL_ALLOW_REMOTE_CONTENT = True
    html = '<img src="https://cdn.example/logo.png">'
    [spec] = parse_pipeline([{"step": "email", "config": {"to": ["a@b.example"], "html": html}}])
    assert spec.config["html"] == html


def test_a_field_value_that_makes_an_address_remote_is_refused_at_send_time(make_context):
    # Given a template that puts a field in an embedded image's address (accepted when
    # saved) and a document whose field makes it a remote address
    config = {
        "to": ["a@b.example"],
        "html": '<img src="data:{{ logo }}">',
        "fields": {"logo": "fields.fields.logo.value"},
    }
    outputs = {"fields": {"fields": {"logo": {"value": 'x,y" src=http://t.example/p.gif'}}}}
    # When it runs Then the step fails (not retried) and nothing is sent: html.escape keeps
    # the value inside the attribute, so only a value in an unquoted one could get out;
    # the rendered body is checked all the same
    _outcome, sent = run_with_outputs(make_context, config, outputs)
    assert sent[0]["html"] == '<img src="data:x,y&quot; src=http://t.example/p.gif">'
    config["html"] = "<img src=data:{{ logo }}>"
    outputs["fields"]["fields"]["logo"]["value"] = "x background=http://t.example/p.gif"
    with pytest.raises(StepFailed) as refused:
        run_with_outputs(make_context, config, outputs)
    assert not isinstance(refused.value, StepTransient)
    assert str(refused.value).startswith(
        "The email was not sent: it loads content from elsewhere "
        '(<img background="http://t.example/p.gif">).'
    )


def test_delivery_refuses_remote_html_even_from_another_caller(smtp, a_run) -> None:
    with pytest.raises(StepFailed) as refused:
        delivery.send_email(
            a_run,
            to=["ann@acme.example"],
            subject="x",
            text="x",
            html='<img src="https://track.example/p.gif">',
        )
    assert str(refused.value).startswith("The email was not sent: it loads content from")
    assert smtp.messages == []
    assert SentEmail.objects.count() == 0


def test_an_organization_over_its_daily_quota_sends_nothing_more(
    smtp, owner, outsider, settings
) -> None:
    # Given a quota of 5 recipients a day, and 3 already emailed by the owner's organization
    settings.PYQ_EMAIL_QUOTA_PER_DAY = 5
    first = make_document(owner.org, "a.txt", b"hello").runs.get()
    send(first, ["a@acme.example", "b@acme.example", "c@acme.example"])
    # When a message to 3 more is sent Then it fails for good with the numbers, and nothing
    # went out or was counted
    second = make_document(owner.org, "b.txt", b"hello").runs.get()
    with pytest.raises(StepFailed) as refused:
        send(second, ["d@acme.example", "e@acme.example", "f@acme.example"])
    assert not isinstance(refused.value, StepTransient)
    assert str(refused.value) == (
        "The email was not sent: this organization may email 5 recipients a day, 3 have "
        "been emailed in the last 24 hours, and this message has 3 (room for 2 more). Ask "
        "your administrator to raise the limit."
    )
    assert len(smtp.messages) == 1
    assert list(SentEmail.objects.values_list("run", "recipients")) == [(first.pk, 3)]
    # And a message that fits still goes, while another organization has its own quota
    send(second, ["d@acme.example", "e@acme.example"])
    other = make_document(outsider.org, "c.txt", b"hello").runs.get()
    send(other, [f"{n}@other.example" for n in "abcde"])
    assert len(smtp.messages) == 3


def test_a_day_old_message_no_longer_counts(smtp, a_run, settings) -> None:
    settings.PYQ_EMAIL_QUOTA_PER_DAY = 2
    send(a_run, ["a@acme.example", "b@acme.example"])
    SentEmail.objects.update(sent_at=timezone.now() - timedelta(hours=24, seconds=1))
    send(a_run, ["a@acme.example", "b@acme.example"])
    assert len(smtp.messages) == 2


def test_a_message_that_fails_is_not_counted(smtp, a_run, settings) -> None:
    settings.PYQ_EMAIL_QUOTA_PER_DAY = 1
    smtp.data_answer = "451 4.3.0 mailbox busy, try later"
    with pytest.raises(StepTransient):
        send(a_run, ["ann@acme.example"])
    assert SentEmail.objects.count() == 0
    smtp.data_answer = "250 2.0.0 queued"
    send(a_run, ["ann@acme.example"])
    assert SentEmail.objects.count() == 1


def test_a_run_over_the_quota_fails_its_email_step_once(smtp, owner, settings) -> None:
    # Given a quota of one recipient a day, already used
    settings.PYQ_EMAIL_QUOTA_PER_DAY = 1
    settings.PYQ_STEP_RETRY_BASE = 0
    send(make_document(owner.org, "a.txt", b"x").runs.get(), ["ann@acme.example"])
    # When an invoice runs through a workflow that mails it
    run = run_invoice(owner.org, {"to": ["bob@acme.example"]})
    # Then its email step failed once (not retried) with the quota message
    step = run.steps.get(step_id="mail")
    assert (run.status, step.status, step.attempts) == (
        Run.Status.FAILED,
        StepRun.Status.FAILED,
        1,
    )
    assert "this organization may email 1 recipients a day" in step.error
    assert len(smtp.messages) == 1
