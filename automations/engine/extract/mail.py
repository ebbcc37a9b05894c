"""An e-mail's headers, readable body and attachments (a forwarded message is one .eml)."""

from __future__ import annotations

import email
import email.message
import mimetypes
import os
import re
from dataclasses import dataclass
from email import policy

from automations.engine.extract.html_text import html_to_text
from automations.engine.extract.pages import ExtractionError, normalize_newlines
from automations.engine.filetypes import (
    DEFAULT_LIMITS,
    FileRejected,
    InputLimits,
    check_email_message,
    read_email,
    safe_filename,
)


@dataclass
class EmailAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class EmailContent:
    subject: str
    sender: str
    to: str
    date: str | None
    body: str
    attachments: list[EmailAttachment]


def _header(msg: email.message.Message, name: str) -> str | None:
    try:
        value = msg.get(name)
    except Exception:  # malformed header the modern parser chokes on: use the raw value
        value = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    if value is None:
        return None
    return re.sub(r"\s+", " ", str(value)).strip()


def _payload_bytes(part: email.message.Message) -> bytes:
    """The part's decoded bytes; b"" for an empty part or a multipart one."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _subparts(part: email.message.Message) -> list[email.message.Message]:
    if isinstance(part, email.message.MIMEPart):
        return list(part.iter_parts())
    payload = part.get_payload()
    return (
        [p for p in payload if isinstance(p, email.message.Message)]
        if isinstance(payload, list)
        else []
    )


def _part_text(part: email.message.MIMEPart) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError, AssertionError):
        content = _payload_bytes(part).decode("utf-8", errors="replace")
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    return normalize_newlines(str(content))


def _email_body(msg: email.message.EmailMessage) -> tuple[str, email.message.MIMEPart | None]:
    plain = msg.get_body(preferencelist=("plain",))
    if plain is not None:
        text = _part_text(plain).strip()
        if text:
            return text, plain
    html = msg.get_body(preferencelist=("html",))
    if html is not None:
        return html_to_text(_part_text(html)), html
    return "", plain


def _unique_name(name: str, used: set[str]) -> str:
    if name.lower() not in used:
        used.add(name.lower())
        return name
    stem, ext = os.path.splitext(name)
    n = 2
    while f"{stem} ({n}){ext}".lower() in used:
        n += 1
    unique = f"{stem} ({n}){ext}"
    used.add(unique.lower())
    return unique


def _collect_attachments(
    part: email.message.Message,
    body_part: email.message.Message | None,
    out: list[EmailAttachment],
    used: set[str],
) -> None:
    if part is body_part:
        return
    content_type = part.get_content_type()
    filename = part.get_filename()
    disposition = part.get_content_disposition()
    if content_type == "message/rfc822":
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else payload
        if isinstance(inner, email.message.Message):
            data = inner.as_bytes(policy=policy.default)
            subject = _header(inner, "subject") or "forwarded message"
        else:
            data = _payload_bytes(part)
            subject = "forwarded message"
        name = safe_filename(filename or subject, default="message")
        if not name.lower().endswith(".eml"):
            name = f"{name[:146]}.eml"
        out.append(EmailAttachment(_unique_name(name, used), "message/rfc822", data))
        return
    if part.is_multipart():
        for sub in _subparts(part):
            _collect_attachments(sub, body_part, out, used)
        return
    if not filename and disposition != "attachment":
        return  # body alternatives and unnamed inline parts
    if filename:
        name = safe_filename(filename, default="attachment")
    else:
        ext = mimetypes.guess_extension(content_type) or ".bin"
        name = f"attachment{ext}"
    data = _payload_bytes(part)
    out.append(EmailAttachment(_unique_name(name, used), content_type, data))


def parse_email(path: str | os.PathLike[str], limits: InputLimits = DEFAULT_LIMITS) -> EmailContent:
    """Parse an .eml file: headers, readable body and every attachment with its bytes.

    The body is the text/plain part, else the HTML part converted to text. Attachments
    are parts with a file name or ``Content-Disposition: attachment`` (named inline
    images included); a forwarded message (message/rfc822) becomes one ``.eml``
    attachment. File names are passed through :func:`safe_filename` and de-duplicated.
    A mail beyond ``limits`` (attachments, nesting, unpacked bytes) raises
    :class:`ExtractionError` with the reason, as does one that cannot be parsed.
    """
    try:
        msg = read_email(path)
        check_email_message(msg, limits)
    except FileRejected as exc:
        raise ExtractionError(str(exc)) from exc
    body, body_part = _email_body(msg)
    attachments: list[EmailAttachment] = []
    _collect_attachments(msg, body_part, attachments, set())
    return EmailContent(
        subject=_header(msg, "subject") or "",
        sender=_header(msg, "from") or "",
        to=_header(msg, "to") or "",
        date=_header(msg, "date"),
        body=body,
        attachments=attachments,
    )


def email_page_text(content: EmailContent) -> str:
    return (
        f"Subject: {content.subject}\nFrom: {content.sender}\nTo: {content.to}\n"
        f"Date: {content.date or ''}\n\n{content.body}"
    )
