"""Mail the email step sends, through Django's mail backend (settings PYQ_EMAIL_*).

Workers reach this through RunServices.send_email. Errors become step failures a person
understands: a mail server that is down or answers "try later" (4xx) is transient and the
engine tries again; a refused address, a refused login or a 5xx answer is not. A message sent
with the key of its step's action has a Message-ID made from it: the same when the step is
tried again or resumed, and counted once against the quota.
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from datetime import timedelta
from email.utils import make_msgid, parseaddr

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Sum
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import Organization
from automations.engine.steps import StepFailed, StepTransient
from automations.models import Run, SentEmail
from automations.steps.email import remote_content, remote_content_message

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
    key: str | None = None,
) -> dict:
    """Send one message from DEFAULT_FROM_EMAIL; returns {"message_id": "<...>"}, made from
    `key` when there is one (a new one each time otherwise).

    The message counts against its organization's quota before it goes, once per
    Message-ID; one that fails is taken off again. HTML that loads content from elsewhere
    is refused (unless allowed)."""
    if html and not settings.PYQ_EMAIL_ALLOW_REMOTE_CONTENT:
        found = remote_content(html)
        if found:
            raise StepFailed(f"The email was not sent: {remote_content_message(found)}")
    message_id = _message_id(run, key)
    sent = _count_against_quota(run, len(to), message_id)
    try:
        return _send(run, message_id, to, subject, text, html, reply_to, attachments)
    except BaseException:
        if sent is not None:
            SentEmail.objects.filter(pk=sent.pk).delete()
        raise


QUOTA_WINDOW = timedelta(hours=24)


def _message_id(run: Run, key: str | None) -> str:
    if key:
        return f"<{key}.pyq-run-{run.pk}@{_sender_domain()}>"
    return make_msgid(idstring=f"pyq-run-{run.pk}", domain=_sender_domain())


def _count_against_quota(run: Run, recipients: int, message_id: str = "") -> SentEmail | None:
    """Record the message, or fail the step (not retried) when the organization's
    recipients in the last 24 hours would pass PYQ_EMAIL_QUOTA_PER_DAY. The organization's
    row is locked while counting, so that workers sending at once count one after another.
    A message already recorded (a resumed step sends it again) is not counted twice."""
    quota = settings.PYQ_EMAIL_QUOTA_PER_DAY
    if not quota:
        return None
    with transaction.atomic():
        Organization.objects.select_for_update().filter(pk=run.organization_id).first()
        if message_id and SentEmail.objects.filter(message_id=message_id).exists():
            return None  # counted when it was first sent; kept if this attempt fails
        since = timezone.now() - QUOTA_WINDOW
        used = (
            SentEmail.objects.filter(
                organization_id=run.organization_id, sent_at__gte=since
            ).aggregate(total=Sum("recipients"))["total"]
            or 0
        )
        if used + recipients > quota:
            left = max(quota - used, 0)
            raise StepFailed(
                f"The email was not sent: this organization may email {quota} recipients a "
                f"day, {used} have been emailed in the last 24 hours, and this message has "
                f"{recipients} (room for {left} more). Ask your administrator to raise the limit."
            )
        return SentEmail.objects.create(
            organization_id=run.organization_id,
            run=run,
            recipients=recipients,
            message_id=message_id,
        )


def _send(
    run: Run,
    message_id: str,
    to: list[str],
    subject: str,
    text: str,
    html: str | None,
    reply_to: str | None,
    attachments: Sequence[tuple[str, bytes, str]],
) -> dict:
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
