"""Mail the email step sends, through Django's mail backend (settings PYQ_EMAIL_*).

Workers reach this through RunServices.send_email. Errors become step failures a person
understands: a mail server that is down or answers "try later" (4xx) is transient and the
engine tries again; a refused address, a refused login or a 5xx answer is not.
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from email.utils import make_msgid, parseaddr

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMultiAlternatives, get_connection
from django.urls import NoReverseMatch, reverse

from automations.engine.steps import StepFailed, StepTransient
from automations.models import Run

SMTP_TIMEOUT = 30  # seconds, when settings.EMAIL_TIMEOUT is not set


def run_url(run: Run) -> str:
    """The absolute address of the run's page (its document's page if there is none)."""
    try:
        path = reverse("automations:run", args=[run.pk])
    except NoReverseMatch:
        path = reverse("automations:document", args=[run.document.uid])
    return settings.SITE_URL + path


def send_email(
    run: Run,
    *,
    to: list[str],
    subject: str,
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
    attachments: Sequence[tuple[str, bytes, str]] = (),
) -> dict:
    """Send one message from DEFAULT_FROM_EMAIL; returns {"message_id": "<...>"}."""
    message_id = make_msgid(idstring=f"pyq-run-{run.pk}", domain=_sender_domain())
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(to),
        reply_to=[reply_to] if reply_to else None,
        headers={"Message-ID": message_id, "X-Pyq-Run": str(run.pk)},
        connection=get_connection(timeout=getattr(settings, "EMAIL_TIMEOUT", None) or SMTP_TIMEOUT),
    )
    if html:
        message.attach_alternative(html, "text/html")
    for filename, data, content_type in attachments:
        message.attach(filename, data, content_type)
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(sorted(exc.recipients))
        raise StepFailed(f"The mail server refused the address {refused}.") from None
    except smtplib.SMTPAuthenticationError:
        raise StepFailed(
            "The mail server refused Pyq's login: check PYQ_EMAIL_USER and PYQ_EMAIL_PASSWORD."
        ) from None
    except smtplib.SMTPSenderRefused as exc:
        raise StepFailed(
            f"The mail server refused the sender {exc.sender}: check PYQ_DEFAULT_FROM_EMAIL."
        ) from None
    except smtplib.SMTPResponseException as exc:
        answer = f"The mail server answered {exc.smtp_code}: {_text(exc.smtp_error)}"
        if 400 <= exc.smtp_code < 500:
            raise StepTransient(answer) from None
        raise StepFailed(answer) from None
    except (smtplib.SMTPException, OSError) as exc:
        host = getattr(settings, "EMAIL_HOST", "") or "the mail server"
        raise StepTransient(f"Could not reach {host} to send the email: {exc}.") from None
    except (BadHeaderError, ValueError) as exc:  # an address Django cannot encode
        raise StepFailed(f"The email could not be built: {exc}") from None
    return {"message_id": message_id}


def _sender_domain() -> str:
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    domain = address.rpartition("@")[2]
    return domain or "pyq.local"


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())[:200]
